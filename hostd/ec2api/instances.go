package ec2api

import (
	"context"
	"encoding/base64"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// Instances and their network interfaces.

func (f *frontEnd) registerInstances(r *ec2query.Router) {
	handle(r, "RunInstances", f.runInstances)
	handle(r, "DescribeInstances", f.describeInstances)
	handle(r, "TerminateInstances", func(ctx context.Context, _ *ec2query.Call, req *ec2query.TerminateInstancesRequest) (*ec2query.TerminateInstancesResult, error) {
		res, err := f.core.TerminateInstances(ctx, req.InstanceIds)
		if err != nil {
			return nil, err
		}
		return &ec2query.TerminateInstancesResult{TerminatingInstances: stateChanges(res.TerminatingInstances)}, nil
	})
	handle(r, "StopInstances", func(ctx context.Context, _ *ec2query.Call, req *ec2query.StopInstancesRequest) (*ec2query.StopInstancesResult, error) {
		if req.Hibernate != nil && *req.Hibernate {
			return nil, api.Errorf("UnsupportedHibernationConfiguration", "hostd's instances do not hibernate")
		}
		res, err := f.core.StopInstances(ctx, req.InstanceIds)
		if err != nil {
			return nil, err
		}
		return &ec2query.StopInstancesResult{StoppingInstances: stateChanges(res.StoppingInstances)}, nil
	})
	handle(r, "StartInstances", func(ctx context.Context, _ *ec2query.Call, req *ec2query.StartInstancesRequest) (*ec2query.StartInstancesResult, error) {
		res, err := f.core.StartInstances(ctx, req.InstanceIds)
		if err != nil {
			return nil, err
		}
		return &ec2query.StartInstancesResult{StartingInstances: stateChanges(res.StartingInstances)}, nil
	})
	handle(r, "DescribeInstanceAttribute", f.describeInstanceAttribute)
	handle(r, "ModifyInstanceAttribute", f.modifyInstanceAttribute)
	handle(r, "DescribeInstanceCreditSpecifications", f.describeInstanceCreditSpecifications)
	handle(r, "DescribeNetworkInterfaces", f.describeNetworkInterfaces)
	handle(r, "ModifyNetworkInterfaceAttribute", f.modifyNetworkInterfaceAttribute)
}

// stateCodes are EC2's codes of instance states.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func instanceState(name string) *ec2query.InstanceState {
	return &ec2query.InstanceState{Code: stateCodes[name], Name: name}
}

func stateChanges(in []api.InstanceStateChange) []ec2query.InstanceStateChange {
	out := make([]ec2query.InstanceStateChange, len(in))
	for i, c := range in {
		out[i] = ec2query.InstanceStateChange{InstanceId: c.InstanceId, PreviousState: instanceState(c.PreviousState), CurrentState: instanceState(c.CurrentState)}
	}
	return out
}

