package sigv4

import (
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// authorization is what a request says about its own signature, from either form.
type authorization struct {
	presigned     bool
	accessKeyID   string
	date          string // the credential scope's date, YYYYMMDD
	region        string
	service       string
	terminator    string
	signedHeaders []string // lower case, sorted, unique; always holds "host"
	signature     [32]byte
	time          time.Time // X-Amz-Date
	amzDate       string    // X-Amz-Date as sent, for the string to sign
	expires       time.Duration
	sessionToken  string
}

// The query parameters of a presigned URL.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
)

func incomplete(format string, args ...any) error {
	return api.Errorf(api.CodeIncompleteSignature, format, args...)
}

// parseAuth finds the request's signature, in the Authorization header or in the query, and
// checks that it is well formed. It verifies nothing.
func parseAuth(r *Request, query []queryParam) (*authorization, error) {
	headers := r.Header.Values("Authorization")
	presigned := false
	for _, p := range query {
		switch p.name {
		case paramAlgorithm, paramCredential, paramSignedHeaders, paramSignature:
			presigned = true
		}
	}
	var a *authorization
	var err error
	switch {
	case len(headers) > 0 && presigned:
		return nil, incomplete("the request is signed both in its Authorization header and in its query string; use one")
	case len(headers) > 1:
		return nil, incomplete("the request has %d Authorization headers; it must have one", len(headers))
	case len(headers) == 1:
		a, err = parseAuthHeader(r, headers[0])
	case presigned:
		a, err = parsePresigned(query)
	default:
		return nil, api.Errorf(api.CodeMissingAuthenticationToken,
			"the request is not signed: sign it with AWS Signature Version 4 (an access key id and secret, as the AWS CLI and SDKs do)")
	}
	if err != nil {
		return nil, err
	}
	tokens := r.Header.Values("X-Amz-Security-Token")
	for _, p := range query {
		if p.name == paramSecurityToken {
			tokens = append(tokens, p.value)
		}
	}
	if len(tokens) > 1 {
		return nil, incomplete("the request carries %d security tokens; it may carry one", len(tokens))
	}
	if len(tokens) == 1 {
		a.sessionToken = tokens[0]
	}
	return a, nil
}

// parseAuthHeader reads "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b;c, Signature=HEX" and the X-Amz-Date header.
func parseAuthHeader(r *Request, header string) (*authorization, error) {
	const form = "AWS4-HMAC-SHA256 Credential=KEYID/YYYYMMDD/REGION/SERVICE/aws4_request, SignedHeaders=host;..., Signature=HEX"
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != algorithm {
		return nil, incomplete("the Authorization header must use algorithm %s: %s", algorithm, form)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return nil, incomplete("the Authorization header has a part %q that is not NAME=VALUE: %s", truncate(part), form)
		case name != "Credential" && name != "SignedHeaders" && name != "Signature":
			return nil, incomplete("the Authorization header has an unknown part %q: %s", truncate(name), form)
		case fields[name] != "":
			return nil, incomplete("the Authorization header has %s twice", name)
		case value == "":
			return nil, incomplete("the Authorization header's %s is empty: %s", name, form)
		}
		fields[name] = value
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[name] == "" {
			return nil, incomplete("the Authorization header lacks %s: %s", name, form)
		}
	}
	dates := r.Header.Values("X-Amz-Date")
	if len(dates) != 1 {
		return nil, incomplete("a request signed in its Authorization header must have one X-Amz-Date header, not %d", len(dates))
	}
	return newAuthorization(false, fields["Credential"], fields["SignedHeaders"], fields["Signature"], dates[0])
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func parsePresigned(query []queryParam) (*authorization, error) {
	params := map[string]string{}
	for _, p := range query {
		switch p.name {
		case paramAlgorithm, paramCredential, paramDate, paramExpires, paramSignedHeaders, paramSignature:
			if _, dup := params[p.name]; dup {
				return nil, incomplete("the presigned URL has %s twice", p.name)
			}
			params[p.name] = p.value
		}
	}
	for _, name := range []string{paramAlgorithm, paramCredential, paramDate, paramExpires, paramSignedHeaders, paramSignature} {
		if _, ok := params[name]; !ok {
			return nil, incomplete("the presigned URL lacks %s: it needs X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders and -Signature", name)
		}
	}
	if params[paramAlgorithm] != algorithm {
		return nil, incomplete("X-Amz-Algorithm must be %s, not %q", algorithm, truncate(params[paramAlgorithm]))
	}
	seconds, err := strconv.Atoi(params[paramExpires])
	if err != nil || seconds < 1 || time.Duration(seconds)*time.Second > MaxPresignExpiry {
		return nil, incomplete("X-Amz-Expires must be a number of seconds from 1 to %d (7 days), not %q",
			int(MaxPresignExpiry.Seconds()), truncate(params[paramExpires]))
	}
	a, err := newAuthorization(true, params[paramCredential], params[paramSignedHeaders], params[paramSignature], params[paramDate])
	if err != nil {
		return nil, err
	}
	a.expires = time.Duration(seconds) * time.Second
	return a, nil
}

// newAuthorization checks the parts both forms share.
func newAuthorization(presigned bool, credential, signedHeaders, signature, amzDate string) (*authorization, error) {
	a := &authorization{presigned: presigned, amzDate: amzDate}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" {
		return nil, incomplete("the credential %q must be KEYID/YYYYMMDD/REGION/SERVICE/aws4_request", truncate(credential))
	}
	a.accessKeyID, a.date, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]

	t, err := time.Parse(timeFormat, amzDate)
	if err != nil {
		return nil, incomplete("X-Amz-Date %q must be in ISO 8601 basic format, YYYYMMDDTHHMMSSZ", truncate(amzDate))
	}
	a.time = t

	a.signedHeaders = strings.Split(signedHeaders, ";")
	hasHost := false
	for i, h := range a.signedHeaders {
		if !isHeaderName(h) || i > 0 && h <= a.signedHeaders[i-1] {
			return nil, incomplete("SignedHeaders %q must list lower-case header names, sorted, each once, separated by ';'", truncate(signedHeaders))
		}
		hasHost = hasHost || h == "host"
	}
	if !hasHost {
		return nil, incomplete("SignedHeaders %q must include host", truncate(signedHeaders))
	}

	if len(signature) != 2*len(a.signature) {
		return nil, incomplete("the signature must be %d hexadecimal digits", 2*len(a.signature))
	}
	if _, err := hex.Decode(a.signature[:], []byte(signature)); err != nil {
		return nil, incomplete("the signature must be %d hexadecimal digits", 2*len(a.signature))
	}
	return a, nil
}

// isHeaderName tells whether s is a lower-case HTTP header name (an RFC 9110 token).
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// queryParam is one name=value pair of the query string, percent-decoded.
type queryParam struct{ name, value string }

// parseQuery splits the raw query on '&' and decodes each name and value as a form would ('+'
// is a space), which is how the daemon reads the parameters afterwards: what is signed is what
// is read. A name without '=' has the empty value.
func parseQuery(raw string) ([]queryParam, error) {
	var params []queryParam
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, api.Errorf(api.CodeMalformedQueryString, "the query string has a malformed percent-encoding in %q", truncate(part))
		}
		params = append(params, queryParam{name, value})
	}
	return params, nil
}

// truncate shortens what a client sent before an error message repeats it.
func truncate(s string) string {
	if t := truncateTo(s, 64); t != s {
		return t + "…"
	}
	return s
}

func truncateTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
