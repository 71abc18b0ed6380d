// Package daemon is hostd's server: it owns the state file, the fabric, the instances and the
// HTTP/JSON API on the unix socket.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/findings"
	"github.com/hostd/hostd/hostd/flowlog"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/metadata"
	"github.com/hostd/hostd/hostd/sigv4"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/hostd/vpcdns"
	"github.com/hostd/hostd/memscrub"
	"github.com/hostd/hostd/vnet"
)

// Config is how a daemon is set up; two daemons with different StateDir, Socket and Fabric run
// side by side without seeing each other.
type Config struct {
	StateDir string
	Socket   string
	Fabric   string
	// InitPath is the hostd binary instances' inits run from: this very binary.
	InitPath string
	Log      *slog.Logger
	// The guest RAM pool: its size, whether released regions are scrubbed (off only to show
	// remanence), how many scrubbers run, and their rate cap in bytes per second (0: none).
	RAMPoolBytes int64
	Scrub        bool
	ScrubWorkers int
	ScrubRate    int64
	// The disk store: a file (created sparse, DiskSize bytes) or a block device, and how a
	// deleted volume's extent is wiped.
	DiskStore string
	DiskSize  int64
	Wipe      memscrub.WipeMode
	// ConntrackMax is how many flows the firewall tracks at most (0: vnet's default).
	ConntrackMax int
	// DNSUpstreams are the resolvers ("host:port") the VPC resolver forwards to, in order; none:
	// only the VPCs' own names are answered. DNSUpstreamNetns, if set, is the network namespace
	// (a path under /run/netns) they are reached from; otherwise the daemon's own.
	DNSUpstreams     []string
	DNSUpstreamNetns string
	// The network listener (listener.go): its address ("" for none), TLS certificate and key
	// (none: plain HTTP), and the region its signatures are scoped to (DefaultRegion if empty).
	Listen, TLSCert, TLSKey, Region string
	// FlowRecords is how many flow records the datapath keeps per drain (0: the most it can).
	FlowRecords int
	// MetricsListen is where /metrics is served ("": nowhere; no host: loopback).
	MetricsListen string
	// Findings are the detectors' thresholds.
	Findings findings.Thresholds
}

// Daemon is a running hostd.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	store    *state.Store
	launcher *guest.Launcher
	ids      *guest.IDAllocator
	fabric   *vnet.Fabric
	dp       *vnet.Datapath
	ram      *memscrub.RAMPool
	disk     *memscrub.DiskStore
	services *vnet.Services
	resolver *vpcdns.Resolver
	imds     *metadata.Server

	mu        sync.Mutex
	instances map[string]*instance
	vpcs      map[string]*state.VPC
	subnets   map[string]*state.Subnet
	enis      map[string]*state.ENI // by instance id
	volumes   map[string]*state.Volume
	groups    map[string]*state.SecurityGroup
	acls      map[string]*state.NetworkACL
	tags      map[string]*state.Tags // by resource id
	tokens    map[string]bool        // client tokens of RunInstances calls under way
	rules     ruleSets               // the datapath's rule sets of ACLs and of combinations of groups
	pending   map[string]usage       // quota claims of launches and volumes being made, by account
	flowLogs  map[string]*state.FlowLog

	net     netWatch // what the datapath's flow records say; its own lock, taken after mu
	metrics *metrics

	tenants  *tenants        // accounts, users, policies, access keys (accounts.go)
	verifier *sigv4.Verifier // the network listener's signatures (listener.go)
	trail    *audit.Trail    // every call on either listener (auditing.go)
	ec2Front http.Handler    // EC2's Query API at / on the network listener (ec2front.go)
}

// instance is the daemon's live view of one instance.
type instance struct {
	rec         *state.Instance
	proc        *guest.Process // set while running
	group       cgroup.Group   // set while running
	terminating bool
	stopping    bool // StopInstances is ending it: the stop is its to record
}

// tombstoneTTL is how long describe still shows a terminated instance, as EC2 does for about an hour.
const tombstoneTTL = time.Hour

