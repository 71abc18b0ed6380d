package api

import (
	"errors"

	"github.com/hostd/hostd/firewall"
)

// EC2 error codes of security groups and network ACLs.
const (
	CodeInvalidGroupNotFound         = "InvalidGroup.NotFound"
	CodeInvalidGroupMalformed        = "InvalidGroupId.Malformed"
	CodeInvalidGroupDuplicate        = "InvalidGroup.Duplicate"
	CodeInvalidGroupReserved         = "InvalidGroup.Reserved"
	CodeCannotDelete                 = "CannotDelete"
	CodePermissionDuplicate          = "InvalidPermission.Duplicate"
	CodePermissionNotFound           = "InvalidPermission.NotFound"
	CodeRulesPerGroupLimitExceeded   = "RulesPerSecurityGroupLimitExceeded"
	CodeGroupsPerInterfaceExceeded   = "SecurityGroupsPerInterfaceLimitExceeded"
	CodeInvalidNetworkAclNotFound    = "InvalidNetworkAclID.NotFound"
	CodeInvalidNetworkAclMalformed   = "InvalidNetworkAclID.Malformed"
	CodeNetworkAclEntryExists        = "NetworkAclEntryAlreadyExists"
	CodeNetworkAclEntryNotFound      = "InvalidNetworkAclEntry.NotFound"
	CodeNetworkAclEntryLimitExceeded = "NetworkAclEntryLimitExceeded"
	// EC2's code for a resource limit of the account: here, a VPC's share of the datapath.
	CodeResourceLimitExceeded = "ResourceLimitExceeded"
)

// Limits of EC2's, kept here.
const (
	MaxRulesPerDirection = 60
	MaxGroupsPerENI      = 5
	MaxACLEntries        = 20 // per direction
	MaxACLRuleNumber     = 32766
)

// CreateSecurityGroupRequest asks for a group in a VPC.
type CreateSecurityGroupRequest struct {
	VpcId       string `json:"VpcId"`
	GroupName   string `json:"GroupName"`
	Description string `json:"Description,omitempty"`
}

// CreateSecurityGroupResponse is what `sg create` prints.
type CreateSecurityGroupResponse struct {
	GroupId string `json:"GroupId"`
}

// SecurityGroup is an element of DescribeSecurityGroupsResponse, in EC2's shape.
type SecurityGroup struct {
	GroupId             string                  `json:"GroupId"`
	GroupName           string                  `json:"GroupName"`
	Description         string                  `json:"Description"`
	VpcId               string                  `json:"VpcId"`
	IpPermissions       []firewall.IpPermission `json:"IpPermissions"`
	IpPermissionsEgress []firewall.IpPermission `json:"IpPermissionsEgress"`
	OwnerId             string                  `json:"OwnerId,omitempty"`
}

// DescribeSecurityGroupsResponse is what `sg describe` prints.
type DescribeSecurityGroupsResponse struct {
	SecurityGroups []SecurityGroup `json:"SecurityGroups"`
}

// SecurityGroupRulesRequest authorizes or revokes rules of a group.
type SecurityGroupRulesRequest struct {
	GroupId       string                  `json:"GroupId"`
	Egress        bool                    `json:"Egress"`
	IpPermissions []firewall.IpPermission `json:"IpPermissions"`
	// SecurityGroupRuleIds name rules to revoke by id, besides or instead of IpPermissions.
	SecurityGroupRuleIds []string `json:"SecurityGroupRuleIds,omitempty"`
}

// ModifySecurityGroupRulesRequest replaces rules of a group, each named by its sgr- id (inbound
// or outbound), keeping the id: all of them or, refused, none.
type ModifySecurityGroupRulesRequest struct {
	GroupId            string                    `json:"GroupId"`
	SecurityGroupRules []SecurityGroupRuleUpdate `json:"SecurityGroupRules"`
}

// SecurityGroupRuleUpdate is a rule's id and the rule it becomes: a permission naming one peer.
type SecurityGroupRuleUpdate struct {
	SecurityGroupRuleId string                `json:"SecurityGroupRuleId"`
	IpPermission        firewall.IpPermission `json:"IpPermission"`
}

// DescribeSecurityGroupRulesResponse is what `sg rules` prints.
type DescribeSecurityGroupRulesResponse struct {
	SecurityGroupRules []SecurityGroupRule `json:"SecurityGroupRules"`
}

