package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/iam"
	"github.com/hostd/hostd/hostd/keyfile"
	"github.com/hostd/hostd/hostd/sigv4"
	"github.com/hostd/hostd/hostd/state"
)

// Accounts, their IAM users, the users' policies and access keys: kept in the state file, and in
// memory for the verifier and the authorizer, which consult them on every signed call. Secrets
// are stored sealed under the master key (account.Sealer) and shown once, by CreateAccessKey.
// These operations are the operator's alone: they are answered on the unix socket only.

// Quotas of an account made without its own.
const (
	DefaultMaxInstances = 20
	DefaultMaxRAMBytes  = 256 << 20
	DefaultMaxDiskBytes = 4 << 30
	// MaxKeysPerUser is IAM's: two, so that a key can be rotated without a moment with none.
	MaxKeysPerUser = 2
	// maxPoliciesPerUser bounds the inline policies of a user (IAM bounds their total size).
	maxPoliciesPerUser = 10
)

var (
	policyNamePattern  = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	accountNamePattern = regexp.MustCompile(`^[\w+=,.@ -]{1,64}$`)
)

// tenants is the daemon's registry of accounts, users and keys.
type tenants struct {
	mu       sync.RWMutex
	sealer   *account.Sealer
	accounts map[string]*state.Account
	users    map[string]*tenantUser // by state.User.Key
	keys     map[string]*state.AccessKey
}

// tenantUser is a user and its policies, parsed once for every call that evaluates them.
type tenantUser struct {
	rec      *state.User
	policies []*iam.Policy
}

// MasterKeyFile is where the key that seals access-key secrets is kept (mode 0600).
func MasterKeyFile(stateDir string) string { return filepath.Join(stateDir, "keys", "master.key") }

// openTenants loads the registry and the master key (made on first start).
func (d *Daemon) openTenants() error {
	key, err := keyfile.LoadOrCreate(MasterKeyFile(d.cfg.StateDir))
	if err != nil {
		return fmt.Errorf("the master key: %w", err)
	}
	sealer, err := account.NewSealer(key)
	if err != nil {
		return err
	}
	t := &tenants{sealer: sealer, accounts: map[string]*state.Account{}, users: map[string]*tenantUser{}, keys: map[string]*state.AccessKey{}}
	accounts, err := d.store.Accounts()
	if err != nil {
		return err
	}
	for _, a := range accounts {
		t.accounts[a.ID] = a
	}
	users, err := d.store.Users()
	if err != nil {
		return err
	}
	for _, u := range users {
		entry := &tenantUser{rec: u}
		for _, name := range slices.Sorted(maps.Keys(u.Policies)) {
			p, err := iam.Parse(name, []byte(u.Policies[name]))
			if err != nil {
				// Stored only after it parsed: a policy that no longer does is refused, never ignored.
				return fmt.Errorf("the stored policy %s of user %s: %w", name, u.Key(), err)
			}
			entry.policies = append(entry.policies, p)
		}
		t.users[u.Key()] = entry
	}
	keys, err := d.store.AccessKeys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		t.keys[k.ID] = k
	}
	d.tenants = t
	return nil
}

// operatorOnly refuses a tenant's call to an operation of the operator's.
func operatorOnly(c api.Caller) error {
	if c.Operator {
		return nil
	}
	return api.Errorf(api.CodeUnauthorizedOperation, "accounts, users and access keys are managed by the operator only, on the daemon's unix socket")
}

// accountExists tells whether id is an account the operator may act for.
func (d *Daemon) accountExists(id string) bool {
	if id == api.OperatorAccount {
		return true
	}
	d.tenants.mu.RLock()
	defer d.tenants.mu.RUnlock()
	_, ok := d.tenants.accounts[id]
	return ok
}

