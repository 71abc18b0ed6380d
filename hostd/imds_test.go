package main_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
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

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/metadata"
	"github.com/hostd/hostd/vnet"
)

const imdsURL = "http://169.254.169.254/latest/"

// imds runs curl in a guest against the metadata service and returns the HTTP status (0 if
// nothing answered) and the body.
func imds(t *testing.T, d *hostdtest.Daemon, id string, args ...string) (int, string) {
	t.Helper()
	out, _, _ := d.Exec(id, append([]string{"curl", "-s", "-m", "3", "-w", "\n%{http_code}"}, args...)...)
	i := strings.LastIndex(out, "\n")
	status, _ := strconv.Atoi(out[i+1:])
	return status, out[:max(i, 0)]
}

// getToken asks a guest's metadata service for a token living ttl seconds (as the header says).
func getToken(t *testing.T, d *hostdtest.Daemon, id, ttl string, curlArgs ...string) (int, string) {
	t.Helper()
	args := append([]string{"-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: " + ttl}, curlArgs...)
	return imds(t, d, id, append(args, imdsURL+"api/token")...)
}

// withToken is a GET of path with token.
func withToken(t *testing.T, d *hostdtest.Daemon, id, token, path string, curlArgs ...string) (int, string) {
	t.Helper()
	return imds(t, d, id, append(curlArgs, "-H", "X-aws-ec2-metadata-token: "+token, imdsURL+path)...)
}

