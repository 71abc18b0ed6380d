// Package account holds the pieces of hostd's tenant model that need no daemon: the identifiers
// of accounts and access keys, the secrets of access keys, and the identity a verified request
// acts as.
//
// An account is a 12-digit id; inside it, IAM users hold access keys. An access key is an id
// (AKIA and 16 upper-case letters or digits, public: it names the key in every request) and a
// 40-character secret that signs requests. The secret is shown once, when the key is made; the
// store keeps it only sealed (see Sealer), because verifying a Signature Version 4 request needs
// the secret itself: the signing key is derived from it and from the request's date, so no
// one-way hash of it could verify anything.
package account

import (
	"crypto/rand"
	"regexp"
)

const (
	accessKeyIDPrefix = "AKIA"
	idAlphabet        = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	digits            = "0123456789"
	secretLength      = 40
)

var (
	accountIDPattern   = regexp.MustCompile(`^[0-9]{12}$`)
	accessKeyIDPattern = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	// IAM's rule for user names: up to 64 of letters, digits and + = , . @ _ -.
	userNamePattern = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
)

// NewAccountID returns a random 12-digit account id (it may start with 0, as AWS's may).
func NewAccountID() string { return randomString(digits, 12) }

// NewAccessKey returns a new access key id and its secret, both from crypto/rand.
func NewAccessKey() (id, secret string) {
	return accessKeyIDPrefix + randomString(idAlphabet, 16), randomString(secretAlphabet, secretLength)
}

// ValidAccountID tells whether s has the shape of an account id.
func ValidAccountID(s string) bool { return accountIDPattern.MatchString(s) }

// ValidAccessKeyID tells whether s has the shape of an access key id this package makes.
func ValidAccessKeyID(s string) bool { return accessKeyIDPattern.MatchString(s) }

// ValidUserName tells whether s is a user name IAM would accept.
func ValidUserName(s string) bool { return userNamePattern.MatchString(s) }

// randomString draws n characters uniformly from alphabet (at most 256 characters): bytes that
// would make the draw uneven are thrown away and drawn again.
func randomString(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf) // never fails: crypto/rand crashes the program rather than return short
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// Identity is who a request acts as: an IAM user of an account, through one of its access keys.
type Identity struct {
	AccountID   string
	UserName    string
	AccessKeyID string
}

// ARN is the user's Amazon Resource Name, as IAM writes it: arn:aws:iam::ACCOUNT:user/NAME.
func (i Identity) ARN() string { return "arn:aws:iam::" + i.AccountID + ":user/" + i.UserName }