// CreateAccount makes an account with a new id and its quotas.
func (d *Daemon) CreateAccount(c api.Caller, req api.CreateAccountRequest) (api.Account, error) {
	if err := operatorOnly(c); err != nil {
		return api.Account{}, err
	}
	switch {
	case !accountNamePattern.MatchString(req.AccountName):
		return api.Account{}, api.Errorf(api.CodeInvalidParameterValue, "an account needs a name of 1 to 64 letters, digits, spaces or +=,.@_-: --name NAME")
	case req.MaxInstances < 0 || req.MaxRamBytes < 0 || req.MaxDiskBytes < 0:
		return api.Account{}, api.Errorf(api.CodeInvalidParameterValue, "quotas are positive (or left out for the defaults)")
	}
	a := &state.Account{Name: req.AccountName, CreatedAt: time.Now().UTC(),
		MaxInstances: cmp.Or(req.MaxInstances, DefaultMaxInstances), MaxRAMBytes: cmp.Or(req.MaxRamBytes, DefaultMaxRAMBytes), MaxDiskBytes: cmp.Or(req.MaxDiskBytes, DefaultMaxDiskBytes)}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	for a.ID == "" || a.ID == api.OperatorAccount || t.accounts[a.ID] != nil {
		a.ID = account.NewAccountID()
	}
	for _, other := range t.accounts {
		if other.Name == a.Name {
			return api.Account{}, api.Errorf(api.CodeEntityAlreadyExists, "account %s is already named %q", other.ID, a.Name)
		}
	}
	if err := d.store.PutAccount(a); err != nil {
		return api.Account{}, err
	}
	t.accounts[a.ID] = a
	d.log.Info("account created", "account", a.ID, "name", a.Name)
	return d.describeAccount(a), nil
}

func (d *Daemon) describeAccount(a *state.Account) api.Account {
	u := d.usage(a.ID)
	return api.Account{AccountId: a.ID, AccountName: a.Name, CreateDate: a.CreatedAt,
		MaxInstances: a.MaxInstances, MaxRamBytes: a.MaxRAMBytes, MaxDiskBytes: a.MaxDiskBytes,
		Instances: u.instances, RamBytes: u.ramBytes, DiskBytes: u.diskBytes}
}

// DescribeAccounts lists the given accounts, or all.
func (d *Daemon) DescribeAccounts(c api.Caller, ids []string) (api.DescribeAccountsResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.DescribeAccountsResponse{}, err
	}
	t := d.tenants
	t.mu.RLock()
	var list []*state.Account
	var err error
	if len(ids) == 0 {
		for _, a := range t.accounts {
			list = append(list, a)
		}
		slices.SortFunc(list, func(x, y *state.Account) int { return x.CreatedAt.Compare(y.CreatedAt) })
	}
	for _, id := range ids {
		a, ok := t.accounts[id]
		if !ok {
			err = accountNotFound(id)
			break
		}
		list = append(list, a)
	}
	t.mu.RUnlock()
	if err != nil {
		return api.DescribeAccountsResponse{}, err
	}
	out := api.DescribeAccountsResponse{Accounts: []api.Account{}}
	for _, a := range list {
		out.Accounts = append(out.Accounts, d.describeAccount(a))
	}
	return out, nil
}

func accountNotFound(id string) error {
	return api.Errorf(api.CodeInvalidAccountNotFound, "the account '%s' does not exist", id)
}

// DeleteAccount removes an account that owns nothing any more, with its users and keys.
func (d *Daemon) DeleteAccount(c api.Caller, id string) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.accounts[id]; !ok {
		return api.ReturnResponse{}, accountNotFound(id)
	}
	if what := d.ownedBy(id); what != "" {
		return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "account %s still owns %s; terminate and delete its resources first", id, what)
	}
	var users []*state.User
	var keys []*state.AccessKey
	for _, u := range t.users {
		if u.rec.AccountID == id {
			users = append(users, u.rec)
		}
	}
	for _, k := range t.keys {
		if k.AccountID == id {
			keys = append(keys, k)
		}
	}
	if err := d.store.DeleteAccount(id, users, keys); err != nil {
		return api.ReturnResponse{}, err
	}
	for _, u := range users {
		delete(t.users, u.Key())
	}
	for _, k := range keys {
		delete(t.keys, k.ID)
	}
	delete(t.accounts, id)
	d.log.Info("account deleted", "account", id, "users", len(users), "access_keys", len(keys))
	return api.ReturnResponse{Return: true}, nil
}

// ownedBy names a resource the account owns, or is "": what keeps it from being deleted.
func (d *Daemon) ownedBy(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range d.instances {
		if in.Owner() == id && in.rec.Phase != state.Terminated {
			return "instance " + in.rec.ID
		}
	}
	for _, v := range d.volumes {
		if v.Owner() == id {
			return "volume " + v.ID
		}
	}
	for _, v := range d.vpcs {
		if v.Owner() == id {
			return "vpc " + v.ID
		}
	}
	return ""
}