// IMDSv2 with curl from real guests: a token, then the instance's own metadata and user data,
// byte for byte; without a token 401 when tokens are required (control: 200 when optional);
// another instance's token, a forged one or an expired one 401 (control: the same token before
// it expires); the service off: 403. Tokens outlive a daemon restart.
func TestMetadataV2(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.70.0.0/16", "10.70.1.0/24")
	userData := make([]byte, 4096)
	_, _ = rand.Read(userData)
	copy(userData, "#!/bin/sh\x00\xff\xfe binary")
	file := filepath.Join(t.TempDir(), "user-data")
	require.NoError(t, os.WriteFile(file, userData, 0o600))
	a := launchIn(t, d, subnets[0], "--user-data", file)
	b := launchIn(t, d, subnets[0], "--metadata-tokens", "optional")
	c := launchIn(t, d, subnets[0], "--metadata", "off")
	var groups api.DescribeSecurityGroupsResponse
	d.JSON(&groups, "sg", "describe")
	require.Len(t, groups.SecurityGroups, 1)

	status, _ := imds(t, d, a.id, imdsURL+"meta-data/instance-id")
	assert.Equal(t, 401, status, "no token, tokens required")
	status, tok := getToken(t, d, a.id, "21600")
	require.Equal(t, 200, status, tok)
	for path, want := range map[string]string{
		"meta-data/instance-id":                                              a.id,
		"meta-data/local-ipv4":                                               a.ip,
		"meta-data/mac":                                                      a.mac,
		"meta-data/local-hostname":                                           "ip-" + strings.ReplaceAll(a.ip, ".", "-") + ".ec2.internal",
		"meta-data/placement/availability-zone":                              "us-east-1a",
		"meta-data/network/interfaces/macs/" + a.mac + "/subnet-id":          subnets[0],
		"meta-data/network/interfaces/macs/" + a.mac + "/vpc-id":             vpc,
		"meta-data/network/interfaces/macs/" + a.mac + "/local-ipv4s":        a.ip,
		"meta-data/network/interfaces/macs/" + a.mac + "/security-group-ids": groups.SecurityGroups[0].GroupId,
		"meta-data/security-groups":                                          "default",
		"meta-data/instance-type":                                            "hostd.custom",
	} {
		status, body := withToken(t, d, a.id, tok, path)
		assert.Equal(t, 200, status, path)
		assert.Equal(t, want, body, path)
	}
	_, listing := withToken(t, d, a.id, tok, "meta-data/")
	for _, entry := range []string{"ami-id", "instance-id", "local-ipv4", "mac", "network/", "placement/", "security-groups"} {
		assert.Contains(t, strings.Split(listing, "\n"), entry)
	}
	got, _, code := d.Exec(a.id, "sh", "-c", "curl -sf -H 'X-aws-ec2-metadata-token: "+tok+"' "+imdsURL+"user-data | base64 -w0")
	require.Zero(t, code)
	assert.Equal(t, base64.StdEncoding.EncodeToString(userData), got, "user data changed on the way")
	status, _ = withToken(t, d, b.id, tok, "user-data")
	assert.Equal(t, 401, status, "B used A's token")
	status, _ = withToken(t, d, b.id, "bm90LWEtdG9rZW4.AAAA", "meta-data/instance-id")
	assert.Equal(t, 401, status, "a made-up token")
	status, body := imds(t, d, b.id, imdsURL+"meta-data/instance-id")
	assert.Equal(t, 200, status, "no token, tokens optional")
	assert.Equal(t, b.id, body)
	status, _ = imds(t, d, b.id, imdsURL+"user-data")
	assert.Equal(t, 404, status, "B has no user data")
	status, _ = getToken(t, d, c.id, "60")
	assert.Equal(t, 403, status, "the service is off for C")

	// Expiry: a 1-second token works at once and is refused 2 s later.
	status, short := getToken(t, d, a.id, "1")
	require.Equal(t, 200, status)
	status, _ = withToken(t, d, a.id, short, "meta-data/instance-id")
	assert.Equal(t, 200, status, "a fresh 1 s token")
	time.Sleep(2 * time.Second)
	status, _ = withToken(t, d, a.id, short, "meta-data/instance-id")
	assert.Equal(t, 401, status, "an expired token")

	var described api.DescribeInstancesResponse
	d.JSON(&described, "instance", "describe", a.id, c.id)
	assert.Equal(t, api.InstanceMetadataOptions{HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled"}, *described.Instances[0].MetadataOptions)
	assert.Equal(t, "disabled", described.Instances[1].MetadataOptions.HttpEndpoint)

	// Across a daemon killed and restarted: the services answer as soon as it is back, and the
	// token still serves.
	d.Kill()
	start := time.Now()
	d.Restart()
	status, body = withToken(t, d, a.id, tok, "meta-data/instance-id")
	assert.Equal(t, 200, status)
	assert.Equal(t, a.id, body)
	assert.Contains(t, getentHosts(d, a.id, b.id+".ec2.internal"), b.ip)
	back := time.Since(start)
	t.Logf("metadata and DNS answered %v after the restart began", back)
	assert.Less(t, back, hostdtest.Scaled(time.Second))
}

// A guest with its source/dest check off sends from its neighbour's address: the service still
// answers with its own metadata, never the neighbour's. Control: the forgery is real: a third
// instance receives datagrams from the neighbour's address.
func TestMetadataForgedSource(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.71.0.0/16", "10.71.1.0/24")
	forger, victim, witness := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0])
	d.JSON(&api.ReturnResponse{}, "instance", "modify", forger.id, "--source-dest-check=false")
	// The guest's root has no CAP_NET_ADMIN; the test gives its eth0 the victim's address, as a
	// guest administering its own network would.
	// (And the router's MAC for the addresses it sends to, which it would otherwise ask for from
	// that address: ARP is answered only when asked as the interface itself, whatever the check.)
	pid := workloadPid(t, describe(t, d, forger.id).Pid)
	router := strings.TrimSuffix(forger.ip, "."+strings.Split(forger.ip, ".")[3]) + ".1"
	script := "ip addr add " + victim.ip + "/32 dev eth0"
	for _, ip := range []string{router, witness.ip} {
		script += " && ip neigh replace " + ip + " lladdr 02:00:00:00:00:01 dev eth0 nud permanent"
	}
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "sh", "-ec", script).CombinedOutput()
	require.NoError(t, err, "%s", out)

	status, tok := getToken(t, d, forger.id, "60", "--interface", victim.ip)
	require.Equal(t, 200, status, tok)
	status, body := withToken(t, d, forger.id, tok, "meta-data/instance-id", "--interface", victim.ip)
	assert.Equal(t, 200, status)
	assert.Equal(t, forger.id, body, "the forger read another instance's metadata")
	_, body = withToken(t, d, forger.id, tok, "meta-data/local-ipv4", "--interface", victim.ip)
	assert.Equal(t, forger.ip, body)
	// The victim's own token does not serve the forger either.
	_, victimTok := getToken(t, d, victim.id, "60")
	status, _ = withToken(t, d, forger.id, victimTok, "meta-data/instance-id", "--interface", victim.ip)
	assert.Equal(t, 401, status)

	wait := listen(t, d, witness, "udp", 7100)
	d.MustExec(forger.id, "python3", "-c", fmt.Sprintf(`import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((%q, 0))
s.sendto(b"forged", (%q, 7100))`, victim.ip, witness.ip))
	assert.Equal(t, "forged", wait(), "the control's forged datagram did not arrive")
}

