package metadata

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// served tells whether the listener serves a connection from local (an echo of one byte) or
// closes it at once.
func served(t *testing.T, addr string, local string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: time.Second}
	c, err := d.Dial("tcp4", addr)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		c.Close()
		return nil, false
	}
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil {
		c.Close()
		return nil, false
	}
	return c, true
}

// One asker holding its quota of connections gets no more (each further one is closed at once),
// another asker is served meanwhile, and a connection closed gives its place back.
func TestLimitPerAsker(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	limited := LimitPerAsker(ln, 3)
	defer limited.Close()
	go func() {
		for {
			c, err := limited.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
					_, _ = c.Write(b)
				}
			}()
		}
	}()
	addr := ln.Addr().String()

	var held []net.Conn
	for range 3 {
		c, ok := served(t, addr, "127.0.0.1")
		require.True(t, ok, "a connection within the quota")
		held = append(held, c)
	}
	_, ok := served(t, addr, "127.0.0.1")
	assert.False(t, ok, "a connection past the asker's quota was served")
	other, ok := served(t, addr, "127.0.0.2")
	assert.True(t, ok, "another asker was refused")
	other.Close()

	held[0].Close()
	require.Eventually(t, func() bool {
		c, ok := served(t, addr, "127.0.0.1")
		if ok {
			c.Close()
		}
		return ok
	}, 5*time.Second, 50*time.Millisecond, "the closed connection's place did not come back")
	for _, c := range held[1:] {
		c.Close()
	}
}
