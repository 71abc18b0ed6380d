package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// signedRequest makes a request to the daemon's network listener signed with the key (by
// aws-sdk-go-v2's signer, as the CLI signs) and returns the status, the request id and the body.
func signedRequest(t *testing.T, d *hostdtest.Daemon, keyID, secret, method, path string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.Endpoint()+path, bytes.NewReader(body))
	require.NoError(t, err)
	sum := sha256.Sum256(body)
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now()))
	return send(t, http.DefaultClient, req)
}

func send(t *testing.T, c *http.Client, req *http.Request) (int, string, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("X-Amzn-Requestid"), data
}

// unixClient talks to the daemon's socket as the operator.
func unixClient(d *hostdtest.Daemon) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "unix", d.Socket)
	}}, Timeout: 30 * time.Second}
}

// lookup reads the trail with `hostd audit lookup`.
func lookup(t *testing.T, d *hostdtest.Daemon, args ...string) []audit.Record {
	t.Helper()
	var out struct{ Events []audit.Record }
	d.JSON(&out, append([]string{"audit", "lookup"}, args...)...)
	return out.Events
}

// Every call of a run, on either listener, allowed or refused (a bad signature and no signature
// included), is in the trail with who made it and how it ended; no secret is in it; `audit verify`
// passes.
func TestAuditTrailHasEveryCall(t *testing.T) {
	d := startWithListener(t)
	tn := makeTenant(t, d, "audited", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:CreateVpc"],"Resource":"*"}]}`)

	status, okID, _ := signedRequest(t, d, tn.keyID, tn.secret, "POST", "/v1/vpcs", []byte(`{"CidrBlock":"10.0.0.0/16"}`))
	require.Equal(t, 200, status)
	status, deniedID, _ := signedRequest(t, d, tn.keyID, tn.secret, "POST", "/v1/volumes", []byte(`{"Size":1048576}`))
	require.Equal(t, 403, status)
	status, badSigID, body := signedRequest(t, d, tn.keyID, strings.Repeat("x", 40), "GET", "/v1/instances", nil)
	require.Equal(t, 401, status, "%s", body)
	resp, err := http.Get(d.Endpoint() + "/v1/instances")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)
	unsignedID := resp.Header.Get("X-Amzn-Requestid")

	events := lookup(t, d)
	byID := map[string]audit.Record{}
	for _, e := range events {
		byID[e.RequestID] = e
	}
	ok := byID[okID]
	assert.Equal(t, "CreateVpc", ok.EventName)
	assert.Equal(t, audit.UserIdentity{Type: "IAMUser", AccountID: tn.account, ARN: "arn:aws:iam::" + tn.account + ":user/" + tn.user, AccessKeyID: tn.keyID, UserName: tn.user}, ok.UserIdentity)
	assert.Empty(t, ok.ErrorCode)
	assert.Contains(t, string(ok.ResponseElements), "vpc-")
	assert.Equal(t, "127.0.0.1", ok.SourceIPAddress)
	assert.Equal(t, "ec2.amazonaws.com", ok.EventSource)
	assert.Equal(t, "us-east-1", ok.AWSRegion)
	assert.False(t, ok.ReadOnly)
	denied := byID[deniedID]
	assert.Equal(t, "CreateVolume", denied.EventName)
	assert.Equal(t, "UnauthorizedOperation", denied.ErrorCode)
	assert.Equal(t, tn.keyID, denied.UserIdentity.AccessKeyID)
	badSig := byID[badSigID]
	assert.Equal(t, "AuthFailure", badSig.ErrorCode)
	assert.Equal(t, "Unknown", badSig.UserIdentity.Type)
	assert.Equal(t, tn.keyID, badSig.UserIdentity.AccessKeyID, "the key id it claimed")
	assert.True(t, badSig.ReadOnly)
	assert.Equal(t, "MissingAuthenticationToken", byID[unsignedID].ErrorCode)

	// The operator's calls: type Root, and the account it acted for.
	creates := lookup(t, d, "--event-name", "CreateAccessKey")
	require.Len(t, creates, 1)
	assert.Equal(t, "Root", creates[0].UserIdentity.Type)
	assert.Equal(t, api.OperatorAccount, creates[0].UserIdentity.AccountID)
	assert.Contains(t, string(creates[0].ResponseElements), "HIDDEN_DUE_TO_SECURITY_REASONS")
	mine := lookup(t, d, "--account", tn.account)
	assert.Len(t, mine, 2, "the tenant's verified calls (the forged one proved no account)")
	assert.Empty(t, lookup(t, d, "--since", "1s", "--until", time.Now().Add(-time.Hour).Format(time.RFC3339)))

	// The secret is nowhere in the trail.
	d.Stop()
	files, err := filepath.Glob(filepath.Join(d.StateDir, "audit", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NotContains(t, string(data), tn.secret, f)
	}
	out, errOut, code := d.Run("audit", "verify")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, `"Valid": true`)
	d.Restart()
}

// auditVerify runs `hostd audit verify` on a state dir and returns its error message ("" if it
// passes).
func auditVerify(t *testing.T, d *hostdtest.Daemon, stateDir string) string {
	t.Helper()
	_, errOut, code := d.Run("audit", "verify", "--state-dir", stateDir)
	if code == 0 {
		return ""
	}
	c, msg := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
	require.Equal(t, "AuditTrailInvalid", c, msg)
	return msg
}

// copyTrail copies a stopped daemon's trail and key to a new state dir, for one tampering.
func copyTrail(t *testing.T, stateDir string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, exec.Command("cp", "-a", filepath.Join(stateDir, "audit"), filepath.Join(stateDir, "keys"), dst).Run())
	return dst
}