// SecurityGroupRule is one rule as authorize reports it.
type SecurityGroupRule struct {
	SecurityGroupRuleId string               `json:"SecurityGroupRuleId"`
	GroupId             string               `json:"GroupId"`
	IsEgress            bool                 `json:"IsEgress"`
	IpProtocol          string               `json:"IpProtocol"`
	FromPort            int                  `json:"FromPort"`
	ToPort              int                  `json:"ToPort"`
	CidrIpv4            string               `json:"CidrIpv4,omitempty"`
	CidrIpv6            string               `json:"CidrIpv6,omitempty"`
	ReferencedGroupInfo *ReferencedGroupInfo `json:"ReferencedGroupInfo,omitempty"`
	Description         string               `json:"Description,omitempty"`
}

// ReferencedGroupInfo names the group a rule refers to.
type ReferencedGroupInfo struct {
	GroupId string `json:"GroupId"`
}

// AuthorizeSecurityGroupResponse is what `sg authorize` prints.
type AuthorizeSecurityGroupResponse struct {
	Return             bool                `json:"Return"`
	SecurityGroupRules []SecurityGroupRule `json:"SecurityGroupRules"`
}

// SetGroupsRequest replaces the groups of an instance's interface.
type SetGroupsRequest struct {
	Groups []string `json:"Groups"`
}

// GroupIdentifier names a group an interface is in.
type GroupIdentifier struct {
	GroupId   string `json:"GroupId"`
	GroupName string `json:"GroupName"`
}

// CreateNetworkAclRequest asks for a network ACL in a VPC.
type CreateNetworkAclRequest struct {
	VpcId string `json:"VpcId"`
}

// CreateNetworkAclResponse is what `nacl create` prints.
type CreateNetworkAclResponse struct {
	NetworkAclId string `json:"NetworkAclId"`
}

// PortRange is a TCP or UDP port range of an ACL entry.
type PortRange struct {
	From int `json:"From"`
	To   int `json:"To"`
}

// IcmpTypeCode is the ICMP type and code of an ACL entry (-1 for any).
type IcmpTypeCode struct {
	Type int `json:"Type"`
	Code int `json:"Code"`
}

// NetworkAclEntry is one numbered rule of an ACL, in EC2's shape.
type NetworkAclEntry struct {
	RuleNumber   int           `json:"RuleNumber"`
	Protocol     string        `json:"Protocol"`
	RuleAction   string        `json:"RuleAction"`
	Egress       bool          `json:"Egress"`
	CidrBlock    string        `json:"CidrBlock"`
	PortRange    *PortRange    `json:"PortRange,omitempty"`
	IcmpTypeCode *IcmpTypeCode `json:"IcmpTypeCode,omitempty"`
}

// NetworkAclEntryRequest adds (or, with only the number and direction, deletes) an ACL entry.
type NetworkAclEntryRequest struct {
	NetworkAclId string `json:"NetworkAclId"`
	NetworkAclEntry
}

// AssociateNetworkAclRequest puts a subnet under an ACL.
type AssociateNetworkAclRequest struct {
	NetworkAclId string `json:"NetworkAclId"`
	SubnetId     string `json:"SubnetId"`
}

// NetworkAclAssociation is a subnet under an ACL.
type NetworkAclAssociation struct {
	NetworkAclId string `json:"NetworkAclId"`
	SubnetId     string `json:"SubnetId"`
}

// NetworkAcl is an element of DescribeNetworkAclsResponse.
type NetworkAcl struct {
	NetworkAclId string                  `json:"NetworkAclId"`
	VpcId        string                  `json:"VpcId"`
	IsDefault    bool                    `json:"IsDefault"`
	Entries      []NetworkAclEntry       `json:"Entries"`
	Associations []NetworkAclAssociation `json:"Associations"`
	OwnerId      string                  `json:"OwnerId,omitempty"`
}

// DescribeNetworkAclsResponse is what `nacl describe` prints.
type DescribeNetworkAclsResponse struct {
	NetworkAcls []NetworkAcl `json:"NetworkAcls"`
}

// FirewallError gives a validation error of the firewall model its EC2 code.
func FirewallError(err error) error {
	var fe *firewall.Error
	if errors.As(err, &fe) {
		return Errorf(fe.Code, "%s", fe.Message)
	}
	return err
}
