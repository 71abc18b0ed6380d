package main_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/findings"
	"github.com/hostd/hostd/hostd/hostdtest"
)

func findingsOf(t *testing.T, d *hostdtest.Daemon, args ...string) []findings.Finding {
	t.Helper()
	var out api.ListFindingsResponse
	d.JSON(&out, append([]string{"finding", "list"}, args...)...)
	return out.Findings
}

// serve starts `hostd probe serve` on port of inst (prefixed by wrap, as taskset), for long
// enough, and waits until it listens.
func serve(t *testing.T, d *hostdtest.Daemon, inst netInstance, port int, wrap ...string) {
	t.Helper()
	go d.Exec(inst.id, append(wrap, "hostd", "probe", "serve", "--port", fmt.Sprint(port), "--seconds", "600")...)
	require.Eventually(t, func() bool { return socketIn(t, inst.id, "tcp", port, tcpListen) }, hostdtest.Scaled(10*time.Second), 5*time.Millisecond)
}

// waitFindings waits until the drains have seen what was sent (a second each, and a margin).
func waitFindings() { time.Sleep(hostdtest.Scaled(2500 * time.Millisecond)) }

// nmap scanning a neighbour from inside a guest raises exactly one Recon:EC2/Portscan, naming the
// scanner, in the daemon's log too. Control: as many connections to one allowed port raise none.
func TestNmapScanRaisesOnePortscan(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.47.0.0/16", "10.47.1.0/24")
	web := createGroup(t, d, vpc, "web")
	authorize(t, d, web, "--ingress", "--protocol", "tcp", "--port", "80", "--cidr", "10.47.0.0/16")
	victim := launchIn(t, d, subnets[0], "--sg", web)
	scanner := launchIn(t, d, subnets[0])
	client := launchIn(t, d, subnets[0])
	serve(t, d, victim, 80)

	out := d.MustExec(scanner.id, "nmap", "-Pn", "-sT", "-T5", "--max-retries", "0", "-p", "1-200", victim.ip)
	require.Contains(t, out, "80/tcp", "nmap ran: %s", out)
	assert.Regexp(t, `80/tcp\s+open`, out, "the one port the group admits is open")
	// Control: as many connections, each a new flow, to the one port the group admits.
	d.MustExec(client.id, "hostd", "probe", "connrate", "--addr", victim.ip+":80", "--count", "200", "--seconds", "30")
	waitFindings()

	scans := findingsOf(t, d, "--type", findings.Portscan)
	require.Len(t, scans, 1, "exactly one Portscan: %+v", scans)
	f := scans[0]
	assert.Equal(t, scanner.id, f.InstanceId, "it names the scanner")
	assert.Equal(t, victim.ip, f.Peer.IpAddress)
	assert.Equal(t, victim.id, f.Peer.InstanceId)
	assert.Greater(t, f.Counts.Ports, findings.DefaultThresholds().PortscanPorts, "its count when it crossed the threshold")
	assert.Equal(t, api.OperatorAccount, f.AccountId)
	assert.False(t, f.FirstSeen.After(f.LastSeen))
	for _, other := range findingsOf(t, d) {
		assert.NotEqual(t, client.id, other.InstanceId, "the control raised nothing: %+v", other)
	}
	assert.Contains(t, d.Log(), `msg=finding type=Recon:EC2/Portscan instance=`+scanner.id)

	// --since and --type filter; a bad type is refused.
	assert.Empty(t, findingsOf(t, d, "--since", time.Now().Add(time.Minute).UTC().Format(time.RFC3339)))
	assert.Len(t, findingsOf(t, d, "--since", "10m", "--type", findings.Portscan), 1)
	_, stderr, code := d.Run("finding", "list", "--type", "Recon:EC2/Nothing")
	assert.Equal(t, 1, code)
	c, _ := hostdtest.ErrorOf(t, stderr)
	assert.Equal(t, api.CodeInvalidParameterValue, c)
}

// Repeated connections to a port a group leaves open to 0.0.0.0/0 raise PortProbeUnprotectedPort
// on the probed instance; a UDP flood raises DenialOfService.Udp on the flooder; forged sources
// raise SpoofingAttempt. Each once, whatever goes on after.
func TestProbeFloodAndSpoofFindings(t *testing.T) {
	d := hostdtest.Start(t, "--flood-pps", "50000") // below what a guest sends on a loaded machine
	vpc, subnets := createVpc(t, d, "10.48.0.0/16", "10.48.1.0/24")
	ssh := createGroup(t, d, vpc, "ssh")
	authorize(t, d, ssh, "--ingress", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	victim := launchIn(t, d, subnets[0], "--sg", ssh)
	prober := launchIn(t, d, subnets[0])
	flooder := launchIn(t, d, subnets[0], "--pps", "0")
	spoofer := launchIn(t, d, subnets[0])
	serve(t, d, victim, 22)

	d.MustExec(prober.id, "hostd", "probe", "connrate", "--addr", victim.ip+":22", "--count", "50", "--seconds", "30")
	d.MustExec(flooder.id, "hostd", "probe", "send", "--proto", "udp", "--dst-ip", victim.ip, "--count", "600000")
	d.MustExec(spoofer.id, "hostd", "probe", "send", "--proto", "udp", "--src-ip", "10.48.1.200", "--dst-ip", victim.ip, "--count", "20")
	waitFindings()

	byType := map[string][]findings.Finding{}
	for _, f := range findingsOf(t, d) {
		byType[f.Type] = append(byType[f.Type], f)
	}
	data, _ := json.MarshalIndent(byType, "", " ")
	require.Len(t, byType[findings.PortProbeUnprotectedPort], 1, "%s", data)
	assert.Equal(t, victim.id, byType[findings.PortProbeUnprotectedPort][0].InstanceId)
	assert.Equal(t, prober.id, byType[findings.PortProbeUnprotectedPort][0].Peer.InstanceId)
	require.Len(t, byType[findings.DenialOfServiceUDP], 1, "%s", data)
	assert.Equal(t, flooder.id, byType[findings.DenialOfServiceUDP][0].InstanceId)
	require.Len(t, byType[findings.SpoofingAttempt], 1, "%s", data)
	assert.Equal(t, spoofer.id, byType[findings.SpoofingAttempt][0].InstanceId)
	for typ, fs := range byType {
		assert.True(t, strings.Contains(typ, "EC2/"), typ)
		assert.Len(t, fs, 1, typ)
	}
}
