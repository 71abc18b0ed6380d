package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testRegion  = "eu-west-3"
	describeURL = "http://ec2.test/?Action=DescribeVpcs"
)

// keyring is a KeyLookup over a map, for tests; keys may change under it.
type keyring struct {
	mu   sync.Mutex
	keys map[string]Key
	err  error // returned for every lookup when set
}

func newKeyring() *keyring { return &keyring{keys: map[string]Key{}} }

// add makes a new active access key for user and returns its credentials.
func (k *keyring) add(user, token string) aws.Credentials {
	id, secret := account.NewAccessKey()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[id] = Key{Secret: []byte(secret), Active: true, SessionToken: token,
		Identity: account.Identity{AccountID: "210987654321", UserName: user, AccessKeyID: id}}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
}

func (k *keyring) update(id string, change func(*Key)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := k.keys[id]
	change(&key)
	k.keys[id] = key
}

func (k *keyring) lookup(id string) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return Key{}, k.err
	}
	key, ok := k.keys[id]
	if !ok {
		return Key{}, ErrUnknownKey
	}
	key.Secret = bytes.Clone(key.Secret)
	return key, nil
}

func newTestVerifier(keys *keyring, now func() time.Time) *Verifier {
	return New(Config{Region: testRegion, Service: "ec2", Keys: keys.lookup, Now: now})
}

func payloadHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// newEC2Request is a request as an EC2 client sends it: the Query protocol, form-encoded.
func newEC2Request(t testing.TB, url, body string) *http.Request {
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	return r
}

// signSDK signs r in its Authorization header with aws-sdk-go-v2's signer.
func signSDK(t testing.TB, r *http.Request, body string, creds aws.Credentials, region string, at time.Time) {
	err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payloadHash(body), "ec2", region, at)
	require.NoError(t, err)
}

// presignSDK presigns r with aws-sdk-go-v2's signer and returns the request to send.
func presignSDK(t testing.TB, r *http.Request, body string, creds aws.Credentials, at time.Time, expires time.Duration) *http.Request {
	q := r.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires.Seconds())))
	r.URL.RawQuery = q.Encode()
	url, headers, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payloadHash(body), "ec2", testRegion, at)
	require.NoError(t, err)
	out, err := http.NewRequest(r.Method, url, strings.NewReader(body))
	require.NoError(t, err)
	for name, values := range headers {
		if name != "Host" {
			out.Header[name] = values
		}
	}
	return out
}

// received is r as a server receives it: written to the wire, read back by Go's HTTP server
// parser, and seen through FromHTTP.
func received(t testing.TB, r *http.Request) *Request {
	var wire bytes.Buffer
	require.NoError(t, r.Write(&wire))
	hr, err := http.ReadRequest(bufio.NewReader(&wire))
	require.NoError(t, err)
	body, err := io.ReadAll(hr.Body)
	require.NoError(t, err)
	return FromHTTP(hr, body)
}

// signedNow is a GET of url signed now by the SDK in its Authorization header, as a server
// receives it.
func signedNow(t testing.TB, creds aws.Credentials, url string) *Request {
	r := newEC2Request(t, url, "")
	signSDK(t, r, "", creds, testRegion, time.Now())
	return received(t, r)
}

// verifyServer is a real HTTP server on loopback whose every request is verified; it answers
// with the identity or the EC2 error.
func verifyServer(t *testing.T, v *Verifier) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, err := v.Verify(FromHTTP(r, body))
		if err != nil {
			e := api.AsError(err)
			w.WriteHeader(api.HTTPStatus(e.Code))
			json.NewEncoder(w).Encode(api.ErrorDocument{Error: e})
			return
		}
		json.NewEncoder(w).Encode(id)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send sends r to the server and returns the identity it verified as, or the EC2 error.
func send(t *testing.T, r *http.Request) (account.Identity, *api.Error) {
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		var doc api.ErrorDocument
		require.NoError(t, json.Unmarshal(raw, &doc), string(raw))
		assert.Equal(t, api.HTTPStatus(doc.Error.Code), resp.StatusCode)
		return account.Identity{}, doc.Error
	}
	var id account.Identity
	require.NoError(t, json.Unmarshal(raw, &id), string(raw))
	return id, nil
}

