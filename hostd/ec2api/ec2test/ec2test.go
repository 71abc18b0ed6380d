// Package ec2test runs hostd's EC2 front end on a real daemon, for tests and benchmarks: the
// daemon runs in the test's process (with its unix socket, so the native CLI sees the same
// state), and the front end answers on a loopback HTTP listener, built as serve --listen builds
// it (ec2api.NewRouter): signatures verified with the daemon's access keys, calls authorised by
// its users' policies and recorded in its trail. The clients sign with the keys of an account
// of the test's own (NewTenant), never the operator's.
package ec2test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/daemon"
	"github.com/hostd/hostd/hostd/ec2api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/vnet"
)

// Region is the test daemon's region.
const Region = "us-east-1"

// Key is an access key: its id and its secret.
type Key struct {
	ID, Secret string
}

// The tenant's policies, as its users' inline policies: admin may call every action, reader
// only EC2's Describe* (so that IAM's evaluation refuses the rest with UnauthorizedOperation).
const (
	adminPolicy  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	readerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`
)

// Tenant is an account made for a test or a benchmark, with a key for each of its two users.
type Tenant struct {
	Account  string // its id
	Admin    Key    // user admin's key (adminPolicy)
	ReadOnly Key    // user reader's key (readerPolicy)
}

// NewTenant makes, as the operator, an account named name with room for maxInstances
// instances, maxRAM bytes of guest RAM and maxDisk of volumes; in it the users admin and reader
// with their policies, and an access key for each.
func NewTenant(d *daemon.Daemon, name string, maxInstances int, maxRAM, maxDisk int64) (Tenant, error) {
	a, err := d.CreateAccount(api.Operator, api.CreateAccountRequest{AccountName: name, MaxInstances: maxInstances, MaxRamBytes: maxRAM, MaxDiskBytes: maxDisk})
	if err != nil {
		return Tenant{}, err
	}
	user := func(name, policy string) (Key, error) {
		u := api.UserRequest{AccountId: a.AccountId, UserName: name}
		if _, err := d.CreateUser(api.Operator, u); err != nil {
			return Key{}, err
		}
		if _, err := d.PutUserPolicy(api.Operator, api.UserPolicyRequest{AccountId: a.AccountId, UserName: name, PolicyName: name, PolicyDocument: policy}); err != nil {
			return Key{}, err
		}
		k, err := d.CreateAccessKey(api.Operator, u)
		return Key{k.AccessKeyId, k.SecretAccessKey}, err
	}
	t := Tenant{Account: a.AccountId}
	if t.Admin, err = user("admin", adminPolicy); err != nil {
		return Tenant{}, err
	}
	if t.ReadOnly, err = user("reader", readerPolicy); err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// Server is a daemon with its EC2 front end, and the test's tenant on it.
type Server struct {
	*hostdtest.Daemon // the native CLI against the same daemon (the operator's)
	Core              *daemon.Daemon
	URL               string // the front end's endpoint
	Tenant
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
		DiskSize: o.DiskBytes, ConntrackMax: vnet.DefaultConntrackLimit, Region: Region,
	}
	d, err := daemon.Open(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()

	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = ec2api.NewRouter(d, "http://"+srv.Listener.Addr().String(), cfg.Log)
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
	s.Tenant, err = NewTenant(d, "ec2test", 1000, o.RAMPoolBytes, o.DiskBytes)
	require.NoError(t, err)
	return s
}

// Env is the environment of an AWS CLI or boto3 process with key k: no config file, no metadata
// service, no retries.
func Env(k Key, home string) []string {
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+k.ID, "AWS_SECRET_ACCESS_KEY="+k.Secret,
		"AWS_DEFAULT_REGION="+Region, "AWS_REGION="+Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "HOME="+home)
}
