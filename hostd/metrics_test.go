package main_test

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// freeLoopbackPort is a TCP port nothing listens on now.
func freeLoopbackPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, port string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "the exposition parses")
	return families
}

// value is the value of the metric of family with the given labels (all of them given), or -1.
func value(families map[string]*dto.MetricFamily, family string, labels map[string]string) float64 {
	f := families[family]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// /metrics on loopback parses with Prometheus's own parser, its names follow Prometheus's
// conventions, and its counters are describe's.
func TestMetricsMatchDescribe(t *testing.T) {
	port := freeLoopbackPort(t)
	d := hostdtest.Start(t, "--metrics-listen", ":"+port)
	vpc, subnets := createVpc(t, d, "10.46.0.0/16", "10.46.1.0/24")
	web := createGroup(t, d, vpc, "web")
	authorize(t, d, web, "--ingress", "--protocol", "udp", "--port", "7000", "--cidr", "10.46.0.0/16")
	a := launchIn(t, d, subnets[0], "--pps", "100")
	b := launchIn(t, d, subnets[0], "--sg", web)
	d.MustExec(a.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", b.ip, "--dport", "7000", "--count", "3")
	d.MustExec(a.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", b.ip, "--dport", "7001", "--count", "2")
	d.MustExec(a.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", b.ip, "--dport", "7000", "--count", "300")
	d.Run("instance", "describe", "i-0123456789abcdef0")  // an API call that fails
	time.Sleep(hostdtest.Scaled(2500 * time.Millisecond)) // the flow records are drained every second

	families := scrape(t, port)
	for name, f := range families {
		assert.Regexp(t, regexp.MustCompile(`^hostd_[a-z_]+$`), name)
		if f.GetType() == dto.MetricType_COUNTER {
			assert.True(t, strings.HasSuffix(name, "_total"), "a counter's name ends in _total: %s", name)
		}
	}
	for _, inst := range []netInstance{a, b} {
		in := describe(t, d, inst.id)
		ni := in.NetworkInterfaces[0]
		labels := map[string]string{"instance": inst.id, "interface": ni.NetworkInterfaceId}
		with := func(k, v string) map[string]string {
			l := map[string]string{k: v}
			for lk, lv := range labels {
				l[lk] = lv
			}
			return l
		}
		assert.Equal(t, float64(ni.Traffic.PacketsOut), value(families, "hostd_interface_transmit_packets_total", labels), inst.id)
		assert.Equal(t, float64(ni.Traffic.BytesOut), value(families, "hostd_interface_transmit_bytes_total", labels), inst.id)
		assert.Equal(t, float64(ni.Traffic.PacketsIn), value(families, "hostd_interface_receive_packets_total", labels), inst.id)
		assert.Equal(t, float64(ni.Traffic.BytesIn), value(families, "hostd_interface_receive_bytes_total", labels), inst.id)
		for reason, n := range ni.DropCounters {
			assert.Equal(t, float64(n), value(families, "hostd_interface_drops_total", with("reason", reason)), "%s %s", inst.id, reason)
		}
		assert.Equal(t, float64(ni.Allowances.PpsAllowanceExceeded), value(families, "hostd_interface_allowance_exceeded_total", with("allowance", "pps")))
		assert.Equal(t, float64(ni.Allowances.TrackedConnections), value(families, "hostd_interface_conntrack_allowance", labels))
	}
	in := describe(t, d, a.id).NetworkInterfaces[0]
	assert.NotZero(t, in.Allowances.PpsAllowanceExceeded, "a's burst went past its allowance")
	assert.NotZero(t, in.Traffic.PacketsOut)
	assert.NotZero(t, describe(t, d, b.id).NetworkInterfaces[0].DropCounters["sg-ingress"])
	assert.Equal(t, float64(2), value(families, "hostd_instance_launch_duration_seconds", nil), "two launches timed")
	assert.GreaterOrEqual(t, value(families, "hostd_api_requests_total", map[string]string{"action": "GET /v1/instances", "code": "InvalidInstanceID.NotFound"}), float64(1))
	assert.GreaterOrEqual(t, value(families, "hostd_api_requests_total", map[string]string{"action": "POST /v1/instances", "code": "OK"}), float64(2))
	assert.Greater(t, value(families, "hostd_conntrack_limit", nil), float64(0))
	assert.GreaterOrEqual(t, value(families, "hostd_conntrack_entries", nil), float64(1))
	assert.Greater(t, value(families, "hostd_ram_pool_capacity_bytes", nil), float64(0))
	assert.GreaterOrEqual(t, value(families, "hostd_ram_pool_bytes", map[string]string{"state": "in_use"}), float64(2*16<<20))

	// Loopback only: the address without a host is not reachable on another address of the host.
	if ifs, err := net.InterfaceAddrs(); err == nil {
		for _, addr := range ifs {
			ip, _, _ := net.ParseCIDR(addr.String())
			if ip.To4() != nil && !ip.IsLoopback() {
				_, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second)
				assert.Error(t, err, "metrics reachable on %s", ip)
			}
		}
	}
}
