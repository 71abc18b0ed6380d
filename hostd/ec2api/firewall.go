package ec2api

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// Security groups, their rules, and network ACLs.

func (f *frontEnd) registerFirewall(r *ec2query.Router) {
	handle(r, "CreateSecurityGroup", f.createSecurityGroup)
	handle(r, "DescribeSecurityGroups", f.describeSecurityGroups)
	handle(r, "DeleteSecurityGroup", f.deleteSecurityGroup)
	handle(r, "AuthorizeSecurityGroupIngress", func(ctx context.Context, call *ec2query.Call, req *ec2query.AuthorizeSecurityGroupIngressRequest) (*ec2query.AuthorizeSecurityGroupIngressResult, error) {
		return f.authorize(ctx, call, false, ruleRequest{req.GroupId, req.GroupName, req.IpPermissions, flatRule{req.IpProtocol, req.FromPort, req.ToPort, req.CidrIp, req.SourceSecurityGroupName}, nil}, req.TagSpecifications)
	})
	handle(r, "AuthorizeSecurityGroupEgress", func(ctx context.Context, call *ec2query.Call, req *ec2query.AuthorizeSecurityGroupEgressRequest) (*ec2query.AuthorizeSecurityGroupEgressResult, error) {
		out, err := f.authorize(ctx, call, true, ruleRequest{req.GroupId, "", req.IpPermissions, flatRule{req.IpProtocol, req.FromPort, req.ToPort, req.CidrIp, req.SourceSecurityGroupName}, nil}, req.TagSpecifications)
		return (*ec2query.AuthorizeSecurityGroupEgressResult)(out), err
	})
	handle(r, "RevokeSecurityGroupIngress", func(ctx context.Context, _ *ec2query.Call, req *ec2query.RevokeSecurityGroupIngressRequest) (*ec2query.RevokeSecurityGroupIngressResult, error) {
		return f.revoke(ctx, false, ruleRequest{req.GroupId, req.GroupName, req.IpPermissions, flatRule{req.IpProtocol, req.FromPort, req.ToPort, req.CidrIp, req.SourceSecurityGroupName}, req.SecurityGroupRuleIds})
	})
	handle(r, "RevokeSecurityGroupEgress", func(ctx context.Context, _ *ec2query.Call, req *ec2query.RevokeSecurityGroupEgressRequest) (*ec2query.RevokeSecurityGroupEgressResult, error) {
		out, err := f.revoke(ctx, true, ruleRequest{req.GroupId, "", req.IpPermissions, flatRule{req.IpProtocol, req.FromPort, req.ToPort, req.CidrIp, req.SourceSecurityGroupName}, req.SecurityGroupRuleIds})
		return (*ec2query.RevokeSecurityGroupEgressResult)(out), err
	})
	handle(r, "DescribeSecurityGroupRules", f.describeSecurityGroupRules)
	handle(r, "ModifySecurityGroupRules", f.modifySecurityGroupRules)

	handle(r, "CreateNetworkAcl", f.createNetworkAcl)
	handle(r, "DescribeNetworkAcls", f.describeNetworkAcls)
	handle(r, "DeleteNetworkAcl", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteNetworkAclRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.DeleteNetworkAcl(ctx, req.NetworkAclId)
		return noOutput(err)
	})
	handle(r, "CreateNetworkAclEntry", func(ctx context.Context, _ *ec2query.Call, req *ec2query.CreateNetworkAclEntryRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.CreateNetworkAclEntry(ctx, aclEntryRequest(req))
		return noOutput(err)
	})
	handle(r, "ReplaceNetworkAclEntry", func(ctx context.Context, _ *ec2query.Call, req *ec2query.ReplaceNetworkAclEntryRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.ReplaceNetworkAclEntry(ctx, aclEntryRequest((*ec2query.CreateNetworkAclEntryRequest)(req)))
		return noOutput(err)
	})
	handle(r, "DeleteNetworkAclEntry", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteNetworkAclEntryRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.DeleteNetworkAclEntry(ctx, api.NetworkAclEntryRequest{NetworkAclId: req.NetworkAclId, NetworkAclEntry: api.NetworkAclEntry{RuleNumber: req.RuleNumber, Egress: req.Egress}})
		return noOutput(err)
	})
	handle(r, "ReplaceNetworkAclAssociation", f.replaceNetworkAclAssociation)
}

