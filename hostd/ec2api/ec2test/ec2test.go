// Package ec2test runs hostd's EC2 front end on a real daemon, for tests and benchmarks: the
// daemon runs in the test's process (with its unix socket, so the native CLI sees the same
// state), and the front end answers on a loopback HTTP listener, signed requests verified by
// hostd/sigv4 against a static table of test keys. Issue 12's accounts replace the table.
package ec2test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/daemon"
	"github.com/hostd/hostd/hostd/ec2api"
	"github.com/hostd/hostd/hostd/ec2query"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/sigv4"
	"github.com/hostd/hostd/vnet"
)

// Region is the test daemon's region.
const Region = "us-east-1"

// Key is a test access key.
type Key struct {
	ID, Secret string
}

// The test keys. Admin may call every action; ReadOnly only Describe* (for the DryRun refusal).
// Both act in the operator's account until accounts exist (issue 12).
var (
	Admin    = Key{"AKIAHOSTDTESTADMIN01", "hostd-test-secret-admin-0000000000000000"}
	ReadOnly = Key{"AKIAHOSTDTESTREADER1", "hostd-test-secret-reader-000000000000000"}
)

// Server is a daemon with its EC2 front end.
type Server struct {
	*hostdtest.Daemon // the native CLI against the same daemon
	Core              *daemon.Daemon
	URL               string // the front end's endpoint
}

// Options size the daemon's pools.
type Options struct {
	RAMPoolBytes int64
	DiskBytes    int64
}

// Start runs a daemon in this process and its EC2 front end on loopback, for t.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.RAMPoolBytes == 0 {
		o.RAMPoolBytes = 256 << 20
	}
	if o.DiskBytes == 0 {
		o.DiskBytes = 4 << 30
	}
	hd := hostdtest.Prepare(t)
	logFile, err := os.Create(hd.Dir + "/daemon.log")
	require.NoError(t, err)
	cfg := daemon.Config{
		StateDir: hd.StateDir, Socket: hd.Socket, Fabric: hd.Fabric, InitPath: hostdtest.Binary(t),
		Log: slog.New(slog.NewTextHandler(logFile, nil)), RAMPoolBytes: o.RAMPoolBytes, Scrub: true, ScrubWorkers: 1,
		DiskSize: o.DiskBytes, ConntrackMax: vnet.DefaultConntrackLimit,
	}
	d, err := daemon.Open(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()

	srv := httptest.NewUnstartedServer(nil)
	router := Router(ec2api.DaemonCore{D: d}, "http://"+srv.Listener.Addr().String(), slog.New(slog.NewTextHandler(logFile, nil)))
	srv.Config.Handler = router
	srv.Start()
	s := &Server{Daemon: hd, Core: d, URL: srv.URL}
	t.Cleanup(func() {
		srv.Close()
		hd.Run("instance", "describe") // the leak check learns every instance id
		// Terminated by this daemon: its watchers, in this process, would race with another's.
		if all, err := d.DescribeInstances(api.Operator, nil); err == nil {
			var ids []string
			for _, in := range all.Instances {
				if in.State != api.StateTerminated {
					ids = append(ids, in.InstanceId)
				}
			}
			if len(ids) > 0 {
				if _, err := d.TerminateInstances(api.Operator, ids); err != nil {
					t.Errorf("terminating what the test left: %v", err)
				}
			}
		}
		cancel()
		<-served
		d.Close()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(hd.Dir + "/daemon.log"); err == nil {
				t.Logf("daemon log:\n%s", b)
			}
		}
	})
	// The daemon answers once its socket is up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, code := hd.Run("vpc", "describe"); code == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the daemon did not answer on its socket")
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Router is the EC2 front end over core, its requests verified against the test keys.
func Router(core ec2api.Core, endpoint string, log *slog.Logger) *ec2query.Router {
	router := ec2query.NewRouter(ec2query.Config{
		Region:        Region,
		Authenticator: keyTable{sigv4.New(sigv4.Config{Region: Region, Service: "ec2", Keys: lookupKey})},
		Authorizer:    readOnlyKey{},
		PageKey:       []byte(rand.Text()),
		Log:           log,
	})
	ec2api.Register(router, core, ec2api.Options{Endpoint: endpoint})
	return router
}

// Env is the environment of an AWS CLI or boto3 process with key k against s: no config
// file, no metadata service, no retries.
func (s *Server) Env(k Key, home string) []string { return Env(k, home) }

// Env is the environment of an AWS CLI or boto3 process with key k: no config file, no metadata
// service, no retries.
func Env(k Key, home string) []string {
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.ID, "AWS_SECRET_ACCESS_KEY="+k.Secret,
		"AWS_DEFAULT_REGION="+Region, "AWS_REGION="+Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "HOME="+home)
}

func lookupKey(id string) (sigv4.Key, error) {
	for _, k := range []Key{Admin, ReadOnly} {
		if k.ID == id {
			return sigv4.Key{Secret: []byte(k.Secret), Active: true,
				Identity: account.Identity{AccountID: api.OperatorAccount, UserName: strings.ToLower(id[len(id)-6:]), AccessKeyID: id}}, nil
		}
	}
	return sigv4.Key{}, sigv4.ErrUnknownKey
}

// keyTable is the router's Authenticator: SigV4, as issue 12's listener verifies it.
type keyTable struct{ v *sigv4.Verifier }

func (k keyTable) Authenticate(r *http.Request, body []byte) (ec2query.Caller, error) {
	id, err := k.v.Verify(sigv4.FromHTTP(r, body))
	if err != nil {
		return ec2query.Caller{}, err
	}
	return ec2query.Caller{AccountID: id.AccountID, ARN: id.ARN(), AccessKeyID: id.AccessKeyID}, nil
}

// readOnlyKey refuses ReadOnly every action but Describe*, as an IAM policy would.
type readOnlyKey struct{}

func (readOnlyKey) Authorize(_ context.Context, c ec2query.Caller, action string, _ []ec2query.Resource) error {
	if c.AccessKeyID == ReadOnly.ID && !strings.HasPrefix(action, "ec2:Describe") {
		return &api.Error{Code: ec2query.CodeUnauthorizedOperation, Message: "You are not authorized to perform this operation: " + action}
	}
	return nil
}
