package ec2query

// The shapes of EC2's model for instances and their network interfaces: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

import (
	"encoding/base64"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// RunInstances

type RunInstancesRequest struct {
	BlockDeviceMappings               Unsupported `ec2:"BlockDeviceMapping"`
	ImageId                           string
	InstanceType                      string
	Ipv6AddressCount                  Unsupported
	Ipv6Addresses                     Unsupported `ec2:"Ipv6Address"`
	KernelId                          Unsupported
	KeyName                           string
	MaxCount                          int `ec2:",required"`
	MinCount                          int `ec2:",required"`
	Monitoring                        *RunInstancesMonitoringEnabled
	Placement                         *Placement
	RamdiskId                         Unsupported
	SecurityGroupIds                  []string `ec2:"SecurityGroupId"`
	SecurityGroups                    []string `ec2:"SecurityGroup"`
	SubnetId                          string
	UserData                          string
	AdditionalInfo                    Unsupported                             `ec2:"additionalInfo"`
	ClientToken                       string                                  `ec2:"clientToken"`
	DisableApiTermination             *bool                                   `ec2:"disableApiTermination"`
	DryRun                            bool                                    `ec2:"dryRun"`
	EbsOptimized                      *bool                                   `ec2:"ebsOptimized"`
	IamInstanceProfile                Unsupported                             `ec2:"iamInstanceProfile"`
	InstanceInitiatedShutdownBehavior string                                  `ec2:"instanceInitiatedShutdownBehavior"`
	NetworkInterfaces                 []InstanceNetworkInterfaceSpecification `ec2:"networkInterface"`
	PrivateIpAddress                  string                                  `ec2:"privateIpAddress"`
	ElasticGpuSpecification           Unsupported
	ElasticInferenceAccelerators      Unsupported        `ec2:"ElasticInferenceAccelerator"`
	TagSpecifications                 []TagSpecification `ec2:"TagSpecification"`
	LaunchTemplate                    Unsupported
	InstanceMarketOptions             Unsupported
	CreditSpecification               *CreditSpecificationRequest
	CpuOptions                        *CpuOptionsRequest
	CapacityReservationSpecification  Unsupported
	HibernationOptions                *HibernationOptionsRequest
	LicenseSpecifications             Unsupported `ec2:"LicenseSpecification"`
	MetadataOptions                   *InstanceMetadataOptionsRequest
	EnclaveOptions                    *EnclaveOptionsRequest
	PrivateDnsNameOptions             *PrivateDnsNameOptionsRequest
	MaintenanceOptions                *InstanceMaintenanceOptionsRequest
	DisableApiStop                    *bool
}

type RunInstancesMonitoringEnabled struct {
	Enabled bool `ec2:"enabled,required"`
}

type Placement struct {
	AvailabilityZone     string      `ec2:"availabilityZone"`
	Affinity             Unsupported `ec2:"affinity"`
	GroupName            Unsupported `ec2:"groupName"`
	PartitionNumber      Unsupported `ec2:"partitionNumber"`
	HostId               Unsupported `ec2:"hostId"`
	Tenancy              string      `ec2:"tenancy"`
	SpreadDomain         Unsupported `ec2:"spreadDomain"`
	HostResourceGroupArn Unsupported `ec2:"hostResourceGroupArn"`
	GroupId              Unsupported `ec2:"groupId"`
}

type InstanceNetworkInterfaceSpecification struct {
	AssociatePublicIpAddress       *bool       `ec2:"associatePublicIpAddress"`
	DeleteOnTermination            *bool       `ec2:"deleteOnTermination"`
	Description                    string      `ec2:"description"`
	DeviceIndex                    *int        `ec2:"deviceIndex"`
	Groups                         []string    `ec2:"SecurityGroupId"`
	Ipv6AddressCount               Unsupported `ec2:"ipv6AddressCount"`
	Ipv6Addresses                  Unsupported `ec2:"ipv6AddressesSet,query=Ipv6Addresses"`
	NetworkInterfaceId             Unsupported `ec2:"networkInterfaceId"`
	PrivateIpAddress               string      `ec2:"privateIpAddress"`
	PrivateIpAddresses             Unsupported `ec2:"privateIpAddressesSet,query=PrivateIpAddresses"`
	SecondaryPrivateIpAddressCount Unsupported `ec2:"secondaryPrivateIpAddressCount"`
	SubnetId                       string      `ec2:"subnetId"`
	AssociateCarrierIpAddress      Unsupported
	InterfaceType                  Unsupported
	NetworkCardIndex               Unsupported
	Ipv4Prefixes                   Unsupported `ec2:"Ipv4Prefix"`
	Ipv4PrefixCount                Unsupported
	Ipv6Prefixes                   Unsupported `ec2:"Ipv6Prefix"`
	Ipv6PrefixCount                Unsupported
}

type CreditSpecificationRequest struct {
	CpuCredits string `ec2:",required"`
}

type CpuOptionsRequest struct {
	CoreCount      *int
	ThreadsPerCore *int
}

type HibernationOptionsRequest struct {
	Configured *bool
}

type InstanceMetadataOptionsRequest struct {
	HttpTokens              string
	HttpPutResponseHopLimit *int
	HttpEndpoint            string
	HttpProtocolIpv6        string
	InstanceMetadataTags    string
}

type EnclaveOptionsRequest struct {
	Enabled *bool
}

type PrivateDnsNameOptionsRequest struct {
	HostnameType                    string
	EnableResourceNameDnsARecord    *bool
	EnableResourceNameDnsAAAARecord *bool
}

type InstanceMaintenanceOptionsRequest struct {
	AutoRecovery string
}

type Reservation struct {
	Groups        []GroupIdentifier `ec2:"groupSet"`
	Instances     []Instance        `ec2:"instancesSet"`
	OwnerId       string            `ec2:"ownerId"`
	RequesterId   string            `ec2:"requesterId"`
	ReservationId string            `ec2:"reservationId"`
}

type GroupIdentifier struct {
	GroupName string `ec2:"groupName"`
	GroupId   string `ec2:"groupId"`
}

type Instance struct {
	AmiLaunchIndex        int                              `ec2:"amiLaunchIndex"`
	ImageId               string                           `ec2:"imageId"`
	InstanceId            string                           `ec2:"instanceId"`
	InstanceType          string                           `ec2:"instanceType"`
	KeyName               string                           `ec2:"keyName"`
	LaunchTime            time.Time                        `ec2:"launchTime"`
	Monitoring            *Monitoring                      `ec2:"monitoring"`
	Placement             *Placement                       `ec2:"placement"`
	PrivateDnsName        string                           `ec2:"privateDnsName"`
	PrivateIpAddress      string                           `ec2:"privateIpAddress"`
	State                 *InstanceState                   `ec2:"instanceState"`
	StateTransitionReason string                           `ec2:"reason"`
	SubnetId              string                           `ec2:"subnetId"`
	VpcId                 string                           `ec2:"vpcId"`
	Architecture          string                           `ec2:"architecture"`
	BlockDeviceMappings   []InstanceBlockDeviceMapping     `ec2:"blockDeviceMapping"`
	ClientToken           string                           `ec2:"clientToken"`
	EbsOptimized          bool                             `ec2:"ebsOptimized"`
	EnaSupport            bool                             `ec2:"enaSupport"`
	Hypervisor            string                           `ec2:"hypervisor"`
	NetworkInterfaces     []InstanceNetworkInterface       `ec2:"networkInterfaceSet"`
	RootDeviceName        string                           `ec2:"rootDeviceName"`
	RootDeviceType        string                           `ec2:"rootDeviceType"`
	SecurityGroups        []GroupIdentifier                `ec2:"groupSet"`
	SourceDestCheck       bool                             `ec2:"sourceDestCheck"`
	StateReason           *StateReason                     `ec2:"stateReason"`
	Tags                  []Tag                            `ec2:"tagSet"`
	VirtualizationType    string                           `ec2:"virtualizationType"`
	CpuOptions            *CpuOptions                      `ec2:"cpuOptions"`
	MetadataOptions       *InstanceMetadataOptionsResponse `ec2:"metadataOptions"`
	PlatformDetails       string                           `ec2:"platformDetails"`
	PrivateDnsNameOptions *PrivateDnsNameOptionsResponse   `ec2:"privateDnsNameOptions"`
}

type Monitoring struct {
	State string `ec2:"state"`
}

type InstanceState struct {
	Code int    `ec2:"code"`
	Name string `ec2:"name"`
}

type InstanceBlockDeviceMapping struct {
	DeviceName string                  `ec2:"deviceName"`
	Ebs        *EbsInstanceBlockDevice `ec2:"ebs"`
}

type InstanceNetworkInterface struct {
	Attachment         *InstanceNetworkInterfaceAttachment `ec2:"attachment"`
	Description        string                              `ec2:"description"`
	Groups             []GroupIdentifier                   `ec2:"groupSet"`
	MacAddress         string                              `ec2:"macAddress"`
	NetworkInterfaceId string                              `ec2:"networkInterfaceId"`
	OwnerId            string                              `ec2:"ownerId"`
	PrivateIpAddress   string                              `ec2:"privateIpAddress"`
	PrivateIpAddresses []InstancePrivateIpAddress          `ec2:"privateIpAddressesSet"`
	SourceDestCheck    bool                                `ec2:"sourceDestCheck"`
	Status             string                              `ec2:"status"`
	SubnetId           string                              `ec2:"subnetId"`
	VpcId              string                              `ec2:"vpcId"`
	InterfaceType      string                              `ec2:"interfaceType"`
}

type StateReason struct {
	Code    string `ec2:"code"`
	Message string `ec2:"message"`
}

type CpuOptions struct {
	CoreCount      int `ec2:"coreCount"`
	ThreadsPerCore int `ec2:"threadsPerCore"`
}

type InstanceMetadataOptionsResponse struct {
	State                   string `ec2:"state"`
	HttpTokens              string `ec2:"httpTokens"`
	HttpPutResponseHopLimit int    `ec2:"httpPutResponseHopLimit"`
	HttpEndpoint            string `ec2:"httpEndpoint"`
	HttpProtocolIpv6        string `ec2:"httpProtocolIpv6"`
	InstanceMetadataTags    string `ec2:"instanceMetadataTags"`
}

type PrivateDnsNameOptionsResponse struct {
	HostnameType                    string `ec2:"hostnameType"`
	EnableResourceNameDnsARecord    bool   `ec2:"enableResourceNameDnsARecord"`
	EnableResourceNameDnsAAAARecord bool   `ec2:"enableResourceNameDnsAAAARecord"`
}

type EbsInstanceBlockDevice struct {
	AttachTime          time.Time `ec2:"attachTime"`
	DeleteOnTermination bool      `ec2:"deleteOnTermination"`
	Status              string    `ec2:"status"`
	VolumeId            string    `ec2:"volumeId"`
}

type InstanceNetworkInterfaceAttachment struct {
	AttachTime          time.Time `ec2:"attachTime"`
	AttachmentId        string    `ec2:"attachmentId"`
	DeleteOnTermination bool      `ec2:"deleteOnTermination"`
	DeviceIndex         int       `ec2:"deviceIndex"`
	Status              string    `ec2:"status"`
}

type InstancePrivateIpAddress struct {
	Primary          bool   `ec2:"primary"`
	PrivateIpAddress string `ec2:"privateIpAddress"`
}

// DescribeInstances

type DescribeInstancesRequest struct {
	Filters     []Filter `ec2:"Filter"`
	InstanceIds []string `ec2:"InstanceId"`
	DryRun      bool     `ec2:"dryRun"`
	MaxResults  *int     `ec2:"maxResults"`
	NextToken   string   `ec2:"nextToken"`
}

type DescribeInstancesResult struct {
	Reservations []Reservation `ec2:"reservationSet"`
	NextToken    string        `ec2:"nextToken"`
}

// TerminateInstances

type TerminateInstancesRequest struct {
	InstanceIds []string `ec2:"InstanceId,required"`
	DryRun      bool     `ec2:"dryRun"`
}

type TerminateInstancesResult struct {
	TerminatingInstances []InstanceStateChange `ec2:"instancesSet"`
}

type InstanceStateChange struct {
	CurrentState  *InstanceState `ec2:"currentState"`
	InstanceId    string         `ec2:"instanceId"`
	PreviousState *InstanceState `ec2:"previousState"`
}

// StopInstances

type StopInstancesRequest struct {
	InstanceIds []string `ec2:"InstanceId,required"`
	Hibernate   *bool
	DryRun      bool  `ec2:"dryRun"`
	Force       *bool `ec2:"force"`
}

type StopInstancesResult struct {
	StoppingInstances []InstanceStateChange `ec2:"instancesSet"`
}

// StartInstances

type StartInstancesRequest struct {
	InstanceIds    []string    `ec2:"InstanceId,required"`
	AdditionalInfo Unsupported `ec2:"additionalInfo"`
	DryRun         bool        `ec2:"dryRun"`
}

type StartInstancesResult struct {
	StartingInstances []InstanceStateChange `ec2:"instancesSet"`
}

// DescribeInstanceAttribute

type DescribeInstanceAttributeRequest struct {
	Attribute  string `ec2:"attribute,required"`
	DryRun     bool   `ec2:"dryRun"`
	InstanceId string `ec2:"instanceId,required"`
}

type InstanceAttribute struct {
	Groups                            []GroupIdentifier            `ec2:"groupSet"`
	BlockDeviceMappings               []InstanceBlockDeviceMapping `ec2:"blockDeviceMapping"`
	DisableApiTermination             *AttributeBooleanValue       `ec2:"disableApiTermination"`
	EbsOptimized                      *AttributeBooleanValue       `ec2:"ebsOptimized"`
	InstanceId                        string                       `ec2:"instanceId"`
	InstanceInitiatedShutdownBehavior *AttributeValue              `ec2:"instanceInitiatedShutdownBehavior"`
	InstanceType                      *AttributeValue              `ec2:"instanceType"`
	RootDeviceName                    *AttributeValue              `ec2:"rootDeviceName"`
	SourceDestCheck                   *AttributeBooleanValue       `ec2:"sourceDestCheck"`
	UserData                          *AttributeValue              `ec2:"userData"`
	DisableApiStop                    *AttributeBooleanValue       `ec2:"disableApiStop"`
}

type AttributeValue struct {
	Value string `ec2:"value"`
}

// DescribeInstanceCreditSpecifications

type DescribeInstanceCreditSpecificationsRequest struct {
	DryRun      bool
	Filters     []Filter `ec2:"Filter"`
	InstanceIds []string `ec2:"InstanceId"`
	MaxResults  *int
	NextToken   string
}

type DescribeInstanceCreditSpecificationsResult struct {
	InstanceCreditSpecifications []InstanceCreditSpecification `ec2:"instanceCreditSpecificationSet"`
	NextToken                    string                        `ec2:"nextToken"`
}

type InstanceCreditSpecification struct {
	InstanceId string `ec2:"instanceId"`
	CpuCredits string `ec2:"cpuCredits"`
}

// ModifyInstanceAttribute

type ModifyInstanceAttributeRequest struct {
	SourceDestCheck                   *AttributeBooleanValue
	Attribute                         string                 `ec2:"attribute"`
	BlockDeviceMappings               Unsupported            `ec2:"blockDeviceMapping"`
	DisableApiTermination             *AttributeBooleanValue `ec2:"disableApiTermination"`
	DryRun                            bool                   `ec2:"dryRun"`
	EbsOptimized                      *AttributeBooleanValue `ec2:"ebsOptimized"`
	EnaSupport                        Unsupported            `ec2:"enaSupport"`
	Groups                            []string               `ec2:"GroupId"`
	InstanceId                        string                 `ec2:"instanceId,required"`
	InstanceInitiatedShutdownBehavior *AttributeValue        `ec2:"instanceInitiatedShutdownBehavior"`
	InstanceType                      *AttributeValue        `ec2:"instanceType"`
	Kernel                            Unsupported            `ec2:"kernel"`
	Ramdisk                           Unsupported            `ec2:"ramdisk"`
	SriovNetSupport                   Unsupported            `ec2:"sriovNetSupport"`
	UserData                          *BlobAttributeValue    `ec2:"userData"`
	Value                             string                 `ec2:"value"`
	DisableApiStop                    *AttributeBooleanValue
}

type BlobAttributeValue struct {
	Value []byte `ec2:"value"`
}

// DescribeNetworkInterfaces

type DescribeNetworkInterfacesRequest struct {
	Filters             []Filter `ec2:"filter"`
	DryRun              bool     `ec2:"dryRun"`
	NetworkInterfaceIds []string `ec2:"NetworkInterfaceId"`
	NextToken           string
	MaxResults          *int
}

type DescribeNetworkInterfacesResult struct {
	NetworkInterfaces []NetworkInterface `ec2:"networkInterfaceSet"`
	NextToken         string             `ec2:"nextToken"`
}

type NetworkInterface struct {
	Attachment         *NetworkInterfaceAttachment        `ec2:"attachment"`
	AvailabilityZone   string                             `ec2:"availabilityZone"`
	Description        string                             `ec2:"description"`
	Groups             []GroupIdentifier                  `ec2:"groupSet"`
	InterfaceType      string                             `ec2:"interfaceType"`
	MacAddress         string                             `ec2:"macAddress"`
	NetworkInterfaceId string                             `ec2:"networkInterfaceId"`
	OwnerId            string                             `ec2:"ownerId"`
	PrivateIpAddress   string                             `ec2:"privateIpAddress"`
	PrivateIpAddresses []NetworkInterfacePrivateIpAddress `ec2:"privateIpAddressesSet"`
	RequesterManaged   bool                               `ec2:"requesterManaged"`
	SourceDestCheck    bool                               `ec2:"sourceDestCheck"`
	Status             string                             `ec2:"status"`
	SubnetId           string                             `ec2:"subnetId"`
	TagSet             []Tag                              `ec2:"tagSet"`
	VpcId              string                             `ec2:"vpcId"`
}

type NetworkInterfaceAttachment struct {
	AttachTime          time.Time `ec2:"attachTime"`
	AttachmentId        string    `ec2:"attachmentId"`
	DeleteOnTermination bool      `ec2:"deleteOnTermination"`
	DeviceIndex         int       `ec2:"deviceIndex"`
	InstanceId          string    `ec2:"instanceId"`
	InstanceOwnerId     string    `ec2:"instanceOwnerId"`
	Status              string    `ec2:"status"`
}

type NetworkInterfacePrivateIpAddress struct {
	Primary          bool   `ec2:"primary"`
	PrivateIpAddress string `ec2:"privateIpAddress"`
}

// ModifyNetworkInterfaceAttribute

type ModifyNetworkInterfaceAttributeRequest struct {
	Attachment          Unsupported            `ec2:"attachment"`
	Description         *AttributeValue        `ec2:"description"`
	DryRun              bool                   `ec2:"dryRun"`
	Groups              []string               `ec2:"SecurityGroupId"`
	NetworkInterfaceId  string                 `ec2:"networkInterfaceId,required"`
	SourceDestCheck     *AttributeBooleanValue `ec2:"sourceDestCheck"`
	EnaSrdSpecification Unsupported
}

// DecodedUserData is RunInstances' UserData as the workload gets it. The model types UserData as
// a string that clients send base64-encoded (the AWS CLI and boto3 encode it for the caller; the
// Go SDK leaves it to the caller), so the wire's text is decoded here, as EC2 decodes it.
func (r *RunInstancesRequest) DecodedUserData() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(r.UserData)
	if err != nil {
		return nil, errorf(api.CodeInvalidParameterValue, "Invalid BASE64 encoding of user data.")
	}
	return b, nil
}
