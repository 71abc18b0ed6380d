package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// What clients ask before they act: the zone, the region, the image, the instance types, the
// account's attributes and key pairs. None of it is kept: it is what hostd is.

func (f *frontEnd) registerDiscovery(r *ec2query.Router) {
	handle(r, "DescribeAvailabilityZones", f.describeAvailabilityZones)
	handle(r, "DescribeRegions", f.describeRegions)
	handle(r, "DescribeImages", f.describeImages)
	handle(r, "DescribeInstanceTypes", describeInstanceTypes)
	handle(r, "DescribeAccountAttributes", describeAccountAttributes)
	handle(r, "DescribeKeyPairs", func(_ context.Context, _ *ec2query.Call, req *ec2query.DescribeKeyPairsRequest) (*ec2query.DescribeKeyPairsResult, error) {
		if len(req.KeyNames) > 0 {
			return nil, api.Errorf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist: hostd has no key pairs", req.KeyNames[0])
		}
		if len(req.KeyPairIds) > 0 {
			return nil, api.Errorf("InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist: hostd has no key pairs", req.KeyPairIds[0])
		}
		if _, err := ec2query.ParseFilters(req.Filters, []string{"key-name", "key-pair-id", "fingerprint", "key-type", "tag-key", ec2query.TagFilter}); err != nil {
			return nil, err
		}
		return &ec2query.DescribeKeyPairsResult{KeyPairs: []ec2query.KeyPairInfo{}}, nil
	})
}

func (f *frontEnd) describeAvailabilityZones(_ context.Context, call *ec2query.Call, req *ec2query.DescribeAvailabilityZonesRequest) (*ec2query.DescribeAvailabilityZonesResult, error) {
	zn, zid := zone(call)
	for _, n := range req.ZoneNames {
		if n != zn {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "The zone '%s' does not exist. hostd's region %s has one zone: %s", n, call.Region, zn)
		}
	}
	for _, id := range req.ZoneIds {
		if id != zid {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "The zone ID '%s' does not exist. hostd's region %s has one zone: %s", id, call.Region, zid)
		}
	}
	z := ec2query.AvailabilityZone{State: "available", OptInStatus: "opt-in-not-required", RegionName: call.Region, ZoneName: zn, ZoneId: zid,
		GroupName: call.Region, NetworkBorderGroup: call.Region, ZoneType: "availability-zone"}
	l := listing[ec2query.AvailabilityZone]{
		known: []string{"zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status", "network-border-group"},
		id:    func(z ec2query.AvailabilityZone) string { return z.ZoneId },
		values: func(z ec2query.AvailabilityZone, name string) []string {
			return one(map[string]string{"zone-name": z.ZoneName, "zone-id": z.ZoneId, "region-name": z.RegionName, "state": z.State,
				"zone-type": z.ZoneType, "group-name": z.GroupName, "opt-in-status": z.OptInStatus, "network-border-group": z.NetworkBorderGroup}[name])
		},
	}
	zones, _, err := l.list(call, []ec2query.AvailabilityZone{z}, req.Filters, nil, "")
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeAvailabilityZonesResult{AvailabilityZones: orEmpty(zones)}, nil
}

func (f *frontEnd) describeRegions(_ context.Context, call *ec2query.Call, req *ec2query.DescribeRegionsRequest) (*ec2query.DescribeRegionsResult, error) {
	for _, n := range req.RegionNames {
		if n != call.Region {
			return nil, api.Errorf("InvalidParameterValue", "Invalid region: %s. hostd serves one region: %s", n, call.Region)
		}
	}
	r := ec2query.Region{Endpoint: f.opts.Endpoint, RegionName: call.Region, OptInStatus: "opt-in-not-required"}
	l := listing[ec2query.Region]{
		known: []string{"endpoint", "region-name", "opt-in-status"},
		id:    func(r ec2query.Region) string { return r.RegionName },
		values: func(r ec2query.Region, name string) []string {
			return one(map[string]string{"endpoint": r.Endpoint, "region-name": r.RegionName, "opt-in-status": r.OptInStatus}[name])
		},
	}
	regions, _, err := l.list(call, []ec2query.Region{r}, req.Filters, nil, "")
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeRegionsResult{Regions: orEmpty(regions)}, nil
}

