// Package metadata is the instance metadata service (IMDS) at 169.254.169.254: each instance's
// own facts and user data, behind EC2's IMDSv2 session tokens. Which instance asks is the
// daemon's to say (Directory), from the connection's source, an interface's tag that only the
// datapath writes: a guest never reads another instance's metadata, whatever it forges.
package metadata

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Token options of an instance, as EC2's MetadataOptions.
const (
	TokensRequired = "required"
	TokensOptional = "optional"
	// MaxHopLimit is the largest hop limit EC2 accepts.
	MaxHopLimit = 64
	// MaxTokenTTL is the longest a token lives, in seconds (six hours).
	MaxTokenTTL = 21600
	// MaxUserData is EC2's limit on user data, in bytes.
	MaxUserData = 16384
)

// The headers of IMDSv2.
const (
	headerToken    = "X-Aws-Ec2-Metadata-Token"
	headerTokenTTL = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
)

// Instance is what the service tells an instance about itself.
type Instance struct {
	ID, AMI, Type, AvailabilityZone, Region string
	Hostname                                string // its private DNS name
	IP                                      netip.Addr
	MAC                                     string
	InterfaceID, SubnetID, VpcID            string
	SubnetCIDR, VpcCIDR                     string
	GroupIDs, GroupNames                    []string
	UserData                                []byte
	// Enabled is EC2's HttpEndpoint: off, every request is refused (403).
	Enabled bool
	// Tokens is TokensRequired or TokensOptional.
	Tokens string
	// HopLimit is the IP TTL of a token's answer: 1 reaches the instance and no further.
	HopLimit int
}

// Directory says which instance asker (a connection's source address) is; false if none.
type Directory func(asker netip.Addr) (Instance, bool)

// Server is the metadata service. Tokens are sealed with Key (HMAC-SHA256) and name their
// instance and expiry, so that they stay valid across a daemon restart and never serve another
// instance.
type Server struct {
	Directory Directory
	Key       []byte
	// Now is the clock; nil is time.Now. Tests move it to expire tokens.
	Now func() time.Time
}

type connKey struct{}

// ConnContext keeps each request's connection, for the token's hop limit (http.Server's hook).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// HTTPServer is the service as an http.Server: small requests only, and idle connections closed.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ConnContext: ConnContext, MaxHeaderBytes: 8 << 10,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	asker, err := netip.ParseAddrPort(r.RemoteAddr)
	in, ok := s.Directory(asker.Addr().Unmap())
	if err != nil || !ok || !in.Enabled {
		plain(w, http.StatusForbidden, "Forbidden")
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPut && path == "/latest/api/token":
		s.issueToken(w, r, in)
	case r.Method == http.MethodPut:
		plain(w, http.StatusForbidden, "Forbidden")
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		plain(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	default:
		if status := s.checkToken(r, in); status != http.StatusOK {
			plain(w, status, http.StatusText(status))
			return
		}
		serveTree(w, path, in)
	}
}

