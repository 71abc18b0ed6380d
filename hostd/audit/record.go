// Package audit keeps hostd's tamper-evident trail of API calls, in CloudTrail's shape.
//
// Every call, allowed or refused, is one Record: a line of JSON in a log file under the trail's
// directory. Each line carries its sequence number, the SHA-256 of the line before it (across
// files too) and an Ed25519 signature by the daemon's key over everything else in it, so a
// record changed, removed, reordered or added by hand is found, and found where it happened.
// Each hour, and when the trail is closed, the current log file is rotated: a digest file,
// signed with the same key, covers the file's SHA-256, its first and last records, and the
// previous digest's signature, as CloudTrail's digest files chain.
//
// Append returns only once its record is durable (written and fsynced); appenders arriving
// together share one write and one fsync (group commit). Verify checks a trail with the
// daemon's public key alone; Lookup finds records, as CloudTrail's LookupEvents does.
//
// What the trail cannot show: the newest records cut off the end of the current file, or the
// newest files and digests removed together, look like a trail that simply ended there (as in
// CloudTrail); Verify reports the last record it saw, for comparison.
package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Record is one API call, in CloudTrail's record shape, plus the fields that chain it.
type Record struct {
	EventVersion       string          `json:"eventVersion"`
	EventTime          time.Time       `json:"eventTime"`
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent"`
	UserIdentity       UserIdentity    `json:"userIdentity"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	ReadOnly           bool            `json:"readOnly"`
	EventType          string          `json:"eventType"`
	RecipientAccountID string          `json:"recipientAccountId,omitempty"`

	// Set by Append: the record's place in the trail, the hex SHA-256 of the line before it,
	// and the daemon's signature (base64) over the line without the signature.
	Sequence     uint64 `json:"sequence"`
	PreviousHash string `json:"previousRecordHash"`
	Signature    string `json:"signature,omitempty"`
}

// UserIdentity is who made the call, as CloudTrail writes it: Type is "IAMUser" for a signed
// request, and whatever the daemon chooses for its operator.
type UserIdentity struct {
	Type        string `json:"type"`
	AccountID   string `json:"accountId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

const (
	eventVersion = "1.09"
	eventSource  = "ec2.amazonaws.com"
	eventType    = "AwsApiCall"
	// hidden replaces a secret's value, as CloudTrail writes it.
	hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"
)

// genesisHash is the previous hash of the trail's first record.
var genesisHash = strings.Repeat("0", 2*sha256.Size)

// secretFields are the parameter names whose values never reach the trail, compared in lower
// case without '-' and '_': a key's secret, passwords, tokens, signatures and user data.
var secretFields = map[string]bool{
	"secretaccesskey": true, "secretkey": true, "secret": true, "password": true,
	"sessiontoken": true, "securitytoken": true, "xamzsecuritytoken": true, "privatekey": true,
	"authorization": true, "signature": true, "xamzsignature": true, "userdata": true,
}

// redact returns the JSON document with the value of every field named in secretFields, at
// any depth, replaced by CloudTrail's HIDDEN_DUE_TO_SECURITY_REASONS. Append applies it to
// requestParameters and responseElements, so a caller that forgets cannot leak a secret into
// the trail.
func redact(doc json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(redactValue(v))
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for name, value := range v {
			key := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(name))
			if secretFields[key] {
				v[name] = hidden
			} else {
				v[name] = redactValue(value)
			}
		}
	case []any:
		for i := range v {
			v[i] = redactValue(v[i])
		}
	}
	return v
}

// newEventID returns a random UUID (version 4), as CloudTrail's event ids are.
func newEventID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// signatureField is how every signed line of the trail ends: the signature is the last field
// of the object, over the bytes of the object without it.
const signatureField = `,"signature":"`

// signLine marshals v (whose Signature field is empty, so left out) and appends the signature
// as its last field. It returns the line without a newline.
func signLine(key ed25519.PrivateKey, v any) ([]byte, error) {
	unsigned, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, unsigned))
	line := append(unsigned[:len(unsigned)-1:len(unsigned)-1], signatureField...)
	line = append(line, sig...)
	return append(line, '"', '}'), nil
}

var errBadSignature = errors.New("its signature does not verify with the daemon's public key")

// verifyLine checks a signed line and decodes it into v.
func verifyLine(pub ed25519.PublicKey, line []byte, v any) error {
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("it is not valid JSON (%v)", err)
	}
	at := bytes.LastIndex(line, []byte(signatureField))
	if at < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return errors.New("it has no signature")
	}
	sig, err := base64.StdEncoding.DecodeString(string(line[at+len(signatureField) : len(line)-2]))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("its signature is malformed")
	}
	unsigned := append(bytes.Clone(line[:at]), '}')
	if !ed25519.Verify(pub, unsigned, sig) {
		return errBadSignature
	}
	return nil
}

// lineHash is the hex SHA-256 of a line (without its newline): what the next record carries.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}