// userLocked finds a user of an account; IAM's NoSuchEntity otherwise.
func (t *tenants) userLocked(accountID, name string) (*tenantUser, error) {
	if _, ok := t.accounts[accountID]; !ok {
		return nil, accountNotFound(accountID)
	}
	u, ok := t.users[accountID+"/"+name]
	if !ok {
		return nil, api.Errorf(api.CodeNoSuchEntity, "the user with name %s cannot be found in account %s", name, accountID)
	}
	return u, nil
}

// CreateUser makes an IAM user in an account. It can do nothing until it has a policy.
func (d *Daemon) CreateUser(c api.Caller, req api.UserRequest) (api.User, error) {
	if err := operatorOnly(c); err != nil {
		return api.User{}, err
	}
	if !account.ValidUserName(req.UserName) {
		return api.User{}, api.Errorf(api.CodeInvalidParameterValue, "user name %q: give 1 to 64 letters, digits or +=,.@_-", req.UserName)
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.accounts[req.AccountId]; !ok {
		return api.User{}, accountNotFound(req.AccountId)
	}
	u := &state.User{AccountID: req.AccountId, Name: req.UserName, CreatedAt: time.Now().UTC()}
	if _, ok := t.users[u.Key()]; ok {
		return api.User{}, api.Errorf(api.CodeEntityAlreadyExists, "user with name %s already exists in account %s", u.Name, u.AccountID)
	}
	if err := d.store.PutUser(u); err != nil {
		return api.User{}, err
	}
	t.users[u.Key()] = &tenantUser{rec: u}
	d.log.Info("user created", "account", u.AccountID, "user", u.Name)
	return t.describeUserLocked(u), nil
}

func (t *tenants) describeUserLocked(u *state.User) api.User {
	out := api.User{AccountId: u.AccountID, UserName: u.Name, CreateDate: u.CreatedAt,
		Arn:         account.Identity{AccountID: u.AccountID, UserName: u.Name}.ARN(),
		PolicyNames: slices.Sorted(maps.Keys(u.Policies)), AccessKeys: []string{}}
	if out.PolicyNames == nil {
		out.PolicyNames = []string{}
	}
	for _, k := range t.keys {
		if k.AccountID == u.AccountID && k.UserName == u.Name {
			out.AccessKeys = append(out.AccessKeys, k.ID)
		}
	}
	slices.Sort(out.AccessKeys)
	return out
}

// DescribeUsers lists the users of an account (of every account if none is named), or the one
// named.
func (d *Daemon) DescribeUsers(c api.Caller, req api.UserRequest) (api.DescribeUsersResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.DescribeUsersResponse{}, err
	}
	t := d.tenants
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := api.DescribeUsersResponse{Users: []api.User{}}
	if req.UserName != "" {
		u, err := t.userLocked(req.AccountId, req.UserName)
		if err != nil {
			return api.DescribeUsersResponse{}, err
		}
		out.Users = append(out.Users, t.describeUserLocked(u.rec))
		return out, nil
	}
	if _, ok := t.accounts[req.AccountId]; req.AccountId != "" && !ok {
		return api.DescribeUsersResponse{}, accountNotFound(req.AccountId)
	}
	for _, u := range t.users {
		if req.AccountId == "" || u.rec.AccountID == req.AccountId {
			out.Users = append(out.Users, t.describeUserLocked(u.rec))
		}
	}
	slices.SortFunc(out.Users, func(x, y api.User) int {
		return strings.Compare(x.AccountId+"/"+x.UserName, y.AccountId+"/"+y.UserName)
	})
	return out, nil
}

// DeleteUser removes a user that has no access keys and no policies left, as IAM does.
func (d *Daemon) DeleteUser(c api.Caller, req api.UserRequest) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.userLocked(req.AccountId, req.UserName)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if desc := t.describeUserLocked(u.rec); len(desc.AccessKeys) > 0 || len(desc.PolicyNames) > 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeDeleteConflict, "cannot delete user %s: delete its access keys %v and policies %v first", u.rec.Name, desc.AccessKeys, desc.PolicyNames)
	}
	if err := d.store.DeleteUser(u.rec); err != nil {
		return api.ReturnResponse{}, err
	}
	delete(t.users, u.rec.Key())
	d.log.Info("user deleted", "account", u.rec.AccountID, "user", u.rec.Name)
	return api.ReturnResponse{Return: true}, nil
}