// Open prepares a daemon: state file, fabric, and the instances an earlier daemon left, which it
// adopts if they still run and cleans up if they were half made.
func Open(cfg Config) (*Daemon, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Findings == (findings.Thresholds{}) {
		cfg.Findings = findings.DefaultThresholds()
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	cfg.StateDir = stateDir
	if runDir := filepath.Join(cfg.StateDir, "instances"); len(runDir) > guest.MaxRunDir {
		return nil, fmt.Errorf("--state-dir %s is too long: instances' sockets under it would not fit a unix socket address; use one of at most %d bytes", cfg.StateDir, guest.MaxRunDir-len("/instances"))
	}
	// Refused before anything is made: without these controllers guests would run unconfined.
	layout, err := cgroup.Check()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state dir: %w", err)
	}
	// Root's alone, whatever it was made with: guest root's capabilities do not reach a file of
	// an owner its user namespace does not map, so it cannot even walk in. Nothing else hides the
	// instances' files, the disk store or the RAM pool from a guest.
	if err := os.Chmod(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("making the state dir root's alone: %w", err)
	}
	store, err := state.Open(filepath.Join(cfg.StateDir, "hostd.db"))
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg:   cfg,
		log:   cfg.Log,
		store: store,
		launcher: &guest.Launcher{
			InitPath: cfg.InitPath,
			RunDir:   filepath.Join(cfg.StateDir, "instances"),
			FilesDir: filepath.Join(cfg.StateDir, "files"),
			Private:  []string{cfg.StateDir},
			Socket:   cfg.Socket,
		},
		ids:       &guest.IDAllocator{Dir: guest.DefaultIDDir, Owner: cfg.StateDir},
		instances: map[string]*instance{},
		vpcs:      map[string]*state.VPC{},
		subnets:   map[string]*state.Subnet{},
		enis:      map[string]*state.ENI{},
		volumes:   map[string]*state.Volume{},
		groups:    map[string]*state.SecurityGroup{},
		acls:      map[string]*state.NetworkACL{},
		tags:      map[string]*state.Tags{},
		tokens:    map[string]bool{},
		flowLogs:  map[string]*state.FlowLog{},
		net: netWatch{traffic: map[string]*api.InterfaceTraffic{}, windows: map[string]*flowlog.Window{},
			detector: findings.NewDetector(cfg.Findings, func() string { return newID("gd-") }), spoofed: map[string]uint64{}},
	}
	d.metrics = newMetrics(d)
	if err := d.openTenants(); err != nil {
		store.Close()
		return nil, err
	}
	d.cfg.Region = cmp.Or(d.cfg.Region, DefaultRegion)
	d.verifier = sigv4.New(sigv4.Config{Region: d.cfg.Region, Service: "ec2", Keys: d.lookupKey})
	if d.cfg.DiskStore == "" {
		d.cfg.DiskStore = DefaultDiskStore(cfg.StateDir)
	}
	if d.cfg.Wipe == "" {
		d.cfg.Wipe = memscrub.WipeFast
	}
	if err := guest.MountFilesDir(d.launcher.FilesDir); err != nil {
		store.Close()
		return nil, err
	}
	if d.fabric, err = vnet.OpenFabric(cfg.Fabric); err != nil {
		store.Close()
		return nil, err
	}
	if d.dp, err = vnet.LoadDatapath(cfg.Fabric); err != nil {
		store.Close()
		return nil, err
	}
	if err := d.openServices(); err != nil {
		d.dp.Close()
		store.Close()
		return nil, err
	}
	d.logKernel(layout)
	if d.dp.Adopted {
		d.log.Info("adopted the pinned datapath", "pins", vnet.PinDir(cfg.Fabric))
	}
	if cfg.ConntrackMax > 0 {
		if err := d.dp.SetConntrackLimit(uint32(cfg.ConntrackMax)); err != nil {
			d.dp.Close()
			store.Close()
			return nil, err
		}
	}
	records := uint32(cfg.FlowRecords)
	if records == 0 {
		records = d.dp.MaxFlowRecords()
	}
	if err := d.dp.SetFlowRecordLimit(records); err != nil {
		d.dp.Close()
		store.Close()
		return nil, api.Errorf(api.CodeInvalidParameterValue, "--flow-records: %v", err)
	}
	if err := d.recover(); err != nil {
		d.Close()
		return nil, fmt.Errorf("recovering instances: %w", err)
	}
	d.warnConntrackOvercommit()
	if err := d.openRAMPool(); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.openDiskStore(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the state file and this process's datapath handles. Instances keep running and
// the pinned datapath keeps enforcing.
func (d *Daemon) Close() error {
	if d.ram != nil {
		d.ram.Close()
	}
	d.dp.Close()
	return d.store.Close()
}

// Serve answers the API on the socket until ctx is done. Instances keep running after it returns.
func (d *Daemon) Serve(ctx context.Context) error {
	ln, err := listen(d.cfg.Socket)
	if err != nil {
		return err
	}
	// The guests' services first: they are back before anything else.
	if err := d.serveServices(ctx); err != nil {
		ln.Close()
		return err
	}
	if d.cfg.MetricsListen != "" {
		if err := d.serveMetrics(ctx, d.cfg.MetricsListen); err != nil {
			ln.Close()
			return err
		}
	}
	if err := d.openAudit(); err != nil {
		ln.Close()
		return err
	}
	defer d.trail.Close() // rotates the current file: a signed digest covers it
	srv := &http.Server{Handler: d.operatorHandler(), ReadHeaderTimeout: 10 * time.Second}
	networkDone := closedChannel()
	if d.cfg.Listen != "" {
		if networkDone, err = d.listenNetwork(ctx); err != nil {
			ln.Close()
			return err
		}
	}
	// The housekeepers use the datapath and the disk store, which Close releases: Serve returns
	// only once they have stopped (the race detector caught Close under a conntrack lookup).
	var housekeeping sync.WaitGroup
	defer housekeeping.Wait()
	hkCtx, stopHousekeeping := context.WithCancel(ctx)
	defer stopHousekeeping()
	housekeeping.Go(func() { d.firewallHousekeeping(hkCtx) })
	housekeeping.Go(func() { d.volumeHousekeeping(hkCtx) })
	housekeeping.Go(func() { d.watchNetwork(hkCtx) })
	// Only a serving daemon keeps memory ready for launches (teardown opens the pool too).
	d.ram.Reserve(reserveRegions(d.cfg.RAMPoolBytes), DefaultGuestRAM)
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	d.log.Info("hostd serving", "socket", d.cfg.Socket, "state_dir", d.cfg.StateDir, "fabric_netns", d.fabric.Name, "instances", d.count())
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		// Every call in flight is answered, and recorded, before the trail closes.
		<-shutdown
		<-networkDone
		d.log.Info("hostd stopped; instances keep running", "instances", d.count())
		return nil
	}
	return err
}

// listen opens the API socket, mode 0600. A socket file nobody answers on is stale and replaced;
// one a live daemon answers on is refused.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another hostd is already listening on %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (d *Daemon) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, in := range d.instances {
		if in.rec.Phase == state.Running {
			n++
		}
	}
	return n
}

// cgroupParent is the daemon's own level in every cgroup hierarchy.
func (d *Daemon) cgroupParent() string { return "hostd/" + d.cfg.Fabric }

func (d *Daemon) cgroupPath(id string) string { return d.cgroupParent() + "/" + id }
