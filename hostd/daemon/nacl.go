package daemon

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// Network ACLs: their records and the handlers that change them. Every change that reaches the
// datapath goes through applyLocked (rulesets.go).

func (d *Daemon) lookupACLLocked(c api.Caller, id string) (*state.NetworkACL, error) {
	return lookupID(c, d.acls, id, api.NetworkAclID)
}

// CreateNetworkAcl makes an ACL in a VPC; with no entries, it denies everything.
func (d *Daemon) CreateNetworkAcl(c api.Caller, req api.CreateNetworkAclRequest) (api.CreateNetworkAclResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookupVpcLocked(c, req.VpcId)
	if err != nil {
		return api.CreateNetworkAclResponse{}, err
	}
	if err := sameAccount(c, v, v.ID); err != nil {
		return api.CreateNetworkAclResponse{}, err
	}
	acl := &state.NetworkACL{ID: newID("acl-"), VpcID: v.ID, Entries: []firewall.ACLEntry{}, OwnerID: v.OwnerID}
	err = d.applyLocked(firewallChange{
		compile: map[ruleSetKey]func() (uint32, error){{acl: acl.ID}: d.compileACLLocked(v.ID, acl.Entries)},
		record: func() (func() error, error) {
			return saveLocked(d.acls, acl.ID, acl, d.store.PutACL, func() error { return d.store.DeleteACL(acl.ID) })
		},
	})
	if err != nil {
		return api.CreateNetworkAclResponse{}, err
	}
	d.log.Info("network ACL created", "acl", acl.ID, "vpc", v.ID)
	return api.CreateNetworkAclResponse{NetworkAclId: acl.ID}, nil
}

// aclEntry validates an entry as EC2 does and returns it in the model.
func aclEntry(req api.NetworkAclEntry) (firewall.ACLEntry, error) {
	if req.RuleNumber < 1 || req.RuleNumber > api.MaxACLRuleNumber {
		return firewall.ACLEntry{}, api.Errorf(api.CodeInvalidParameterValue, "rule number %d: give 1 to %d", req.RuleNumber, api.MaxACLRuleNumber)
	}
	var allow bool
	switch strings.ToLower(req.RuleAction) {
	case "allow":
		allow = true
	case "deny":
	default:
		return firewall.ACLEntry{}, api.Errorf(api.CodeInvalidParameterValue, "action %q: give allow or deny", req.RuleAction)
	}
	if req.CidrBlock == "" {
		return firewall.ACLEntry{}, api.Errorf(api.CodeMissingParameter, "an ACL entry needs a CIDR: --cidr CIDR")
	}
	perm := firewall.IpPermission{IpProtocol: req.Protocol, IpRanges: []firewall.IpRange{{CidrIp: req.CidrBlock}}}
	if req.PortRange != nil {
		perm.FromPort, perm.ToPort = &req.PortRange.From, &req.PortRange.To
	}
	if req.IcmpTypeCode != nil {
		perm.FromPort, perm.ToPort = &req.IcmpTypeCode.Type, &req.IcmpTypeCode.Code
	}
	rules, err := perm.Rules()
	if err != nil {
		return firewall.ACLEntry{}, api.FirewallError(err)
	}
	return firewall.ACLEntry{Number: req.RuleNumber, Egress: req.Egress, Allow: allow, Rule: rules[0]}, nil
}

// CreateNetworkAclEntry adds a numbered entry to an ACL.
func (d *Daemon) CreateNetworkAclEntry(c api.Caller, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	entry, err := aclEntry(req.NetworkAclEntry)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	acl, err := d.lookupACLLocked(c, req.NetworkAclId)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	count := 0
	for _, e := range acl.Entries {
		if e.Egress != entry.Egress {
			continue
		}
		if e.Number == entry.Number {
			return api.ReturnResponse{}, api.Errorf(api.CodeNetworkAclEntryExists, "%s already has %s rule number %d; delete it first", acl.ID, direction(entry.Egress), entry.Number)
		}
		count++
	}
	if count >= api.MaxACLEntries {
		return api.ReturnResponse{}, api.Errorf(api.CodeNetworkAclEntryLimitExceeded, "a network ACL has at most %d %s entries", api.MaxACLEntries, direction(entry.Egress))
	}
	updated := *acl
	updated.Entries = append(slices.Clone(acl.Entries), entry)
	if err := d.replaceACLLocked(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("network ACL entry added", "acl", acl.ID, "rule", entry.Number, "egress", entry.Egress, "allow", entry.Allow)
	return api.ReturnResponse{Return: true}, nil
}

// DeleteNetworkAclEntry removes a numbered entry.
func (d *Daemon) DeleteNetworkAclEntry(c api.Caller, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	return d.changeACLEntry(c, req.NetworkAclId, req.RuleNumber, req.Egress, "deleted", func(entries []firewall.ACLEntry, i int) []firewall.ACLEntry {
		return slices.Delete(entries, i, i+1)
	})
}

// ReplaceNetworkAclEntry puts entry in the place of the ACL's entry of the same number and
// direction, in one swap of the ACL's rule set: no packet sees both, or neither.
func (d *Daemon) ReplaceNetworkAclEntry(c api.Caller, req api.NetworkAclEntryRequest) (api.ReturnResponse, error) {
	entry, err := aclEntry(req.NetworkAclEntry)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	return d.changeACLEntry(c, req.NetworkAclId, entry.Number, entry.Egress, "replaced", func(entries []firewall.ACLEntry, i int) []firewall.ACLEntry {
		entries[i] = entry
		return entries
	})
}

// changeACLEntry changes the ACL's entry of a number and direction, in one swap of its rule set.
func (d *Daemon) changeACLEntry(c api.Caller, aclID string, number int, egress bool, done string, change func([]firewall.ACLEntry, int) []firewall.ACLEntry) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	acl, err := d.lookupACLLocked(c, aclID)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	i := slices.IndexFunc(acl.Entries, func(e firewall.ACLEntry) bool { return e.Number == number && e.Egress == egress })
	if i < 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeNetworkAclEntryNotFound, "%s has no %s rule number %d", acl.ID, direction(egress), number)
	}
	updated := *acl
	updated.Entries = change(slices.Clone(acl.Entries), i)
	if err := d.replaceACLLocked(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("network ACL entry "+done, "acl", acl.ID, "rule", number, "egress", egress)
	return api.ReturnResponse{Return: true}, nil
}

