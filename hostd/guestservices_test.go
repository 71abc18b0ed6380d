package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// answersWithin polls url with curl run by poll (in a guest, or on the host) until it answers or
// limit passes, and returns how long that took.
func answersWithin(t *testing.T, limit time.Duration, poll func() bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if poll() {
			return time.Since(start), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), false
}

// The opening case of issue 14: python's http.server looks its own host name up before it
// listens. With the host's resolv.conf, whose resolver a guest cannot reach, that lookup waits
// out a DNS timeout; with the instance's own name files it is answered from /etc/hosts at once.
func TestServerInGuestAnswersNeighbourAtOnce(t *testing.T) {
	d := hostdtest.Start(t, unreachableUpstream(t)...)
	_, subnets := createVpc(t, d, "10.40.0.0/16", "10.40.1.0/24")
	client := launchIn(t, d, subnets[0])
	var server struct{ InstanceId, PrivateIpAddress string }
	d.JSON(&server, "instance", "run", "--subnet", subnets[0], "--", "python3", "-m", "http.server", "8080")
	took, ok := answersWithin(t, hostdtest.Scaled(5*time.Second), func() bool {
		_, _, code := d.Exec(client.id, "curl", "-sf", "-o", "/dev/null", "--max-time", "1", "http://"+server.PrivateIpAddress+":8080/")
		return code == 0
	})
	require.True(t, ok, "the server never answered")
	assert.Less(t, took, hostdtest.Scaled(time.Second), "the server answered only after %v", took)
	assert.Contains(t, d.MustExec(server.InstanceId, "cat", "/etc/hosts"), server.PrivateIpAddress+"\t"+server.InstanceId+" ")
	// Negative control: the same program on the host's side of the line, in namespaces of its
	// own whose resolv.conf names a server nobody answers and whose hosts file lacks its name,
	// as the guest's would without its own: it is not answering after a second.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 10.255.0.2\noptions timeout:2 attempts:1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	script := fmt.Sprintf(`set -e
mount --bind %[1]s/resolv.conf /etc/resolv.conf
mount --bind %[1]s/hosts /etc/hosts
hostname i-0control0000000
ip link set lo up
ip link add v0 type veth peer name v1 && ip addr add 10.255.0.1/24 dev v0 && ip link set v1 up && ip link set v0 up
ip neigh add 10.255.0.2 lladdr 02:00:00:00:00:99 dev v0
python3 -m http.server 8080 >/dev/null 2>&1 &
trap 'kill $!' EXIT
start=$(date +%%s%%N)
until curl -sf -o /dev/null --max-time 1 http://127.0.0.1:8080/; do sleep 0.05; done
echo $(( ($(date +%%s%%N) - start) / 1000000 ))`, dir)
	out, err := exec.Command("unshare", "--mount", "--uts", "--net", "--propagation", "private", "sh", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var ms int
	_, err = fmt.Sscan(strings.TrimSpace(string(out)), &ms)
	require.NoError(t, err, "%s", out)
	assert.GreaterOrEqual(t, ms, 1000, "without its own name files the server still answered in %d ms: the control shows no stall", ms)
}

// unreachableUpstream are serve flags that give the daemon's resolver an upstream nobody answers.
func unreachableUpstream(t *testing.T) []string { return nil }
