package ec2api

import (
	"context"
	"slices"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// VPCs, subnets and their route tables.

func (f *frontEnd) registerNetwork(r *ec2query.Router) {
	handle(r, "CreateVpc", f.createVpc)
	handle(r, "DescribeVpcs", f.describeVpcs)
	handle(r, "DeleteVpc", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteVpcRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.DeleteVpc(ctx, req.VpcId)
		return noOutput(err)
	})
	handle(r, "DescribeVpcAttribute", f.describeVpcAttribute)
	handle(r, "ModifyVpcAttribute", func(ctx context.Context, _ *ec2query.Call, req *ec2query.ModifyVpcAttributeRequest) (*ec2query.NoOutput, error) {
		var m api.ModifyVpcAttributeRequest
		if req.EnableDnsSupport != nil {
			m.EnableDnsSupport = req.EnableDnsSupport.Value
		}
		if req.EnableDnsHostnames != nil {
			m.EnableDnsHostnames = req.EnableDnsHostnames.Value
		}
		_, err := f.core.ModifyVpcAttribute(ctx, req.VpcId, m)
		return noOutput(err)
	})
	handle(r, "CreateSubnet", f.createSubnet)
	handle(r, "DescribeSubnets", f.describeSubnets)
	handle(r, "DeleteSubnet", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteSubnetRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.DeleteSubnet(ctx, req.SubnetId)
		return noOutput(err)
	})
	handle(r, "ModifySubnetAttribute", f.modifySubnetAttribute)
	handle(r, "DescribeRouteTables", f.describeRouteTables)
}

// describeVpcAttribute answers one of a VPC's DNS switches, as the resolver reads them.
// (EnableNetworkAddressUsageMetrics, which Terraform asks for, is always off: hostd has none.)
func (f *frontEnd) describeVpcAttribute(ctx context.Context, _ *ec2query.Call, req *ec2query.DescribeVpcAttributeRequest) (*ec2query.DescribeVpcAttributeResult, error) {
	vpcs, err := f.core.DescribeVpcs(ctx, []string{req.VpcId})
	if err != nil {
		return nil, err
	}
	v := vpcs.Vpcs[0]
	value := func(b bool) *ec2query.AttributeBooleanValue { return &ec2query.AttributeBooleanValue{Value: &b} }
	out := &ec2query.DescribeVpcAttributeResult{VpcId: v.VpcId}
	switch req.Attribute {
	case "enableDnsSupport":
		out.EnableDnsSupport = value(v.EnableDnsSupport)
	case "enableDnsHostnames":
		out.EnableDnsHostnames = value(v.EnableDnsHostnames)
	case "enableNetworkAddressUsageMetrics":
		out.EnableNetworkAddressUsageMetrics = value(false)
	default:
		return nil, &api.Error{Code: api.CodeInvalidParameterValue, Message: "Value (" + req.Attribute + ") for parameter attribute is invalid: give enableDnsSupport, enableDnsHostnames or enableNetworkAddressUsageMetrics"}
	}
	return out, nil
}

func noOutput(err error) (*ec2query.NoOutput, error) {
	if err != nil {
		return nil, err
	}
	return &ec2query.NoOutput{}, nil
}

func (f *frontEnd) createVpc(ctx context.Context, call *ec2query.Call, req *ec2query.CreateVpcRequest) (*ec2query.CreateVpcResult, error) {
	if req.CidrBlock == "" {
		return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter CidrBlock (hostd has no IPAM pools)")
	}
	if req.AmazonProvidedIpv6CidrBlock != nil && *req.AmazonProvidedIpv6CidrBlock {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd's VPCs are IPv4 only: AmazonProvidedIpv6CidrBlock must be false")
	}
	if req.InstanceTenancy != "" && req.InstanceTenancy != "default" {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "Invalid value '%s' for InstanceTenancy: hostd has default tenancy only", req.InstanceTenancy)
	}
	tags, err := tagsFor(req.TagSpecifications, "vpc")
	if err != nil {
		return nil, err
	}
	v, err := f.core.CreateVpc(ctx, api.CreateVpcRequest{CidrBlock: req.CidrBlock})
	if err != nil {
		return nil, err
	}
	if err := f.tagCreated(ctx, v.VpcId, tags, func() error { _, err := f.core.DeleteVpc(ctx, v.VpcId); return err }); err != nil {
		return nil, err
	}
	out := vpcOf(call, v, ec2Tags(tags))
	return &ec2query.CreateVpcResult{Vpc: &out}, nil
}

