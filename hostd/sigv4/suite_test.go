package sigv4

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The public Signature Version 4 suite (awslabs/aws-c-auth's) lives in shared/testdata/sigv4,
// beside the repository's clone (or beside one of its parents, for a worktree).
func suiteDir(t *testing.T) string {
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "shared", "testdata", "sigv4")
		if _, err := os.Stat(filepath.Join(candidate, "get-vanilla")); err == nil {
			return candidate
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the public SigV4 suite (shared/testdata/sigv4) is not beside the clone; CI lays it there")
	}
	t.Skip("the public SigV4 suite (shared/testdata/sigv4) is not beside this clone")
	return ""
}

// suiteCase is one folder of the suite.
type suiteCase struct {
	name    string
	dir     string
	context struct {
		Credentials struct {
			AccessKeyID     string `json:"access_key_id"`
			SecretAccessKey string `json:"secret_access_key"`
			Token           string `json:"token"`
		} `json:"credentials"`
		Normalize bool   `json:"normalize"`
		Region    string `json:"region"`
		Service   string `json:"service"`
		Timestamp string `json:"timestamp"`
	}
}

func loadSuite(t *testing.T) []suiteCase {
	root := suiteDir(t)
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var cases []suiteCase
	for _, e := range entries {
		c := suiteCase{name: e.Name(), dir: filepath.Join(root, e.Name())}
		raw, err := os.ReadFile(filepath.Join(c.dir, "context.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &c.context))
		cases = append(cases, c)
	}
	require.Len(t, cases, 38, "the suite has 38 cases")
	return cases
}

func (c suiteCase) verifier(t *testing.T) *Verifier {
	at, err := time.Parse(time.RFC3339, c.context.Timestamp)
	require.NoError(t, err)
	creds := c.context.Credentials
	return New(Config{
		Region:  c.context.Region,
		Service: c.context.Service,
		Now:     func() time.Time { return at },
		Keys: func(id string) (Key, error) {
			if id != creds.AccessKeyID {
				return Key{}, ErrUnknownKey
			}
			return Key{Secret: []byte(creds.SecretAccessKey), Active: true, SessionToken: creds.Token,
				Identity: account.Identity{AccountID: "123456789012", UserName: "suite", AccessKeyID: id}}, nil
		},
		KeepPath: !c.context.Normalize,
	})
}

func (c suiteCase) read(t *testing.T, file string) string {
	raw, err := os.ReadFile(filepath.Join(c.dir, file))
	require.NoError(t, err)
	return string(raw)
}

// parseRaw reads the suite's request files. They are not always valid HTTP on the wire (paths
// with spaces and raw UTF-8), so they are read as the suite means them: method, then target,
// then protocol on the first line; header lines; continuation lines (starting with a space)
// unfolded into their header's value with one space, as an HTTP server does; a blank line; the
// body.
func parseRaw(t *testing.T, raw string) *Request {
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(head, "\n")
	method, rest, ok := strings.Cut(lines[0], " ")
	require.True(t, ok, lines[0])
	target := rest[:strings.LastIndex(rest, " ")]
	path, query, _ := strings.Cut(target, "?")
	r := &Request{Method: method, Path: path, RawQuery: query, Header: http.Header{}, Body: []byte(body)}
	var last string
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			values := r.Header[last]
			values[len(values)-1] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		require.True(t, ok, line)
		last = http.CanonicalHeaderKey(name)
		r.Header[last] = append(r.Header[last], strings.TrimSpace(value))
	}
	if hosts := r.Header["Host"]; len(hosts) > 0 {
		r.Host = hosts[0]
		delete(r.Header, "Host")
	}
	return r
}

// readHTTP reads the same bytes with Go's own HTTP server parser, where they are valid HTTP.
func readHTTP(raw string) (*Request, error) {
	head, body, _ := strings.Cut(raw, "\n\n")
	wire := strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
	if err != nil {
		return nil, err
	}
	return FromHTTP(hr, []byte(body)), nil
}

// mustRefuse is the only case whose signed request must not verify: the session token was
// added to the presigned URL after signing.
const mustRefuse = "post-sts-header-after/query"

var styles = []string{"header", "query"}

// Every signed request of the suite verifies at its frozen time, in both styles, read by the
// suite's reading and, where the bytes are valid HTTP, by Go's server; and our canonical
// request and string to sign are the suite's, byte for byte.
func TestSuiteVerifies(t *testing.T) {
	for _, c := range loadSuite(t) {
		for _, style := range styles {
			t.Run(c.name+"/"+style, func(t *testing.T) {
				v := c.verifier(t)
				raw := c.read(t, style+"-signed-request.txt")
				r := parseRaw(t, raw)
				checkCanonical(t, v, r, c.read(t, style+"-canonical-request.txt"), c.read(t, style+"-string-to-sign.txt"))

				_, err := v.Verify(r)
				if c.name+"/"+style == mustRefuse {
					requireCode(t, api.CodeAuthFailure, err)
					return
				}
				require.NoError(t, err)

				if hr, err := readHTTP(raw); err == nil {
					_, err := v.Verify(hr)
					require.NoError(t, err, "read by Go's HTTP server")
				} else {
					t.Logf("not valid HTTP on the wire (%v): checked with the suite's reading only", err)
				}
			})
		}
	}
}

func checkCanonical(t *testing.T, v *Verifier, r *Request, wantCanonical, wantStringToSign string) {
	query, err := parseQuery(r.RawQuery)
	require.NoError(t, err)
	a, err := parseAuth(r, query)
	require.NoError(t, err)
	hash, err := hashPayload(r)
	require.NoError(t, err)
	canonical, err := canonicalRequest(r, query, a, hash, !v.cfg.KeepPath)
	require.NoError(t, err)
	if a.presigned && a.sessionToken != "" && !strings.Contains(wantCanonical, paramSecurityToken) {
		return // the token added after signing: our canonical form rightly differs
	}
	assert.Equal(t, wantCanonical, string(canonical), "canonical request")
	var sts bytes.Buffer
	writeStringToSign(&sts, a, canonical)
	assert.Equal(t, wantStringToSign, sts.String(), "string to sign")
}

// A tampering changes one signed thing of a request that verifies.
type tampering struct {
	what   string
	change func(r *Request)
}

func tamperings(r *Request, presigned bool) []tampering {
	ts := []tampering{
		{"method", func(r *Request) {
			r.Method = map[bool]string{true: "POST", false: "GET"}[r.Method == "GET"]
		}},
		{"path", func(r *Request) { r.Path += "x" }},
		{"body", func(r *Request) { r.Body = append(r.Body, 'x') }},
		{"date one second later", func(r *Request) { shiftDate(r, presigned, time.Second) }},
		{"signature", func(r *Request) { flipSignature(r, presigned) }},
		{"query: a parameter added", func(r *Request) { r.RawQuery = strings.TrimPrefix(r.RawQuery+"&Extra=1", "&") }},
	}
	query, _ := parseQuery(r.RawQuery)
	for i, p := range query {
		if p.name == paramSignature {
			continue
		}
		ts = append(ts, tampering{"query value of " + p.name, func(r *Request) {
			parts := strings.Split(r.RawQuery, "&")
			parts[i] += "x"
			r.RawQuery = strings.Join(parts, "&")
		}})
	}
	a, _ := parseAuth(r, query)
	for _, name := range a.signedHeaders {
		ts = append(ts,
			tampering{"signed header " + name, func(r *Request) {
				if name == "host" {
					r.Host += "x"
					return
				}
				values := r.Header[http.CanonicalHeaderKey(name)]
				values[0] += "x"
			}},
			tampering{"signed header " + name + " removed", func(r *Request) {
				if name == "host" {
					r.Host = ""
				}
				delete(r.Header, http.CanonicalHeaderKey(name))
			}})
	}
	return ts
}

func shiftDate(r *Request, presigned bool, by time.Duration) {
	shift := func(s string) string {
		t, _ := time.Parse(timeFormat, s)
		return t.Add(by).Format(timeFormat)
	}
	if !presigned {
		r.Header.Set("X-Amz-Date", shift(r.Header.Get("X-Amz-Date")))
		return
	}
	parts := strings.Split(r.RawQuery, "&")
	for i, p := range parts {
		if v, ok := strings.CutPrefix(p, paramDate+"="); ok {
			parts[i] = paramDate + "=" + shift(v)
		}
	}
	r.RawQuery = strings.Join(parts, "&")
}

func flipSignature(r *Request, presigned bool) {
	flip := func(s string) string {
		last := map[bool]string{true: "1", false: "0"}[strings.HasSuffix(s, "0")]
		return s[:len(s)-1] + last
	}
	if presigned {
		r.RawQuery = flip(r.RawQuery) // X-Amz-Signature is last in every presigned request of the suite
		return
	}
	r.Header.Set("Authorization", flip(r.Header.Get("Authorization")))
}

func cloneRequest(r *Request) *Request {
	c := *r
	c.Header = r.Header.Clone()
	c.Body = bytes.Clone(r.Body)
	return &c
}

// Each signed request of the suite stops verifying when any signed byte changes: the method,
// the path, a query value, a signed header, the body, the date, the signature.
func TestSuiteRefusesTampering(t *testing.T) {
	for _, c := range loadSuite(t) {
		for _, style := range styles {
			if c.name+"/"+style == mustRefuse {
				continue
			}
			t.Run(c.name+"/"+style, func(t *testing.T) {
				v := c.verifier(t)
				r := parseRaw(t, c.read(t, style+"-signed-request.txt"))
				_, err := v.Verify(r)
				require.NoError(t, err)
				for _, tm := range tamperings(r, style == "query") {
					tampered := cloneRequest(r)
					tm.change(tampered)
					_, err := v.Verify(tampered)
					require.Error(t, err, tm.what)
					assert.Contains(t, []string{api.CodeAuthFailure, api.CodeIncompleteSignature}, api.AsError(err).Code, tm.what)
				}
				// Verifying is a pure function of the request: the original still verifies.
				_, err = v.Verify(r)
				require.NoError(t, err)
			})
		}
	}
}

func requireCode(t *testing.T, code string, err error) {
	t.Helper()
	require.Error(t, err)
	var e *api.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, code, e.Code, e.Message)
}
