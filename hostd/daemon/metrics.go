package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/vnet"
)

// metrics are the daemon's Prometheus metrics: the events it times and counts as they happen
// (launches, scrubs, wipes, API calls), and, at each scrape, what describe shows (interfaces'
// traffic, drops and allowances, conntrack, the pools), read from the same sources so that the
// two always agree.
type metrics struct {
	registry *prometheus.Registry
	launch   prometheus.Histogram
	scrub    prometheus.Histogram
	wipe     prometheus.Histogram
	api      *prometheus.CounterVec
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		launch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hostd_instance_launch_duration_seconds", Help: "Time from an instance run request to its workload running.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
		}),
		scrub: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hostd_ram_scrub_duration_seconds", Help: "Time to zero one released RAM region.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
		}),
		wipe: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hostd_disk_wipe_duration_seconds", Help: "Time to wipe one deleted volume's extent.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hostd_api_requests_total", Help: "API calls by action and EC2 error code (OK for success).",
		}, []string{"action", "code"}),
	}
	m.registry.MustRegister(m.launch, m.scrub, m.wipe, m.api, stateCollector{d})
	return m
}

// serveMetrics serves /metrics on addr until ctx is done. An address without a host is
// loopback's: metrics name every tenant's interfaces.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", addr
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "--metrics-listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	d.log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serving metrics", "err", err)
		}
	}()
	return nil
}

// countCalls counts each API call by its action (the route it took, whatever front end adds
// routes) and the EC2 error code it answered.
func (m *metrics) countCalls(action func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &codeRecorder{ResponseWriter: w, code: "OK"}
		next.ServeHTTP(rec, r)
		m.api.WithLabelValues(action(r), rec.code).Inc()
	})
}

// codeRecorder learns the EC2 error code a handler answered (writeError tells it).
type codeRecorder struct {
	http.ResponseWriter
	code string
}

func (c *codeRecorder) setErrorCode(code string) { c.code = code }

// stateCollector reads what describe shows at each scrape.
type stateCollector struct{ d *Daemon }

var (
	ifaceLabels      = []string{"instance", "interface"}
	descReceivePkts  = prometheus.NewDesc("hostd_interface_receive_packets_total", "IPv4 packets delivered to the interface.", ifaceLabels, nil)
	descReceiveBytes = prometheus.NewDesc("hostd_interface_receive_bytes_total", "IPv4 bytes (IP lengths) delivered to the interface.", ifaceLabels, nil)
	descSendPkts     = prometheus.NewDesc("hostd_interface_transmit_packets_total", "IPv4 packets the interface's guest sent that its ACL and groups let out.", ifaceLabels, nil)
	descSendBytes    = prometheus.NewDesc("hostd_interface_transmit_bytes_total", "IPv4 bytes (IP lengths) the interface's guest sent that its ACL and groups let out.", ifaceLabels, nil)
	descDrops        = prometheus.NewDesc("hostd_interface_drops_total", "Packets the datapath dropped on the interface, by reason.", append(ifaceLabels, "reason"), nil)
	descAllowance    = prometheus.NewDesc("hostd_interface_allowance_exceeded_total", "Packets dropped past one of the interface's allowances (ENA's counters).", append(ifaceLabels, "allowance"), nil)
	descCtEntries    = prometheus.NewDesc("hostd_interface_conntrack_entries", "Conntrack entries the interface opened that are in the table.", ifaceLabels, nil)
	descCtAllowance  = prometheus.NewDesc("hostd_interface_conntrack_allowance", "Conntrack entries the interface may open.", ifaceLabels, nil)
	descFabricCt     = prometheus.NewDesc("hostd_conntrack_entries", "Conntrack entries in the table, all interfaces together.", nil, nil)
	descFabricCtMax  = prometheus.NewDesc("hostd_conntrack_limit", "Conntrack entries the table holds at most.", nil, nil)
	descRAMBytes     = prometheus.NewDesc("hostd_ram_pool_bytes", "Guest RAM pool bytes by state.", []string{"state"}, nil)
	descRAMTotal     = prometheus.NewDesc("hostd_ram_pool_capacity_bytes", "The most guest RAM the pool holds.", nil, nil)
	descScrubbed     = prometheus.NewDesc("hostd_ram_scrubbed_bytes_total", "RAM bytes zeroed since the daemon started.", nil, nil)
	descDiskBytes    = prometheus.NewDesc("hostd_disk_store_bytes", "Disk store bytes by state.", []string{"state"}, nil)
	descDiskTotal    = prometheus.NewDesc("hostd_disk_store_capacity_bytes", "The disk store's size.", nil, nil)
	descWiped        = prometheus.NewDesc("hostd_disk_wiped_bytes_total", "Disk bytes wiped since the daemon started.", nil, nil)
)