// HostImageName is the Name of hostd's one image: the host's root, which every instance sees
// read-only.
const HostImageName = "hostd-host-root"

// HostImageID is the ami- id of the host's root: stable for a machine (from its machine-id),
// different between machines.
func HostImageID() string {
	seed, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		host, _ := os.Hostname()
		seed = []byte(host)
	}
	sum := sha256.Sum256(append([]byte("hostd-host-root\x00"), strings.TrimSpace(string(seed))...))
	return "ami-" + hex.EncodeToString(sum[:])[:17]
}

func (f *frontEnd) checkImage(id string) error {
	if id == "" {
		return api.Errorf(api.CodeMissingParameter, "The request must contain the parameter ImageId (hostd's one image is %s, %s)", f.opts.ImageID, HostImageName)
	}
	kind := api.IDKind{Name: "image id", Prefix: "ami-", Malformed: "InvalidAMIID.Malformed", NotFound: "InvalidAMIID.NotFound"}
	if err := kind.Check(id); err != nil {
		return err
	}
	if id != f.opts.ImageID {
		return api.Errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist: hostd's one image is %s (%s)", id, f.opts.ImageID, HostImageName)
	}
	return nil
}

func (f *frontEnd) describeImages(_ context.Context, call *ec2query.Call, req *ec2query.DescribeImagesRequest) (*ec2query.DescribeImagesResult, error) {
	for _, id := range req.ImageIds {
		if err := f.checkImage(id); err != nil {
			return nil, err
		}
	}
	img := ec2query.Image{
		Architecture: architecture(), CreationDate: "2026-01-01T00:00:00.000Z", ImageId: f.opts.ImageID, ImageLocation: "hostd/" + HostImageName,
		ImageType: "machine", Public: false, OwnerId: call.Caller.AccountID, PlatformDetails: "Linux/UNIX", State: "available",
		Description: "the host's root filesystem, which every instance sees read-only", EnaSupport: true, Hypervisor: "xen",
		Name: HostImageName, RootDeviceName: "/dev/root", RootDeviceType: "instance-store", VirtualizationType: "hvm",
	}
	images := []ec2query.Image{img}
	if len(req.Owners) > 0 && !slices.ContainsFunc(req.Owners, func(o string) bool { return o == "self" || o == img.OwnerId }) {
		images = nil
	}
	l := listing[ec2query.Image]{
		known: []string{"name", "image-id", "owner-id", "state", "architecture", "image-type", "is-public", "root-device-type",
			"root-device-name", "virtualization-type", "hypervisor", "platform-details", "description"},
		id: func(i ec2query.Image) string { return i.ImageId },
		values: func(i ec2query.Image, name string) []string {
			return one(map[string]string{"name": i.Name, "image-id": i.ImageId, "owner-id": i.OwnerId, "state": i.State,
				"architecture": i.Architecture, "image-type": i.ImageType, "is-public": strconv.FormatBool(i.Public),
				"root-device-type": i.RootDeviceType, "root-device-name": i.RootDeviceName, "virtualization-type": i.VirtualizationType,
				"hypervisor": i.Hypervisor, "platform-details": i.PlatformDetails, "description": i.Description}[name])
		},
	}
	page, _, err := l.list(call, images, req.Filters, nil, "")
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeImagesResult{Images: orEmpty(page)}, nil
}

