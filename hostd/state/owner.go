package state

import "github.com/hostd/hostd/hostd/api"

// Every record belongs to the account that made it (issue 12). A record written before accounts
// existed has no owner: it is the operator's, api.OperatorAccount, as everything the operator
// makes without naming an account.

func ownerOr(id string) string {
	if id == "" {
		return api.OperatorAccount
	}
	return id
}

// Owner is the account the instance belongs to.
func (r *Instance) Owner() string { return ownerOr(r.OwnerID) }

// Owner is the account the VPC belongs to.
func (v *VPC) Owner() string { return ownerOr(v.OwnerID) }

// Owner is the account the subnet belongs to: its VPC's.
func (s *Subnet) Owner() string { return ownerOr(s.OwnerID) }

// Owner is the account the group and its rules belong to: its VPC's.
func (g *SecurityGroup) Owner() string { return ownerOr(g.OwnerID) }

// Owner is the account the ACL and its entries belong to: its VPC's.
func (a *NetworkACL) Owner() string { return ownerOr(a.OwnerID) }

// Owner is the account the interface belongs to: its instance's.
func (e *ENI) Owner() string { return ownerOr(e.OwnerID) }

// Owner is the account the volume belongs to.
func (v *Volume) Owner() string { return ownerOr(v.OwnerID) }

// Owner is the account the flow log belongs to.
func (f *FlowLog) Owner() string { return ownerOr(f.OwnerID) }
