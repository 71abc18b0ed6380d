package ec2query

import (
	"io"
	"net/http"
)

// SDKTransport wraps the transport of an aws-sdk-go-v2 client so that it can read large answers
// from a server as near as hostd's.
//
// smithy-go (v1.28.9, the latest) wraps every request body in a "safe" reader that answers
// WriteTo with io.EOF once the SDK has closed it, and the SDK closes it as soon as the answer's
// headers are in. net/http, once it has sent a body of Content-Length bytes, reads the body once
// more to check that nothing is left; it does so with io.Copy, which takes WriteTo's io.EOF as
// an error. When the server answers before that last read (a body past net/http's 4 KiB write
// buffer is flushed first, and a server on the same machine answers within microseconds), the
// transport takes the request as failed and closes the connection under the answer still being
// read: "failed to decode response body … use of closed network connection", about one call in
// ten for large answers. Over the network to AWS the answer comes long after the last read.
//
// Hiding WriteTo makes the last read go through Read, which answers (0, io.EOF) as it should.
func SDKTransport(next http.RoundTripper) http.RoundTripper {
	return plainBodies{next}
}

type plainBodies struct{ next http.RoundTripper }

func (p plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.next.RoundTrip(r)
}
