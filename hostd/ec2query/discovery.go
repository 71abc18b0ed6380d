package ec2query

// The shapes of EC2's model for what clients ask before they act: zones, regions, images, instance types, route tables, account attributes, key pairs: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

import "time"

// DescribeAvailabilityZones

type DescribeAvailabilityZonesRequest struct {
	Filters              []Filter `ec2:"Filter"`
	ZoneNames            []string `ec2:"ZoneName"`
	ZoneIds              []string `ec2:"ZoneId"`
	AllAvailabilityZones *bool
	DryRun               bool `ec2:"dryRun"`
}

type DescribeAvailabilityZonesResult struct {
	AvailabilityZones []AvailabilityZone `ec2:"availabilityZoneInfo"`
}

type AvailabilityZone struct {
	State              string `ec2:"zoneState"`
	OptInStatus        string `ec2:"optInStatus"`
	RegionName         string `ec2:"regionName"`
	ZoneName           string `ec2:"zoneName"`
	ZoneId             string `ec2:"zoneId"`
	GroupName          string `ec2:"groupName"`
	NetworkBorderGroup string `ec2:"networkBorderGroup"`
	ZoneType           string `ec2:"zoneType"`
}

// DescribeRegions

type DescribeRegionsRequest struct {
	Filters     []Filter `ec2:"Filter"`
	RegionNames []string `ec2:"RegionName"`
	DryRun      bool     `ec2:"dryRun"`
	AllRegions  *bool
}

type DescribeRegionsResult struct {
	Regions []Region `ec2:"regionInfo"`
}

type Region struct {
	Endpoint    string `ec2:"regionEndpoint"`
	RegionName  string `ec2:"regionName"`
	OptInStatus string `ec2:"optInStatus"`
}

// DescribeImages

type DescribeImagesRequest struct {
	ExecutableUsers   []string `ec2:"ExecutableBy"`
	Filters           []Filter `ec2:"Filter"`
	ImageIds          []string `ec2:"ImageId"`
	Owners            []string `ec2:"Owner"`
	IncludeDeprecated *bool
	DryRun            bool `ec2:"dryRun"`
}

type DescribeImagesResult struct {
	Images []Image `ec2:"imagesSet"`
}

type Image struct {
	Architecture       string `ec2:"architecture"`
	CreationDate       string `ec2:"creationDate"`
	ImageId            string `ec2:"imageId"`
	ImageLocation      string `ec2:"imageLocation"`
	ImageType          string `ec2:"imageType"`
	Public             bool   `ec2:"isPublic"`
	OwnerId            string `ec2:"imageOwnerId"`
	PlatformDetails    string `ec2:"platformDetails"`
	State              string `ec2:"imageState"`
	Description        string `ec2:"description"`
	EnaSupport         bool   `ec2:"enaSupport"`
	Hypervisor         string `ec2:"hypervisor"`
	Name               string `ec2:"name"`
	RootDeviceName     string `ec2:"rootDeviceName"`
	RootDeviceType     string `ec2:"rootDeviceType"`
	Tags               []Tag  `ec2:"tagSet"`
	VirtualizationType string `ec2:"virtualizationType"`
}

// DescribeInstanceTypes

type DescribeInstanceTypesRequest struct {
	DryRun        bool
	InstanceTypes []string `ec2:"InstanceType"`
	Filters       []Filter `ec2:"Filter"`
	MaxResults    *int
	NextToken     string
}

type DescribeInstanceTypesResult struct {
	InstanceTypes []InstanceTypeInfo `ec2:"instanceTypeSet"`
	NextToken     string             `ec2:"nextToken"`
}

type InstanceTypeInfo struct {
	InstanceType                  string         `ec2:"instanceType"`
	CurrentGeneration             bool           `ec2:"currentGeneration"`
	FreeTierEligible              bool           `ec2:"freeTierEligible"`
	SupportedUsageClasses         []string       `ec2:"supportedUsageClasses"`
	SupportedRootDeviceTypes      []string       `ec2:"supportedRootDeviceTypes"`
	SupportedVirtualizationTypes  []string       `ec2:"supportedVirtualizationTypes"`
	BareMetal                     bool           `ec2:"bareMetal"`
	Hypervisor                    string         `ec2:"hypervisor"`
	ProcessorInfo                 *ProcessorInfo `ec2:"processorInfo"`
	VCpuInfo                      *VCpuInfo      `ec2:"vCpuInfo"`
	MemoryInfo                    *MemoryInfo    `ec2:"memoryInfo"`
	InstanceStorageSupported      bool           `ec2:"instanceStorageSupported"`
	NetworkInfo                   *NetworkInfo   `ec2:"networkInfo"`
	HibernationSupported          bool           `ec2:"hibernationSupported"`
	BurstablePerformanceSupported bool           `ec2:"burstablePerformanceSupported"`
	DedicatedHostsSupported       bool           `ec2:"dedicatedHostsSupported"`
	AutoRecoverySupported         bool           `ec2:"autoRecoverySupported"`
	SupportedBootModes            []string       `ec2:"supportedBootModes"`
}

