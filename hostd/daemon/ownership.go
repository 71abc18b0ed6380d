package daemon

import (
	"slices"

	"github.com/hostd/hostd/hostd/api"
)

// Ownership: every record belongs to one account (its Owner), and every core operation acts for a
// caller (api.Caller). A caller finds only what it Sees: another account's id answers exactly as
// an id that does not exist, in describe, in every verb and in every reference, so that no
// tenant can learn which ids another has.

// owned is a record that belongs to an account.
type owned interface{ Owner() string }

// Owner is the account the instance belongs to.
func (in *instance) Owner() string { return in.rec.Owner() }

// lookupID finds id in m for c, with EC2's error for a malformed id, and the same NotFound for
// an id that does not exist and one of an account c does not see.
func lookupID[T owned](c api.Caller, m map[string]T, id string, k api.IDKind) (T, error) {
	var none T
	if err := k.Check(id); err != nil {
		return none, err
	}
	v, ok := m[id]
	if !ok || !c.Sees(v.Owner()) {
		return none, k.NotFoundError(id)
	}
	return v, nil
}

// pick returns the records named by ids (all that c sees, by id, when ids is empty); an
// unknown, unseen or malformed id fails the whole call, as in EC2.
func pick[T owned](c api.Caller, all map[string]T, ids []string, lookup func(api.Caller, string) (T, error)) ([]T, error) {
	if len(ids) == 0 {
		keys := make([]string, 0, len(all))
		for k, v := range all {
			if c.Sees(v.Owner()) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		out := make([]T, len(keys))
		for i, k := range keys {
			out[i] = all[k]
		}
		return out, nil
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, err := lookup(c, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// sameAccount refuses to tie a new resource of c's account to a resource of another: a subnet
// into another account's VPC, an instance into its subnet, a volume onto its instance. Only the
// operator can get this far with another account's resource (everyone else got NotFound); it
// says which account to act for.
func sameAccount(c api.Caller, r owned, id string) error {
	if r.Owner() == c.AccountID {
		return nil
	}
	return api.Errorf(api.CodeInvalidParameterValue, "%s belongs to account %s, and this call acts for account %s; pass --account %s to act for its account", id, r.Owner(), c.AccountID, r.Owner())
}
