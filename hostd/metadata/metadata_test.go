package metadata

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var (
	askerA = netip.MustParseAddr("100.64.0.7")
	askerB = netip.MustParseAddr("100.64.0.8")
)

func testServer(now *time.Time) *Server {
	instances := map[netip.Addr]Instance{
		askerA: {ID: "i-0aaaaaaaaaaaaaaaa", MAC: "02:00:00:00:00:0a", IP: netip.MustParseAddr("10.0.1.4"), Enabled: true, Tokens: TokensRequired, HopLimit: 1, UserData: []byte{0, 1, 0xff}},
		askerB: {ID: "i-0bbbbbbbbbbbbbbbb", Enabled: true, Tokens: TokensOptional, HopLimit: 1},
	}
	return &Server{Key: []byte("k"), Now: func() time.Time { return *now },
		Directory: func(a netip.Addr) (Instance, bool) { in, ok := instances[a]; return in, ok }}
}

// do asks s as asker, on a loopback TCP connection of its own (the token's hop limit is set on it).
func do(s *Server, asker netip.Addr, method, path string, headers ...string) *httptest.ResponseRecorder {
	conn, err := loopbackConn()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	return doOn(s, conn, asker, method, path, headers...)
}

// loopbackConn is the client end of a TCP connection on loopback.
func loopbackConn() (net.Conn, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return net.Dial("tcp4", ln.Addr().String())
}

// doOn is do on conn (nil: a request that came on no connection the server can set options on).
func doOn(s *Server, conn net.Conn, asker netip.Addr, method, path string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if conn != nil {
		r = r.WithContext(ConnContext(r.Context(), conn))
	}
	r.RemoteAddr = netip.AddrPortFrom(asker, 40000).String()
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testServer(&now)
	w := do(s, askerA, http.MethodPut, "/latest/api/token", headerTokenTTL, "60")
	require.Equal(t, 200, w.Code)
	tok := w.Body.String()
	assert.Equal(t, 200, do(s, askerA, http.MethodGet, "/latest/meta-data/instance-id", headerToken, tok).Code)
	assert.Equal(t, 401, do(s, askerA, http.MethodGet, "/latest/meta-data/instance-id").Code)
	assert.Equal(t, 401, do(s, askerB, http.MethodGet, "/latest/meta-data/instance-id", headerToken, tok).Code, "B with A's token")
	assert.Equal(t, 200, do(s, askerB, http.MethodGet, "/latest/meta-data/instance-id").Code, "optional")
	// Any byte of the token changed.
	for i := range tok {
		forged := []byte(tok)
		forged[i] ^= 1
		assert.Equal(t, 401, do(s, askerA, http.MethodGet, "/latest/meta-data/", headerToken, string(forged)).Code)
	}
	now = now.Add(60 * time.Second)
	assert.Equal(t, 401, do(s, askerA, http.MethodGet, "/latest/meta-data/instance-id", headerToken, tok).Code, "expired")
	assert.Equal(t, 403, do(s, netip.MustParseAddr("10.0.0.1"), http.MethodGet, "/latest/meta-data/").Code, "unknown asker")
}

// A token's answer leaves with the instance's hop limit as its IP TTL; where that cannot be set,
// no token is given (control: the same request on a TCP connection gets one).
func TestTokenIsHeldToTheHopLimit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testServer(&now)
	w := doOn(s, nil, askerA, http.MethodPut, "/latest/api/token", headerTokenTTL, "60")
	assert.Equal(t, 500, w.Code)
	assert.NotContains(t, w.Body.String(), ".", "a token without its hop limit")

	conn, err := loopbackConn()
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, setTTL(conn.(syscall.Conn), 64))
	w = doOn(s, conn, askerA, http.MethodPut, "/latest/api/token", headerTokenTTL, "60")
	require.Equal(t, 200, w.Code)
	raw, err := conn.(syscall.Conn).SyscallConn()
	require.NoError(t, err)
	var ttl int
	require.NoError(t, raw.Control(func(fd uintptr) { ttl, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL) }))
	require.NoError(t, err)
	assert.Equal(t, 1, ttl, "the token's answer left with TTL %d", ttl)
}

func TestTree(t *testing.T) {
	now := time.Unix(0, 0)
	s := testServer(&now)
	w := do(s, askerB, http.MethodGet, "/latest/meta-data")
	assert.Equal(t, "ami-id\ninstance-id\ninstance-type\nplacement/", w.Body.String())
	w = do(s, askerA, http.MethodPut, "/latest/api/token", headerTokenTTL, "5")
	tok := w.Body.String()
	w = do(s, askerA, http.MethodGet, "/latest/meta-data/network/interfaces/macs/", headerToken, tok)
	assert.Equal(t, "02:00:00:00:00:0a/", w.Body.String())
	w = do(s, askerA, http.MethodGet, "/latest/user-data", headerToken, tok)
	assert.Equal(t, []byte{0, 1, 0xff}, w.Body.Bytes())
	assert.Equal(t, 404, do(s, askerA, http.MethodGet, "/latest/meta-data/nothing", headerToken, tok).Code)
	assert.Equal(t, 404, do(s, askerB, http.MethodGet, "/latest/user-data").Code)
}

// FuzzToken: a token the server did not make never opens, and nothing panics.
func FuzzToken(f *testing.F) {
	s := &Server{Key: []byte("fuzz")}
	f.Add(s.seal("i-0aaaaaaaaaaaaaaaa", time.Unix(1_900_000_000, 0)))
	f.Add("")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, token string) {
		if id, expiry, ok := s.open(token); ok && s.seal(id, expiry) != token {
			t.Fatalf("%q opened as %s until %v", token, id, expiry)
		}
	})
}