func (f *frontEnd) runInstances(ctx context.Context, call *ec2query.Call, req *ec2query.RunInstancesRequest) (*ec2query.Reservation, error) {
	if err := f.checkImage(req.ImageId); err != nil {
		return nil, err
	}
	if req.KeyName != "" {
		return nil, api.Errorf("InvalidKeyPair.NotFound", "The key pair '%s' does not exist: hostd has no key pairs (use `hostd instance exec`)", req.KeyName)
	}
	for name, on := range map[string]*bool{"DisableApiTermination": req.DisableApiTermination, "DisableApiStop": req.DisableApiStop} {
		if on != nil && *on {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd does not keep %s: leave it out or false", name)
		}
	}
	if b := req.InstanceInitiatedShutdownBehavior; b != "" && b != "stop" {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "Invalid value '%s' for InstanceInitiatedShutdownBehavior: hostd stops an instance whose workload ends", b)
	}
	if req.HibernationOptions != nil && req.HibernationOptions.Configured != nil && *req.HibernationOptions.Configured {
		return nil, api.Errorf("UnsupportedHibernationConfiguration", "hostd's instances do not hibernate")
	}
	if req.Placement != nil {
		if err := checkZone(call, req.Placement.AvailabilityZone, ""); err != nil {
			return nil, err
		}
	}
	userData, err := req.DecodedUserData()
	if err != nil {
		return nil, err
	}
	tags, err := tagsFor(req.TagSpecifications, "instance")
	if err != nil {
		return nil, err
	}
	run := api.RunInstancesRequest{MinCount: req.MinCount, MaxCount: req.MaxCount, ClientToken: req.ClientToken, Tags: tags}
	run.InstanceType = req.InstanceType
	if run.InstanceType == "" {
		run.InstanceType = api.DefaultInstanceType
	}
	if len(userData) > 0 {
		run.UserData = userData
	}
	run.SubnetId, run.PrivateIpAddress, run.SecurityGroupIds = req.SubnetId, req.PrivateIpAddress, req.SecurityGroupIds
	if n := len(req.NetworkInterfaces); n > 0 {
		ni := req.NetworkInterfaces[0]
		if n > 1 || (ni.DeviceIndex != nil && *ni.DeviceIndex != 0) {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd's instances have one network interface, at DeviceIndex 0")
		}
		if req.SubnetId != "" || len(req.SecurityGroupIds) > 0 || req.PrivateIpAddress != "" {
			return nil, api.Errorf(ec2query.CodeInvalidParameterCombination, "Network interfaces and an instance-level subnet ID, security groups or private IP address may not be specified on the same request")
		}
		run.SubnetId, run.PrivateIpAddress, run.SecurityGroupIds = ni.SubnetId, ni.PrivateIpAddress, ni.Groups
	}
	if run.PrivateIpAddress != "" && req.MaxCount > 1 {
		return nil, api.Errorf(ec2query.CodeInvalidParameterCombination, "a PrivateIpAddress is one instance's: MaxCount must be 1")
	}
	if run.SubnetId == "" {
		return nil, api.Errorf("VPCIdNotSpecified", "No default VPC for this user: hostd has no default VPC; give SubnetId")
	}
	if len(req.SecurityGroups) > 0 {
		subnets, err := f.core.DescribeSubnets(ctx, []string{run.SubnetId})
		if err != nil {
			return nil, err
		}
		ids, err := f.groupsByName(ctx, req.SecurityGroups, subnets.Subnets[0].VpcId)
		if err != nil {
			return nil, err
		}
		run.SecurityGroupIds = append(slices.Clone(run.SecurityGroupIds), ids...)
	}
	res, err := f.core.RunInstances(ctx, run)
	if err != nil {
		return nil, err
	}
	tagIdx, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := &ec2query.Reservation{ReservationId: res.ReservationId, OwnerId: call.Caller.AccountID}
	for _, in := range res.Instances {
		out.Instances = append(out.Instances, f.instanceOf(call, in, tagIdx[in.InstanceId], nil))
	}
	out.Groups = out.Instances[0].SecurityGroups
	return out, nil
}

