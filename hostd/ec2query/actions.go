package ec2query

import "reflect"

// ActionSpec is one EC2 action hostd answers: its request and output types (the model's input
// and output shapes; NoOutput where the model has none) and, for a paginated Describe, its
// MaxResults range.
type ActionSpec struct {
	Name    string
	Request reflect.Type
	Output  reflect.Type
	Pages   *PageLimits
}

func spec[Req, Out any](name string, pages *PageLimits) ActionSpec {
	return ActionSpec{Name: name, Request: reflect.TypeFor[Req](), Output: reflect.TypeFor[Out](), Pages: pages}
}

var (
	defaultPages = &DefaultPageLimits
	shortPages   = &PageLimits{Min: 5, Max: 100}
	volumePages  = &PageLimits{Min: 5, Max: 500}
)

// Catalog is every action of the EC2 front end, in the order. Register refuses a
// handler whose types are not the catalog's, and the conformance tests hold each type to
// botocore's model. The package documentation maps each to the core operation it calls.
var Catalog = []ActionSpec{
	// VPCs and subnets
	spec[CreateVpcRequest, CreateVpcResult]("CreateVpc", nil),
	spec[DescribeVpcsRequest, DescribeVpcsResult]("DescribeVpcs", defaultPages),
	spec[DeleteVpcRequest, NoOutput]("DeleteVpc", nil),
	spec[DescribeVpcAttributeRequest, DescribeVpcAttributeResult]("DescribeVpcAttribute", nil),
	spec[ModifyVpcAttributeRequest, NoOutput]("ModifyVpcAttribute", nil),
	spec[CreateSubnetRequest, CreateSubnetResult]("CreateSubnet", nil),
	spec[DescribeSubnetsRequest, DescribeSubnetsResult]("DescribeSubnets", defaultPages),
	spec[DeleteSubnetRequest, NoOutput]("DeleteSubnet", nil),
	spec[ModifySubnetAttributeRequest, NoOutput]("ModifySubnetAttribute", nil),
	// Security groups
	spec[CreateSecurityGroupRequest, CreateSecurityGroupResult]("CreateSecurityGroup", nil),
	spec[DescribeSecurityGroupsRequest, DescribeSecurityGroupsResult]("DescribeSecurityGroups", defaultPages),
	spec[DeleteSecurityGroupRequest, NoOutput]("DeleteSecurityGroup", nil),
	spec[AuthorizeSecurityGroupIngressRequest, AuthorizeSecurityGroupIngressResult]("AuthorizeSecurityGroupIngress", nil),
	spec[AuthorizeSecurityGroupEgressRequest, AuthorizeSecurityGroupEgressResult]("AuthorizeSecurityGroupEgress", nil),
	spec[RevokeSecurityGroupIngressRequest, RevokeSecurityGroupIngressResult]("RevokeSecurityGroupIngress", nil),
	spec[RevokeSecurityGroupEgressRequest, RevokeSecurityGroupEgressResult]("RevokeSecurityGroupEgress", nil),
	spec[DescribeSecurityGroupRulesRequest, DescribeSecurityGroupRulesResult]("DescribeSecurityGroupRules", defaultPages),
	spec[ModifySecurityGroupRulesRequest, ModifySecurityGroupRulesResult]("ModifySecurityGroupRules", nil),
	// Network ACLs
	spec[CreateNetworkAclRequest, CreateNetworkAclResult]("CreateNetworkAcl", nil),
	spec[DescribeNetworkAclsRequest, DescribeNetworkAclsResult]("DescribeNetworkAcls", defaultPages),
	spec[DeleteNetworkAclRequest, NoOutput]("DeleteNetworkAcl", nil),
	spec[CreateNetworkAclEntryRequest, NoOutput]("CreateNetworkAclEntry", nil),
	spec[ReplaceNetworkAclEntryRequest, NoOutput]("ReplaceNetworkAclEntry", nil),
	spec[DeleteNetworkAclEntryRequest, NoOutput]("DeleteNetworkAclEntry", nil),
	spec[ReplaceNetworkAclAssociationRequest, ReplaceNetworkAclAssociationResult]("ReplaceNetworkAclAssociation", nil),
	// Instances and their interfaces
	spec[RunInstancesRequest, Reservation]("RunInstances", nil),
	spec[DescribeInstancesRequest, DescribeInstancesResult]("DescribeInstances", defaultPages),
	spec[TerminateInstancesRequest, TerminateInstancesResult]("TerminateInstances", nil),
	spec[StopInstancesRequest, StopInstancesResult]("StopInstances", nil),
	spec[StartInstancesRequest, StartInstancesResult]("StartInstances", nil),
	spec[DescribeInstanceAttributeRequest, InstanceAttribute]("DescribeInstanceAttribute", nil),
	spec[DescribeInstanceCreditSpecificationsRequest, DescribeInstanceCreditSpecificationsResult]("DescribeInstanceCreditSpecifications", defaultPages),
	spec[ModifyInstanceAttributeRequest, NoOutput]("ModifyInstanceAttribute", nil),
	spec[DescribeNetworkInterfacesRequest, DescribeNetworkInterfacesResult]("DescribeNetworkInterfaces", defaultPages),
	spec[ModifyNetworkInterfaceAttributeRequest, NoOutput]("ModifyNetworkInterfaceAttribute", nil),
	// Volumes
	spec[CreateVolumeRequest, Volume]("CreateVolume", nil),
	spec[DescribeVolumesRequest, DescribeVolumesResult]("DescribeVolumes", volumePages),
	spec[AttachVolumeRequest, VolumeAttachment]("AttachVolume", nil),
	spec[DetachVolumeRequest, VolumeAttachment]("DetachVolume", nil),
	spec[DeleteVolumeRequest, NoOutput]("DeleteVolume", nil),
	// Tags
	spec[CreateTagsRequest, NoOutput]("CreateTags", nil),
	spec[DeleteTagsRequest, NoOutput]("DeleteTags", nil),
	spec[DescribeTagsRequest, DescribeTagsResult]("DescribeTags", defaultPages),
	// What clients ask before they act
	spec[DescribeAvailabilityZonesRequest, DescribeAvailabilityZonesResult]("DescribeAvailabilityZones", nil),
	spec[DescribeRegionsRequest, DescribeRegionsResult]("DescribeRegions", nil),
	spec[DescribeImagesRequest, DescribeImagesResult]("DescribeImages", nil),
	spec[DescribeInstanceTypesRequest, DescribeInstanceTypesResult]("DescribeInstanceTypes", shortPages),
	spec[DescribeRouteTablesRequest, DescribeRouteTablesResult]("DescribeRouteTables", shortPages),
	spec[DescribeAccountAttributesRequest, DescribeAccountAttributesResult]("DescribeAccountAttributes", nil),
	spec[DescribeKeyPairsRequest, DescribeKeyPairsResult]("DescribeKeyPairs", nil),
}