// PutUserPolicy adds or replaces a user's inline policy. The document must pass IAM's strict
// parser: what hostd cannot enforce (conditions, say) is refused, never ignored.
func (d *Daemon) PutUserPolicy(c api.Caller, req api.UserPolicyRequest) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	if !policyNamePattern.MatchString(req.PolicyName) {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "policy name %q: give 1 to 128 letters, digits or +=,.@_-", req.PolicyName)
	}
	p, err := iam.Parse(req.PolicyName, []byte(req.PolicyDocument))
	if err != nil {
		return api.ReturnResponse{}, err
	}
	return d.changePolicies(req, func(u *state.User, parsed []*iam.Policy) ([]*iam.Policy, error) {
		if _, ok := u.Policies[req.PolicyName]; !ok && len(u.Policies) >= maxPoliciesPerUser {
			return nil, api.Errorf(api.CodeLimitExceeded, "a user has at most %d policies", maxPoliciesPerUser)
		}
		u.Policies[req.PolicyName] = req.PolicyDocument
		parsed = slices.DeleteFunc(parsed, func(x *iam.Policy) bool { return x.Name == req.PolicyName })
		return append(parsed, p), nil
	})
}

// DeleteUserPolicy removes a user's inline policy.
func (d *Daemon) DeleteUserPolicy(c api.Caller, req api.UserPolicyRequest) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	return d.changePolicies(req, func(u *state.User, parsed []*iam.Policy) ([]*iam.Policy, error) {
		if _, ok := u.Policies[req.PolicyName]; !ok {
			return nil, api.Errorf(api.CodeNoSuchEntity, "user %s has no policy named %s", u.Name, req.PolicyName)
		}
		delete(u.Policies, req.PolicyName)
		return slices.DeleteFunc(parsed, func(x *iam.Policy) bool { return x.Name == req.PolicyName }), nil
	})
}