// instanceOf is an instance in EC2's shape; volumes are those attached to it.
func (f *frontEnd) instanceOf(call *ec2query.Call, in api.Instance, tags []ec2query.Tag, volumes []api.Volume) ec2query.Instance {
	zn, _ := zone(call)
	out := ec2query.Instance{
		AmiLaunchIndex: in.AmiLaunchIndex, ImageId: f.opts.ImageID, InstanceId: in.InstanceId, InstanceType: in.InstanceType,
		LaunchTime: in.LaunchTime, Monitoring: &ec2query.Monitoring{State: "disabled"},
		Placement: &ec2query.Placement{AvailabilityZone: zn, Tenancy: "default"},
		State:     instanceState(in.State), StateTransitionReason: in.StateReason,
		PrivateIpAddress: in.PrivateIpAddress, SubnetId: in.SubnetId, VpcId: in.VpcId,
		Architecture: architecture(), ClientToken: in.ClientToken, RootDeviceName: "/dev/root", RootDeviceType: "instance-store",
		VirtualizationType: "hvm", PlatformDetails: "Linux/UNIX", Tags: tags, Hypervisor: "xen",
		SecurityGroups:        []ec2query.GroupIdentifier{},
		CpuOptions:            &ec2query.CpuOptions{CoreCount: max(1, int(in.Limits.Cpus)), ThreadsPerCore: 1},
		PrivateDnsNameOptions: &ec2query.PrivateDnsNameOptionsResponse{HostnameType: "ip-name"},
	}
	if in.SourceDestCheck != nil {
		out.SourceDestCheck = *in.SourceDestCheck
	}
	if in.PrivateIpAddress != "" {
		out.PrivateDnsName = privateDNSName(call, in.PrivateIpAddress)
	}
	if in.StateReason != "" && in.State != api.StateRunning {
		out.StateReason = &ec2query.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: " + in.StateReason}
	}
	for _, g := range in.SecurityGroups {
		out.SecurityGroups = append(out.SecurityGroups, ec2query.GroupIdentifier{GroupId: g.GroupId, GroupName: g.GroupName})
	}
	for _, ni := range in.NetworkInterfaces {
		q := ec2query.InstanceNetworkInterface{
			NetworkInterfaceId: ni.NetworkInterfaceId, MacAddress: ni.MacAddress, OwnerId: call.Caller.AccountID,
			PrivateIpAddress: ni.PrivateIpAddress, SourceDestCheck: ni.SourceDestCheck, Status: "in-use",
			SubnetId: ni.SubnetId, VpcId: ni.VpcId, InterfaceType: "interface", Groups: out.SecurityGroups,
			PrivateIpAddresses: []ec2query.InstancePrivateIpAddress{{Primary: true, PrivateIpAddress: ni.PrivateIpAddress}},
			Attachment: &ec2query.InstanceNetworkInterfaceAttachment{AttachTime: in.LaunchTime, AttachmentId: "eni-attach-" + suffix(ni.NetworkInterfaceId),
				DeleteOnTermination: true, Status: "attached"},
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, q)
	}
	for _, v := range volumes {
		for _, a := range v.Attachments {
			if a.InstanceId == in.InstanceId {
				out.BlockDeviceMappings = append(out.BlockDeviceMappings, ec2query.InstanceBlockDeviceMapping{DeviceName: a.Device,
					Ebs: &ec2query.EbsInstanceBlockDevice{Status: a.State, VolumeId: v.VolumeId}})
			}
		}
	}
	return out
}

func architecture() string {
	if runtime.GOARCH == "arm64" {
		return "arm64"
	}
	return "x86_64"
}

// privateDNSName is EC2's name of a private address: ip-10-0-1-4.REGION.compute.internal.
func privateDNSName(call *ec2query.Call, ip string) string {
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + call.Region + ".compute.internal"
}

var instanceFilters = []string{"instance-id", "instance-state-name", "instance-state-code", "private-ip-address", "private-dns-name",
	"subnet-id", "vpc-id", "instance.group-id", "instance.group-name", "group-id", "group-name", "image-id", "instance-type",
	"reservation-id", "client-token", "launch-index", "availability-zone", "network-interface.network-interface-id",
	"network-interface.mac-address", "source-dest-check", "architecture", "owner-id",
	"tag-key", "tag-value", ec2query.TagFilter}

type reservedInstance struct {
	reservation string
	owner       string
	instance    ec2query.Instance
}

