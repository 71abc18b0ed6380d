package daemon

import (
	"slices"
	"strconv"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// How the firewall's records are shown, in the shapes of EC2's API.

// permissions is rules in EC2's JSON, rules of the same protocol and ports merged into one
// permission as EC2 prints them.
func permissions(rules []state.StoredRule) []firewall.IpPermission {
	out := []firewall.IpPermission{}
	for _, r := range rules {
		p := r.IpPermission()
		i := slices.IndexFunc(out, func(q firewall.IpPermission) bool {
			return q.IpProtocol == p.IpProtocol && equalPtr(q.FromPort, p.FromPort) && equalPtr(q.ToPort, p.ToPort)
		})
		if i < 0 {
			out = append(out, p)
			continue
		}
		out[i].IpRanges = append(out[i].IpRanges, p.IpRanges...)
		out[i].Ipv6Ranges = append(out[i].Ipv6Ranges, p.Ipv6Ranges...)
		out[i].UserIdGroupPairs = append(out[i].UserIdGroupPairs, p.UserIdGroupPairs...)
	}
	return out
}

func equalPtr(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func direction(egress bool) string {
	if egress {
		return "outbound"
	}
	return "inbound"
}

func describeRule(r firewall.Rule) string {
	p := r.IpPermission()
	s := "protocol " + p.IpProtocol
	if p.FromPort != nil {
		s += " ports " + strconv.Itoa(*p.FromPort) + "-" + strconv.Itoa(*p.ToPort)
	}
	if r.Group != "" {
		return s + " group " + r.Group
	}
	return s + " cidr " + r.CIDR.String()
}

func ruleResult(groupID string, egress bool, s state.StoredRule) api.SecurityGroupRule {
	p := s.IpPermission()
	out := api.SecurityGroupRule{SecurityGroupRuleId: s.ID, GroupId: groupID, IsEgress: egress, IpProtocol: p.IpProtocol, FromPort: -1, ToPort: -1, Description: s.Description}
	if p.FromPort != nil {
		out.FromPort, out.ToPort = *p.FromPort, *p.ToPort
	}
	switch {
	case s.Group != "":
		out.ReferencedGroupInfo = &api.ReferencedGroupInfo{GroupId: s.Group}
	case s.CIDR.Addr().Is4():
		out.CidrIpv4 = s.CIDR.String()
	default:
		out.CidrIpv6 = s.CIDR.String()
	}
	return out
}

// describeGroupsLocked names an interface's groups.
func (d *Daemon) describeGroupsLocked(ids []string) []api.GroupIdentifier {
	out := []api.GroupIdentifier{}
	for _, id := range ids {
		name := ""
		if g := d.groups[id]; g != nil {
			name = g.Name
		}
		out = append(out, api.GroupIdentifier{GroupId: id, GroupName: name})
	}
	return out
}

func describeACLEntry(e firewall.ACLEntry) api.NetworkAclEntry {
	p := e.Rule.IpPermission()
	out := api.NetworkAclEntry{RuleNumber: e.Number, Protocol: p.IpProtocol, RuleAction: "deny", Egress: e.Egress, CidrBlock: e.Rule.CIDR.String()}
	if e.Allow {
		out.RuleAction = "allow"
	}
	switch e.Rule.Protocol {
	case firewall.TCP, firewall.UDP:
		out.PortRange = &api.PortRange{From: e.Rule.From, To: e.Rule.To}
	case firewall.ICMP, firewall.ICMPv6:
		out.IcmpTypeCode = &api.IcmpTypeCode{Type: e.Rule.From, Code: e.Rule.To}
	}
	return out
}