func instanceTypeInfo(t api.InstanceType) ec2query.InstanceTypeInfo {
	burstable := strings.HasPrefix(t.Name, "t")
	return ec2query.InstanceTypeInfo{
		InstanceType: t.Name, CurrentGeneration: true, FreeTierEligible: t.Name == "t3.micro",
		SupportedUsageClasses: []string{"on-demand"}, SupportedRootDeviceTypes: []string{"instance-store"},
		SupportedVirtualizationTypes: []string{"hvm"}, Hypervisor: "xen",
		ProcessorInfo: &ec2query.ProcessorInfo{SupportedArchitectures: []string{architecture()}},
		VCpuInfo:      &ec2query.VCpuInfo{DefaultVCpus: t.VCpus, DefaultCores: t.VCpus, DefaultThreadsPerCore: 1},
		MemoryInfo:    &ec2query.MemoryInfo{SizeInMiB: int(t.MemoryBytes >> 20)},
		NetworkInfo: &ec2query.NetworkInfo{NetworkPerformance: "Up to 5 Gigabit", MaximumNetworkInterfaces: 1, Ipv4AddressesPerInterface: 1,
			EnaSupport: "unsupported"},
		BurstablePerformanceSupported: burstable, SupportedBootModes: []string{"legacy-bios"},
	}
}

func describeInstanceTypes(_ context.Context, call *ec2query.Call, req *ec2query.DescribeInstanceTypesRequest) (*ec2query.DescribeInstanceTypesResult, error) {
	var types []ec2query.InstanceTypeInfo
	for _, name := range req.InstanceTypes {
		if _, err := api.LookupInstanceType(name); err != nil {
			return nil, err
		}
	}
	for _, t := range api.InstanceTypes {
		if len(req.InstanceTypes) == 0 || slices.Contains(req.InstanceTypes, t.Name) {
			types = append(types, instanceTypeInfo(t))
		}
	}
	l := listing[ec2query.InstanceTypeInfo]{
		known: []string{"instance-type", "vcpu-info.default-vcpus", "memory-info.size-in-mib", "current-generation",
			"free-tier-eligible", "burstable-performance-supported", "processor-info.supported-architecture", "hypervisor"},
		id: func(t ec2query.InstanceTypeInfo) string { return t.InstanceType },
		values: func(t ec2query.InstanceTypeInfo, name string) []string {
			switch name {
			case "instance-type":
				return one(t.InstanceType)
			case "vcpu-info.default-vcpus":
				return intValue(t.VCpuInfo.DefaultVCpus)
			case "memory-info.size-in-mib":
				return intValue(t.MemoryInfo.SizeInMiB)
			case "current-generation":
				return boolValue(true)
			case "free-tier-eligible":
				return boolValue(t.FreeTierEligible)
			case "burstable-performance-supported":
				return boolValue(t.BurstablePerformanceSupported)
			case "processor-info.supported-architecture":
				return t.ProcessorInfo.SupportedArchitectures
			case "hypervisor":
				return one(t.Hypervisor)
			}
			return nil
		},
	}
	page, next, err := l.list(call, types, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeInstanceTypesResult{InstanceTypes: orEmpty(page), NextToken: next}, nil
}

// accountAttributes are EC2's account attributes as hostd has them: VPCs only, no default VPC,
// no Elastic IPs, five groups an interface.
var accountAttributes = []ec2query.AccountAttribute{
	{AttributeName: "supported-platforms", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: "VPC"}}},
	{AttributeName: "default-vpc", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: "none"}}},
	{AttributeName: "max-instances", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: "1000"}}},
	{AttributeName: "vpc-max-security-groups-per-interface", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: strconv.Itoa(api.MaxGroupsPerENI)}}},
	{AttributeName: "max-elastic-ips", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: "0"}}},
	{AttributeName: "vpc-max-elastic-ips", AttributeValues: []ec2query.AccountAttributeValue{{AttributeValue: "0"}}},
}

func describeAccountAttributes(_ context.Context, _ *ec2query.Call, req *ec2query.DescribeAccountAttributesRequest) (*ec2query.DescribeAccountAttributesResult, error) {
	out := &ec2query.DescribeAccountAttributesResult{AccountAttributes: []ec2query.AccountAttribute{}}
	for _, a := range accountAttributes {
		if len(req.AttributeNames) == 0 || slices.Contains(req.AttributeNames, a.AttributeName) {
			out.AccountAttributes = append(out.AccountAttributes, a)
		}
	}
	return out, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