// The requests an EC2 client makes, with the characters that canonicalisation must get right:
// spaces, '+', '~', '/', '=', '&' and UTF-8 in values, repeated and odd headers, paths to
// encode twice.
var sdkRequests = []struct {
	name, path, query, body string
	header                  map[string][]string
}{
	{name: "describe", path: "/", query: "Action=DescribeInstances&Version=2016-11-15"},
	{name: "filters", path: "/", query: "Action=DescribeInstances&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%20b%2Bc~d%2Fe%3D%26%C3%A9&Version=2016-11-15"},
	{name: "empty value", path: "/", query: "Action=DescribeVpcs&DryRun=&Version=2016-11-15"},
	{name: "form body", path: "/", body: "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&UserData=IyEvYmluL3NoCmVjaG8gaGk%3D&Version=2016-11-15"},
	{name: "path to encode", path: "/api/a%20b/%E1%88%B4/x~y", query: "Action=DescribeVpcs"},
	{name: "headers", path: "/", query: "Action=DescribeVpcs", header: map[string][]string{
		"X-Amz-Meta-Note": {"  spaced   out  value ", "second"},
		"X-Hostd-Trace":   {"a,b"},
	}},
}

func sdkURL(base, path, query string) string {
	if query == "" {
		return base + path
	}
	return base + path + "?" + query
}

// Requests signed by aws-sdk-go-v2, in the Authorization header and presigned, sent over real
// TCP to a real HTTP server, verify as their key's identity.
func TestSDKRoundTrip(t *testing.T) {
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	srv := verifyServer(t, v)
	creds := keys.add("alice", "")

	for _, tc := range sdkRequests {
		t.Run(tc.name+"/header", func(t *testing.T) {
			r := newEC2Request(t, sdkURL(srv.URL, tc.path, tc.query), tc.body)
			for name, values := range tc.header {
				r.Header[name] = values
			}
			signSDK(t, r, tc.body, creds, testRegion, time.Now())
			id, e := send(t, r)
			require.Nil(t, e)
			assert.Equal(t, "alice", id.UserName)
			assert.Equal(t, creds.AccessKeyID, id.AccessKeyID)
		})
		t.Run(tc.name+"/presigned", func(t *testing.T) {
			r := newEC2Request(t, sdkURL(srv.URL, tc.path, tc.query), tc.body)
			for name, values := range tc.header {
				r.Header[name] = values
			}
			id, e := send(t, presignSDK(t, r, tc.body, creds, time.Now(), 15*time.Minute))
			require.Nil(t, e)
			assert.Equal(t, "alice", id.UserName)
		})
	}
}

// The refusals come back over the wire with EC2's codes and HTTP statuses.
func TestSDKRefusals(t *testing.T) {
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	srv := verifyServer(t, v)
	creds := keys.add("alice", "")
	url := srv.URL + "/?Action=DescribeInstances&Version=2016-11-15"

	refused := func(code string, r *http.Request) {
		t.Helper()
		_, e := send(t, r)
		require.NotNil(t, e)
		assert.Equal(t, code, e.Code, e.Message)
	}

	wrong := creds
	wrong.SecretAccessKey = strings.ToLower(creds.SecretAccessKey[:1]) + creds.SecretAccessKey[1:] + "x"
	r := newEC2Request(t, url, "")
	signSDK(t, r, "", wrong, testRegion, time.Now())
	refused(api.CodeAuthFailure, r)

	r = newEC2Request(t, url, "")
	signSDK(t, r, "", creds, "us-east-1", time.Now())
	refused(api.CodeAuthFailure, r)

	r = newEC2Request(t, url, "")
	signSDK(t, r, "", creds, testRegion, time.Now().Add(-16*time.Minute))
	refused(api.CodeRequestExpired, r)

	refused(api.CodeRequestExpired, presignSDK(t, newEC2Request(t, url, ""), "", creds, time.Now().Add(-2*time.Minute), time.Minute))
	refused(api.CodeMissingAuthenticationToken, newEC2Request(t, url, ""))

	// A body changed in transit: the signature covers it.
	body := "Action=TerminateInstances&InstanceId.1=i-0123456789abcdef0&Version=2016-11-15"
	r = newEC2Request(t, srv.URL+"/", body)
	signSDK(t, r, body, creds, testRegion, time.Now())
	evil := strings.Replace(body, "i-0123456789abcdef0", "i-0fedcba987654321f", 1)
	r.Body = io.NopCloser(strings.NewReader(evil))
	refused(api.CodeAuthFailure, r)
}

