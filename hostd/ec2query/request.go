package ec2query

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

// Further EC2 codes of a request that cannot be read at all.
const (
	CodeMalformedQueryString   = "MalformedQueryString"
	CodeRequestEntityTooLarge  = "RequestEntityTooLarge"
	CodeUnsupportedHTTPVerb    = "UnsupportedHttpVerb"
	presignedParameterPrefix   = "X-Amz-"
	formContentType            = "application/x-www-form-urlencoded"
	maxParameterSeparatorCount = MaxParameters // '&' in a body or query: more means too many parameters
)

// ReadBody reads a request's body, at most MaxBodyBytes of it. The SigV4 verifier needs the raw
// bytes (their hash is signed) before the form is parsed, so the body is read once, here.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, errorf(CodeUnsupportedHTTPVerb, "EC2's API takes POST / with a form, or GET /?Action=…; not %.16s", r.Method)
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, errorf(CodeMalformedQueryString, "the request body could not be read: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, errorf(CodeRequestEntityTooLarge, "the request body is larger than %d bytes", MaxBodyBytes)
	}
	return body, nil
}

// Parameters are a request's parameters: the URL's query and a POST's form body together.
type Parameters struct {
	Action  string
	Version string
	// Values are the action's own parameters (no Action, Version or X-Amz-*), for Decode.
	Values url.Values
}

// ParseParameters collects the parameters of a request whose body ReadBody returned. A key
// given in both the query and the body, or twice, is refused (Decode refuses it); the
// presigned URL's X-Amz-* keys belong to the signature and are left out.
func ParseParameters(r *http.Request, body []byte) (*Parameters, error) {
	values, err := parseForm(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || mt != formContentType {
				return nil, errorf(api.CodeInvalidParameterValue, "the body must be %s, not %.64s", formContentType, ct)
			}
		}
		form, err := parseForm(string(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range form {
			values[k] = append(values[k], vs...)
		}
	}
	p := &Parameters{Values: values}
	for k := range values {
		if strings.HasPrefix(k, presignedParameterPrefix) {
			delete(values, k)
		}
	}
	if p.Action, err = takeSingle(values, "Action"); err != nil {
		return nil, err
	}
	if p.Version, err = takeSingle(values, "Version"); err != nil {
		return nil, err
	}
	return p, nil
}

func parseForm(s string) (url.Values, error) {
	if strings.Count(s, "&") >= maxParameterSeparatorCount {
		return nil, errorf(api.CodeInvalidParameterValue, "the request has more than %d parameters", MaxParameters)
	}
	values, err := url.ParseQuery(s)
	if err != nil {
		return nil, errorf(CodeMalformedQueryString, "the parameters are not a valid form: %v", err)
	}
	return values, nil
}

func takeSingle(values url.Values, key string) (string, error) {
	vs := values[key]
	delete(values, key)
	if len(vs) > 1 {
		return "", errorf(api.CodeInvalidParameterValue, "the parameter %s is given %d times; give it once", key, len(vs))
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}