func (f *frontEnd) describeInstances(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeInstancesRequest) (*ec2query.DescribeInstancesResult, error) {
	all, err := f.core.DescribeInstances(ctx, req.InstanceIds)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	volumes, err := f.core.DescribeVolumes(ctx, nil)
	if err != nil {
		return nil, err
	}
	items := make([]reservedInstance, len(all.Instances))
	for i, in := range all.Instances {
		res := in.ReservationId
		if res == "" { // launched by the native API: a reservation of its own
			res = "r-" + suffix(in.InstanceId)
		}
		items[i] = reservedInstance{reservation: res, owner: call.Caller.AccountID, instance: f.instanceOf(call, in, tags[in.InstanceId], volumes.Volumes)}
	}
	l := listing[reservedInstance]{
		known: instanceFilters,
		id:    func(r reservedInstance) string { return r.instance.InstanceId },
		tags:  func(r reservedInstance) []ec2query.Tag { return r.instance.Tags },
		values: func(r reservedInstance, name string) []string {
			in := r.instance
			switch name {
			case "instance-id":
				return one(in.InstanceId)
			case "instance-state-name":
				return one(in.State.Name)
			case "instance-state-code":
				return intValue(in.State.Code)
			case "private-ip-address":
				return one(in.PrivateIpAddress)
			case "private-dns-name":
				return one(in.PrivateDnsName)
			case "subnet-id":
				return one(in.SubnetId)
			case "vpc-id":
				return one(in.VpcId)
			case "instance.group-id", "group-id":
				return groupValues(in.SecurityGroups, func(g ec2query.GroupIdentifier) string { return g.GroupId })
			case "instance.group-name", "group-name":
				return groupValues(in.SecurityGroups, func(g ec2query.GroupIdentifier) string { return g.GroupName })
			case "image-id":
				return one(in.ImageId)
			case "instance-type":
				return one(in.InstanceType)
			case "reservation-id":
				return one(r.reservation)
			case "client-token":
				return one(in.ClientToken)
			case "launch-index":
				return intValue(in.AmiLaunchIndex)
			case "availability-zone":
				return one(in.Placement.AvailabilityZone)
			case "network-interface.network-interface-id", "network-interface.mac-address":
				var out []string
				for _, ni := range in.NetworkInterfaces {
					if name == "network-interface.mac-address" {
						out = append(out, ni.MacAddress)
					} else {
						out = append(out, ni.NetworkInterfaceId)
					}
				}
				return out
			case "source-dest-check":
				return boolValue(in.SourceDestCheck)
			case "architecture":
				return one(in.Architecture)
			case "owner-id":
				return one(r.owner)
			}
			return nil
		},
	}
	page, next, err := l.list(call, items, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ec2query.DescribeInstancesResult{Reservations: []ec2query.Reservation{}, NextToken: next}
	byID := map[string]int{}
	for _, it := range page {
		i, ok := byID[it.reservation]
		if !ok {
			i = len(out.Reservations)
			byID[it.reservation] = i
			out.Reservations = append(out.Reservations, ec2query.Reservation{ReservationId: it.reservation, OwnerId: it.owner, Groups: it.instance.SecurityGroups})
		}
		out.Reservations[i].Instances = append(out.Reservations[i].Instances, it.instance)
	}
	return out, nil
}

func groupValues(groups []ec2query.GroupIdentifier, field func(ec2query.GroupIdentifier) string) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = field(g)
	}
	return out
}

// instance describes one instance, with EC2's error for an unknown one.
func (f *frontEnd) instance(ctx context.Context, id string) (api.Instance, error) {
	all, err := f.core.DescribeInstances(ctx, []string{id})
	if err != nil {
		return api.Instance{}, err
	}
	return all.Instances[0], nil
}