// Temporary credentials: the request must carry exactly the key's session token, signed by the
// SDK in the header or in the presigned URL.
func TestSessionToken(t *testing.T) {
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	withToken := keys.add("temp", "FQoGZXIvYXdzEXAMPLETOKEN/+=")
	plain := keys.add("plain", "")
	url := describeURL

	_, err := v.Verify(signedNow(t, withToken, url))
	require.NoError(t, err)
	_, err = v.Verify(received(t, presignSDK(t, newEC2Request(t, url, ""), "", withToken, time.Now(), time.Minute)))
	require.NoError(t, err)

	// The key's token left out, or another token, or a token on a key that has none.
	noToken, otherToken, plainWithToken := withToken, withToken, plain
	noToken.SessionToken = ""
	otherToken.SessionToken = "FQoGZXIvYXdzEXAMPLETOKEN/+=x"
	plainWithToken.SessionToken = "made-up"
	for _, creds := range []aws.Credentials{noToken, otherToken, plainWithToken} {
		_, err = v.Verify(signedNow(t, creds, url))
		requireCode(t, api.CodeAuthFailure, err)
	}
}

// The window is 15 minutes either side of the daemon's clock; a presigned URL is good from 15
// minutes before its date to its expiry.
func TestTimeWindow(t *testing.T) {
	keys := newKeyring()
	creds := keys.add("alice", "")
	signedAt := time.Date(2026, 3, 1, 23, 55, 0, 0, time.UTC)
	var now time.Time
	v := newTestVerifier(keys, func() time.Time { return now })

	r := newEC2Request(t, describeURL, "")
	signSDK(t, r, "", creds, testRegion, signedAt)
	header := received(t, r)
	presigned := received(t, presignSDK(t, newEC2Request(t, describeURL, ""), "", creds, signedAt, time.Hour))

	for _, tc := range []struct {
		req     *Request
		offset  time.Duration
		expired bool
	}{
		{header, 0, false},
		{header, MaxSkew, false},
		{header, -MaxSkew, false},
		{header, MaxSkew + time.Second, true},
		{header, -MaxSkew - time.Second, true},
		{presigned, -MaxSkew, false},
		{presigned, -MaxSkew - time.Second, true},
		{presigned, time.Hour, false},
		{presigned, time.Hour + time.Second, true},
	} {
		now = signedAt.Add(tc.offset)
		_, err := v.Verify(tc.req)
		if tc.expired {
			requireCode(t, api.CodeRequestExpired, err)
		} else {
			require.NoError(t, err, "at %v", tc.offset)
		}
	}
}

// An unknown key and an inactive key are refused exactly as a wrong signature is: one code, one
// message, so that nobody learns which ids exist. A store that fails is an internal error.
func TestKeyRefusals(t *testing.T) {
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	creds := keys.add("alice", "")
	good := signedNow(t, creds, describeURL)
	_, err := v.Verify(good)
	require.NoError(t, err)

	wrong := creds
	wrong.SecretAccessKey += "x"
	_, wrongSecret := v.Verify(signedNow(t, wrong, describeURL))
	unknown, _ := account.NewAccessKey()
	other := creds
	other.AccessKeyID = unknown
	_, unknownKey := v.Verify(signedNow(t, other, describeURL))
	keys.update(creds.AccessKeyID, func(k *Key) { k.Active = false })
	_, inactive := v.Verify(good)

	requireCode(t, api.CodeAuthFailure, wrongSecret)
	assert.Equal(t, wrongSecret, unknownKey)
	assert.Equal(t, wrongSecret, inactive)

	// Made-up ids share one cache entry: they cannot crowd the real keys out.
	for range 100 {
		other.AccessKeyID, _ = account.NewAccessKey()
		_, err := v.Verify(signedNow(t, other, describeURL))
		requireCode(t, api.CodeAuthFailure, err)
	}
	assert.Len(t, v.cache.entries, 2, "alice's key and the one entry of every unknown key")

	keys.update(creds.AccessKeyID, func(k *Key) { k.Active = true })
	keys.err = errors.New("disk on fire")
	_, err = v.Verify(good)
	requireCode(t, api.CodeInternalError, err)
}