// allowanceReasons are the drop reasons of the allowances, by the label they get.
var allowanceReasons = map[string]string{
	"pps": vnet.ReasonPPSAllowance, "bw_in": vnet.ReasonBandwidthInAllowance,
	"bw_out": vnet.ReasonBandwidthOutAllowance, "conntrack": firewall.ReasonCTAllowance,
}

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descReceivePkts, descReceiveBytes, descSendPkts, descSendBytes, descDrops, descAllowance,
		descCtEntries, descCtAllowance, descFabricCt, descFabricCtMax, descRAMBytes, descRAMTotal, descScrubbed, descDiskBytes, descDiskTotal, descWiped} {
		ch <- desc
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	out, err := d.DescribeInstances(api.Operator, nil)
	if err == nil {
		for _, in := range out.Instances {
			for _, ni := range in.NetworkInterfaces {
				if ni.Traffic == nil {
					continue // not running
				}
				labels := []string{in.InstanceId, ni.NetworkInterfaceId}
				counter(descReceivePkts, float64(ni.Traffic.PacketsIn), labels...)
				counter(descReceiveBytes, float64(ni.Traffic.BytesIn), labels...)
				counter(descSendPkts, float64(ni.Traffic.PacketsOut), labels...)
				counter(descSendBytes, float64(ni.Traffic.BytesOut), labels...)
				for reason, n := range ni.DropCounters {
					counter(descDrops, float64(n), append(labels, reason)...)
				}
				for label, reason := range allowanceReasons {
					counter(descAllowance, float64(ni.DropCounters[reason]), append(labels, label)...)
				}
				if ifindex := d.ifindexOfENI(ni.NetworkInterfaceId); ifindex > 0 {
					if tracked, allowance, err := d.dp.ConntrackUsage(ifindex); err == nil {
						gauge(descCtEntries, float64(tracked), labels...)
						gauge(descCtAllowance, float64(allowance), labels...)
					}
				}
			}
		}
	}
	if n, err := d.dp.ConntrackCount(); err == nil {
		gauge(descFabricCt, float64(n))
	}
	if n, err := d.dp.ConntrackLimit(); err == nil {
		gauge(descFabricCtMax, float64(n))
	}
	pool, _ := d.DescribePool(api.Operator)
	for state, v := range map[string]int64{"in_use": pool.RamPool.InUseBytes, "making": pool.RamPool.MakingBytes, "clean": pool.RamPool.CleanBytes, "dirty": pool.RamPool.DirtyBytes} {
		gauge(descRAMBytes, float64(v), state)
	}
	gauge(descRAMTotal, float64(pool.RamPool.TotalBytes))
	counter(descScrubbed, float64(pool.RamPool.ScrubbedBytes))
	for state, v := range map[string]int64{"allocated": pool.DiskStore.AllocatedBytes, "free": pool.DiskStore.FreeBytes, "dirty": pool.DiskStore.DirtyBytes} {
		gauge(descDiskBytes, float64(v), state)
	}
	gauge(descDiskTotal, float64(pool.DiskStore.TotalBytes))
	counter(descWiped, float64(pool.DiskStore.WipedBytes))
}

// ifindexOfENI is the host-end ifindex of an interface, or 0.
func (d *Daemon) ifindexOfENI(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.enis {
		if e.ID == id {
			if v := d.vpcs[e.VpcID]; v != nil {
				return d.dp.IfindexOf(net.ParseIP(e.IP), v.Number)
			}
		}
	}
	return 0
}

// observeSeconds is a memscrub hook that times into h.
func observeSeconds(h prometheus.Histogram) func(int64, time.Duration) {
	return func(_ int64, took time.Duration) { h.Observe(took.Seconds()) }
}
