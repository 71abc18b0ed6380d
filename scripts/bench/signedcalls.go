package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
)

// benchSignedCalls measures API calls per second over the network listener (each signed by
// aws-sdk-go-v2, verified, authorized by the user's policy and audited) against the same calls
// on the unix socket (the operator's: audited, neither signed nor authorized), with 1 and 8
// concurrent clients: a read (instance describe, 4 instances) and a write (sg authorize and
// revoke in turn, each a firewall change enforced before it answers).
func benchSignedCalls(w *bytes.Buffer, bin string) error {
	d, err := startDaemon(bin, "cp", "--listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer d.stop()
	endpoint, err := listenerOf(d)
	if err != nil {
		return err
	}
	var acct api.Account
	if err := d.json(&acct, "account", "create", "--name", "bench"); err != nil {
		return err
	}
	if err := d.json(&api.User{}, "user", "create", "--account", acct.AccountId, "--name", "bench"); err != nil {
		return err
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2:AuthorizeSecurityGroup*","ec2:RevokeSecurityGroup*"],"Resource":"*"}]}`
	if err := d.json(&api.ReturnResponse{}, "user", "put-policy", "--account", acct.AccountId, "--name", "bench", "--policy-name", "bench", "--policy-document", policy); err != nil {
		return err
	}
	var key api.AccessKey
	if err := d.json(&key, "access-key", "create", "--account", acct.AccountId, "--user", "bench"); err != nil {
		return err
	}
	var vpc api.Vpc
	if err := d.json(&vpc, "vpc", "create", "--cidr", "10.0.0.0/16", "--account", acct.AccountId); err != nil {
		return err
	}
	var group api.CreateSecurityGroupResponse
	if err := d.json(&group, "sg", "create", "--vpc", vpc.VpcId, "--name", "bench", "--account", acct.AccountId); err != nil {
		return err
	}
	for range 4 {
		if _, err := d.cli("instance", "run", "--account", acct.AccountId, "--ram", "0", "--", "sleep", "3600"); err != nil {
			return err
		}
	}
	clients := map[string]*api.Client{
		"unix": d.client,
		"tcp":  api.NewSignedClient(endpoint, aws.Credentials{AccessKeyID: key.AccessKeyId, SecretAccessKey: key.SecretAccessKey}, "us-east-1"),
	}
	read := func(c *api.Client, _ int, _ int) error {
		var out api.DescribeInstancesResponse
		return c.Call(context.Background(), http.MethodGet, "/v1/instances", nil, &out)
	}
	// Each client authorizes, then revokes, a rule of its own port: the group never holds more
	// than 8 rules, and every call is a real change.
	authorized := make([]bool, 8)
	write := func(c *api.Client, client, _ int) error {
		port := 1000 + client
		req := api.SecurityGroupRulesRequest{GroupId: group.GroupId, IpPermissions: []firewall.IpPermission{{IpProtocol: "tcp", FromPort: &port, ToPort: &port, IpRanges: []firewall.IpRange{{CidrIp: "10.9.0.0/16"}}}}}
		path := "/v1/security-groups/authorize"
		if authorized[client] {
			path = "/v1/security-groups/revoke"
		}
		if err := c.Call(context.Background(), http.MethodPost, path, req, nil); err != nil {
			return err
		}
		authorized[client] = !authorized[client]
		return nil
	}
	const per = 2 * time.Second
	rates := map[string][]float64{}
	for range cpRounds {
		for _, call := range []struct {
			name string
			f    func(*api.Client, int, int) error
		}{{"read", read}, {"write", write}} {
			for _, n := range []int{1, 8} {
				for _, via := range []string{"unix", "tcp"} {
					rate, err := callRate(n, per, func(client, i int) error { return call.f(clients[via], client, i) })
					if err != nil {
						return fmt.Errorf("%s %s: %w", via, call.name, err)
					}
					k := fmt.Sprintf("%s/%d/%s", call.name, n, via)
					rates[k] = append(rates[k], rate)
				}
			}
		}
	}
	fmt.Fprintf(w, "Whole API calls per second, from clients in this process: over the network listener (TCP, each request signed by aws-sdk-go-v2, verified, authorized against the user's policy, and audited: answered only once its record is fsynced) against the same calls on the unix socket (the operator's: audited too, since both listeners are, but neither signed nor authorized). A read is `instance describe` of 4 instances; a write is `sg authorize` and `sg revoke` in turn (each a firewall change the datapath enforces before the answer). %v per measurement, %d rounds with unix and TCP alternating; medians. The machine is shared with other engineers' tests: read the ratios.\n\n", per, cpRounds)
	fmt.Fprintf(w, "| call | clients | unix socket (calls/s) | TCP signed + audited (calls/s) | TCP / unix |\n|---|---|---|---|---|\n")
	for _, name := range []string{"read", "write"} {
		for _, n := range []int{1, 8} {
			u, t := median(rates[fmt.Sprintf("%s/%d/unix", name, n)]), median(rates[fmt.Sprintf("%s/%d/tcp", name, n)])
			fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.2f× |\n", name, n, u, t, t/u)
		}
	}
	readRatio := median(rates["read/8/tcp"]) / median(rates["read/8/unix"])
	writes := median(rates["write/8/tcp"])
	fmt.Fprintf(w, "\nTargets: signed reads at least 0.8× the socket's (8 clients): %s (%.2f×); durable audited writes at least 1,000/s with 8 clients: %s (%.0f/s).\n\n",
		verdict(readRatio >= 0.8), readRatio, verdict(writes >= 1000), writes)
	return nil
}

// listenerOf reads the network listener's address from the daemon's log.
func listenerOf(d *daemon) (string, error) {
	pattern := regexp.MustCompile(`network listener serving signed calls" listen=(\S+)`)
	for range 200 {
		data, _ := os.ReadFile(filepath.Join(d.dir, "daemon.log"))
		if m := pattern.FindSubmatch(data); m != nil {
			return "http://" + string(m[1]), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("the daemon announced no network listener; see %s/daemon.log", d.dir)
}

// callRate runs f from n clients for about d and returns calls per second; f gets its client's
// number and the count of its calls so far.
func callRate(n int, d time.Duration, f func(client, i int) error) (float64, error) {
	var mu sync.Mutex
	count := 0
	deadline := time.Now().Add(d)
	elapsed, err := parallel(n, func(client int) error {
		i := 0
		defer func() { mu.Lock(); count += i; mu.Unlock() }()
		for ; time.Now().Before(deadline); i++ {
			if err := f(client, i); err != nil {
				return err
			}
		}
		return nil
	})
	return float64(count) / elapsed.Seconds(), err
}