func (f *frontEnd) createSecurityGroup(ctx context.Context, _ *ec2query.Call, req *ec2query.CreateSecurityGroupRequest) (*ec2query.CreateSecurityGroupResult, error) {
	if req.VpcId == "" {
		return nil, api.Errorf("VPCIdNotSpecified", "No default VPC for this user: hostd has no default VPC; give VpcId")
	}
	tags, err := tagsFor(req.TagSpecifications, "security-group")
	if err != nil {
		return nil, err
	}
	g, err := f.core.CreateSecurityGroup(ctx, api.CreateSecurityGroupRequest{VpcId: req.VpcId, GroupName: req.GroupName, Description: req.Description})
	if err != nil {
		return nil, err
	}
	if err := f.tagCreated(ctx, g.GroupId, tags, func() error { _, err := f.core.DeleteSecurityGroup(ctx, g.GroupId); return err }); err != nil {
		return nil, err
	}
	return &ec2query.CreateSecurityGroupResult{GroupId: g.GroupId, Tags: ec2Tags(tags)}, nil
}

func permissionsOf(perms []firewall.IpPermission, account string) []ec2query.IpPermission {
	out := []ec2query.IpPermission{}
	for _, p := range perms {
		q := ec2query.IpPermission{IpProtocol: ec2Protocol(p.IpProtocol), FromPort: p.FromPort, ToPort: p.ToPort}
		for _, r := range p.IpRanges {
			q.IpRanges = append(q.IpRanges, ec2query.IpRange{CidrIp: r.CidrIp, Description: r.Description})
		}
		for _, r := range p.Ipv6Ranges {
			q.Ipv6Ranges = append(q.Ipv6Ranges, ec2query.Ipv6Range{CidrIpv6: r.CidrIpv6, Description: r.Description})
		}
		for _, g := range p.UserIdGroupPairs {
			q.UserIdGroupPairs = append(q.UserIdGroupPairs, ec2query.UserIdGroupPair{GroupId: g.GroupId, Description: g.Description, UserId: account})
		}
		out = append(out, q)
	}
	return out
}

// ec2Protocol is a protocol as EC2 shows it in a security group: tcp, udp, icmp, icmpv6 by
// name, every other by number, all as -1.
func ec2Protocol(p string) string {
	if p == "all" {
		return "-1"
	}
	return p
}

func securityGroupOf(g api.SecurityGroup, account string, tags []ec2query.Tag) ec2query.SecurityGroup {
	return ec2query.SecurityGroup{
		Description: g.Description, GroupName: g.GroupName, GroupId: g.GroupId, VpcId: g.VpcId, OwnerId: account, Tags: tags,
		IpPermissions: permissionsOf(g.IpPermissions, account), IpPermissionsEgress: permissionsOf(g.IpPermissionsEgress, account),
	}
}

var securityGroupFilters = []string{"group-id", "group-name", "vpc-id", "description", "owner-id",
	"ip-permission.protocol", "ip-permission.from-port", "ip-permission.to-port", "ip-permission.cidr", "ip-permission.group-id",
	"egress.ip-permission.protocol", "egress.ip-permission.from-port", "egress.ip-permission.to-port", "egress.ip-permission.cidr", "egress.ip-permission.group-id",
	"tag-key", "tag-value", ec2query.TagFilter}

// permissionValues answers the ip-permission.* filters of a group's rules of one direction.
func permissionValues(perms []ec2query.IpPermission, field string) []string {
	var out []string
	for _, p := range perms {
		switch field {
		case "protocol":
			out = append(out, p.IpProtocol)
		case "from-port":
			if p.FromPort != nil {
				out = append(out, strconv.Itoa(*p.FromPort))
			}
		case "to-port":
			if p.ToPort != nil {
				out = append(out, strconv.Itoa(*p.ToPort))
			}
		case "cidr":
			for _, r := range p.IpRanges {
				out = append(out, r.CidrIp)
			}
		case "group-id":
			for _, g := range p.UserIdGroupPairs {
				out = append(out, g.GroupId)
			}
		}
	}
	return out
}

