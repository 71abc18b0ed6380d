package ec2query

// The shapes of EC2's model for VPCs and subnets: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

// CreateVpc

type CreateVpcRequest struct {
	CidrBlock                       string
	AmazonProvidedIpv6CidrBlock     *bool `ec2:"amazonProvidedIpv6CidrBlock"`
	Ipv6Pool                        Unsupported
	Ipv6CidrBlock                   Unsupported
	Ipv4IpamPoolId                  Unsupported
	Ipv4NetmaskLength               Unsupported
	Ipv6IpamPoolId                  Unsupported
	Ipv6NetmaskLength               Unsupported
	DryRun                          bool   `ec2:"dryRun"`
	InstanceTenancy                 string `ec2:"instanceTenancy"`
	Ipv6CidrBlockNetworkBorderGroup Unsupported
	TagSpecifications               []TagSpecification `ec2:"TagSpecification"`
}

type CreateVpcResult struct {
	Vpc *Vpc `ec2:"vpc"`
}

type Vpc struct {
	CidrBlock               string                    `ec2:"cidrBlock"`
	DhcpOptionsId           string                    `ec2:"dhcpOptionsId"`
	State                   string                    `ec2:"state"`
	VpcId                   string                    `ec2:"vpcId"`
	OwnerId                 string                    `ec2:"ownerId"`
	InstanceTenancy         string                    `ec2:"instanceTenancy"`
	CidrBlockAssociationSet []VpcCidrBlockAssociation `ec2:"cidrBlockAssociationSet"`
	IsDefault               *bool                     `ec2:"isDefault"`
	Tags                    []Tag                     `ec2:"tagSet"`
}

type VpcCidrBlockAssociation struct {
	AssociationId  string             `ec2:"associationId"`
	CidrBlock      string             `ec2:"cidrBlock"`
	CidrBlockState *VpcCidrBlockState `ec2:"cidrBlockState"`
}

type VpcCidrBlockState struct {
	State         string `ec2:"state"`
	StatusMessage string `ec2:"statusMessage"`
}

// DescribeVpcs

type DescribeVpcsRequest struct {
	Filters    []Filter `ec2:"Filter"`
	VpcIds     []string `ec2:"VpcId"`
	DryRun     bool     `ec2:"dryRun"`
	NextToken  string
	MaxResults *int
}

type DescribeVpcsResult struct {
	Vpcs      []Vpc  `ec2:"vpcSet"`
	NextToken string `ec2:"nextToken"`
}

// DeleteVpc

type DeleteVpcRequest struct {
	VpcId  string `ec2:",required"`
	DryRun bool   `ec2:"dryRun"`
}

// DescribeVpcAttribute

type DescribeVpcAttributeRequest struct {
	Attribute string `ec2:",required"`
	VpcId     string `ec2:",required"`
	DryRun    bool   `ec2:"dryRun"`
}

type DescribeVpcAttributeResult struct {
	VpcId                            string                 `ec2:"vpcId"`
	EnableDnsHostnames               *AttributeBooleanValue `ec2:"enableDnsHostnames"`
	EnableDnsSupport                 *AttributeBooleanValue `ec2:"enableDnsSupport"`
	EnableNetworkAddressUsageMetrics *AttributeBooleanValue `ec2:"enableNetworkAddressUsageMetrics"`
}

type AttributeBooleanValue struct {
	Value *bool `ec2:"value"`
}

// ModifyVpcAttribute

type ModifyVpcAttributeRequest struct {
	EnableDnsHostnames               *AttributeBooleanValue
	EnableDnsSupport                 *AttributeBooleanValue
	VpcId                            string `ec2:"vpcId,required"`
	EnableNetworkAddressUsageMetrics Unsupported
}

// CreateSubnet

type CreateSubnetRequest struct {
	TagSpecifications  []TagSpecification `ec2:"TagSpecification"`
	AvailabilityZone   string
	AvailabilityZoneId string
	CidrBlock          string
	Ipv6CidrBlock      Unsupported
	OutpostArn         Unsupported
	VpcId              string `ec2:",required"`
	DryRun             bool   `ec2:"dryRun"`
	Ipv6Native         *bool
}

type CreateSubnetResult struct {
	Subnet *Subnet `ec2:"subnet"`
}

type Subnet struct {
	AvailabilityZone              string                         `ec2:"availabilityZone"`
	AvailabilityZoneId            string                         `ec2:"availabilityZoneId"`
	AvailableIpAddressCount       int                            `ec2:"availableIpAddressCount"`
	CidrBlock                     string                         `ec2:"cidrBlock"`
	DefaultForAz                  bool                           `ec2:"defaultForAz"`
	MapPublicIpOnLaunch           bool                           `ec2:"mapPublicIpOnLaunch"`
	State                         string                         `ec2:"state"`
	SubnetId                      string                         `ec2:"subnetId"`
	VpcId                         string                         `ec2:"vpcId"`
	OwnerId                       string                         `ec2:"ownerId"`
	AssignIpv6AddressOnCreation   bool                           `ec2:"assignIpv6AddressOnCreation"`
	Tags                          []Tag                          `ec2:"tagSet"`
	SubnetArn                     string                         `ec2:"subnetArn"`
	EnableDns64                   bool                           `ec2:"enableDns64"`
	Ipv6Native                    bool                           `ec2:"ipv6Native"`
	PrivateDnsNameOptionsOnLaunch *PrivateDnsNameOptionsOnLaunch `ec2:"privateDnsNameOptionsOnLaunch"`
}

type PrivateDnsNameOptionsOnLaunch struct {
	HostnameType                    string `ec2:"hostnameType"`
	EnableResourceNameDnsARecord    bool   `ec2:"enableResourceNameDnsARecord"`
	EnableResourceNameDnsAAAARecord bool   `ec2:"enableResourceNameDnsAAAARecord"`
}

// DescribeSubnets

type DescribeSubnetsRequest struct {
	Filters    []Filter `ec2:"Filter"`
	SubnetIds  []string `ec2:"SubnetId"`
	DryRun     bool     `ec2:"dryRun"`
	NextToken  string
	MaxResults *int
}

type DescribeSubnetsResult struct {
	Subnets   []Subnet `ec2:"subnetSet"`
	NextToken string   `ec2:"nextToken"`
}

// DeleteSubnet

type DeleteSubnetRequest struct {
	SubnetId string `ec2:",required"`
	DryRun   bool   `ec2:"dryRun"`
}

// ModifySubnetAttribute

type ModifySubnetAttributeRequest struct {
	AssignIpv6AddressOnCreation             *AttributeBooleanValue
	MapPublicIpOnLaunch                     *AttributeBooleanValue
	SubnetId                                string `ec2:"subnetId,required"`
	MapCustomerOwnedIpOnLaunch              Unsupported
	CustomerOwnedIpv4Pool                   Unsupported
	EnableDns64                             *AttributeBooleanValue
	PrivateDnsHostnameTypeOnLaunch          string
	EnableResourceNameDnsARecordOnLaunch    *AttributeBooleanValue
	EnableResourceNameDnsAAAARecordOnLaunch *AttributeBooleanValue
	EnableLniAtDeviceIndex                  Unsupported
	DisableLniAtDeviceIndex                 Unsupported
}
