package sigv4

import (
	"net/http"
	"strings"
)

// FromHTTP makes the verifier's view of a request a server received; body is the request's
// body, which the caller has read (with a limit). The path is taken as the client sent it
// (RequestURI), not as Go decoded it, because the signature covers the bytes sent. Go's server
// keeps every header but Host, which it moves to r.Host, and unfolds continuation lines.
func FromHTTP(r *http.Request, body []byte) *Request {
	path := r.URL.EscapedPath()
	if strings.HasPrefix(r.RequestURI, "/") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	}
	return &Request{
		Method:   r.Method,
		Path:     path,
		RawQuery: r.URL.RawQuery,
		Host:     r.Host,
		Header:   r.Header,
		Body:     body,
	}
}