// A key's secret replaced (the cache must not keep verifying with the old signing key).
func TestSigningKeyCacheFollowsSecret(t *testing.T) {
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	creds := keys.add("alice", "")
	old := signedNow(t, creds, describeURL)
	_, err := v.Verify(old)
	require.NoError(t, err)

	_, newSecret := account.NewAccessKey()
	keys.update(creds.AccessKeyID, func(k *Key) { k.Secret = []byte(newSecret) })
	_, err = v.Verify(old)
	requireCode(t, api.CodeAuthFailure, err)
	creds.SecretAccessKey = newSecret
	_, err = v.Verify(signedNow(t, creds, describeURL))
	require.NoError(t, err)
}

// Malformed signatures, each refused with its EC2 code.
func TestMalformed(t *testing.T) {
	keys := newKeyring()
	creds := keys.add("alice", "")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := newTestVerifier(keys, func() time.Time { return at })

	r := newEC2Request(t, describeURL, "")
	signSDK(t, r, "", creds, testRegion, at)
	base := received(t, r)
	_, err := v.Verify(base)
	require.NoError(t, err)
	auth := base.Header.Get("Authorization")
	scope := "/20260301/" + testRegion + "/ec2/aws4_request"
	cred := "Credential=" + creds.AccessKeyID + scope
	sig := auth[strings.Index(auth, "Signature="):]

	withAuth := func(value string) func(*Request) {
		return func(r *Request) { r.Header.Set("Authorization", value) }
	}
	for _, tc := range []struct {
		what   string
		code   string
		change func(*Request)
	}{
		{"no signature", api.CodeMissingAuthenticationToken, func(r *Request) { r.Header.Del("Authorization") }},
		{"basic auth", api.CodeIncompleteSignature, withAuth("Basic YWxpY2U6c2VjcmV0")},
		{"empty", api.CodeIncompleteSignature, withAuth("")},
		{"algorithm only", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256")},
		{"no signature part", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date")},
		{"part twice", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", " + cred + ", SignedHeaders=host;x-amz-date, " + sig)},
		{"unknown part", api.CodeIncompleteSignature, withAuth(auth + ", Foo=bar")},
		{"no equals", api.CodeIncompleteSignature, withAuth(auth + ", junk")},
		{"short credential", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 Credential=" + creds.AccessKeyID + "/20260301/" + testRegion + "/ec2, SignedHeaders=host;x-amz-date, " + sig)},
		{"empty key id", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 Credential=" + scope + ", SignedHeaders=host;x-amz-date, " + sig)},
		{"unsorted headers", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, " + sig)},
		{"upper-case header", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host;x-amz-date, " + sig)},
		{"host unsigned", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, " + sig)},
		{"header twice", api.CodeIncompleteSignature, withAuth("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host;x-amz-date, " + sig)},
		{"short signature", api.CodeIncompleteSignature, withAuth(auth[:len(auth)-1])},
		{"signature not hex", api.CodeIncompleteSignature, withAuth(auth[:len(auth)-1] + "g")},
		{"two Authorization headers", api.CodeIncompleteSignature, func(r *Request) { r.Header.Add("Authorization", auth) }},
		{"both forms", api.CodeIncompleteSignature, func(r *Request) { r.RawQuery += "&X-Amz-Signature=00" }},
		{"no date", api.CodeIncompleteSignature, func(r *Request) { r.Header.Del("X-Amz-Date") }},
		{"bad date", api.CodeIncompleteSignature, func(r *Request) { r.Header.Set("X-Amz-Date", "2026-03-01T12:00:00Z") }},
		{"bad percent-encoding", api.CodeMalformedQueryString, func(r *Request) { r.RawQuery += "&x=%zz" }},
		{"two security tokens", api.CodeIncompleteSignature, func(r *Request) {
			r.Header.Add("X-Amz-Security-Token", "a")
			r.Header.Add("X-Amz-Security-Token", "b")
		}},
		{"other scope date", api.CodeAuthFailure, withAuth(strings.Replace(auth, "/20260301/", "/20260302/", 1))},
		{"other region", api.CodeAuthFailure, withAuth(strings.Replace(auth, testRegion, "us-east-1", 1))},
		{"other service", api.CodeAuthFailure, withAuth(strings.Replace(auth, "/ec2/", "/s3/", 1))},
		{"other terminator", api.CodeAuthFailure, withAuth(strings.Replace(auth, "aws4_request", "aws4_reqest", 1))},
		{"unsigned payload", api.CodeAuthFailure, func(r *Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }},
		{"payload hash of another body", api.CodeAuthFailure, func(r *Request) { r.Header.Set("X-Amz-Content-Sha256", payloadHash("x")) }},
		{"signed header missing", api.CodeAuthFailure, withAuth(strings.Replace(auth, "host;x-amz-date", "host;x-amz-date;x-hostd-absent", 1))},
	} {
		t.Run(tc.what, func(t *testing.T) {
			r := cloneRequest(base)
			tc.change(r)
			_, err := v.Verify(r)
			requireCode(t, tc.code, err)
			assert.NotContains(t, api.AsError(err).Message, creds.SecretAccessKey)
		})
	}

	// The payload hash header, when right, is fine (botocore sends it for some services).
	r2 := cloneRequest(base)
	r2.Header.Set("X-Amz-Content-Sha256", payloadHash(""))
	_, err = v.Verify(r2)
	require.NoError(t, err)
}

func TestMalformedPresigned(t *testing.T) {
	keys := newKeyring()
	creds := keys.add("alice", "")
	at := time.Now()
	v := newTestVerifier(keys, func() time.Time { return at })
	base := received(t, presignSDK(t, newEC2Request(t, describeURL, ""), "", creds, at, time.Minute))
	_, err := v.Verify(base)
	require.NoError(t, err)

	replace := func(param, value string) func(*Request) {
		return func(r *Request) {
			parts := strings.Split(r.RawQuery, "&")
			kept := parts[:0]
			for _, p := range parts {
				if strings.HasPrefix(p, param+"=") {
					if value == "" {
						continue
					}
					p = param + "=" + value
				}
				kept = append(kept, p)
			}
			r.RawQuery = strings.Join(kept, "&")
		}
	}
	for _, tc := range []struct {
		what   string
		change func(*Request)
	}{
		{"no expiry", replace(paramExpires, "")},
		{"no date", replace(paramDate, "")},
		{"no algorithm", replace(paramAlgorithm, "")},
		{"no credential", replace(paramCredential, "")},
		{"no signed headers", replace(paramSignedHeaders, "")},
		{"no signature", replace(paramSignature, "")},
		{"other algorithm", replace(paramAlgorithm, "AWS4-HMAC-SHA512")},
		{"expiry of zero", replace(paramExpires, "0")},
		{"expiry over 7 days", replace(paramExpires, "604801")},
		{"expiry not a number", replace(paramExpires, "1e3")},
		{"a parameter twice", func(r *Request) { r.RawQuery += "&" + paramExpires + "=60" }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			r := cloneRequest(base)
			tc.change(r)
			_, err := v.Verify(r)
			requireCode(t, api.CodeIncompleteSignature, err)
		})
	}
}

func TestClaimedAccessKeyID(t *testing.T) {
	keys := newKeyring()
	creds := keys.add("alice", "")
	assert.Equal(t, creds.AccessKeyID, ClaimedAccessKeyID(signedNow(t, creds, describeURL)))
	assert.Equal(t, creds.AccessKeyID, ClaimedAccessKeyID(received(t,
		presignSDK(t, newEC2Request(t, "http://ec2.test/", ""), "", creds, time.Now(), time.Minute))))
	assert.Equal(t, "", ClaimedAccessKeyID(received(t, newEC2Request(t, "http://ec2.test/", ""))))
}
