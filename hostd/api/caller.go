package api

// Caller is who makes a call to the core: the operator (root on the host, on the unix socket),
// who acts on every account, or a user of one account (a signed call on the network listener),
// who sees only that account's resources. Every core operation takes the caller first; a
// resource another account owns answers as one that does not exist.
type Caller struct {
	// Operator is root on the host: it sees and acts on every account's resources.
	Operator bool `json:",omitempty"`
	// AccountID is the 12-digit account a user belongs to, and what the operator's calls make
	// belongs to (OperatorAccount unless the operator names one).
	AccountID   string `json:",omitempty"`
	UserName    string `json:",omitempty"`
	AccessKeyID string `json:",omitempty"`
}

// OperatorAccount owns what the operator makes without naming an account.
const OperatorAccount = "000000000000"

// Operator is the caller of every call on the operator's unix socket.
var Operator = Caller{Operator: true, AccountID: OperatorAccount}

// Sees tells whether the caller may see or act on a resource the account owner owns.
func (c Caller) Sees(owner string) bool { return c.Operator || c.AccountID == owner }
