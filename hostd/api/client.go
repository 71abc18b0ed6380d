package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client talks to a daemon over its unix socket, or to its network listener.
type Client struct {
	socket string // where the daemon is, for messages: the socket or the endpoint
	base   string // the URL paths are appended to
	http   *http.Client
	// Account is the account the operator's calls act for (AccountHeader); empty for its own.
	Account string
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Client{
		socket: socket,
		base:   "http://hostd",
		// Terminating many instances can take a while; a hung daemon should still not hang the CLI forever.
		http: &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: maxIdleConns}, Timeout: 5 * time.Minute},
	}
}

// maxIdleConns is how many connections a client keeps open for callers that call at once.
const maxIdleConns = 64

// NewEndpointClient returns a client for a daemon's network listener at endpoint (its base URL),
// sending through hc (which signs each request).
func NewEndpointClient(endpoint string, hc *http.Client) *Client {
	return &Client{socket: endpoint, base: strings.TrimSuffix(endpoint, "/"), http: hc}
}

// Call sends in (if not nil) as JSON to method path and decodes the answer into out (if not nil).
// A daemon error comes back as *Error; an unreachable daemon as CodeDaemonUnavailable.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hostd-cli")
	if c.Account != "" {
		req.Header.Set(AccountHeader, c.Account)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Errorf(CodeDaemonUnavailable, "cannot reach hostd at %s (%v); is `hostd serve` running, and is --socket or HOSTD_SOCKET right?", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Errorf(CodeDaemonUnavailable, "reading the answer from %s: %v", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		var doc ErrorDocument
		if json.Unmarshal(data, &doc) == nil && doc.Error != nil {
			return doc.Error
		}
		return Errorf(CodeInternalError, "daemon answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the daemon's answer: %w", err)
	}
	return nil
}