// nestedNetns gives an instance a network namespace behind it, one hop further, as a container
// inside the guest would be: 192.168.77.2, routed through the guest (which forwards). It
// returns the namespace's name.
func nestedNetns(t *testing.T, d *hostdtest.Daemon, id string) string {
	ns := testNetns(t, "nest")
	pid := strconv.Itoa(workloadPid(t, describe(t, d, id).Pid))
	for _, script := range []string{
		"ip link add nv0 type veth peer name nv1 netns " + ns,
		"ip addr add 192.168.77.1/24 dev nv0 && ip link set nv0 up && echo 1 > /proc/sys/net/ipv4/ip_forward",
	} {
		out, err := exec.Command("nsenter", "-t", pid, "-n", "sh", "-ec", script).CombinedOutput()
		require.NoError(t, err, "%s: %s", script, out)
	}
	nsSh(t, ns, "ip addr add 192.168.77.2/24 dev nv1 && ip link set nv1 up && ip route add default via 192.168.77.1")
	return ns
}

// A token asked from a namespace one hop behind the instance never arrives: its answer leaves
// with IP TTL 1, the hop limit, and dies at the instance's forwarding. Control: the same with
// hop limit 2 arrives; and the instance itself gets its token either way.
func TestMetadataHopLimit(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.72.0.0/16", "10.72.1.0/24")
	one, two := launchIn(t, d, subnets[0]), launchIn(t, d, subnets[0], "--metadata-hop-limit", "2")
	var wg sync.WaitGroup
	results := map[string]string{}
	var mu sync.Mutex
	for _, in := range []netInstance{one, two} {
		// Its packets come from the nested address: the check would drop them.
		d.JSON(&api.ReturnResponse{}, "instance", "modify", in.id, "--source-dest-check=false")
		ns := nestedNetns(t, d, in.id)
		status, _ := getToken(t, d, in.id, "60")
		assert.Equal(t, 200, status, "the instance itself gets a token")
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _ := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-m", "3", "-X", "PUT", "-H",
				"X-aws-ec2-metadata-token-ttl-seconds: 60", "-w", " %{http_code}", imdsURL+"api/token").CombinedOutput()
			mu.Lock()
			results[in.id] = string(out)
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.NotContains(t, results[one.id], "200", "a token reached a namespace behind the instance, hop limit 1")
	assert.True(t, strings.HasSuffix(results[two.id], " 200"), "hop limit 2: %q", results[two.id])
}

