// Package sigv4 verifies requests signed with AWS Signature Version 4 (AWS4-HMAC-SHA256), the
// way every AWS SDK and the AWS CLI sign: in the Authorization header, or in a presigned URL's
// X-Amz-* query parameters.
//
// It is written from AWS's specification of the signing process and held to the public test
// suite (awslabs/aws-c-auth's, in shared/testdata/sigv4), to aws-sdk-go-v2's signer and to
// botocore's. Refusals are EC2's: AuthFailure (unknown or inactive key, wrong signature, a
// signed header missing, a credential scoped to another date, region or service),
// RequestExpired (more than 15 minutes from the daemon's clock; a presigned URL past its
// X-Amz-Expires), IncompleteSignature (a malformed Authorization header, credential or
// presigned query) and MissingAuthenticationToken (no signature at all).
//
// Unknown keys, inactive keys and wrong signatures get one and the same answer, after the same
// work, so that a caller cannot tell which access key ids exist. Signatures are compared in
// constant time. A replay within the window verifies, as in AWS.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
	// MaxSkew is how far a request's time may be from the daemon's clock, either way.
	MaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires a presigned URL may ask for: 7 days.
	MaxPresignExpiry = 7 * 24 * time.Hour
)

// Request is what the verifier reads of an HTTP request. FromHTTP makes one from a server's
// *http.Request; the caller reads the body first, with a limit.
type Request struct {
	Method   string
	Path     string // as sent on the wire: percent-encoded, without the query
	RawQuery string // as sent, without the '?'
	Host     string
	Header   http.Header // keys in Go's canonical form, values as received
	Body     []byte
}

// Key is what the verifier needs to know about one access key.
type Key struct {
	// Secret is the secret access key, unsealed by the lookup for this request.
	Secret []byte
	// Active is false for a key set Inactive: its requests are refused.
	Active bool
	// Identity is what a request signed with this key acts as; Verify returns it.
	Identity account.Identity
	// SessionToken is the token temporary credentials come with; empty for a long-term key. A
	// request must carry exactly the key's token (X-Amz-Security-Token) or, without one, none.
	SessionToken string
}

// ErrUnknownKey is what a KeyLookup returns for an access key id it does not know.
var ErrUnknownKey = errors.New("unknown access key id")

// KeyLookup finds an access key by its id. It returns ErrUnknownKey for an id it does not know;
// any other error is the store's own and is answered as InternalError.
type KeyLookup func(accessKeyID string) (Key, error)

// Config says what requests a Verifier accepts.
type Config struct {
	Region  string // e.g. us-east-1: the region every credential must be scoped to
	Service string // the service name in the credential scope: "ec2" for hostd's API
	Keys    KeyLookup
	// Now is the daemon's clock; nil means time.Now.
	Now func() time.Time
	// KeepPath signs the path as sent, without removing "." and ".." segments and repeated
	// slashes first. That is S3's rule; every other service, and hostd, normalises. The public
	// test suite's "-unnormalized" cases need it.
	KeepPath bool
}

// Verifier checks signed requests. It is safe for concurrent use.
type Verifier struct {
	cfg   Config
	cache signingKeys
}

// New returns a Verifier for cfg.
func New(cfg Config) *Verifier {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}
}

// Verify checks the request's signature and returns the identity of its key. Its errors are
// *api.Error with the EC2 codes listed in the package comment.
func (v *Verifier) Verify(r *Request) (account.Identity, error) {
	query, err := parseQuery(r.RawQuery)
	if err != nil {
		return account.Identity{}, err
	}
	auth, err := parseAuth(r, query)
	if err != nil {
		return account.Identity{}, err
	}
	if err := v.checkScope(auth); err != nil {
		return account.Identity{}, err
	}
	if err := v.checkTime(auth); err != nil {
		return account.Identity{}, err
	}
	payloadHash, err := hashPayload(r)
	if err != nil {
		return account.Identity{}, err
	}
	canonical, err := canonicalRequest(r, query, auth, payloadHash, !v.cfg.KeepPath)
	if err != nil {
		return account.Identity{}, err
	}

	key, err := v.cfg.Keys(auth.accessKeyID)
	known := err == nil && key.Active
	if err != nil && !errors.Is(err, ErrUnknownKey) {
		return account.Identity{}, api.Errorf(api.CodeInternalError, "looking up access key %s: %v", truncate(auth.accessKeyID), err)
	}
	cacheID := auth.accessKeyID
	if !known {
		// Do the same work for an unknown or inactive key as for a known one, so that the time
		// taken does not tell which ids exist; under one cache entry, so that made-up ids do
		// not crowd the real keys out of the cache.
		key, cacheID = Key{Secret: []byte(unknownKeySecret)}, ""
	}
	signingKey := v.cache.get(cacheID, auth.date, v.cfg.Region, v.cfg.Service, key.Secret)
	mac := hmac.New(sha256.New, signingKey[:])
	writeStringToSign(mac, auth, canonical)
	tokenOK := hmac.Equal([]byte(auth.sessionToken), []byte(key.SessionToken))
	if !hmac.Equal(mac.Sum(nil), auth.signature[:]) || !known || !tokenOK {
		return account.Identity{}, authFailure()
	}
	return key.Identity, nil
}

