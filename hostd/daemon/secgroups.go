package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// Security groups: their records and the handlers that change them. Every change that reaches
// the datapath goes through applyLocked (rulesets.go).

func (d *Daemon) lookupGroupLocked(c api.Caller, id string) (*state.SecurityGroup, error) {
	return lookupID(c, d.groups, id, api.GroupID)
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
	g.OwnerID = v.OwnerID
	g.Number = d.nextGroupNumberLocked()
	acl := &state.NetworkACL{ID: newID("acl-"), VpcID: v.ID, Default: true, Entries: firewall.DefaultACL().Entries, OwnerID: v.OwnerID}
	err := d.applyLocked(firewallChange{
		// The VPC is not in the records yet: its number comes from v.
		compile: map[ruleSetKey]func() (uint32, error){{acl: acl.ID}: func() (uint32, error) {
			return d.dp.LoadACL(v.Number, &firewall.NetworkACL{Entries: acl.Entries})
		}},
		record: func() (func() error, error) {
			undoGroup, err := saveLocked(d.groups, g.ID, g, d.store.PutGroup, func() error { return d.store.DeleteGroup(g.ID) })
			if err != nil {
				return nil, err
			}
			undoACL, err := saveLocked(d.acls, acl.ID, acl, d.store.PutACL, func() error { return d.store.DeleteACL(acl.ID) })
			if err != nil {
				return nil, errors.Join(err, undoGroup())
			}
			return func() error { return errors.Join(undoACL(), undoGroup()) }, nil
		},
	})
	if err != nil {
		return err
	}
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
			d.dp.RetireRuleSet(d.rules.acls[id])
			d.rules.set(ruleSetKey{acl: id}, 0)
			delete(d.acls, id)
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
func (d *Daemon) CreateSecurityGroup(c api.Caller, req api.CreateSecurityGroupRequest) (api.CreateSecurityGroupResponse, error) {
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
	v, err := d.lookupVpcLocked(c, req.VpcId)
	if err != nil {
		return api.CreateSecurityGroupResponse{}, err
	}
	if err := sameAccount(c, v, v.ID); err != nil {
		return api.CreateSecurityGroupResponse{}, err
	}
	for _, g := range d.groups {
		if g.VpcID == v.ID && g.Name == req.GroupName {
			return api.CreateSecurityGroupResponse{}, api.Errorf(api.CodeInvalidGroupDuplicate, "the security group '%s' already exists in vpc %s: %s", req.GroupName, v.ID, g.ID)
		}
	}
	g := newGroup(v.ID, req.GroupName, req.Description, false)
	g.OwnerID = v.OwnerID
	g.Number = d.nextGroupNumberLocked()
	if err := d.store.PutGroup(g); err != nil {
		return api.CreateSecurityGroupResponse{}, err
	}
	d.groups[g.ID] = g
	d.log.Info("security group created", "group", g.ID, "vpc", v.ID, "name", g.Name)
	return api.CreateSecurityGroupResponse{GroupId: g.ID}, nil
}

// DescribeSecurityGroups lists the given groups, or all the caller sees, in EC2's shape.
func (d *Daemon) DescribeSecurityGroups(c api.Caller, ids []string) (api.DescribeSecurityGroupsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	groups, err := pick(c, d.groups, ids, d.lookupGroupLocked)
	out := api.DescribeSecurityGroupsResponse{SecurityGroups: []api.SecurityGroup{}}
	for _, g := range groups {
		out.SecurityGroups = append(out.SecurityGroups, api.SecurityGroup{
			GroupId: g.ID, GroupName: g.Name, Description: g.Description, VpcId: g.VpcID, OwnerId: g.Owner(),
			IpPermissions: permissions(g.Ingress), IpPermissionsEgress: permissions(g.Egress),
		})
	}
	return out, err
}

// DeleteSecurityGroup removes a group no interface is in and no other group's rule names.
func (d *Daemon) DeleteSecurityGroup(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, err := d.lookupGroupLocked(c, id)
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
func (d *Daemon) parseRulesLocked(c api.Caller, g *state.SecurityGroup, perms []firewall.IpPermission) ([]firewall.Rule, error) {
	rules, err := firewall.RulesOf(perms)
	if err != nil {
		return nil, api.FirewallError(err)
	}
	for _, r := range rules {
		if r.Group == "" {
			continue
		}
		peer, err := d.lookupGroupLocked(c, r.Group)
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

func (d *Daemon) prepareRuleChangeLocked(c api.Caller, req api.SecurityGroupRulesRequest) (ruleChange, error) {
	g, err := d.lookupGroupLocked(c, req.GroupId)
	if err != nil {
		return ruleChange{}, err
	}
	var rules []firewall.Rule
	if len(req.IpPermissions) > 0 || len(req.SecurityGroupRuleIds) == 0 {
		if rules, err = d.parseRulesLocked(c, g, req.IpPermissions); err != nil {
			return ruleChange{}, err
		}
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
func (d *Daemon) AuthorizeSecurityGroup(c api.Caller, req api.SecurityGroupRulesRequest) (api.AuthorizeSecurityGroupResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rc, err := d.prepareRuleChangeLocked(c, req)
	if err != nil {
		return api.AuthorizeSecurityGroupResponse{}, err
	}
	g, list, rules := rc.group, rc.list, rc.rules
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
	if err := d.replaceGroupLocked(rc.updated); err != nil {
		return api.AuthorizeSecurityGroupResponse{}, err
	}
	d.log.Info("security group rules authorized", "group", g.ID, "egress", req.Egress, "rules", len(rules))
	return out, nil
}

// RevokeSecurityGroup removes rules from a group. Flows they allowed and that are tracked go on.
func (d *Daemon) RevokeSecurityGroup(c api.Caller, req api.SecurityGroupRulesRequest) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rc, err := d.prepareRuleChangeLocked(c, req)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	g, list, rules := rc.group, rc.list, rc.rules
	for _, r := range rules {
		i := slices.IndexFunc(*list, func(s state.StoredRule) bool { return sameRule(s.Rule, r) })
		if i < 0 {
			return api.ReturnResponse{}, api.Errorf(api.CodePermissionNotFound, "%s has no %s rule %s", g.ID, direction(req.Egress), describeRule(r))
		}
		*list = slices.Delete(*list, i, i+1)
	}
	for _, id := range req.SecurityGroupRuleIds {
		i := slices.IndexFunc(*list, func(s state.StoredRule) bool { return s.ID == id })
		if i < 0 {
			return api.ReturnResponse{}, api.Errorf(CodeSecurityGroupRuleNotFound, "%s has no %s rule %s", g.ID, direction(req.Egress), id)
		}
		*list = slices.Delete(*list, i, i+1)
	}
	if len(rules) == 0 && len(req.SecurityGroupRuleIds) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name the rules to revoke: IpPermissions or SecurityGroupRuleIds")
	}
	if err := d.replaceGroupLocked(rc.updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("security group rules revoked", "group", g.ID, "egress", req.Egress, "rules", len(rules))
	return api.ReturnResponse{Return: true}, nil
}

// ModifySecurityGroupRules replaces rules of a group in place, each found by its id in either
// direction and keeping it, and returns once the datapath enforces them. One refused rule
// refuses them all: nothing is recorded and the datapath is left as it was.
func (d *Daemon) ModifySecurityGroupRules(c api.Caller, req api.ModifySecurityGroupRulesRequest) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, err := d.lookupGroupLocked(c, req.GroupId)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if len(req.SecurityGroupRules) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name the rules to modify: a rule id and the rule it becomes")
	}
	updated := *g
	updated.Ingress, updated.Egress = slices.Clone(g.Ingress), slices.Clone(g.Egress)
	var modified []string
	for _, u := range req.SecurityGroupRules {
		if slices.Contains(modified, u.SecurityGroupRuleId) {
			return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "the rule %s is given twice; give each rule once", u.SecurityGroupRuleId)
		}
		modified = append(modified, u.SecurityGroupRuleId)
		rules, err := d.parseRulesLocked(c, g, []firewall.IpPermission{u.IpPermission})
		if err != nil {
			return api.ReturnResponse{}, err
		}
		if len(rules) != 1 {
			return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "the rule %s becomes one rule: give one CIDR or one group, not %d", u.SecurityGroupRuleId, len(rules))
		}
		stored := ruleByID(updated.Ingress, u.SecurityGroupRuleId)
		if stored == nil {
			stored = ruleByID(updated.Egress, u.SecurityGroupRuleId)
		}
		if stored == nil {
			return api.ReturnResponse{}, api.Errorf(CodeSecurityGroupRuleNotFound, "%s has no rule %s", g.ID, u.SecurityGroupRuleId)
		}
		stored.Rule = rules[0]
	}
	for _, egress := range []bool{false, true} {
		list := updated.Ingress
		if egress {
			list = updated.Egress
		}
		for i, r := range list {
			if slices.ContainsFunc(list[:i], func(s state.StoredRule) bool { return sameRule(s.Rule, r.Rule) }) {
				return api.ReturnResponse{}, api.Errorf(api.CodePermissionDuplicate, "the %s rule %s already exists in %s", direction(egress), describeRule(r.Rule), g.ID)
			}
		}
	}
	if err := d.replaceGroupLocked(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("security group rules modified", "group", g.ID, "rules", modified)
	return api.ReturnResponse{Return: true}, nil
}

// ruleByID is the rule of list with the id, or nil.
func ruleByID(list []state.StoredRule, id string) *state.StoredRule {
	if i := slices.IndexFunc(list, func(s state.StoredRule) bool { return s.ID == id }); i >= 0 {
		return &list[i]
	}
	return nil
}

// CodeSecurityGroupRuleNotFound is EC2's answer to a rule id a group does not have.
const CodeSecurityGroupRuleNotFound = "InvalidSecurityGroupRuleId.NotFound"

// DescribeSecurityGroupRules lists the rules of the given groups, or of all, with their ids.
func (d *Daemon) DescribeSecurityGroupRules(c api.Caller, groupIDs []string) (api.DescribeSecurityGroupRulesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := api.DescribeSecurityGroupRulesResponse{SecurityGroupRules: []api.SecurityGroupRule{}}
	groups, err := pick(c, d.groups, groupIDs, d.lookupGroupLocked)
	if err != nil {
		return out, err
	}
	for _, g := range groups {
		for _, r := range g.Ingress {
			out.SecurityGroupRules = append(out.SecurityGroupRules, ruleResult(g.ID, false, r))
		}
		for _, r := range g.Egress {
			out.SecurityGroupRules = append(out.SecurityGroupRules, ruleResult(g.ID, true, r))
		}
	}
	return out, nil
}

// replaceGroupLocked makes updated the group's rules: new policies for every combination of
// groups that includes it, the record, then the interfaces repointed.
func (d *Daemon) replaceGroupLocked(updated *state.SecurityGroup) error {
	compile := map[ruleSetKey]func() (uint32, error){}
	for key := range d.rules.policies {
		if slices.Contains(key.ids(), updated.ID) {
			compile[ruleSetKey{groups: key}] = d.compilePolicyLocked(key, updated)
		}
	}
	return d.applyLocked(firewallChange{
		compile: compile,
		record: func() (func() error, error) {
			return saveLocked(d.groups, updated.ID, updated, d.store.PutGroup, nil)
		},
	})
}

// resolveGroupsLocked checks the groups asked for an interface in a subnet: 1 to 5 groups of its
// VPC, its default group when none is named.
func (d *Daemon) resolveGroupsLocked(c api.Caller, vpcID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return []string{d.vpcs[vpcID].DefaultGroupID}, nil
	}
	var out []string
	for _, id := range ids {
		g, err := d.lookupGroupLocked(c, id)
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
func (d *Daemon) SetGroups(c api.Caller, id string, req api.SetGroupsRequest) (api.ReturnResponse, error) {
	if len(req.Groups) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name at least one group: --sg ID")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.lookupLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	e, ok := d.enis[id]
	if !ok || in.rec.Phase == state.Terminated {
		return api.ReturnResponse{}, api.Errorf(api.CodeIncorrectInstanceState, "instance %s has no network interface", id)
	}
	groups, err := d.resolveGroupsLocked(c, e.VpcID, req.Groups)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	updated := *e
	updated.Groups = groups
	if err := d.changeENILocked(&updated, d.policyCompileLocked(groups)); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("security groups set", "instance", id, "groups", groups)
	return api.ReturnResponse{Return: true}, nil
}

// policyCompileLocked is what compiling the policy of groups takes: nothing if it is there.
func (d *Daemon) policyCompileLocked(groups []string) map[ruleSetKey]func() (uint32, error) {
	key := ruleSetKey{groups: groupSetOf(groups)}
	if _, ok := d.rules.handle(key); ok {
		return nil
	}
	return map[ruleSetKey]func() (uint32, error){key: d.compilePolicyLocked(key.groups, nil)}
}

// changeENILocked makes updated the record of an interface and its datapath entry, compiling what
// it needs first.
func (d *Daemon) changeENILocked(updated *state.ENI, compile map[ruleSetKey]func() (uint32, error)) error {
	return d.applyLocked(firewallChange{
		compile: compile,
		record: func() (func() error, error) {
			return saveLocked(d.enis, updated.InstanceID, updated, d.store.PutENI, nil)
		},
		iface: func(e *state.ENI) bool { return e.InstanceID == updated.InstanceID },
	})
}