// Bad input: malformed and oversized HTTP requests get 400 or 431 and the service goes on; the
// token TTL header out of range gets 400; a token through a proxy 403; methods other than
// GET, HEAD and PUT 405. Bad flags of instance run are refused and change nothing.
func TestMetadataBadInput(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.73.0.0/16", "10.73.1.0/24")
	a := launchIn(t, d, subnets[0])
	for _, ttl := range []string{"0", "21601", "-5", "abc", "1e3", ""} {
		status, _ := getToken(t, d, a.id, ttl)
		assert.Equal(t, 400, status, "TTL %q", ttl)
	}
	status, _ := getToken(t, d, a.id, "60", "-H", "X-Forwarded-For: 10.0.0.9")
	assert.Equal(t, 403, status, "a token through a proxy")
	status, _ = imds(t, d, a.id, "-X", "DELETE", imdsURL+"meta-data/")
	assert.Equal(t, 405, status)
	status, _ = imds(t, d, a.id, "-H", "X-aws-ec2-metadata-token: "+strings.Repeat("x", 20000), imdsURL+"meta-data/")
	assert.Equal(t, 431, status, "an oversized header")
	raw := d.MustExec(a.id, "python3", "-c", `import socket
for req in [b"GARBAGE\r\n\r\n", b"GET /latest/meta-data/ HTTP/1.1\r\nHost\r\n\r\n", b"\x00\xff" * 100 + b"\r\n\r\n"]:
    s = socket.create_connection(("169.254.169.254", 80), timeout=3)
    s.sendall(req)
    print(s.recv(100).split(b"\r\n")[0].decode(errors="replace"))
    s.close()`)
	for _, line := range strings.Split(raw, "\n") {
		assert.Contains(t, line, " 400 ", "a malformed request")
	}
	status, tok := getToken(t, d, a.id, "60")
	assert.Equal(t, 200, status, "the service after bad input")
	status, _ = withToken(t, d, a.id, tok, "meta-data/no-such-thing")
	assert.Equal(t, 404, status)

	big := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 16385), 0o600))
	before := snapshot(t, d)
	for _, bad := range [][]string{
		{"--metadata-tokens", "sometimes"}, {"--metadata-hop-limit", "0"}, {"--metadata-hop-limit", "65"},
		{"--metadata-hop-limit", "x"}, {"--metadata", "maybe"}, {"--user-data", "/nonexistent/file"}, {"--user-data", big},
	} {
		_, errOut, code := d.Run(append(append([]string{"instance", "run", "--subnet", subnets[0]}, bad...), "--", "true")...)
		assert.Equal(t, 1, code, "%v", bad)
		c, msg := hostdtest.ErrorOf(t, errOut)
		assert.Equal(t, api.CodeInvalidParameterValue, c, "%v: %s", bad, msg)
	}
	assert.Equal(t, before, snapshot(t, d), "a refused launch changed something")
}

// holdScript opens 64 connections to the metadata service, holds them for the seconds given,
// and prints how many the service closed at once: a guest trying to starve the daemon of
// descriptors and goroutines. (It looks at them all at once: one by one, the last would be
// looked at after the service's 5 s wait for a request has closed them too.)
const holdScript = `
import select, socket, sys, time
held = [socket.create_connection(("169.254.169.254", 80), timeout=3) for _ in range(64)]
time.sleep(0.5)
readable, _, _ = select.select(held, [], [], 0.2)
print(sum(1 for s in readable if s.recv(1) == b""), flush=True)
time.sleep(float(sys.argv[1]))
`

// A guest holding connections open to the metadata service gets at most its quota of them
// (metadata.MaxConnsPerAsker): the rest are closed at once, and it gets no new one while it
// holds them; its neighbour is served all the while. Control: once the guest lets go, it is
// served again.
func TestMetadataConnectionsAreCappedPerInstance(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.74.0.0/16", "10.74.1.0/24")
	attacker := launchIn(t, d, subnets[0], "--metadata-tokens", "optional")
	neighbour := launchIn(t, d, subnets[0], "--metadata-tokens", "optional")
	status, _ := imds(t, d, attacker.id, imdsURL+"meta-data/instance-id")
	require.Equal(t, 200, status, "the attacker's own request before the attack")

	closed := make(chan string, 1)
	go func() {
		out, errOut, _ := d.Exec(attacker.id, "python3", "-c", holdScript, "4")
		closed <- strings.TrimSpace(out) + errOut
	}()
	time.Sleep(hostdtest.Scaled(1500 * time.Millisecond)) // the connections are open and counted
	status, body := imds(t, d, neighbour.id, imdsURL+"meta-data/instance-id")
	assert.Equal(t, 200, status, "the neighbour was not served during the attack")
	assert.Equal(t, neighbour.id, body)
	status, _ = imds(t, d, attacker.id, imdsURL+"meta-data/instance-id")
	assert.NotEqual(t, 200, status, "the attacker got a connection past its quota")
	// Exactly the connections past the quota were closed at once.
	out := <-closed
	n, err := strconv.Atoi(out)
	require.NoError(t, err, out)
	assert.Equal(t, 64-metadata.MaxConnsPerAsker, n, "connections of the attacker's 64 closed at once")

	// Control: the attacker's connections are gone, and so is the cap on it.
	require.Eventually(t, func() bool {
		status, _ := imds(t, d, attacker.id, imdsURL+"meta-data/instance-id")
		return status == 200
	}, 10*time.Second, 200*time.Millisecond, "the attacker was not served again after letting go")
}