// ClaimedAccessKeyID returns the access key id a request says it is signed with, without
// verifying anything, or "" if it names none: for the audit record of a refused request. It is
// what the client sent, at most 128 bytes of it.
func ClaimedAccessKeyID(r *Request) string {
	query, err := parseQuery(r.RawQuery)
	if err != nil {
		return ""
	}
	auth, err := parseAuth(r, query)
	if err != nil {
		return ""
	}
	return truncateTo(auth.accessKeyID, 128)
}

// unknownKeySecret stands in for the secret of an unknown or inactive key; no request signed
// with it verifies, because such a key is refused whatever the signature.
const unknownKeySecret = "hostd-no-such-access-key-00000000000000000"

// authFailure is the one answer to an unknown key, an inactive key and a wrong signature.
func authFailure() error {
	return api.Errorf(api.CodeAuthFailure,
		"the request's signature does not verify with the access key it names: check the access key id and secret "+
			"(the key must exist and be Active), and that nothing was changed after signing")
}

func (v *Verifier) checkScope(a *authorization) error {
	switch {
	case a.date != a.time.Format(dateFormat):
		return api.Errorf(api.CodeAuthFailure, "the credential is scoped to %s but the request is dated %s: sign with the request's own date",
			a.date, a.time.Format(timeFormat))
	case a.region != v.cfg.Region:
		return api.Errorf(api.CodeAuthFailure, "the credential is scoped to region %q; this daemon serves region %q", a.region, v.cfg.Region)
	case a.service != v.cfg.Service:
		return api.Errorf(api.CodeAuthFailure, "the credential is scoped to service %q; sign for service %q", a.service, v.cfg.Service)
	case a.terminator != terminator:
		return api.Errorf(api.CodeAuthFailure, "the credential scope must end with %q, not %q", terminator, a.terminator)
	}
	return nil
}

// checkTime refuses a request dated more than MaxSkew from the daemon's clock, and a presigned
// URL used before its date (less the skew) or after its expiry.
func (v *Verifier) checkTime(a *authorization) error {
	now := v.cfg.Now()
	notBefore, notAfter := a.time.Add(-MaxSkew), a.time.Add(MaxSkew)
	if a.presigned {
		notAfter = a.time.Add(a.expires)
	}
	if now.Before(notBefore) || now.After(notAfter) {
		return api.Errorf(api.CodeRequestExpired,
			"the request is dated %s and valid from %s to %s; the daemon's clock says %s: check the client's clock, or sign again",
			a.time.Format(timeFormat), notBefore.UTC().Format(timeFormat), notAfter.UTC().Format(timeFormat), now.UTC().Format(timeFormat))
	}
	return nil
}

// hashPayload returns the hex SHA-256 of the body, which is what the canonical request carries.
// A client may also send it as x-amz-content-sha256; then it must be this same hash: hostd does
// not accept UNSIGNED-PAYLOAD or streaming payloads, because the body is the request.
func hashPayload(r *Request) (string, error) {
	sum := sha256.Sum256(r.Body)
	hash := hex.EncodeToString(sum[:])
	declared := r.Header.Values("X-Amz-Content-Sha256")
	if len(declared) > 1 || len(declared) == 1 && !strings.EqualFold(declared[0], hash) {
		return "", api.Errorf(api.CodeAuthFailure,
			"x-amz-content-sha256 must be the SHA-256 of the body (%s); unsigned and streaming payloads are not accepted", hash)
	}
	return hash, nil
}

// signingKeys caches derived signing keys by access key id and day, so that a key's steady
// stream of requests costs one HMAC each rather than five. An entry holds the secret it was
// derived from and is used only while the lookup still returns that same secret, so a key whose
// secret changed is never verified with a stale signing key.
type signingKeys struct {
	mu      sync.Mutex
	entries map[signingKeyID]signingKeyEntry
}

type signingKeyID struct{ accessKeyID, date, region, service string }

type signingKeyEntry struct {
	secret []byte
	key    [sha256.Size]byte
}

// maxCachedSigningKeys bounds the cache; when full it starts again empty (a day's keys are
// about as many as there are active access keys, so this is rare).
const maxCachedSigningKeys = 4096

func (c *signingKeys) get(accessKeyID, date, region, service string, secret []byte) [sha256.Size]byte {
	id := signingKeyID{accessKeyID, date, region, service}
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && hmac.Equal(e.secret, secret) {
		return e.key
	}
	e = signingKeyEntry{secret: append([]byte(nil), secret...), key: deriveSigningKey(secret, date, region, service)}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCachedSigningKeys {
		c.entries = make(map[signingKeyID]signingKeyEntry)
	}
	c.entries[id] = e
	c.mu.Unlock()
	return e.key
}

// deriveSigningKey is the specification's chain: HMAC of the date under "AWS4"+secret, then of
// the region, the service and "aws4_request", each under the one before.
func deriveSigningKey(secret []byte, date, region, service string) [sha256.Size]byte {
	key := append([]byte("AWS4"), secret...)
	for _, part := range []string{date, region, service, terminator} {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(part))
		key = mac.Sum(nil)
	}
	return [sha256.Size]byte(key)
}
