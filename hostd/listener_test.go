package main_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rssKiB is a process's resident memory.
func rssKiB(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// Bad input on the network listener: truncated requests, huge headers and bodies, garbage
// Authorization headers and a slowloris connection get clear refusals or a closed connection,
// memory stays bounded, and a signed client is served all along.
func TestListenerBadInput(t *testing.T) {
	d := startWithListener(t)
	tn := makeTenant(t, d, "victim", allowAll)
	addr := strings.TrimPrefix(d.Endpoint(), "http://")
	served := func() {
		t.Helper()
		status, _, body := signedRequest(t, d, tn.keyID, tn.secret, "GET", "/v1/instances", nil)
		require.Equal(t, 200, status, "%s", body)
	}
	served()

	// A slowloris connection: headers a byte at a time, never finished. The daemon hangs up
	// after its header timeout; others are served meanwhile.
	slow, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	slowDone := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		for _, b := range []byte("GET /v1/instances HTTP/1.1\r\nHost: x\r\nX-Slow: ") {
			if _, err := slow.Write([]byte{b}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for {
			if _, err := slow.Write([]byte("a")); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		slowDone <- time.Since(start)
	}()

	// Garbage Authorization headers.
	for _, auth := range []string{
		"AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "Bearer abc", strings.Repeat("A", 8000),
		"AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=zz",
		"AWS4-HMAC-SHA256 Credential=" + tn.keyID + "/20261202/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
	} {
		req, _ := http.NewRequest("GET", d.Endpoint()+"/v1/instances", nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
		status, _, body := send(t, http.DefaultClient, req)
		assert.Contains(t, []int{400, 401, 403}, status, "%q: %s", auth, body)
		assert.Regexp(t, `"Code":"(IncompleteSignature|AuthFailure|MissingAuthenticationToken)"`, string(body), auth)
	}
	// A signature of another time: RequestExpired.
	req, _ := http.NewRequest("GET", d.Endpoint()+"/v1/instances", nil)
	signAt(t, req, tn, time.Now().Add(-20*time.Minute))
	status, _, body := send(t, http.DefaultClient, req)
	assert.Equal(t, 400, status)
	assert.Contains(t, string(body), "RequestExpired")

	// Huge headers: refused by the server before any handler.
	req, _ = http.NewRequest("GET", d.Endpoint()+"/v1/instances", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 200<<10))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
		resp.Body.Close()
	}
	// Huge bodies, many at once: refused, memory bounded.
	rss := rssKiB(t, d.Pid())
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(d.Endpoint()+"/v1/vpcs", "application/json", bytes.NewReader(make([]byte, 8<<20)))
			if err == nil {
				assert.Equal(t, 400, resp.StatusCode)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	assert.Less(t, rssKiB(t, d.Pid())-rss, 96<<10, "32 bodies of 8MiB grew the daemon by more than 96MiB")

	// Truncated requests: a body shorter than its Content-Length, a request line cut short,
	// binary garbage.
	for _, raw := range []string{
		"POST /v1/vpcs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Cidr",
		"GET /v1/inst",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, _ = c.Write([]byte(raw))
		if tcp, ok := c.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		assert.True(t, line == "" || strings.HasPrefix(line, "HTTP/1.1 4"), "%q answered %q", raw, line)
	}
	served()

	select {
	case took := <-slowDone:
		assert.Less(t, took, 15*time.Second, "the slowloris connection was held too long")
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon kept the slowloris connection open for 30s")
	}
	served()
	assert.NotContains(t, d.Log(), "panic")
}

// Requests signed by the AWS CLI and by botocore (Debian's) verify against the daemon: the
// trail shows the calls as the tenant's user's, not refused as AuthFailure; with a wrong secret
// they are.
func TestRealClientsSignaturesVerify(t *testing.T) {
	for _, tool := range []string{"/usr/bin/aws", "/usr/bin/python3"} {
		if _, err := os.Stat(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: .ci/run installs awscli and python3-botocore", tool)
			}
			t.Skipf("%s is missing: apt-get install awscli python3-botocore", tool)
		}
	}
	d := startWithListener(t)
	tn := makeTenant(t, d, "clients", allowAll)
	env := func(secret string) []string {
		return append(os.Environ(), "AWS_ACCESS_KEY_ID="+tn.keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "HOME="+t.TempDir())
	}
	// botocore signs a native call; its answer is the tenant's (empty) list.
	botocore := `import sys, urllib.request, botocore.auth, botocore.awsrequest, botocore.credentials
url = sys.argv[1] + "/v1/instances"
req = botocore.awsrequest.AWSRequest(method="GET", url=url)
botocore.auth.SigV4Auth(botocore.credentials.Credentials(sys.argv[2], sys.argv[3]), "ec2", "us-east-1").add_auth(req)
try:
    r = urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers.items())))
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
`
	for _, tc := range []struct {
		secret, want string
	}{{tn.secret, `200 {"Instances":[]}`}, {strings.Repeat("x", 40), `401 {"Error":{"Code":"AuthFailure"`}} {
		out, err := exec.Command("/usr/bin/python3", "-c", botocore, d.Endpoint(), tn.keyID, tc.secret).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), tc.want)
	}
	// The AWS CLI signs an EC2 Query call; the daemon verifies it and answers it, recorded as
	// the user's.
	for _, secret := range []string{tn.secret, strings.Repeat("x", 40)} {
		cmd := exec.Command("/usr/bin/aws", "--endpoint-url", d.Endpoint(), "ec2", "describe-vpcs")
		cmd.Env = env(secret)
		_ = cmd.Run()
	}
	var byCLI []string
	for _, e := range lookup(t, d) {
		if strings.HasPrefix(e.UserAgent, "aws-cli") {
			byCLI = append(byCLI, e.UserIdentity.Type+" "+e.ErrorCode)
		}
	}
	assert.Contains(t, byCLI, "IAMUser ", "the AWS CLI's signature verified")
	assert.Contains(t, byCLI, "Unknown AuthFailure", "the wrong secret did not")
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key (PEM) into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hostd test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With --tls-cert and --tls-key the listener speaks TLS only: signed calls over TLS are served,
// plain HTTP gets no answer.
func TestListenerTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	d := startWithListener(t, "--tls-cert", certFile, "--tls-key", keyFile)
	tn := makeTenant(t, d, "tls", allowAll)
	require.True(t, strings.HasPrefix(d.Endpoint(), "https://"))
	req, err := http.NewRequest("GET", d.Endpoint()+"/v1/instances", nil)
	require.NoError(t, err)
	signAt(t, req, tn, time.Now())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	status, _, body := send(t, client, req)
	assert.Equal(t, 200, status, "%s", body)
	resp, err := http.Get("http://" + strings.TrimPrefix(d.Endpoint(), "https://") + "/v1/instances")
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP on the TLS listener")
	}
}
