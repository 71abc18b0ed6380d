package hostdtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bridge is the negative control of the network protections: hosts on a plain Linux bridge,
// each in a network namespace of its own, the way a network without hostd's datapath connects
// machines. The same probes that fail against hostd succeed here.
type Bridge struct {
	t      testing.TB
	bin    string
	prefix string
	Hosts  []BridgeHost
}

// BridgeHost is one host on the bridge.
type BridgeHost struct {
	Netns string
	IP    string
	MAC   string
}

// NewBridge makes n hosts 10.77.0.1… on a bridge, and removes them when the test ends.
func NewBridge(t testing.TB, n int) *Bridge {
	t.Helper()
	RequireRoot(t)
	b := &Bridge{t: t, bin: Binary(t), prefix: fmt.Sprintf("hdctl%d", os.Getpid()%100000)}
	hub := b.prefix + "-br"
	t.Cleanup(func() {
		for _, h := range b.Hosts {
			_ = exec.Command("ip", "netns", "del", h.Netns).Run()
		}
		_ = exec.Command("ip", "netns", "del", hub).Run()
	})
	b.ip("netns", "add", hub)
	// Ageing time 0: the bridge learns no address and floods every frame, as a hub or any
	// shared segment would.
	b.ip("-n", hub, "link", "add", "br0", "type", "bridge", "ageing_time", "0")
	b.ip("-n", hub, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		h := BridgeHost{Netns: fmt.Sprintf("%s-h%d", b.prefix, i), IP: fmt.Sprintf("10.77.0.%d", i), MAC: fmt.Sprintf("02:77:00:00:00:%02x", i)}
		port := fmt.Sprintf("p%d", i)
		b.ip("netns", "add", h.Netns)
		b.ip("-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.Netns)
		b.ip("-n", hub, "link", "set", port, "master", "br0", "up")
		b.ip("-n", h.Netns, "link", "set", "eth0", "address", h.MAC, "up")
		b.ip("-n", h.Netns, "addr", "add", h.IP+"/24", "dev", "eth0")
		b.Hosts = append(b.Hosts, h)
	}
	return b
}

func (b *Bridge) ip(args ...string) {
	b.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(b.t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// Run runs `hostd ARGS` (a probe, say) in host i's namespace and returns its stdout and status.
func (b *Bridge) Run(i int, args ...string) (string, int) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", b.Hosts[i].Netns, b.bin}, args...)...)
	out, _ := cmd.Output()
	return string(out), cmd.ProcessState.ExitCode()
}

// Sh runs a shell command in host i's namespace.
func (b *Bridge) Sh(i int, script string) string {
	out, _ := exec.Command("ip", "netns", "exec", b.Hosts[i].Netns, "sh", "-c", script).CombinedOutput()
	return string(out)
}
