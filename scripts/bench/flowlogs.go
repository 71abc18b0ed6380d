package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// benchFlowLogs measures the packet rates at which a flow log is still complete (no SKIPDATA,
// every packet counted): one guest sending as fast as `hostd probe send` goes, first one flow
// (records are per flow: the rate of known flows is not bounded by them), then a new flow in every
// packet, in bursts below and above what one drain holds.
func benchFlowLogs(w *bytes.Buffer, d *daemon) error {
	var vpc api.Vpc
	if err := d.json(&vpc, "vpc", "create", "--cidr", "10.201.0.0/16"); err != nil {
		return err
	}
	var subnet api.Subnet
	if err := d.json(&subnet, "subnet", "create", "--vpc", vpc.VpcId, "--cidr", "10.201.0.0/24"); err != nil {
		return err
	}
	var a, b api.RunInstanceResponse
	for _, in := range []*api.RunInstanceResponse{&a, &b} {
		if err := d.json(in, "instance", "run", "--subnet", subnet.SubnetId, "--pps", "0", "--bandwidth", "0", "--conntrack", "131072", "--", "sleep", "3600"); err != nil {
			return err
		}
	}
	defer func() { _, _ = d.cli("instance", "terminate", a.InstanceId, b.InstanceId) }()
	var desc api.DescribeInstancesResponse
	if err := d.json(&desc, "instance", "describe", a.InstanceId); err != nil {
		return err
	}
	eni := desc.Instances[0].NetworkInterfaces[0].NetworkInterfaceId
	path := filepath.Join(d.dir, "bench-flow.log")
	var fl api.FlowLog
	if err := d.json(&fl, "flow-log", "create", "--resource", vpc.VpcId, "--traffic-type", "ALL", "--interval", "1s", "--destination", path); err != nil {
		return err
	}
	defer func() { _, _ = d.cli("flow-log", "delete", fl.FlowLogId) }()

	fmt.Fprintf(w, "## Flow logs: the packet rate with complete records (issue 15)\n\n")
	fmt.Fprintf(w, "One instance sends UDP to another as fast as `hostd probe send` goes (a raw socket, one frame a syscall; the rate includes `instance exec`), under a flow log of their VPC with a 1 s interval. Complete: the flow log's packets on the sender's interface add up to what was sent, and no interval says SKIPDATA. The datapath keeps at most %s flow records per drain (one a second).\n\n", "32,768")
	fmt.Fprintf(w, "| traffic | packets | packets/s sent | packets in the flow log | SKIPDATA intervals | complete |\n|---|---|---|---|---|---|\n")
	for _, c := range []struct {
		name  string
		count int
		flows bool
		dport int
	}{
		{"one flow", 2_000_000, false, 7001},
		{"a new flow per packet, 20,000 in a burst", 20_000, true, 7002},
		{"a new flow per packet, 100,000 in a burst", 100_000, true, 7003},
	} {
		before, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		args := []string{"instance", "exec", a.InstanceId, "--", "hostd", "probe", "send", "--proto", "udp", "--dst-ip", b.PrivateIpAddress,
			"--dport", strconv.Itoa(c.dport), "--count", strconv.Itoa(c.count), "--payload", strings.Repeat("x", 18)}
		if c.flows {
			args = append(args, "--flows")
		}
		start := time.Now()
		if _, err := d.cli(args...); err != nil {
			return err
		}
		rate := float64(c.count) / time.Since(start).Seconds()
		time.Sleep(3 * time.Second) // the last interval written
		after, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		logged, skipped := 0, 0
		for _, line := range strings.Split(string(after[len(before):]), "\n") {
			f := strings.Fields(line)
			if len(f) != 14 || f[2] != eni {
				continue
			}
			if f[13] == "SKIPDATA" {
				skipped++
			}
			// The flows of --flows count up the source port, then the destination port.
			if f[4] == b.PrivateIpAddress && f[12] == "ACCEPT" {
				if p, err := strconv.Atoi(f[6]); err == nil && p >= c.dport && p < c.dport+2 {
					n, _ := strconv.Atoi(f[8])
					logged += n
				}
			}
		}
		complete := logged == c.count && skipped == 0
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %d | %s |\n", c.name, c.count, rate, logged, skipped, map[bool]string{true: "yes", false: "no"}[complete])
	}
	fmt.Fprintf(w, "\nRecords are per flow and per drain, so the packets of known flows are all counted at any rate this machine makes; what bounds completeness is new flows per drain: more than the datapath's room in one second and the interval says SKIPDATA (the packets are still counted in the interfaces' traffic, by interface pair).\n\n")
	return nil
}
