package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/vnet"
)

// The firewall's state in the daemon: security groups and network ACLs as records, and what the
// datapath holds of them: a rule set per network ACL, and a rule set per distinct combination of
// groups that running interfaces are in (their "policy"). A change compiles new rule sets first,
// records the change, then repoints interfaces and subnets to the new sets one map update each,
// and retires the old sets: no packet ever sees a half-applied change, and a refused change
// leaves nothing behind.

var (
	groupIDPattern = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	aclIDPattern   = regexp.MustCompile(`^acl-[0-9a-f]{8,17}$`)
)

func (d *Daemon) lookupGroupLocked(id string) (*state.SecurityGroup, error) {
	return lookupID(d.groups, id, resourceKind{"security group ID", "sg-", groupIDPattern.MatchString, api.CodeInvalidGroupMalformed, api.CodeInvalidGroupNotFound})
}

func (d *Daemon) lookupACLLocked(id string) (*state.NetworkACL, error) {
	return lookupID(d.acls, id, resourceKind{"network ACL ID", "acl-", aclIDPattern.MatchString, api.CodeInvalidNetworkAclMalformed, api.CodeInvalidNetworkAclNotFound})
}

func allTraffic() firewall.Rule {
	return firewall.Rule{Protocol: firewall.AllProtocols, From: -1, To: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")}
}

// newGroup is a group as EC2 makes one: nothing in, everything out. The default group also lets
// in everything from its own members.
func newGroup(vpcID, name, description string, isDefault bool) *state.SecurityGroup {
	g := &state.SecurityGroup{ID: newID("sg-"), VpcID: vpcID, Name: name, Description: description, Default: isDefault}
	g.Egress = []state.StoredRule{{ID: newID("sgr-"), Rule: allTraffic()}}
	if isDefault {
		self := allTraffic()
		self.CIDR, self.Group = netip.Prefix{}, g.ID
		g.Ingress = []state.StoredRule{{ID: newID("sgr-"), Rule: self}}
	}
	return g
}

// nextNumber returns the lowest number above 0 that no record of all has: the datapath's keys
// of VPCs, subnets and groups.
func nextNumber[T any](all map[string]*T, number func(*T) uint32) uint32 {
	used := map[uint32]bool{}
	for _, r := range all {
		used[number(r)] = true
	}
	n := uint32(1)
	for used[n] {
		n++
	}
	return n
}

func (d *Daemon) nextGroupNumberLocked() uint32 {
	return nextNumber(d.groups, func(g *state.SecurityGroup) uint32 { return g.Number })
}

func (d *Daemon) groupNumber(id string) uint32 {
	if g := d.groups[id]; g != nil {
		return g.Number
	}
	return 0 // a rule naming a deleted group matches nobody
}

// createDefaultsLocked makes a new VPC's default group and default ACL.
func (d *Daemon) createDefaultsLocked(v *state.VPC) error {
	g := newGroup(v.ID, "default", "default VPC security group", true)
	g.Number = d.nextGroupNumberLocked()
	acl := &state.NetworkACL{ID: newID("acl-"), VpcID: v.ID, Default: true, Entries: firewall.DefaultACL().Entries}
	set, err := d.dp.LoadACL(v.Number, &firewall.NetworkACL{Entries: acl.Entries})
	if err != nil {
		return err
	}
	if err := d.store.PutGroup(g); err != nil {
		d.dp.DeleteRuleSet(set)
		return err
	}
	if err := d.store.PutACL(acl); err != nil {
		d.dp.DeleteRuleSet(set)
		_ = d.store.DeleteGroup(g.ID)
		return err
	}
	d.groups[g.ID], d.acls[acl.ID], d.aclSets[acl.ID] = g, acl, set
	v.DefaultGroupID, v.DefaultACLID = g.ID, acl.ID
	return nil
}

// deleteDefaultsLocked removes a deleted VPC's default group and its ACLs.
func (d *Daemon) deleteDefaultsLocked(v *state.VPC) {
	if err := d.store.DeleteGroup(v.DefaultGroupID); err != nil {
		d.log.Error("removing a default group", "group", v.DefaultGroupID, "err", err)
	}
	delete(d.groups, v.DefaultGroupID)
	for id, a := range d.acls {
		if a.VpcID == v.ID {
			if err := d.store.DeleteACL(id); err != nil {
				d.log.Error("removing a network ACL", "acl", id, "err", err)
			}
			d.dp.RetireRuleSet(d.aclSets[id])
			delete(d.acls, id)
			delete(d.aclSets, id)
		}
	}
}

// vpcGroupsLocked names a VPC's groups other than its default one: they keep it from being deleted.
func (d *Daemon) vpcGroupsLocked(vpcID string) []string {
	var out []string
	for _, g := range d.groups {
		if g.VpcID == vpcID && !g.Default {
			out = append(out, g.ID)
		}
	}
	slices.Sort(out)
	return out
}

// CreateSecurityGroup makes a group in a VPC.
func (d *Daemon) CreateSecurityGroup(req api.CreateSecurityGroupRequest) (api.CreateSecurityGroupResponse, error) {
	if req.GroupName == "" {
		return api.CreateSecurityGroupResponse{}, api.Errorf(api.CodeMissingParameter, "a security group needs a name: --name NAME")
	}
	if strings.EqualFold(req.GroupName, "default") {
		return api.CreateSecurityGroupResponse{}, api.Errorf(api.CodeInvalidGroupReserved, "the security group name 'default' is reserved for the VPC's default group")
	}
	if len(req.GroupName) > 255 || len(req.Description) > 255 {
		return api.CreateSecurityGroupResponse{}, api.Errorf(api.CodeInvalidParameterValue, "group names and descriptions are at most 255 characters")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookupVpcLocked(req.VpcId)
	if err != nil {
		return api.CreateSecurityGroupResponse{}, err
	}
	for _, g := range d.groups {
		if g.VpcID == v.ID && g.Name == req.GroupName {
			return api.CreateSecurityGroupResponse{}, api.Errorf(api.CodeInvalidGroupDuplicate, "the security group '%s' already exists in vpc %s: %s", req.GroupName, v.ID, g.ID)
		}
	}
	g := newGroup(v.ID, req.GroupName, req.Description, false)
	g.Number = d.nextGroupNumberLocked()
	if err := d.store.PutGroup(g); err != nil {
		return api.CreateSecurityGroupResponse{}, err
	}
	d.groups[g.ID] = g
	d.log.Info("security group created", "group", g.ID, "vpc", v.ID, "name", g.Name)
	return api.CreateSecurityGroupResponse{GroupId: g.ID}, nil
}

// DescribeSecurityGroups lists the given groups, or all, in EC2's shape.
func (d *Daemon) DescribeSecurityGroups(ids []string) (api.DescribeSecurityGroupsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	groups, err := pick(d.groups, ids, d.lookupGroupLocked)
	out := api.DescribeSecurityGroupsResponse{SecurityGroups: []api.SecurityGroup{}}
	for _, g := range groups {
		out.SecurityGroups = append(out.SecurityGroups, api.SecurityGroup{
			GroupId: g.ID, GroupName: g.Name, Description: g.Description, VpcId: g.VpcID,
			IpPermissions: permissions(g.Ingress), IpPermissionsEgress: permissions(g.Egress),
		})
	}
	return out, err
}

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

// DeleteSecurityGroup removes a group no interface is in and no other group's rule names.
func (d *Daemon) DeleteSecurityGroup(id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, err := d.lookupGroupLocked(id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if g.Default {
		return api.ReturnResponse{}, api.Errorf(api.CodeCannotDelete, "the default security group of a VPC cannot be deleted; it goes with its VPC")
	}
	for instanceID, e := range d.enis {
		if slices.Contains(e.Groups, id) {
			return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "resource %s has a dependent object: instance %s is in it; move it with `instance set-groups` first", id, instanceID)
		}
	}
	for _, other := range d.groups {
		if other.ID != id && slices.ContainsFunc(append(slices.Clone(other.Ingress), other.Egress...), func(r state.StoredRule) bool { return r.Group == id }) {
			return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "resource %s has a dependent object: a rule of %s names it; revoke that rule first", id, other.ID)
		}
	}
	if err := d.store.DeleteGroup(id); err != nil {
		return api.ReturnResponse{}, err
	}
	delete(d.groups, id)
	d.log.Info("security group deleted", "group", id)
	return api.ReturnResponse{Return: true}, nil
}

// parseRules validates EC2 permissions for group g (in its VPC).
func (d *Daemon) parseRulesLocked(g *state.SecurityGroup, perms []firewall.IpPermission) ([]firewall.Rule, error) {
	rules, err := firewall.RulesOf(perms)
	if err != nil {
		return nil, api.FirewallError(err)
	}
	for _, r := range rules {
		if r.Group == "" {
			continue
		}
		peer, err := d.lookupGroupLocked(r.Group)
		if err != nil {
			return nil, err
		}
		if peer.VpcID != g.VpcID {
			return nil, api.Errorf(api.CodeInvalidGroupNotFound, "the security group '%s' is not in vpc %s, the VPC of %s", r.Group, g.VpcID, g.ID)
		}
	}
	return rules, nil
}

func sameRule(a, b firewall.Rule) bool {
	return a.Protocol == b.Protocol && a.From == b.From && a.To == b.To && a.CIDR == b.CIDR && a.Group == b.Group
}

// ruleChange is an authorize or revoke being prepared: the group as it is, a copy to change,
// and the copy's rules of the direction asked.
type ruleChange struct {
	group, updated *state.SecurityGroup
	list           *[]state.StoredRule
	rules          []firewall.Rule
}

func (d *Daemon) prepareRuleChangeLocked(req api.SecurityGroupRulesRequest) (ruleChange, error) {
	g, err := d.lookupGroupLocked(req.GroupId)
	if err != nil {
		return ruleChange{}, err
	}
	rules, err := d.parseRulesLocked(g, req.IpPermissions)
	if err != nil {
		return ruleChange{}, err
	}
	updated := *g
	list := &updated.Ingress
	if req.Egress {
		list = &updated.Egress
	}
	*list = slices.Clone(*list)
	return ruleChange{group: g, updated: &updated, list: list, rules: rules}, nil
}

// AuthorizeSecurityGroup adds rules to a group and returns once the datapath enforces them.
func (d *Daemon) AuthorizeSecurityGroup(req api.SecurityGroupRulesRequest) (api.AuthorizeSecurityGroupResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.prepareRuleChangeLocked(req)
	if err != nil {
		return api.AuthorizeSecurityGroupResponse{}, err
	}
	g, list, rules := c.group, c.list, c.rules
	out := api.AuthorizeSecurityGroupResponse{Return: true}
	for _, r := range rules {
		if slices.ContainsFunc(*list, func(s state.StoredRule) bool { return sameRule(s.Rule, r) }) {
			return api.AuthorizeSecurityGroupResponse{}, api.Errorf(api.CodePermissionDuplicate, "the rule %s already exists in %s", describeRule(r), g.ID)
		}
		s := state.StoredRule{ID: newID("sgr-"), Rule: r}
		*list = append(*list, s)
		out.SecurityGroupRules = append(out.SecurityGroupRules, ruleResult(g.ID, req.Egress, s))
	}
	if len(*list) > api.MaxRulesPerDirection {
		return api.AuthorizeSecurityGroupResponse{}, api.Errorf(api.CodeRulesPerGroupLimitExceeded, "a security group has at most %d %s rules; %s would have %d", api.MaxRulesPerDirection, direction(req.Egress), g.ID, len(*list))
	}
	if err := d.replaceGroupLocked(c.updated); err != nil {
		return api.AuthorizeSecurityGroupResponse{}, err
	}
	d.log.Info("security group rules authorized", "group", g.ID, "egress", req.Egress, "rules", len(rules))
	return out, nil
}

// RevokeSecurityGroup removes rules from a group. Flows they allowed and that are tracked go on.
func (d *Daemon) RevokeSecurityGroup(req api.SecurityGroupRulesRequest) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.prepareRuleChangeLocked(req)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	g, list, rules := c.group, c.list, c.rules
	for _, r := range rules {
		i := slices.IndexFunc(*list, func(s state.StoredRule) bool { return sameRule(s.Rule, r) })
		if i < 0 {
			return api.ReturnResponse{}, api.Errorf(api.CodePermissionNotFound, "%s has no %s rule %s", g.ID, direction(req.Egress), describeRule(r))
		}
		*list = slices.Delete(*list, i, i+1)
	}
	if err := d.replaceGroupLocked(c.updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("security group rules revoked", "group", g.ID, "egress", req.Egress, "rules", len(rules))
	return api.ReturnResponse{Return: true}, nil
}

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

// replaceGroupLocked makes updated the group's rules: new policies for every combination of
// groups that includes it, the record, then the interfaces repointed. On failure nothing changed.
func (d *Daemon) replaceGroupLocked(updated *state.SecurityGroup) error {
	previous := d.groups[updated.ID]
	d.groups[updated.ID] = updated
	fresh := map[string]uint32{}
	abort := func(err error) error {
		d.groups[updated.ID] = previous
		for _, set := range fresh {
			d.dp.DeleteRuleSet(set)
		}
		return ruleSetError(err)
	}
	for key := range d.policies {
		if !slices.Contains(strings.Split(key, ","), updated.ID) {
			continue
		}
		set, err := d.dp.LoadPolicy(d.groupsVPCLocked(strings.Split(key, ",")), d.groupRulesLocked(strings.Split(key, ",")), d.groupNumber)
		if err != nil {
			return abort(err)
		}
		fresh[key] = set
	}
	if err := d.store.PutGroup(updated); err != nil {
		return abort(err)
	}
	for key, set := range fresh {
		replaced := d.policies[key]
		d.policies[key] = set
		d.repointLocked(func(e *state.ENI) bool { return groupKey(e.Groups) == key })
		d.dp.RetireRuleSet(replaced)
	}
	return nil
}

// groupsVPCLocked is the number of the VPC of the named groups (all in one VPC).
func (d *Daemon) groupsVPCLocked(ids []string) uint32 {
	for _, id := range ids {
		if g := d.groups[id]; g != nil {
			if v := d.vpcs[g.VpcID]; v != nil {
				return v.Number
			}
		}
	}
	return 0
}

// groupRulesLocked is the firewall model of the named groups.
func (d *Daemon) groupRulesLocked(ids []string) []*firewall.SecurityGroup {
	var out []*firewall.SecurityGroup
	for _, id := range ids {
		g := d.groups[id]
		if g == nil {
			continue
		}
		fg := &firewall.SecurityGroup{ID: g.ID}
		for _, r := range g.Ingress {
			fg.Ingress = append(fg.Ingress, r.Rule)
		}
		for _, r := range g.Egress {
			fg.Egress = append(fg.Egress, r.Rule)
		}
		out = append(out, fg)
	}
	return out
}

// ruleSetError tells the caller when rules compile to more than the datapath takes from a VPC.
func ruleSetError(err error) error {
	if errors.Is(err, vnet.ErrRuleEntriesExceeded) {
		return api.Errorf(api.CodeResourceLimitExceeded, "%v", err)
	}
	return err
}

func groupKey(groups []string) string {
	sorted := slices.Clone(groups)
	slices.Sort(sorted)
	return strings.Join(sorted, ",")
}

// policyLocked returns the rule set of the union of groups, compiling it the first time.
func (d *Daemon) policyLocked(groups []string) (uint32, error) {
	key := groupKey(groups)
	if set, ok := d.policies[key]; ok {
		return set, nil
	}
	set, err := d.dp.LoadPolicy(d.groupsVPCLocked(groups), d.groupRulesLocked(groups), d.groupNumber)
	if err != nil {
		return 0, ruleSetError(err)
	}
	d.policies[key] = set
	return set, nil
}

// repointLocked rewrites the datapath entries of the running interfaces that match.
func (d *Daemon) repointLocked(match func(*state.ENI) bool) {
	for _, e := range d.enis {
		if !match(e) {
			continue
		}
		v := d.vpcs[e.VpcID]
		ifindex := d.dp.IfindexOf(net.ParseIP(e.IP), v.Number)
		if ifindex == 0 {
			continue // not running
		}
		entry, err := d.datapathEntryLocked(e)
		if err == nil {
			err = d.dp.SetInterface(ifindex, entry)
		}
		if err != nil {
			d.log.Error("updating an interface's firewall", "eni", e.ID, "err", err)
		}
	}
}

// datapathEntryLocked is what the datapath is to know of an interface.
func (d *Daemon) datapathEntryLocked(e *state.ENI) (vnet.Interface, error) {
	s, v := d.subnets[e.SubnetID], d.vpcs[e.VpcID]
	subnet := netip.MustParsePrefix(s.CIDR)
	mac, _ := net.ParseMAC(e.MAC)
	policy, err := d.policyLocked(e.Groups)
	if err != nil {
		return vnet.Interface{}, err
	}
	var numbers []uint32
	for _, id := range e.Groups {
		numbers = append(numbers, d.groupNumber(id))
	}
	return vnet.Interface{
		VPC: v.Number, IP: net.ParseIP(e.IP), MAC: mac, SourceDestCheck: e.SourceDestCheck,
		Subnet:       &net.IPNet{IP: subnet.Addr().AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)},
		SubnetNumber: s.Number, Policy: policy, Groups: numbers,
	}, nil
}