// groupsByName finds groups by name, with EC2's error for one that does not exist.
func (f *frontEnd) groupsByName(ctx context.Context, names []string, vpcID string) ([]string, error) {
	all, err := f.core.DescribeSecurityGroups(ctx, nil)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, name := range names {
		var found []string
		for _, g := range all.SecurityGroups {
			if g.GroupName == name && (vpcID == "" || g.VpcId == vpcID) {
				found = append(found, g.GroupId)
			}
		}
		switch len(found) {
		case 0:
			return nil, api.Errorf(api.CodeInvalidGroupNotFound, "The security group '%s' does not exist", name)
		case 1:
			ids = append(ids, found[0])
		default:
			return nil, api.Errorf(api.CodeInvalidParameterValue, "the security group name '%s' is in more than one VPC: give its GroupId", name)
		}
	}
	return ids, nil
}

func (f *frontEnd) describeSecurityGroups(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeSecurityGroupsRequest) (*ec2query.DescribeSecurityGroupsResult, error) {
	ids := req.GroupIds
	if len(req.GroupNames) > 0 {
		named, err := f.groupsByName(ctx, req.GroupNames, "")
		if err != nil {
			return nil, err
		}
		ids = append(slices.Clone(ids), named...)
	}
	all, err := f.core.DescribeSecurityGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	groups := make([]ec2query.SecurityGroup, len(all.SecurityGroups))
	for i, g := range all.SecurityGroups {
		groups[i] = securityGroupOf(g, call.Caller.AccountID, tags[g.GroupId])
	}
	groups = slices.CompactFunc(groups, func(a, b ec2query.SecurityGroup) bool { return a.GroupId == b.GroupId })
	l := listing[ec2query.SecurityGroup]{
		known: securityGroupFilters,
		id:    func(g ec2query.SecurityGroup) string { return g.GroupId },
		tags:  func(g ec2query.SecurityGroup) []ec2query.Tag { return g.Tags },
		values: func(g ec2query.SecurityGroup, name string) []string {
			switch name {
			case "group-id":
				return one(g.GroupId)
			case "group-name":
				return one(g.GroupName)
			case "vpc-id":
				return one(g.VpcId)
			case "description":
				return one(g.Description)
			case "owner-id":
				return one(g.OwnerId)
			}
			if field, ok := strings.CutPrefix(name, "egress.ip-permission."); ok {
				return permissionValues(g.IpPermissionsEgress, field)
			}
			if field, ok := strings.CutPrefix(name, "ip-permission."); ok {
				return permissionValues(g.IpPermissions, field)
			}
			return nil
		},
	}
	page, next, err := l.list(call, groups, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeSecurityGroupsResult{SecurityGroups: page, NextToken: next}, nil
}

func (f *frontEnd) deleteSecurityGroup(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteSecurityGroupRequest) (*ec2query.NoOutput, error) {
	id, err := f.groupOf(ctx, req.GroupId, req.GroupName)
	if err != nil {
		return nil, err
	}
	_, err = f.core.DeleteSecurityGroup(ctx, id)
	return noOutput(err)
}

// groupOf is the group a call names by GroupId or GroupName.
func (f *frontEnd) groupOf(ctx context.Context, id, name string) (string, error) {
	switch {
	case id != "" && name != "":
		return "", api.Errorf(ec2query.CodeInvalidParameterCombination, "give GroupId or GroupName, not both")
	case id != "":
		return id, nil
	case name != "":
		ids, err := f.groupsByName(ctx, []string{name}, "")
		if err != nil {
			return "", err
		}
		return ids[0], nil
	}
	return "", api.Errorf(api.CodeMissingParameter, "The request must contain the parameter GroupId or GroupName")
}

// flatRule is the older form of one rule in a call's own members (IpProtocol, FromPort,
// ToPort, CidrIp or SourceSecurityGroupName) instead of IpPermissions.
type flatRule struct {
	protocol   string
	from, to   *int
	cidr       string
	sourceName string
}

type ruleRequest struct {
	groupID, groupName string
	perms              []ec2query.IpPermission
	flat               flatRule
	ruleIDs            []string
}

// coreRequest turns an authorize or revoke into the core's: the group, and its permissions in
// the firewall's model, group names resolved in the group's VPC.
func (f *frontEnd) coreRequest(ctx context.Context, egress bool, r ruleRequest) (api.SecurityGroupRulesRequest, error) {
	id, err := f.groupOf(ctx, r.groupID, r.groupName)
	if err != nil {
		return api.SecurityGroupRulesRequest{}, err
	}
	out := api.SecurityGroupRulesRequest{GroupId: id, Egress: egress, SecurityGroupRuleIds: r.ruleIDs}
	var vpcID string
	if g, err := f.core.DescribeSecurityGroups(ctx, []string{id}); err != nil {
		return out, err
	} else {
		vpcID = g.SecurityGroups[0].VpcId
	}
	perms := r.perms
	if r.flat != (flatRule{}) {
		if len(perms) > 0 {
			return out, api.Errorf(ec2query.CodeInvalidParameterCombination, "give IpPermissions or IpProtocol/FromPort/ToPort/CidrIp/SourceSecurityGroupName, not both")
		}
		p := ec2query.IpPermission{IpProtocol: r.flat.protocol, FromPort: r.flat.from, ToPort: r.flat.to}
		if p.IpProtocol == "" {
			p.IpProtocol = "-1"
		}
		if r.flat.cidr != "" {
			p.IpRanges = []ec2query.IpRange{{CidrIp: r.flat.cidr}}
		}
		if r.flat.sourceName != "" {
			p.UserIdGroupPairs = []ec2query.UserIdGroupPair{{GroupName: r.flat.sourceName}}
		}
		perms = []ec2query.IpPermission{p}
	}
	for _, p := range perms {
		q := firewall.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort}
		for _, rg := range p.IpRanges {
			q.IpRanges = append(q.IpRanges, firewall.IpRange{CidrIp: rg.CidrIp, Description: rg.Description})
		}
		for _, rg := range p.Ipv6Ranges {
			q.Ipv6Ranges = append(q.Ipv6Ranges, firewall.Ipv6Range{CidrIpv6: rg.CidrIpv6, Description: rg.Description})
		}
		for _, g := range p.UserIdGroupPairs {
			gid := g.GroupId
			if gid == "" && g.GroupName != "" {
				ids, err := f.groupsByName(ctx, []string{g.GroupName}, vpcID)
				if err != nil {
					return out, err
				}
				gid = ids[0]
			}
			q.UserIdGroupPairs = append(q.UserIdGroupPairs, firewall.UserIdGroupPair{GroupId: gid, Description: g.Description})
		}
		out.IpPermissions = append(out.IpPermissions, q)
	}
	return out, nil
}

