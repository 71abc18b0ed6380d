package api

import "strings"

// IDKind is one kind of resource id: its shape, its field in EC2's JSON, and EC2's error codes
// for an id not of that shape and for one of nothing. The client checks ids with it before it
// calls the daemon, and the daemon checks them again with the same table.
type IDKind struct {
	Name      string // in messages: "the instance ID 'i-…' does not exist"
	Prefix    string // "i-"
	Field     string // "InstanceId": the id's field in documents and describe's query
	Malformed string // EC2's code for an id not of this shape
	NotFound  string // EC2's code for a well-formed id of nothing
}

// The kinds of id hostd hands out, as EC2 spells their codes.
var (
	InstanceID   = IDKind{"instance ID", "i-", "InstanceId", CodeInvalidInstanceMalformed, CodeInvalidInstanceNotFound}
	VpcID        = IDKind{"VPC ID", "vpc-", "VpcId", CodeInvalidVpcMalformed, CodeInvalidVpcNotFound}
	SubnetID     = IDKind{"subnet ID", "subnet-", "SubnetId", CodeInvalidSubnetMalformed, CodeInvalidSubnetNotFound}
	GroupID      = IDKind{"security group ID", "sg-", "GroupId", CodeInvalidGroupMalformed, CodeInvalidGroupNotFound}
	NetworkAclID = IDKind{"network ACL ID", "acl-", "NetworkAclId", CodeInvalidNetworkAclMalformed, CodeInvalidNetworkAclNotFound}
	VolumeID     = IDKind{"volume", "vol-", "VolumeId", CodeInvalidVolumeMalformed, CodeInvalidVolumeNotFound}
	// NetworkInterfaceID: an instance's interface.
	NetworkInterfaceID = IDKind{"network interface ID", "eni-", "NetworkInterfaceId", "InvalidNetworkInterfaceID.Malformed", "InvalidNetworkInterfaceID.NotFound"}
)

// Valid tells whether id has the kind's shape: the prefix and 8 to 17 lowercase hex digits, as
// EC2's ids. Such an id is also safe as a file name.
func (k IDKind) Valid(id string) bool {
	hex, ok := strings.CutPrefix(id, k.Prefix)
	if !ok || len(hex) < 8 || len(hex) > 17 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Check returns EC2's Malformed error for the first of ids not of the kind's shape.
func (k IDKind) Check(ids ...string) error {
	for _, id := range ids {
		if !k.Valid(id) {
			return Errorf(k.Malformed, "invalid %s: %q (expecting \"%s\" and 8 to 17 hex digits)", k.Name, id, k.Prefix)
		}
	}
	return nil
}

// NotFoundError is EC2's error for a well-formed id of nothing.
func (k IDKind) NotFoundError(id string) error {
	return Errorf(k.NotFound, "the %s '%s' does not exist", k.Name, id)
}
