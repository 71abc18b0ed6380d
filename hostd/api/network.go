package api

// EC2 error codes of the network resources.
const (
	CodeInvalidVpcNotFound       = "InvalidVpcID.NotFound"
	CodeInvalidVpcMalformed      = "InvalidVpcID.Malformed"
	CodeInvalidVpcRange          = "InvalidVpc.Range"
	CodeInvalidSubnetNotFound    = "InvalidSubnetID.NotFound"
	CodeInvalidSubnetMalformed   = "InvalidSubnetID.Malformed"
	CodeInvalidSubnetRange       = "InvalidSubnet.Range"
	CodeInvalidSubnetConflict    = "InvalidSubnet.Conflict"
	CodeDependencyViolation      = "DependencyViolation"
	CodeAddressInUse             = "InvalidIPAddress.InUse"
	CodeInsufficientAddressSpace = "InsufficientAddressCapacity"
)

// CreateVpcRequest asks for a VPC.
type CreateVpcRequest struct {
	CidrBlock string `json:"CidrBlock"`
	Name      string `json:"Name,omitempty"`
}

// Vpc is what `vpc create` prints and an element of DescribeVpcsResponse.
type Vpc struct {
	VpcId     string `json:"VpcId"`
	CidrBlock string `json:"CidrBlock"`
	Name      string `json:"Name,omitempty"`
	State     string `json:"State,omitempty"`
	OwnerId   string `json:"OwnerId,omitempty"` // the account it belongs to
	// The VPC resolver's switches, as EC2's ModifyVpcAttribute sets them.
	EnableDnsSupport   bool `json:"EnableDnsSupport"`
	EnableDnsHostnames bool `json:"EnableDnsHostnames"`
}

// ModifyVpcAttributeRequest changes one of a VPC's DNS switches, as EC2's ModifyVpcAttribute.
type ModifyVpcAttributeRequest struct {
	EnableDnsSupport   *bool `json:"EnableDnsSupport,omitempty"`
	EnableDnsHostnames *bool `json:"EnableDnsHostnames,omitempty"`
}

// DescribeVpcsResponse is what `vpc describe` prints.
type DescribeVpcsResponse struct {
	Vpcs []Vpc `json:"Vpcs"`
}

// CreateSubnetRequest asks for a subnet of a VPC.
type CreateSubnetRequest struct {
	VpcId     string `json:"VpcId"`
	CidrBlock string `json:"CidrBlock"`
}

// Subnet is what `subnet create` prints and an element of DescribeSubnetsResponse.
type Subnet struct {
	SubnetId                string `json:"SubnetId"`
	VpcId                   string `json:"VpcId"`
	CidrBlock               string `json:"CidrBlock"`
	AvailableIpAddressCount int    `json:"AvailableIpAddressCount"`
	State                   string `json:"State,omitempty"`
	OwnerId                 string `json:"OwnerId,omitempty"`
}

// DescribeSubnetsResponse is what `subnet describe` prints.
type DescribeSubnetsResponse struct {
	Subnets []Subnet `json:"Subnets"`
}

// ReturnResponse is EC2's answer to a call that returns nothing else.
type ReturnResponse struct {
	Return bool `json:"Return"`
}

// NetworkInterface is an instance's interface as describe shows it.
type NetworkInterface struct {
	NetworkInterfaceId string            `json:"NetworkInterfaceId"`
	SubnetId           string            `json:"SubnetId"`
	VpcId              string            `json:"VpcId"`
	PrivateIpAddress   string            `json:"PrivateIpAddress"`
	MacAddress         string            `json:"MacAddress"`
	SourceDestCheck    bool              `json:"SourceDestCheck"`
	HostInterface      string            `json:"HostInterface,omitempty"`
	Groups             []GroupIdentifier `json:"Groups"`
	DropCounters       map[string]uint64 `json:"DropCounters,omitempty"`
	// Allowances in force (0: no limit), and what the interface has been counted exceeding them.
	Allowances *InterfaceAllowances `json:"Allowances,omitempty"`
	// Traffic is what it sent and received since the daemon started, as its flow records count.
	Traffic *InterfaceTraffic `json:"Traffic,omitempty"`
}

// InterfaceTraffic counts an interface's IPv4 packets and bytes (IP lengths) the firewall judged:
// out, those its guest sent that its own ACL and groups let out; in, those the receiver's ACL and
// groups let in (one then dropped past its bandwidth allowance is counted here, and under
// bw_in_allowance_exceeded).
type InterfaceTraffic struct {
	PacketsIn  uint64 `json:"PacketsIn"`
	BytesIn    uint64 `json:"BytesIn"`
	PacketsOut uint64 `json:"PacketsOut"`
	BytesOut   uint64 `json:"BytesOut"`
}

// InterfaceAllowances are an interface's allowances and their counters, named as ENA's
// (ethtool -S): how many packets each one dropped.
type InterfaceAllowances struct {
	PacketsPerSecond           int64  `json:"PacketsPerSecond"`
	BandwidthBitsPerSecond     int64  `json:"BandwidthBitsPerSecond"`
	TrackedConnections         int64  `json:"TrackedConnections"`
	PpsAllowanceExceeded       uint64 `json:"pps_allowance_exceeded"`
	BwInAllowanceExceeded      uint64 `json:"bw_in_allowance_exceeded"`
	BwOutAllowanceExceeded     uint64 `json:"bw_out_allowance_exceeded"`
	ConntrackAllowanceExceeded uint64 `json:"conntrack_allowance_exceeded"`
}

// ModifyInstanceRequest changes an instance attribute.
type ModifyInstanceRequest struct {
	SourceDestCheck *bool `json:"SourceDestCheck,omitempty"`
}
