package api

import "time"

// AccountHeader names the account an operator's call acts for (`--account ID`): what it makes
// belongs to that account. Without it the operator acts for OperatorAccount. Only the unix socket
// reads it; the network listener's caller is the signing key's account.
const AccountHeader = "X-Hostd-Account"

// Error codes of accounts, users, keys and quotas, as IAM and EC2 name them.
const (
	CodeNoSuchEntity           = "NoSuchEntity"
	CodeEntityAlreadyExists    = "EntityAlreadyExists"
	CodeDeleteConflict         = "DeleteConflict"
	CodeLimitExceeded          = "LimitExceeded"
	CodeInstanceLimitExceeded  = "InstanceLimitExceeded"
	CodeVolumeLimitExceeded    = "VolumeLimitExceeded"
	CodeInvalidAccountNotFound = "InvalidAccountID.NotFound"
)

// CreateAccountRequest makes an account; zero quotas take the daemon's defaults.
type CreateAccountRequest struct {
	AccountName  string `json:"AccountName"`
	MaxInstances int    `json:"MaxInstances,omitempty"`
	MaxRamBytes  int64  `json:"MaxRamBytes,omitempty"`
	MaxDiskBytes int64  `json:"MaxDiskBytes,omitempty"`
}

// Account is an account, its quotas and what it uses of them.
type Account struct {
	AccountId    string    `json:"AccountId"`
	AccountName  string    `json:"AccountName"`
	CreateDate   time.Time `json:"CreateDate"`
	MaxInstances int       `json:"MaxInstances"`
	MaxRamBytes  int64     `json:"MaxRamBytes"`
	MaxDiskBytes int64     `json:"MaxDiskBytes"`
	// What it uses now: instances not terminated, RAM-pool bytes held, disk-store bytes of its volumes.
	Instances int   `json:"Instances"`
	RamBytes  int64 `json:"RamBytes"`
	DiskBytes int64 `json:"DiskBytes"`
}

// DescribeAccountsResponse is what `account describe` prints.
type DescribeAccountsResponse struct {
	Accounts []Account `json:"Accounts"`
}

// UserRequest names a user of an account.
type UserRequest struct {
	AccountId string `json:"AccountId"`
	UserName  string `json:"UserName"`
}

// User is an IAM user, with the names of its policies and the ids of its keys.
type User struct {
	AccountId   string    `json:"AccountId"`
	UserName    string    `json:"UserName"`
	Arn         string    `json:"Arn"`
	CreateDate  time.Time `json:"CreateDate"`
	PolicyNames []string  `json:"PolicyNames"`
	AccessKeys  []string  `json:"AccessKeys"`
}

// DescribeUsersResponse is what `user describe` prints.
type DescribeUsersResponse struct {
	Users []User `json:"Users"`
}

// UserPolicyRequest puts (with a document) or deletes a user's inline policy.
type UserPolicyRequest struct {
	AccountId      string `json:"AccountId"`
	UserName       string `json:"UserName"`
	PolicyName     string `json:"PolicyName"`
	PolicyDocument string `json:"PolicyDocument,omitempty"`
}

// AccessKey is what `access-key create` prints: the only time the secret is ever shown.
type AccessKey struct {
	AccountId       string    `json:"AccountId"`
	UserName        string    `json:"UserName"`
	AccessKeyId     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey,omitempty"`
	Status          string    `json:"Status"`
	CreateDate      time.Time `json:"CreateDate"`
}

// Access key statuses, as IAM names them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// DescribeAccessKeysResponse is what `access-key describe` prints: never a secret.
type DescribeAccessKeysResponse struct {
	AccessKeyMetadata []AccessKey `json:"AccessKeyMetadata"`
}

// UpdateAccessKeyRequest sets a key Active or Inactive.
type UpdateAccessKeyRequest struct {
	Status string `json:"Status"`
}