// issueToken answers PUT /latest/api/token: a token for in, living as long as the TTL header
// asks, sent with in's hop limit as the IP TTL of the answer.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, in Instance) {
	// EC2 refuses a token to anything that came through a proxy, as one SSRF defence.
	if r.Header.Get("X-Forwarded-For") != "" {
		plain(w, http.StatusForbidden, "Forbidden")
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(headerTokenTTL))
	if err != nil || ttl < 1 || ttl > MaxTokenTTL {
		plain(w, http.StatusBadRequest, fmt.Sprintf("Bad Request: %s must be a whole number of seconds from 1 to %d", headerTokenTTL, MaxTokenTTL))
		return
	}
	// No token unless its answer is held to the hop limit: without it a token could reach what is
	// routed behind the instance.
	c, ok := r.Context().Value(connKey{}).(syscall.Conn)
	if !ok || setTTL(c, in.HopLimit) != nil {
		plain(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	token := s.seal(in.ID, s.now().Add(time.Duration(ttl)*time.Second))
	// The connection ends with this answer: what follows on it is not held to the hop limit.
	w.Header().Set("Connection", "close")
	w.Header().Set(headerTokenTTL, strconv.Itoa(ttl))
	plain(w, http.StatusOK, token)
}

// checkToken is the answer a GET gets for its token: 401 for a token that is not in's or has
// expired, or for none when in requires one.
func (s *Server) checkToken(r *http.Request, in Instance) int {
	token := r.Header.Get(headerToken)
	if token == "" {
		if in.Tokens == TokensOptional {
			return http.StatusOK
		}
		return http.StatusUnauthorized
	}
	id, expiry, ok := s.open(token)
	if !ok || id != in.ID || !s.now().Before(expiry) {
		return http.StatusUnauthorized
	}
	return http.StatusOK
}

// seal makes a token: the instance id and expiry, and their MAC.
func (s *Server) seal(id string, expiry time.Time) string {
	body := id + ":" + strconv.FormatInt(expiry.Unix(), 10)
	return tokenEncoding.EncodeToString([]byte(body)) + "." + tokenEncoding.EncodeToString(s.mac(body))
}

// tokenEncoding is strict: a token has one spelling, the one seal made.
var tokenEncoding = base64.RawURLEncoding.Strict()

func (s *Server) open(token string) (id string, expiry time.Time, ok bool) {
	b64body, b64mac, found := strings.Cut(token, ".")
	body, err1 := tokenEncoding.DecodeString(b64body)
	mac, err2 := tokenEncoding.DecodeString(b64mac)
	if !found || err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(string(body))) {
		return "", time.Time{}, false
	}
	id, secs, found := strings.Cut(string(body), ":")
	unix, err := strconv.ParseInt(secs, 10, 64)
	if !found || err != nil {
		return "", time.Time{}, false
	}
	return id, time.Unix(unix, 0), true
}

func (s *Server) mac(body string) []byte {
	h := hmac.New(sha256.New, s.Key)
	h.Write([]byte("imds-token:" + body))
	return h.Sum(nil)
}

// serveTree answers a GET of path: a value, a directory's listing, or 404.
func serveTree(w http.ResponseWriter, path string, in Instance) {
	if path == "/latest/user-data" {
		if len(in.UserData) == 0 {
			plain(w, http.StatusNotFound, "Not Found")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(in.UserData)
		return
	}
	tree := in.tree()
	if v, ok := tree[path]; ok {
		plain(w, http.StatusOK, v)
		return
	}
	if list := listing(tree, path); len(list) > 0 {
		plain(w, http.StatusOK, strings.Join(list, "\n"))
		return
	}
	plain(w, http.StatusNotFound, "Not Found")
}

// listing is the entries right below dir, directories with a trailing slash, as EC2 lists them.
func listing(tree map[string]string, dir string) []string {
	var out []string
	for path := range tree {
		rest, ok := strings.CutPrefix(path, dir+"/")
		if !ok {
			continue
		}
		entry, _, deeper := strings.Cut(rest, "/")
		if deeper {
			entry += "/"
		}
		if !slices.Contains(out, entry) {
			out = append(out, entry)
		}
	}
	slices.Sort(out)
	return out
}

// tree is in's metadata by path.
func (in Instance) tree() map[string]string {
	const md = "/latest/meta-data/"
	ip := ""
	if in.IP.IsValid() {
		ip = in.IP.String()
	}
	t := map[string]string{
		md + "ami-id":                      in.AMI,
		md + "instance-id":                 in.ID,
		md + "instance-type":               in.Type,
		md + "placement/availability-zone": in.AvailabilityZone,
		md + "placement/region":            in.Region,
	}
	if in.MAC == "" {
		return t
	}
	t[md+"hostname"], t[md+"local-hostname"], t[md+"local-ipv4"], t[md+"mac"] = in.Hostname, in.Hostname, ip, in.MAC
	t[md+"security-groups"] = strings.Join(in.GroupNames, "\n")
	nic := md + "network/interfaces/macs/" + in.MAC + "/"
	for k, v := range map[string]string{
		"device-number": "0", "interface-id": in.InterfaceID, "local-hostname": in.Hostname, "local-ipv4s": ip,
		"mac": in.MAC, "security-group-ids": strings.Join(in.GroupIDs, "\n"), "security-groups": strings.Join(in.GroupNames, "\n"),
		"subnet-id": in.SubnetID, "subnet-ipv4-cidr-block": in.SubnetCIDR, "vpc-id": in.VpcID, "vpc-ipv4-cidr-block": in.VpcCIDR,
	} {
		t[nic+k] = v
	}
	return t
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// setTTL sets the IP TTL of c's packets.
func setTTL(c syscall.Conn, ttl int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) }); err != nil {
		return err
	}
	return serr
}