// A guest flooding the metadata service with SYNs is held, as EC2 holds an interface, to 1024
// packets a second to the link-local services (DNS and metadata together): past that the
// datapath drops its packets and counts them as linklocal_allowance_exceeded, and its
// neighbour is served throughout. Control: with the allowance raised, nothing of the same flood
// is dropped.
func TestMetadataFloodIsHeldToTheLinkLocalAllowance(t *testing.T) {
	d := hostdtest.Start(t)
	_, subnets := createVpc(t, d, "10.75.0.0/16", "10.75.1.0/24")
	flooder := launchIn(t, d, subnets[0], "--metadata-tokens", "optional")
	neighbour := launchIn(t, d, subnets[0], "--metadata-tokens", "optional")
	// What reached the datapath is what the interface's host end received: the guest sends
	// faster than the kernel's backlog takes, and the excess never reaches any program.
	received := func() uint64 {
		path := "/sys/class/net/" + describe(t, d, flooder.id).NetworkInterfaces[0].HostInterface + "/statistics/rx_packets"
		out, err := exec.Command("ip", "netns", "exec", "hostd-"+d.Fabric, "cat", path).CombinedOutput()
		require.NoError(t, err, "%s", out)
		n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
		require.NoError(t, err)
		return n
	}

	// flood has the flooder send SYNs of new connections to the service, 8 rounds of 25,000
	// (their source ports all different), while the neighbour asks for its instance id. It
	// returns how many packets reached the datapath, how many of them it dropped as past the
	// allowance and for any reason, and the most the allowance lets through in the flood's time.
	flood := func() (arrived, overAllowance, dropped, allowed uint64) {
		dropsBefore, receivedBefore := drops(t, d, flooder.id), received()
		done := make(chan time.Duration)
		go func() {
			start := time.Now()
			d.MustExec(flooder.id, "sh", "-ec", `for i in 1 2 3 4 5 6 7 8; do
				hostd probe send --proto tcp-syn --dst-ip 169.254.169.254 --dport 80 --flows --sport 40000 --count 25000 >/dev/null
			done`)
			done <- time.Since(start)
		}()
		for served := 0; ; served++ {
			select {
			case took := <-done:
				arrived = received() - receivedBefore
				for reason, n := range drops(t, d, flooder.id) {
					dropped += n - dropsBefore[reason]
				}
				overAllowance = drops(t, d, flooder.id)["linklocal_allowance_exceeded"] - dropsBefore["linklocal_allowance_exceeded"]
				t.Logf("%d packets reached the datapath in %v, %d dropped (%d past the allowance); the neighbour was served %d times meanwhile",
					arrived, took, dropped, overAllowance, served)
				return arrived, overAllowance, dropped, uint64(vnet.LinkLocalPacketsPerSecond) * uint64(took/time.Second+2)
			default:
			}
			status, body := imds(t, d, neighbour.id, imdsURL+"meta-data/instance-id")
			require.Equal(t, 200, status, "the neighbour was not served during the flood")
			require.Equal(t, neighbour.id, body)
		}
	}
	arrived, overAllowance, dropped, allowed := flood()
	require.Greater(t, arrived, 4*allowed, "the flood was too slow to test anything")
	assert.LessOrEqual(t, arrived-dropped, allowed, "more of the flood got through than the allowance lets")
	assert.Positive(t, overAllowance)

	setLinkLocalAllowance(t, d, 1<<30)
	arrived, overAllowance, _, _ = flood()
	assert.Zero(t, overAllowance, "the flood was dropped with the allowance raised (%d packets arrived)", arrived)
}