func (f *frontEnd) describeInstanceAttribute(ctx context.Context, _ *ec2query.Call, req *ec2query.DescribeInstanceAttributeRequest) (*ec2query.InstanceAttribute, error) {
	in, err := f.instance(ctx, req.InstanceId)
	if err != nil {
		return nil, err
	}
	out := &ec2query.InstanceAttribute{InstanceId: in.InstanceId}
	switch req.Attribute {
	case "instanceType":
		out.InstanceType = &ec2query.AttributeValue{Value: in.InstanceType}
	case "userData":
		ud, err := f.core.InstanceUserData(ctx, in.InstanceId)
		if err != nil {
			return nil, err
		}
		out.UserData = &ec2query.AttributeValue{}
		if len(ud) > 0 {
			out.UserData.Value = base64.StdEncoding.EncodeToString(ud)
		}
	case "sourceDestCheck":
		check := in.SourceDestCheck != nil && *in.SourceDestCheck
		out.SourceDestCheck = &ec2query.AttributeBooleanValue{Value: &check}
	case "groupSet":
		out.Groups = []ec2query.GroupIdentifier{}
		for _, g := range in.SecurityGroups {
			out.Groups = append(out.Groups, ec2query.GroupIdentifier{GroupId: g.GroupId, GroupName: g.GroupName})
		}
	case "disableApiTermination":
		out.DisableApiTermination = &ec2query.AttributeBooleanValue{Value: ptr(false)}
	case "disableApiStop":
		out.DisableApiStop = &ec2query.AttributeBooleanValue{Value: ptr(false)}
	case "instanceInitiatedShutdownBehavior":
		out.InstanceInitiatedShutdownBehavior = &ec2query.AttributeValue{Value: "stop"}
	case "rootDeviceName":
		out.RootDeviceName = &ec2query.AttributeValue{Value: "/dev/root"}
	case "ebsOptimized":
		out.EbsOptimized = &ec2query.AttributeBooleanValue{Value: ptr(false)}
	case "blockDeviceMapping":
		volumes, err := f.core.DescribeVolumes(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, v := range volumes.Volumes {
			for _, a := range v.Attachments {
				if a.InstanceId == in.InstanceId {
					out.BlockDeviceMappings = append(out.BlockDeviceMappings, ec2query.InstanceBlockDeviceMapping{DeviceName: a.Device,
						Ebs: &ec2query.EbsInstanceBlockDevice{Status: a.State, VolumeId: v.VolumeId}})
				}
			}
		}
	default:
		return nil, api.Errorf(api.CodeInvalidParameterValue, "Value (%s) for parameter attribute is invalid: hostd answers instanceType, userData, sourceDestCheck, groupSet, blockDeviceMapping, disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior, rootDeviceName, ebsOptimized", req.Attribute)
	}
	return out, nil
}

// modifyInstanceAttribute changes what hostd keeps of a running instance: its interface's
// source/destination check and groups. What EC2 changes only while stopped (type, user data)
// or hostd does not keep is refused.
func (f *frontEnd) modifyInstanceAttribute(ctx context.Context, _ *ec2query.Call, req *ec2query.ModifyInstanceAttributeRequest) (*ec2query.NoOutput, error) {
	check := req.SourceDestCheck
	groups := req.Groups
	switch req.Attribute {
	case "":
	case "sourceDestCheck":
		b, err := strconv.ParseBool(req.Value)
		if err != nil {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "Value (%s) for sourceDestCheck is invalid: give true or false", req.Value)
		}
		check = &ec2query.AttributeBooleanValue{Value: &b}
	case "groupSet":
		groups = append(groups, req.Value)
	default:
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd cannot change the attribute %s of an instance", req.Attribute)
	}
	switch {
	case req.InstanceType != nil:
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd cannot change the InstanceType of an instance")
	case req.UserData != nil:
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd cannot change the UserData of an instance")
	case req.InstanceInitiatedShutdownBehavior != nil && req.InstanceInitiatedShutdownBehavior.Value != "stop":
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd stops an instance whose workload ends: InstanceInitiatedShutdownBehavior is stop")
	}
	for name, v := range map[string]*ec2query.AttributeBooleanValue{"DisableApiTermination": req.DisableApiTermination, "DisableApiStop": req.DisableApiStop, "EbsOptimized": req.EbsOptimized} {
		if v != nil && v.Value != nil && *v.Value {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd does not keep %s: it can only be false", name)
		}
	}
	if check == nil && len(groups) == 0 {
		return &ec2query.NoOutput{}, nil
	}
	return f.modifyInterface(ctx, req.InstanceId, check, groups)
}