// `audit verify` passes on a trail as the daemon left it, and names the spot of each tampering:
// a byte edited, a line deleted, two lines swapped, a line appended by hand, a digest removed.
func TestAuditVerifyFindsEachTampering(t *testing.T) {
	d := hostdtest.Start(t)
	for i := 0; i < 3; i++ { // three log files, each rotated under a digest at stop
		for j := 0; j < 4; j++ {
			d.JSON(&api.DescribeVpcsResponse{}, "vpc", "describe")
		}
		d.Stop()
		d.Restart()
	}
	d.Stop()
	require.Empty(t, auditVerify(t, d, d.StateDir))
	logs, err := filepath.Glob(filepath.Join(d.StateDir, "audit", "*.jsonl"))
	require.NoError(t, err)
	sort.Strings(logs)
	require.GreaterOrEqual(t, len(logs), 3)
	second := filepath.Base(logs[1]) // a rotated file in the middle of the trail

	edit := func(name string, change func(lines []string) []string) string {
		dir := copyTrail(t, d.StateDir)
		path := filepath.Join(dir, "audit", name)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		require.GreaterOrEqual(t, len(lines), 3, "%s", data)
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(change(lines), "\n")+"\n"), 0o600))
		return dir
	}
	for _, tc := range []struct {
		name  string
		dir   func() string
		where string
	}{
		{"a byte edited", func() string {
			return edit(second, func(l []string) []string { l[1] = strings.Replace(l[1], "DescribeVpcs", "DescribeVpcz", 1); return l })
		}, second + ", line 2"},
		{"a line deleted", func() string {
			return edit(second, func(l []string) []string { return append(l[:1], l[2:]...) })
		}, second + ", line 2"},
		{"two lines swapped", func() string {
			return edit(second, func(l []string) []string { l[1], l[2] = l[2], l[1]; return l })
		}, second + ", line 2"},
		{"a line appended by hand", func() string {
			return edit(second, func(l []string) []string { return append(l, l[len(l)-1]) })
		}, second + ", line " + fmt.Sprint(countLines(t, logs[1])+1)},
		{"a digest removed", func() string {
			dir := copyTrail(t, d.StateDir)
			require.NoError(t, os.Remove(filepath.Join(dir, "audit", strings.TrimSuffix(second, ".jsonl")+".digest")))
			return dir
		}, strings.TrimSuffix(second, ".jsonl") + ".digest"},
	} {
		msg := auditVerify(t, d, tc.dir())
		assert.Contains(t, msg, tc.where, tc.name)
	}
	d.Restart()
}

func countLines(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Count(string(data), "\n")
}

// A daemon killed with SIGKILL in the middle of a burst of calls loses the record of no call
// whose answer a client received: each answer is sent only once its record is durable.
func TestAuditKeepsEveryAnsweredCallThroughSIGKILL(t *testing.T) {
	d := startWithListener(t)
	tn := makeTenant(t, d, "burst", allowAll)
	var vpc api.Vpc
	tn.json(t, d, &vpc, "vpc", "create", "--cidr", "10.0.0.0/16")
	var g api.CreateSecurityGroupResponse
	tn.json(t, d, &g, "sg", "create", "--vpc", vpc.VpcId, "--name", "burst")

	var mu sync.Mutex
	answered := map[string]bool{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	unix := unixClient(d)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				var req *http.Request
				if w%2 == 0 { // the operator's reads on the socket
					req, _ = http.NewRequest("GET", "http://hostd/v1/security-groups", nil)
				} else { // a tenant's signed writes on the network listener
					body := fmt.Sprintf(`{"GroupId":%q,"IpPermissions":[{"IpProtocol":"tcp","FromPort":%d,"ToPort":%d,"IpRanges":[{"CidrIp":"10.9.0.0/16"}]}]}`, g.GroupId, 1000+w*1000+i%50, 1000+w*1000+i%50)
					req, _ = http.NewRequest("POST", d.Endpoint()+"/v1/security-groups/authorize", strings.NewReader(body))
					sum := sha256.Sum256([]byte(body))
					_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: tn.keyID, SecretAccessKey: tn.secret}, req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now())
				}
				c := http.DefaultClient
				if w%2 == 0 {
					c = unix
				}
				resp, err := c.Do(req)
				if err != nil {
					continue // the daemon is gone: no answer, no promise
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.Header.Get("X-Amzn-Requestid") != "" {
					mu.Lock()
					answered[resp.Header.Get("X-Amzn-Requestid")] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	// Killed in the middle of the burst, once it is well under way (slow machines take longer).
	for deadline := time.Now().Add(hostdtest.Scaled(30 * time.Second)); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 500 {
			break
		}
	}
	d.Kill()
	stop.Store(true)
	wg.Wait()
	require.Greater(t, len(answered), 100, "the burst made too few calls to show anything")

	d.Restart()
	recorded := map[string]bool{}
	for _, e := range lookup(t, d) {
		recorded[e.RequestID] = true
	}
	missing := 0
	for id := range answered {
		if !recorded[id] {
			missing++
		}
	}
	assert.Zero(t, missing, "of %d answered calls, %d have no record", len(answered), missing)
	d.Stop()
	assert.Empty(t, auditVerify(t, d, d.StateDir), "the trail verifies after the crash")
	d.Restart()
	t.Logf("%d calls answered before SIGKILL, all recorded", len(answered))
}

// signAt signs req (no body) with the tenant's key as of a given time.
func signAt(t *testing.T, req *http.Request, tn tenant, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(nil)
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: tn.keyID, SecretAccessKey: tn.secret},
		req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", at))
}
