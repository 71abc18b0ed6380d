package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// NewSignedClient returns a client for a daemon's network listener at endpoint (its base URL)
// that signs every call with SigV4 for service ec2 in region, as the AWS tools sign, with
// aws-sdk-go-v2's signer.
func NewSignedClient(endpoint string, creds aws.Credentials, region string) *Client {
	// Connections are kept for concurrent callers (Go keeps 2 idle ones a host by default).
	pool := http.DefaultTransport.(*http.Transport).Clone()
	pool.MaxIdleConnsPerHost = maxIdleConns
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: &signingTransport{creds: creds, region: region, signer: v4.NewSigner(), next: pool}}
	return NewEndpointClient(endpoint, hc)
}

// signingTransport signs each request before sending it.
type signingTransport struct {
	creds  aws.Credentials
	region string
	signer *v4.Signer
	next   http.RoundTripper
}

func (t *signingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	sum := sha256.Sum256(body)
	if err := t.signer.SignHTTP(req.Context(), t.creds, req, hex.EncodeToString(sum[:]), "ec2", t.region, time.Now()); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(req)
}
