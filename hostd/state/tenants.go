package state

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Account is a tenant: a 12-digit id, a name, and its quotas on the shared pools.
type Account struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
	MaxInstances int       `json:"max_instances"`
	MaxRAMBytes  int64     `json:"max_ram_bytes"`
	MaxDiskBytes int64     `json:"max_disk_bytes"`
}

// User is an IAM user of an account, with its inline policies (name → document, as given).
type User struct {
	AccountID string            `json:"account_id"`
	Name      string            `json:"name"`
	CreatedAt time.Time         `json:"created_at"`
	Policies  map[string]string `json:"policies,omitempty"`
}

// Key is the store's key of a user: its account and name.
func (u *User) Key() string { return u.AccountID + "/" + u.Name }

// AccessKey is one of a user's keys. The secret is kept only sealed (account.Sealer): SigV4's
// verifier needs the secret itself, so it cannot be a one-way hash.
type AccessKey struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	UserName  string    `json:"user_name"`
	Sealed    []byte    `json:"sealed_secret"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

var (
	accountsBucket   = []byte("accounts")
	usersBucket      = []byte("users")
	accessKeysBucket = []byte("access-keys")
)

// The tenants' buckets are made with the others when the store opens.
func init() { allBuckets = append(allBuckets, accountsBucket, usersBucket, accessKeysBucket) }

// PutAccount writes an account record.
func (s *Store) PutAccount(a *Account) error { return put(s, accountsBucket, a.ID, a) }

// Accounts returns every account.
func (s *Store) Accounts() ([]*Account, error) { return list[Account](s, accountsBucket) }

// PutUser writes a user record.
func (s *Store) PutUser(u *User) error { return put(s, usersBucket, u.Key(), u) }

// Users returns every user of every account.
func (s *Store) Users() ([]*User, error) { return list[User](s, usersBucket) }

// PutAccessKey writes an access key record.
func (s *Store) PutAccessKey(k *AccessKey) error { return put(s, accessKeysBucket, k.ID, k) }

// AccessKeys returns every access key.
func (s *Store) AccessKeys() ([]*AccessKey, error) { return list[AccessKey](s, accessKeysBucket) }

// DeleteUser removes a user record.
func (s *Store) DeleteUser(u *User) error { return del(s, usersBucket, u.Key()) }

// DeleteAccessKey removes an access key record.
func (s *Store) DeleteAccessKey(id string) error { return del(s, accessKeysBucket, id) }

// DeleteAccount removes an account with its users and their keys, in one transaction.
func (s *Store) DeleteAccount(id string, users []*User, keys []*AccessKey) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket(accessKeysBucket).Delete([]byte(k.ID)); err != nil {
				return err
			}
		}
		for _, u := range users {
			if err := tx.Bucket(usersBucket).Delete([]byte(u.Key())); err != nil {
				return err
			}
		}
		return tx.Bucket(accountsBucket).Delete([]byte(id))
	})
}