// resolveGroupsLocked checks the groups asked for an interface in a subnet: 1 to 5 groups of its
// VPC, its default group when none is named.
func (d *Daemon) resolveGroupsLocked(vpcID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return []string{d.vpcs[vpcID].DefaultGroupID}, nil
	}
	var out []string
	for _, id := range ids {
		g, err := d.lookupGroupLocked(id)
		if err != nil {
			return nil, err
		}
		if g.VpcID != vpcID {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "security group %s is in vpc %s, not in the interface's vpc %s", id, g.VpcID, vpcID)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) > api.MaxGroupsPerENI {
		return nil, api.Errorf(api.CodeGroupsPerInterfaceExceeded, "an interface is in at most %d security groups; %d given", api.MaxGroupsPerENI, len(out))
	}
	return out, nil
}

// SetGroups replaces the security groups of an instance's interface.
func (d *Daemon) SetGroups(id string, req api.SetGroupsRequest) (api.ReturnResponse, error) {
	if len(req.Groups) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name at least one group: --sg ID")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.lookupLocked(id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	e, ok := d.enis[id]
	if !ok || in.rec.Phase == state.Terminated {
		return api.ReturnResponse{}, api.Errorf(api.CodeIncorrectInstanceState, "instance %s has no network interface", id)
	}
	groups, err := d.resolveGroupsLocked(e.VpcID, req.Groups)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if _, err := d.policyLocked(groups); err != nil {
		return api.ReturnResponse{}, err
	}
	updated := *e
	updated.Groups = groups
	if err := d.store.PutENI(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.enis[id] = &updated
	d.repointLocked(func(x *state.ENI) bool { return x == &updated })
	d.log.Info("security groups set", "instance", id, "groups", groups)
	return api.ReturnResponse{Return: true}, nil
}

// prunePoliciesLocked retires the policies no running interface uses any more.
func (d *Daemon) prunePoliciesLocked() {
	used := map[string]bool{}
	for _, e := range d.enis {
		used[groupKey(e.Groups)] = true
	}
	for key, set := range d.policies {
		if !used[key] {
			delete(d.policies, key)
			d.dp.RetireRuleSet(set)
		}
	}
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

func (d *Daemon) nextSubnetNumberLocked() uint32 {
	return nextNumber(d.subnets, func(s *state.Subnet) uint32 { return s.Number })
}

// rebuildFirewallLocked loads every ACL and the policies of running interfaces into the datapath
// afresh, points subnets and interfaces at them, and drops every other rule set (an earlier
// daemon's). Until each pointer moves, the old sets go on enforcing.
func (d *Daemon) rebuildFirewallLocked() error {
	keep := map[uint32]bool{}
	for id, a := range d.acls {
		set, err := d.dp.LoadACL(d.vpcs[a.VpcID].Number, &firewall.NetworkACL{Entries: a.Entries})
		if err != nil {
			return err
		}
		d.aclSets[id] = set
		keep[set] = true
	}
	for _, s := range d.subnets {
		if err := d.dp.SetSubnetACL(s.Number, d.aclSets[s.ACLID]); err != nil {
			return err
		}
	}
	d.repointLocked(func(*state.ENI) bool { return true })
	for _, set := range d.policies {
		keep[set] = true
	}
	d.dp.DeleteRuleSetsExcept(keep)
	return nil
}

// firewallHousekeeping collects expired flows every 10 s (the datapath removes one only when a
// packet of it comes by), and every 2 s while the table or an interface's share of it is full;
// says within 2 s when the table fills up or has room again; and drops unused policies.
func (d *Daemon) firewallHousekeeping(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	wasFull := false
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pressed, err := d.dp.ConntrackPressed()
		if err != nil {
			d.log.Error("reading the conntrack table's counts", "err", err)
		}
		if n%5 == 0 || pressed {
			if _, err := d.dp.CollectConntrack(); err != nil {
				d.log.Error("collecting expired flows", "err", err)
			}
		}
		if n%5 == 0 {
			d.mu.Lock()
			d.prunePoliciesLocked()
			d.mu.Unlock()
		}
		count, err := d.dp.ConntrackCount()
		limit, lerr := d.dp.ConntrackLimit()
		if err = errors.Join(err, lerr); err != nil {
			d.log.Error("reading the conntrack table's count and limit", "err", err)
			continue
		}
		full := count >= int64(limit)
		switch {
		case full && !wasFull:
			d.log.Warn("the conntrack table is full: new flows are dropped (ct-full) until tracked ones end", "flows", count, "limit", limit)
		case !full && wasFull:
			d.log.Info("the conntrack table has room again", "flows", count, "limit", limit)
		}
		wasFull = full
	}
}