// modifyInterface changes an instance's interface: its check and groups, each if given.
func (f *frontEnd) modifyInterface(ctx context.Context, instanceID string, check *ec2query.AttributeBooleanValue, groups []string) (*ec2query.NoOutput, error) {
	if check != nil {
		if check.Value == nil {
			return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter SourceDestCheck.Value")
		}
		if _, err := f.core.ModifyInstance(ctx, instanceID, api.ModifyInstanceRequest{SourceDestCheck: check.Value}); err != nil {
			return nil, err
		}
	}
	if len(groups) > 0 {
		if _, err := f.core.SetGroups(ctx, instanceID, api.SetGroupsRequest{Groups: groups}); err != nil {
			return nil, err
		}
	}
	return &ec2query.NoOutput{}, nil
}

func (f *frontEnd) describeInstanceCreditSpecifications(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeInstanceCreditSpecificationsRequest) (*ec2query.DescribeInstanceCreditSpecificationsResult, error) {
	all, err := f.core.DescribeInstances(ctx, req.InstanceIds)
	if err != nil {
		return nil, err
	}
	var specs []ec2query.InstanceCreditSpecification
	for _, in := range all.Instances {
		if strings.HasPrefix(in.InstanceType, "t") && in.State != api.StateTerminated {
			specs = append(specs, ec2query.InstanceCreditSpecification{InstanceId: in.InstanceId, CpuCredits: "unlimited"})
		}
	}
	l := listing[ec2query.InstanceCreditSpecification]{
		known: []string{"instance-id"},
		id:    func(s ec2query.InstanceCreditSpecification) string { return s.InstanceId },
		values: func(s ec2query.InstanceCreditSpecification, name string) []string {
			return one(s.InstanceId)
		},
	}
	page, next, err := l.list(call, specs, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeInstanceCreditSpecificationsResult{InstanceCreditSpecifications: page, NextToken: next}, nil
}

// Network interfaces: an instance's one interface, listed on its own.

type eniOf struct {
	ni       ec2query.NetworkInterface
	instance string
}

func (f *frontEnd) interfaces(ctx context.Context, call *ec2query.Call) ([]eniOf, error) {
	all, err := f.core.DescribeInstances(ctx, nil)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	zn, _ := zone(call)
	var out []eniOf
	for _, in := range all.Instances {
		if in.State == api.StateTerminated {
			continue
		}
		for _, ni := range in.NetworkInterfaces {
			q := ec2query.NetworkInterface{
				AvailabilityZone: zn, InterfaceType: "interface", MacAddress: ni.MacAddress, NetworkInterfaceId: ni.NetworkInterfaceId,
				OwnerId: call.Caller.AccountID, PrivateIpAddress: ni.PrivateIpAddress, SourceDestCheck: ni.SourceDestCheck, Status: "in-use",
				SubnetId: ni.SubnetId, VpcId: ni.VpcId, TagSet: tags[ni.NetworkInterfaceId], Groups: []ec2query.GroupIdentifier{},
				PrivateIpAddresses: []ec2query.NetworkInterfacePrivateIpAddress{{Primary: true, PrivateIpAddress: ni.PrivateIpAddress}},
				Attachment: &ec2query.NetworkInterfaceAttachment{AttachTime: in.LaunchTime, AttachmentId: "eni-attach-" + suffix(ni.NetworkInterfaceId),
					DeleteOnTermination: true, InstanceId: in.InstanceId, InstanceOwnerId: call.Caller.AccountID, Status: "attached"},
			}
			for _, g := range ni.Groups {
				q.Groups = append(q.Groups, ec2query.GroupIdentifier{GroupId: g.GroupId, GroupName: g.GroupName})
			}
			out = append(out, eniOf{ni: q, instance: in.InstanceId})
		}
	}
	return out, nil
}

var networkInterfaceFilters = []string{"network-interface-id", "subnet-id", "vpc-id", "private-ip-address", "addresses.private-ip-address",
	"attachment.instance-id", "attachment.attachment-id", "attachment.status", "group-id", "group-name", "mac-address", "status",
	"source-dest-check", "availability-zone", "owner-id", "interface-type", "tag-key", "tag-value", ec2query.TagFilter}

func (f *frontEnd) describeNetworkInterfaces(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeNetworkInterfacesRequest) (*ec2query.DescribeNetworkInterfacesResult, error) {
	if err := api.NetworkInterfaceID.Check(req.NetworkInterfaceIds...); err != nil {
		return nil, err
	}
	all, err := f.interfaces(ctx, call)
	if err != nil {
		return nil, err
	}
	for _, id := range req.NetworkInterfaceIds {
		if !slices.ContainsFunc(all, func(e eniOf) bool { return e.ni.NetworkInterfaceId == id }) {
			return nil, api.NetworkInterfaceID.NotFoundError(id)
		}
	}
	if len(req.NetworkInterfaceIds) > 0 {
		all = filterSlice(all, func(e eniOf) bool { return slices.Contains(req.NetworkInterfaceIds, e.ni.NetworkInterfaceId) })
	}
	l := listing[eniOf]{
		known: networkInterfaceFilters,
		id:    func(e eniOf) string { return e.ni.NetworkInterfaceId },
		tags:  func(e eniOf) []ec2query.Tag { return e.ni.TagSet },
		values: func(e eniOf, name string) []string {
			ni := e.ni
			switch name {
			case "network-interface-id":
				return one(ni.NetworkInterfaceId)
			case "subnet-id":
				return one(ni.SubnetId)
			case "vpc-id":
				return one(ni.VpcId)
			case "private-ip-address", "addresses.private-ip-address":
				return one(ni.PrivateIpAddress)
			case "attachment.instance-id":
				return one(e.instance)
			case "attachment.attachment-id":
				return one(ni.Attachment.AttachmentId)
			case "attachment.status":
				return one("attached")
			case "group-id":
				return groupValues(ni.Groups, func(g ec2query.GroupIdentifier) string { return g.GroupId })
			case "group-name":
				return groupValues(ni.Groups, func(g ec2query.GroupIdentifier) string { return g.GroupName })
			case "mac-address":
				return one(ni.MacAddress)
			case "status":
				return one(ni.Status)
			case "source-dest-check":
				return boolValue(ni.SourceDestCheck)
			case "availability-zone":
				return one(ni.AvailabilityZone)
			case "owner-id":
				return one(ni.OwnerId)
			case "interface-type":
				return one(ni.InterfaceType)
			}
			return nil
		},
	}
	page, next, err := l.list(call, all, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ec2query.DescribeNetworkInterfacesResult{NetworkInterfaces: []ec2query.NetworkInterface{}, NextToken: next}
	for _, e := range page {
		out.NetworkInterfaces = append(out.NetworkInterfaces, e.ni)
	}
	return out, nil
}

func (f *frontEnd) modifyNetworkInterfaceAttribute(ctx context.Context, call *ec2query.Call, req *ec2query.ModifyNetworkInterfaceAttributeRequest) (*ec2query.NoOutput, error) {
	if err := api.NetworkInterfaceID.Check(req.NetworkInterfaceId); err != nil {
		return nil, err
	}
	if req.Description != nil {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd does not keep a description of an interface")
	}
	all, err := f.interfaces(ctx, call)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(e eniOf) bool { return e.ni.NetworkInterfaceId == req.NetworkInterfaceId })
	if i < 0 {
		return nil, api.NetworkInterfaceID.NotFoundError(req.NetworkInterfaceId)
	}
	return f.modifyInterface(ctx, all[i].instance, req.SourceDestCheck, req.Groups)
}