func (f *frontEnd) authorize(ctx context.Context, call *ec2query.Call, egress bool, r ruleRequest, specs []ec2query.TagSpecification) (*ec2query.AuthorizeSecurityGroupIngressResult, error) {
	if len(specs) > 0 {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd does not tag security group rules: leave out TagSpecifications")
	}
	req, err := f.coreRequest(ctx, egress, r)
	if err != nil {
		return nil, err
	}
	if len(req.IpPermissions) == 0 {
		return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter IpPermissions")
	}
	res, err := f.core.AuthorizeSecurityGroup(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &ec2query.AuthorizeSecurityGroupIngressResult{Return: true}
	for _, rule := range res.SecurityGroupRules {
		out.SecurityGroupRules = append(out.SecurityGroupRules, ruleOf(rule, call.Caller.AccountID))
	}
	return out, nil
}

func (f *frontEnd) revoke(ctx context.Context, egress bool, r ruleRequest) (*ec2query.RevokeSecurityGroupIngressResult, error) {
	req, err := f.coreRequest(ctx, egress, r)
	if err != nil {
		return nil, err
	}
	if _, err := f.core.RevokeSecurityGroup(ctx, req); err != nil {
		return nil, err
	}
	return &ec2query.RevokeSecurityGroupIngressResult{Return: true}, nil
}

func ruleOf(r api.SecurityGroupRule, account string) ec2query.SecurityGroupRule {
	out := ec2query.SecurityGroupRule{
		SecurityGroupRuleId: r.SecurityGroupRuleId, GroupId: r.GroupId, GroupOwnerId: account, IsEgress: r.IsEgress,
		IpProtocol: ec2Protocol(r.IpProtocol), FromPort: ptr(r.FromPort), ToPort: ptr(r.ToPort),
		CidrIpv4: r.CidrIpv4, CidrIpv6: r.CidrIpv6, Description: r.Description,
	}
	if r.ReferencedGroupInfo != nil {
		out.ReferencedGroupInfo = &ec2query.ReferencedSecurityGroup{GroupId: r.ReferencedGroupInfo.GroupId, UserId: account}
	}
	return out
}

// modifySecurityGroupRules gives the core each rule as a permission of its peers; the core
// refuses a rule that names other than one.
func (f *frontEnd) modifySecurityGroupRules(ctx context.Context, _ *ec2query.Call, req *ec2query.ModifySecurityGroupRulesRequest) (*ec2query.ModifySecurityGroupRulesResult, error) {
	out := api.ModifySecurityGroupRulesRequest{GroupId: req.GroupId}
	for _, u := range req.SecurityGroupRules {
		r := u.SecurityGroupRule
		if r == nil {
			return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter SecurityGroupRule.SecurityGroupRule for the rule %s", u.SecurityGroupRuleId)
		}
		p := firewall.IpPermission{IpProtocol: r.IpProtocol, FromPort: r.FromPort, ToPort: r.ToPort}
		if r.CidrIpv4 != "" {
			p.IpRanges = []firewall.IpRange{{CidrIp: r.CidrIpv4, Description: r.Description}}
		}
		if r.CidrIpv6 != "" {
			p.Ipv6Ranges = []firewall.Ipv6Range{{CidrIpv6: r.CidrIpv6, Description: r.Description}}
		}
		if r.ReferencedGroupId != "" {
			p.UserIdGroupPairs = []firewall.UserIdGroupPair{{GroupId: r.ReferencedGroupId, Description: r.Description}}
		}
		out.SecurityGroupRules = append(out.SecurityGroupRules, api.SecurityGroupRuleUpdate{SecurityGroupRuleId: u.SecurityGroupRuleId, IpPermission: p})
	}
	if _, err := f.core.ModifySecurityGroupRules(ctx, out); err != nil {
		return nil, err
	}
	return &ec2query.ModifySecurityGroupRulesResult{Return: true}, nil
}

var securityGroupRuleFilters = []string{"group-id", "security-group-rule-id", "is-egress", "ip-protocol", "cidr", "referenced-group-id"}

func (f *frontEnd) describeSecurityGroupRules(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeSecurityGroupRulesRequest) (*ec2query.DescribeSecurityGroupRulesResult, error) {
	all, err := f.core.DescribeSecurityGroupRules(ctx, nil)
	if err != nil {
		return nil, err
	}
	var rules []ec2query.SecurityGroupRule
	for _, r := range all.SecurityGroupRules {
		rules = append(rules, ruleOf(r, call.Caller.AccountID))
	}
	for _, id := range req.SecurityGroupRuleIds {
		if !slices.ContainsFunc(rules, func(r ec2query.SecurityGroupRule) bool { return r.SecurityGroupRuleId == id }) {
			return nil, api.Errorf("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
		}
	}
	if len(req.SecurityGroupRuleIds) > 0 {
		rules = filterSlice(rules, func(r ec2query.SecurityGroupRule) bool {
			return slices.Contains(req.SecurityGroupRuleIds, r.SecurityGroupRuleId)
		})
	}
	l := listing[ec2query.SecurityGroupRule]{
		known: securityGroupRuleFilters,
		id:    func(r ec2query.SecurityGroupRule) string { return r.SecurityGroupRuleId },
		values: func(r ec2query.SecurityGroupRule, name string) []string {
			switch name {
			case "group-id":
				return one(r.GroupId)
			case "security-group-rule-id":
				return one(r.SecurityGroupRuleId)
			case "is-egress":
				return boolValue(r.IsEgress)
			case "ip-protocol":
				return one(r.IpProtocol)
			case "cidr":
				return []string{r.CidrIpv4, r.CidrIpv6}
			case "referenced-group-id":
				if r.ReferencedGroupInfo != nil {
					return one(r.ReferencedGroupInfo.GroupId)
				}
			}
			return nil
		},
	}
	page, next, err := l.list(call, rules, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeSecurityGroupRulesResult{SecurityGroupRules: page, NextToken: next}, nil
}

// Network ACLs.

func (f *frontEnd) createNetworkAcl(ctx context.Context, call *ec2query.Call, req *ec2query.CreateNetworkAclRequest) (*ec2query.CreateNetworkAclResult, error) {
	tags, err := tagsFor(req.TagSpecifications, "network-acl")
	if err != nil {
		return nil, err
	}
	a, err := f.core.CreateNetworkAcl(ctx, api.CreateNetworkAclRequest{VpcId: req.VpcId})
	if err != nil {
		return nil, err
	}
	if err := f.tagCreated(ctx, a.NetworkAclId, tags, func() error { _, err := f.core.DeleteNetworkAcl(ctx, a.NetworkAclId); return err }); err != nil {
		return nil, err
	}
	all, err := f.core.DescribeNetworkAcls(ctx, []string{a.NetworkAclId})
	if err != nil {
		return nil, err
	}
	out := networkAclOf(all.NetworkAcls[0], call.Caller.AccountID, ec2Tags(tags))
	return &ec2query.CreateNetworkAclResult{NetworkAcl: &out}, nil
}

func aclEntryRequest(req *ec2query.CreateNetworkAclEntryRequest) api.NetworkAclEntryRequest {
	e := api.NetworkAclEntry{RuleNumber: req.RuleNumber, Protocol: req.Protocol, RuleAction: req.RuleAction, Egress: req.Egress, CidrBlock: req.CidrBlock}
	if req.Ipv6CidrBlock != "" {
		e.CidrBlock = req.Ipv6CidrBlock
	}
	if req.PortRange != nil && req.PortRange.From != nil && req.PortRange.To != nil {
		e.PortRange = &api.PortRange{From: *req.PortRange.From, To: *req.PortRange.To}
	}
	if req.IcmpTypeCode != nil && req.IcmpTypeCode.Type != nil && req.IcmpTypeCode.Code != nil {
		e.IcmpTypeCode = &api.IcmpTypeCode{Type: *req.IcmpTypeCode.Type, Code: *req.IcmpTypeCode.Code}
	}
	return api.NetworkAclEntryRequest{NetworkAclId: req.NetworkAclId, NetworkAclEntry: e}
}

// associationID is a subnet's association with its ACL: a subnet is under exactly one ACL, so
// the association is named after the subnet.
func associationID(subnetID string) string { return "aclassoc-" + suffix(subnetID) }

// aclProtocols are the protocol numbers EC2 shows in an ACL's entries.
var aclProtocols = map[string]string{"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58", "all": "-1"}

func networkAclOf(a api.NetworkAcl, account string, tags []ec2query.Tag) ec2query.NetworkAcl {
	out := ec2query.NetworkAcl{NetworkAclId: a.NetworkAclId, VpcId: a.VpcId, IsDefault: a.IsDefault, OwnerId: account, Tags: tags,
		Associations: []ec2query.NetworkAclAssociation{}, Entries: []ec2query.NetworkAclEntry{}}
	for _, s := range a.Associations {
		out.Associations = append(out.Associations, ec2query.NetworkAclAssociation{NetworkAclAssociationId: associationID(s.SubnetId), NetworkAclId: a.NetworkAclId, SubnetId: s.SubnetId})
	}
	for _, e := range a.Entries {
		proto := e.Protocol
		if n, ok := aclProtocols[proto]; ok {
			proto = n
		}
		q := ec2query.NetworkAclEntry{CidrBlock: e.CidrBlock, Egress: e.Egress, Protocol: proto, RuleAction: e.RuleAction, RuleNumber: e.RuleNumber}
		if e.PortRange != nil {
			q.PortRange = &ec2query.PortRange{From: ptr(e.PortRange.From), To: ptr(e.PortRange.To)}
		}
		if e.IcmpTypeCode != nil {
			q.IcmpTypeCode = &ec2query.IcmpTypeCode{Type: ptr(e.IcmpTypeCode.Type), Code: ptr(e.IcmpTypeCode.Code)}
		}
		out.Entries = append(out.Entries, q)
	}
	return out
}

var networkAclFilters = []string{"network-acl-id", "vpc-id", "default", "owner-id",
	"association.association-id", "association.network-acl-id", "association.subnet-id",
	"entry.rule-number", "entry.protocol", "entry.rule-action", "entry.egress", "entry.cidr",
	"tag-key", "tag-value", ec2query.TagFilter}

func (f *frontEnd) describeNetworkAcls(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeNetworkAclsRequest) (*ec2query.DescribeNetworkAclsResult, error) {
	all, err := f.core.DescribeNetworkAcls(ctx, req.NetworkAclIds)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	acls := make([]ec2query.NetworkAcl, len(all.NetworkAcls))
	for i, a := range all.NetworkAcls {
		acls[i] = networkAclOf(a, call.Caller.AccountID, tags[a.NetworkAclId])
	}
	l := listing[ec2query.NetworkAcl]{
		known: networkAclFilters,
		id:    func(a ec2query.NetworkAcl) string { return a.NetworkAclId },
		tags:  func(a ec2query.NetworkAcl) []ec2query.Tag { return a.Tags },
		values: func(a ec2query.NetworkAcl, name string) []string {
			var out []string
			switch name {
			case "network-acl-id", "association.network-acl-id":
				return one(a.NetworkAclId)
			case "vpc-id":
				return one(a.VpcId)
			case "default":
				return boolValue(a.IsDefault)
			case "owner-id":
				return one(a.OwnerId)
			}
			for _, s := range a.Associations {
				switch name {
				case "association.association-id":
					out = append(out, s.NetworkAclAssociationId)
				case "association.subnet-id":
					out = append(out, s.SubnetId)
				}
			}
			for _, e := range a.Entries {
				switch name {
				case "entry.rule-number":
					out = append(out, strconv.Itoa(e.RuleNumber))
				case "entry.protocol":
					out = append(out, e.Protocol)
				case "entry.rule-action":
					out = append(out, e.RuleAction)
				case "entry.egress":
					out = append(out, strconv.FormatBool(e.Egress))
				case "entry.cidr":
					out = append(out, e.CidrBlock)
				}
			}
			return out
		},
	}
	page, next, err := l.list(call, acls, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeNetworkAclsResult{NetworkAcls: page, NextToken: next}, nil
}

func (f *frontEnd) replaceNetworkAclAssociation(ctx context.Context, _ *ec2query.Call, req *ec2query.ReplaceNetworkAclAssociationRequest) (*ec2query.ReplaceNetworkAclAssociationResult, error) {
	hex, ok := strings.CutPrefix(req.AssociationId, "aclassoc-")
	subnetID := "subnet-" + hex
	if !ok || !api.SubnetID.Valid(subnetID) {
		return nil, api.Errorf("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", req.AssociationId)
	}
	if _, err := f.core.DescribeSubnets(ctx, []string{subnetID}); err != nil {
		return nil, api.Errorf("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", req.AssociationId)
	}
	if _, err := f.core.AssociateNetworkAcl(ctx, api.AssociateNetworkAclRequest{NetworkAclId: req.NetworkAclId, SubnetId: subnetID}); err != nil {
		return nil, err
	}
	return &ec2query.ReplaceNetworkAclAssociationResult{NewAssociationId: associationID(subnetID)}, nil
}