// DeleteNetworkAcl removes an ACL no subnet is under; a VPC's default ACL goes with its VPC.
func (d *Daemon) DeleteNetworkAcl(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	acl, err := d.lookupACLLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if acl.Default {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "cannot delete default network ACL %s: it goes with its VPC", id)
	}
	for _, s := range d.subnets {
		if s.ACLID == id {
			return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "The networkAcl '%s' has dependencies and cannot be deleted: subnet %s is under it; associate the subnet with another ACL first", id, s.ID)
		}
	}
	if err := d.store.DeleteACL(id); err != nil {
		return api.ReturnResponse{}, err
	}
	delete(d.acls, id)
	d.dp.RetireRuleSet(d.rules.acls[id])
	d.rules.set(ruleSetKey{acl: id}, 0)
	d.log.Info("network ACL deleted", "acl", id)
	return api.ReturnResponse{Return: true}, nil
}

// replaceACLLocked compiles updated, records it, and points its subnets at the new rule set.
func (d *Daemon) replaceACLLocked(updated *state.NetworkACL) error {
	return d.applyLocked(firewallChange{
		compile: map[ruleSetKey]func() (uint32, error){{acl: updated.ID}: d.compileACLLocked(updated.VpcID, updated.Entries)},
		record: func() (func() error, error) {
			return saveLocked(d.acls, updated.ID, updated, d.store.PutACL, nil)
		},
	})
}

// AssociateNetworkAcl puts a subnet under an ACL of its VPC.
func (d *Daemon) AssociateNetworkAcl(c api.Caller, req api.AssociateNetworkAclRequest) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	acl, err := d.lookupACLLocked(c, req.NetworkAclId)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	s, err := d.lookupSubnetLocked(c, req.SubnetId)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if s.VpcID != acl.VpcID {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "network ACL %s is in vpc %s, subnet %s in vpc %s", acl.ID, acl.VpcID, s.ID, s.VpcID)
	}
	updated := *s
	updated.ACLID = acl.ID
	err = d.applyLocked(firewallChange{
		record: func() (func() error, error) {
			return saveLocked(d.subnets, s.ID, &updated, d.store.PutSubnet, nil)
		},
		subnet: func(x *state.Subnet) bool { return x.ID == s.ID },
	})
	if err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("network ACL associated", "acl", acl.ID, "subnet", s.ID)
	return api.ReturnResponse{Return: true}, nil
}

// DescribeNetworkAcls lists the given ACLs, or all the caller sees, in EC2's shape.
func (d *Daemon) DescribeNetworkAcls(c api.Caller, ids []string) (api.DescribeNetworkAclsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	acls, err := pick(c, d.acls, ids, d.lookupACLLocked)
	out := api.DescribeNetworkAclsResponse{NetworkAcls: []api.NetworkAcl{}}
	for _, a := range acls {
		desc := api.NetworkAcl{NetworkAclId: a.ID, VpcId: a.VpcID, OwnerId: a.Owner(), IsDefault: a.Default, Entries: []api.NetworkAclEntry{}, Associations: []api.NetworkAclAssociation{}}
		entries := slices.Clone(a.Entries)
		slices.SortStableFunc(entries, func(x, y firewall.ACLEntry) int { return cmp.Compare(x.Number, y.Number) })
		for _, e := range entries {
			desc.Entries = append(desc.Entries, describeACLEntry(e))
		}
		// EC2 shows the implicit deny as rule 32767 ("*") in each direction.
		for _, egress := range []bool{false, true} {
			desc.Entries = append(desc.Entries, api.NetworkAclEntry{RuleNumber: 32767, Protocol: "-1", RuleAction: "deny", Egress: egress, CidrBlock: "0.0.0.0/0"})
		}
		for _, s := range d.subnets {
			if s.ACLID == a.ID {
				desc.Associations = append(desc.Associations, api.NetworkAclAssociation{NetworkAclId: a.ID, SubnetId: s.ID})
			}
		}
		slices.SortFunc(desc.Associations, func(x, y api.NetworkAclAssociation) int { return cmp.Compare(x.SubnetId, y.SubnetId) })
		out.NetworkAcls = append(out.NetworkAcls, desc)
	}
	return out, err
}