type ProcessorInfo struct {
	SupportedArchitectures []string `ec2:"supportedArchitectures"`
}

type VCpuInfo struct {
	DefaultVCpus          int `ec2:"defaultVCpus"`
	DefaultCores          int `ec2:"defaultCores"`
	DefaultThreadsPerCore int `ec2:"defaultThreadsPerCore"`
}

type MemoryInfo struct {
	SizeInMiB int `ec2:"sizeInMiB"`
}

type NetworkInfo struct {
	NetworkPerformance        string `ec2:"networkPerformance"`
	MaximumNetworkInterfaces  int    `ec2:"maximumNetworkInterfaces"`
	Ipv4AddressesPerInterface int    `ec2:"ipv4AddressesPerInterface"`
	Ipv6AddressesPerInterface int    `ec2:"ipv6AddressesPerInterface"`
	Ipv6Supported             bool   `ec2:"ipv6Supported"`
	EnaSupport                string `ec2:"enaSupport"`
}

// DescribeRouteTables

type DescribeRouteTablesRequest struct {
	Filters       []Filter `ec2:"Filter"`
	DryRun        bool     `ec2:"dryRun"`
	RouteTableIds []string `ec2:"RouteTableId"`
	NextToken     string
	MaxResults    *int
}

type DescribeRouteTablesResult struct {
	RouteTables []RouteTable `ec2:"routeTableSet"`
	NextToken   string       `ec2:"nextToken"`
}

type RouteTable struct {
	Associations []RouteTableAssociation `ec2:"associationSet"`
	RouteTableId string                  `ec2:"routeTableId"`
	Routes       []Route                 `ec2:"routeSet"`
	Tags         []Tag                   `ec2:"tagSet"`
	VpcId        string                  `ec2:"vpcId"`
	OwnerId      string                  `ec2:"ownerId"`
}

type RouteTableAssociation struct {
	Main                    bool                        `ec2:"main"`
	RouteTableAssociationId string                      `ec2:"routeTableAssociationId"`
	RouteTableId            string                      `ec2:"routeTableId"`
	SubnetId                string                      `ec2:"subnetId"`
	GatewayId               string                      `ec2:"gatewayId"`
	AssociationState        *RouteTableAssociationState `ec2:"associationState"`
}

type Route struct {
	DestinationCidrBlock string `ec2:"destinationCidrBlock"`
	GatewayId            string `ec2:"gatewayId"`
	Origin               string `ec2:"origin"`
	State                string `ec2:"state"`
}

type RouteTableAssociationState struct {
	State         string `ec2:"state"`
	StatusMessage string `ec2:"statusMessage"`
}

// DescribeAccountAttributes

type DescribeAccountAttributesRequest struct {
	AttributeNames []string `ec2:"attributeName"`
	DryRun         bool     `ec2:"dryRun"`
}

type DescribeAccountAttributesResult struct {
	AccountAttributes []AccountAttribute `ec2:"accountAttributeSet"`
}

type AccountAttribute struct {
	AttributeName   string                  `ec2:"attributeName"`
	AttributeValues []AccountAttributeValue `ec2:"attributeValueSet"`
}

type AccountAttributeValue struct {
	AttributeValue string `ec2:"attributeValue"`
}

// DescribeKeyPairs

type DescribeKeyPairsRequest struct {
	Filters          []Filter `ec2:"Filter"`
	KeyNames         []string `ec2:"KeyName"`
	KeyPairIds       []string `ec2:"KeyPairId"`
	DryRun           bool     `ec2:"dryRun"`
	IncludePublicKey *bool
}

type DescribeKeyPairsResult struct {
	KeyPairs []KeyPairInfo `ec2:"keySet"`
}

type KeyPairInfo struct {
	KeyPairId      string    `ec2:"keyPairId"`
	KeyFingerprint string    `ec2:"keyFingerprint"`
	KeyName        string    `ec2:"keyName"`
	KeyType        string    `ec2:"keyType"`
	Tags           []Tag     `ec2:"tagSet"`
	PublicKey      string    `ec2:"publicKey"`
	CreateTime     time.Time `ec2:"createTime"`
}