func vpcOf(call *ec2query.Call, v api.Vpc, tags []ec2query.Tag) ec2query.Vpc {
	return ec2query.Vpc{
		CidrBlock: v.CidrBlock, DhcpOptionsId: "default", State: "available", VpcId: v.VpcId,
		OwnerId: call.Caller.AccountID, InstanceTenancy: "default", IsDefault: ptr(false), Tags: tags,
		CidrBlockAssociationSet: []ec2query.VpcCidrBlockAssociation{{
			AssociationId: "vpc-cidr-assoc-" + suffix(v.VpcId), CidrBlock: v.CidrBlock,
			CidrBlockState: &ec2query.VpcCidrBlockState{State: "associated"},
		}},
	}
}

var vpcFilters = []string{"vpc-id", "cidr", "cidr-block-association.cidr-block", "cidr-block-association.association-id",
	"cidr-block-association.state", "dhcp-options-id", "is-default", "owner-id", "state", "tag-key", "tag-value", ec2query.TagFilter}

func (f *frontEnd) describeVpcs(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeVpcsRequest) (*ec2query.DescribeVpcsResult, error) {
	all, err := f.core.DescribeVpcs(ctx, req.VpcIds)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	vpcs := make([]ec2query.Vpc, len(all.Vpcs))
	for i, v := range all.Vpcs {
		vpcs[i] = vpcOf(call, v, tags[v.VpcId])
	}
	l := listing[ec2query.Vpc]{
		known: vpcFilters,
		id:    func(v ec2query.Vpc) string { return v.VpcId },
		tags:  func(v ec2query.Vpc) []ec2query.Tag { return v.Tags },
		values: func(v ec2query.Vpc, name string) []string {
			switch name {
			case "vpc-id":
				return one(v.VpcId)
			case "cidr", "cidr-block-association.cidr-block":
				return one(v.CidrBlock)
			case "cidr-block-association.association-id":
				return one(v.CidrBlockAssociationSet[0].AssociationId)
			case "cidr-block-association.state":
				return one("associated")
			case "dhcp-options-id":
				return one(v.DhcpOptionsId)
			case "is-default":
				return boolValue(false)
			case "owner-id":
				return one(v.OwnerId)
			case "state":
				return one(v.State)
			}
			return nil
		},
	}
	page, next, err := l.list(call, vpcs, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeVpcsResult{Vpcs: page, NextToken: next}, nil
}

// zone is the one availability zone of hostd's region: REGIONa.
func zone(call *ec2query.Call) (name, id string) { return call.Region + "a", call.Region + "-az1" }

func (f *frontEnd) createSubnet(ctx context.Context, call *ec2query.Call, req *ec2query.CreateSubnetRequest) (*ec2query.CreateSubnetResult, error) {
	if req.CidrBlock == "" {
		return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter CidrBlock")
	}
	if req.Ipv6Native != nil && *req.Ipv6Native {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd's subnets are IPv4 only: Ipv6Native must be false")
	}
	if err := checkZone(call, req.AvailabilityZone, req.AvailabilityZoneId); err != nil {
		return nil, err
	}
	tags, err := tagsFor(req.TagSpecifications, "subnet")
	if err != nil {
		return nil, err
	}
	s, err := f.core.CreateSubnet(ctx, api.CreateSubnetRequest{VpcId: req.VpcId, CidrBlock: req.CidrBlock})
	if err != nil {
		return nil, err
	}
	if err := f.tagCreated(ctx, s.SubnetId, tags, func() error { _, err := f.core.DeleteSubnet(ctx, s.SubnetId); return err }); err != nil {
		return nil, err
	}
	out := subnetOf(call, s, ec2Tags(tags))
	return &ec2query.CreateSubnetResult{Subnet: &out}, nil
}

// checkZone refuses a zone that is not the region's one, by name or by id.
func checkZone(call *ec2query.Call, name, id string) error {
	zn, zid := zone(call)
	if name != "" && name != zn {
		return api.Errorf(api.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZone is invalid. hostd's region %s has one zone: %s", name, call.Region, zn)
	}
	if id != "" && id != zid {
		return api.Errorf(api.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZoneId is invalid. hostd's region %s has one zone: %s", id, call.Region, zid)
	}
	return nil
}

func subnetOf(call *ec2query.Call, s api.Subnet, tags []ec2query.Tag) ec2query.Subnet {
	zn, zid := zone(call)
	return ec2query.Subnet{
		AvailabilityZone: zn, AvailabilityZoneId: zid, AvailableIpAddressCount: s.AvailableIpAddressCount,
		CidrBlock: s.CidrBlock, State: "available", SubnetId: s.SubnetId, VpcId: s.VpcId, OwnerId: call.Caller.AccountID,
		Tags: tags, SubnetArn: "arn:aws:ec2:" + call.Region + ":" + call.Caller.AccountID + ":subnet/" + s.SubnetId,
		PrivateDnsNameOptionsOnLaunch: &ec2query.PrivateDnsNameOptionsOnLaunch{HostnameType: "ip-name"},
	}
}

var subnetFilters = []string{"subnet-id", "vpc-id", "cidr", "cidr-block", "cidrBlock", "availability-zone", "availability-zone-id",
	"available-ip-address-count", "default-for-az", "defaultForAz", "map-public-ip-on-launch", "owner-id", "state", "subnet-arn",
	"ipv6-native", "tag-key", "tag-value", ec2query.TagFilter}

func (f *frontEnd) describeSubnets(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeSubnetsRequest) (*ec2query.DescribeSubnetsResult, error) {
	all, err := f.core.DescribeSubnets(ctx, req.SubnetIds)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	subnets := make([]ec2query.Subnet, len(all.Subnets))
	for i, s := range all.Subnets {
		subnets[i] = subnetOf(call, s, tags[s.SubnetId])
	}
	l := listing[ec2query.Subnet]{
		known: subnetFilters,
		id:    func(s ec2query.Subnet) string { return s.SubnetId },
		tags:  func(s ec2query.Subnet) []ec2query.Tag { return s.Tags },
		values: func(s ec2query.Subnet, name string) []string {
			switch name {
			case "subnet-id":
				return one(s.SubnetId)
			case "vpc-id":
				return one(s.VpcId)
			case "cidr", "cidr-block", "cidrBlock":
				return one(s.CidrBlock)
			case "availability-zone":
				return one(s.AvailabilityZone)
			case "availability-zone-id":
				return one(s.AvailabilityZoneId)
			case "available-ip-address-count":
				return intValue(s.AvailableIpAddressCount)
			case "default-for-az", "defaultForAz", "map-public-ip-on-launch", "ipv6-native":
				return boolValue(false)
			case "owner-id":
				return one(s.OwnerId)
			case "state":
				return one(s.State)
			case "subnet-arn":
				return one(s.SubnetArn)
			}
			return nil
		},
	}
	page, next, err := l.list(call, subnets, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeSubnetsResult{Subnets: page, NextToken: next}, nil
}

// modifySubnetAttribute takes what hostd's subnets already are: no public addresses, no IPv6.
// Asking for either is refused; the rest is EC2's default and changes nothing.
func (f *frontEnd) modifySubnetAttribute(ctx context.Context, _ *ec2query.Call, req *ec2query.ModifySubnetAttributeRequest) (*ec2query.NoOutput, error) {
	if _, err := f.core.DescribeSubnets(ctx, []string{req.SubnetId}); err != nil {
		return nil, err
	}
	for name, v := range map[string]*ec2query.AttributeBooleanValue{
		"MapPublicIpOnLaunch": req.MapPublicIpOnLaunch, "AssignIpv6AddressOnCreation": req.AssignIpv6AddressOnCreation,
		"EnableDns64": req.EnableDns64, "EnableResourceNameDnsAAAARecordOnLaunch": req.EnableResourceNameDnsAAAARecordOnLaunch,
		"EnableResourceNameDnsARecordOnLaunch": req.EnableResourceNameDnsARecordOnLaunch,
	} {
		if v != nil && v.Value != nil && *v.Value {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd's subnets have no public addresses, IPv6 or resource-name DNS: %s must be false", name)
		}
	}
	if req.PrivateDnsHostnameTypeOnLaunch != "" && req.PrivateDnsHostnameTypeOnLaunch != "ip-name" {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd names instances by IP: PrivateDnsHostnameTypeOnLaunch must be ip-name")
	}
	return &ec2query.NoOutput{}, nil
}

// Route tables: every VPC has its main table, whose one route is the VPC's own block (local).
// hostd routes nothing else, so the table is derived from the VPC: rtb- with the VPC's hex.

func routeTableOf(call *ec2query.Call, v api.Vpc) ec2query.RouteTable {
	id := "rtb-" + suffix(v.VpcId)
	return ec2query.RouteTable{
		RouteTableId: id, VpcId: v.VpcId, OwnerId: call.Caller.AccountID,
		Associations: []ec2query.RouteTableAssociation{{
			Main: true, RouteTableAssociationId: "rtbassoc-" + suffix(v.VpcId), RouteTableId: id,
			AssociationState: &ec2query.RouteTableAssociationState{State: "associated"},
		}},
		Routes: []ec2query.Route{{DestinationCidrBlock: v.CidrBlock, GatewayId: "local", Origin: "CreateRouteTable", State: "active"}},
	}
}

var routeTableFilters = []string{"route-table-id", "vpc-id", "owner-id", "association.main", "association.route-table-association-id",
	"association.route-table-id", "route.destination-cidr-block", "route.gateway-id", "route.origin", "route.state"}

func (f *frontEnd) describeRouteTables(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeRouteTablesRequest) (*ec2query.DescribeRouteTablesResult, error) {
	all, err := f.core.DescribeVpcs(ctx, nil)
	if err != nil {
		return nil, err
	}
	var tables []ec2query.RouteTable
	for _, v := range all.Vpcs {
		tables = append(tables, routeTableOf(call, v))
	}
	for _, id := range req.RouteTableIds {
		if !slices.ContainsFunc(tables, func(t ec2query.RouteTable) bool { return t.RouteTableId == id }) {
			return nil, api.Errorf("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		}
	}
	l := listing[ec2query.RouteTable]{
		known: routeTableFilters,
		id:    func(t ec2query.RouteTable) string { return t.RouteTableId },
		values: func(t ec2query.RouteTable, name string) []string {
			switch name {
			case "route-table-id", "association.route-table-id":
				return one(t.RouteTableId)
			case "vpc-id":
				return one(t.VpcId)
			case "owner-id":
				return one(t.OwnerId)
			case "association.main":
				return boolValue(true)
			case "association.route-table-association-id":
				return one(t.Associations[0].RouteTableAssociationId)
			case "route.destination-cidr-block":
				return one(t.Routes[0].DestinationCidrBlock)
			case "route.gateway-id":
				return one("local")
			case "route.origin":
				return one("CreateRouteTable")
			case "route.state":
				return one("active")
			}
			return nil
		},
	}
	if len(req.RouteTableIds) > 0 {
		tables = filterSlice(tables, func(t ec2query.RouteTable) bool { return slices.Contains(req.RouteTableIds, t.RouteTableId) })
	}
	page, next, err := l.list(call, tables, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeRouteTablesResult{RouteTables: page, NextToken: next}, nil
}