// changePolicies applies change to a copy of the user's policies, records it, then takes it.
func (d *Daemon) changePolicies(req api.UserPolicyRequest, change func(*state.User, []*iam.Policy) ([]*iam.Policy, error)) (api.ReturnResponse, error) {
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.userLocked(req.AccountId, req.UserName)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	updated := *u.rec
	updated.Policies = map[string]string{}
	for k, v := range u.rec.Policies {
		updated.Policies[k] = v
	}
	policies, err := change(&updated, slices.Clone(u.policies))
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if err := d.store.PutUser(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	t.users[updated.Key()] = &tenantUser{rec: &updated, policies: policies}
	d.log.Info("user policies changed", "account", updated.AccountID, "user", updated.Name, "policies", slices.Sorted(maps.Keys(updated.Policies)))
	return api.ReturnResponse{Return: true}, nil
}

// CreateAccessKey makes a key for a user (at most two), Active. Its secret is in the answer and
// nowhere else: the store keeps it sealed, and neither the log nor the audit trail sees it.
func (d *Daemon) CreateAccessKey(c api.Caller, req api.UserRequest) (api.AccessKey, error) {
	if err := operatorOnly(c); err != nil {
		return api.AccessKey{}, err
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.userLocked(req.AccountId, req.UserName)
	if err != nil {
		return api.AccessKey{}, err
	}
	if n := len(t.describeUserLocked(u.rec).AccessKeys); n >= MaxKeysPerUser {
		return api.AccessKey{}, api.Errorf(api.CodeLimitExceeded, "user %s already has %d access keys, the most a user may have; delete one first", u.rec.Name, n)
	}
	id, secret := account.NewAccessKey()
	for t.keys[id] != nil {
		id, secret = account.NewAccessKey()
	}
	k := &state.AccessKey{ID: id, AccountID: u.rec.AccountID, UserName: u.rec.Name, Sealed: t.sealer.Seal(id, []byte(secret)), Active: true, CreatedAt: time.Now().UTC()}
	if err := d.store.PutAccessKey(k); err != nil {
		return api.AccessKey{}, err
	}
	t.keys[id] = k
	d.log.Info("access key created", "account", k.AccountID, "user", k.UserName, "access_key", k.ID)
	out := describeKey(k)
	out.SecretAccessKey = secret
	return out, nil
}

func describeKey(k *state.AccessKey) api.AccessKey {
	status := api.StatusActive
	if !k.Active {
		status = api.StatusInactive
	}
	return api.AccessKey{AccountId: k.AccountID, UserName: k.UserName, AccessKeyId: k.ID, Status: status, CreateDate: k.CreatedAt}
}

// DescribeAccessKeys lists keys (never their secrets): a user's, an account's, or all.
func (d *Daemon) DescribeAccessKeys(c api.Caller, req api.UserRequest) (api.DescribeAccessKeysResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.DescribeAccessKeysResponse{}, err
	}
	t := d.tenants
	t.mu.RLock()
	defer t.mu.RUnlock()
	if req.UserName != "" {
		if _, err := t.userLocked(req.AccountId, req.UserName); err != nil {
			return api.DescribeAccessKeysResponse{}, err
		}
	} else if _, ok := t.accounts[req.AccountId]; req.AccountId != "" && !ok {
		return api.DescribeAccessKeysResponse{}, accountNotFound(req.AccountId)
	}
	out := api.DescribeAccessKeysResponse{AccessKeyMetadata: []api.AccessKey{}}
	for _, k := range t.keys {
		if (req.AccountId == "" || k.AccountID == req.AccountId) && (req.UserName == "" || k.UserName == req.UserName) {
			out.AccessKeyMetadata = append(out.AccessKeyMetadata, describeKey(k))
		}
	}
	slices.SortFunc(out.AccessKeyMetadata, func(x, y api.AccessKey) int { return x.CreateDate.Compare(y.CreateDate) })
	return out, nil
}

func (t *tenants) keyLocked(id string) (*state.AccessKey, error) {
	k, ok := t.keys[id]
	if !ok {
		return nil, api.Errorf(api.CodeNoSuchEntity, "the access key with id %s cannot be found", id)
	}
	return k, nil
}

// UpdateAccessKey sets a key Active or Inactive; an inactive key's requests are refused.
func (d *Daemon) UpdateAccessKey(c api.Caller, id string, req api.UpdateAccessKeyRequest) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	if req.Status != api.StatusActive && req.Status != api.StatusInactive {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "--status takes Active or Inactive, not %q", req.Status)
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.keyLocked(id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	updated := *k
	updated.Active = req.Status == api.StatusActive
	if err := d.store.PutAccessKey(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	t.keys[id] = &updated
	d.log.Info("access key updated", "access_key", id, "status", req.Status)
	return api.ReturnResponse{Return: true}, nil
}

// DeleteAccessKey removes a key; requests signed with it are refused from then on.
func (d *Daemon) DeleteAccessKey(c api.Caller, id string) (api.ReturnResponse, error) {
	if err := operatorOnly(c); err != nil {
		return api.ReturnResponse{}, err
	}
	t := d.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.keyLocked(id); err != nil {
		return api.ReturnResponse{}, err
	}
	if err := d.store.DeleteAccessKey(id); err != nil {
		return api.ReturnResponse{}, err
	}
	delete(t.keys, id)
	d.log.Info("access key deleted", "access_key", id)
	return api.ReturnResponse{Return: true}, nil
}

// lookupKey is the verifier's view of an access key: its secret, unsealed for this request, and
// who it acts as.
func (d *Daemon) lookupKey(id string) (sigv4.Key, error) {
	t := d.tenants
	t.mu.RLock()
	k, ok := t.keys[id]
	t.mu.RUnlock()
	if !ok {
		return sigv4.Key{}, sigv4.ErrUnknownKey
	}
	secret, err := t.sealer.Open(k.ID, k.Sealed)
	if err != nil {
		return sigv4.Key{}, fmt.Errorf("access key %s: %w", k.ID, err)
	}
	return sigv4.Key{Secret: secret, Active: k.Active, Identity: account.Identity{AccountID: k.AccountID, UserName: k.UserName, AccessKeyID: k.ID}}, nil
}

// policiesOf returns the policies of a caller's user (none: nothing is allowed).
func (d *Daemon) policiesOf(c api.Caller) []*iam.Policy {
	t := d.tenants
	t.mu.RLock()
	defer t.mu.RUnlock()
	if u, ok := t.users[c.AccountID+"/"+c.UserName]; ok {
		return u.policies
	}
	return nil
}
