package probe

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// latencies fills in r's rate and latency percentiles from each transaction's time over d.
func (r *PerfResult) latencies(ts []time.Duration, d time.Duration) {
	r.Seconds, r.Transactions = d.Seconds(), int64(len(ts))
	r.PerSecond = float64(len(ts)) / d.Seconds()
	if len(ts) == 0 {
		return
	}
	slices.Sort(ts)
	at := func(q float64) int64 { return ts[min(len(ts)-1, int(q*float64(len(ts))))].Microseconds() }
	r.P50Micros, r.P99Micros, r.MaxGapMicros = at(0.5), at(0.99), ts[len(ts)-1].Microseconds()
}

// DNSRate asks the resolver at addr (IP:PORT) for name's A record over UDP, one query at a
// time, for d or count queries (0: no count), whichever ends first: the queries answered per
// second and each one's time.
func DNSRate(addr, name string, d time.Duration, count int) (*PerfResult, error) {
	conn, err := net.Dial("udp4", addr)
	if err != nil {
		return nil, err
	}
	c := &dns.Conn{Conn: conn}
	defer c.Close()
	query := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
	var ts []time.Duration
	start := time.Now()
	for time.Since(start) < d && (count == 0 || len(ts) < count) {
		t := time.Now()
		query.Id = dns.Id()
		_ = c.SetDeadline(t.Add(transactionTimeout))
		if err := c.WriteMsg(query); err != nil {
			return nil, err
		}
		resp, err := c.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("no answer from %s for %s: %w", addr, name, err)
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
			return nil, fmt.Errorf("%s answered %s for %s", addr, dns.RcodeToString[resp.Rcode], name)
		}
		ts = append(ts, time.Since(t))
	}
	res := &PerfResult{Addr: addr}
	res.latencies(ts, time.Since(start))
	return res, nil
}

// MetadataRate asks the metadata service at base (http://169.254.169.254/latest/) for a token,
// then for the instance id with it, one request at a time over one connection, for d.
func MetadataRate(base string, d time.Duration) (*PerfResult, error) {
	client := &http.Client{Timeout: transactionTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	get := func(method, url string, header ...string) (string, error) {
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set(header[0], header[1])
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: %s", method, url, resp.Status)
		}
		return strings.TrimSpace(string(body)), err
	}
	token, err := get(http.MethodPut, base+"api/token", "X-aws-ec2-metadata-token-ttl-seconds", "21600")
	if err != nil {
		return nil, err
	}
	var ts []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		if _, err := get(http.MethodGet, base+"meta-data/instance-id", "X-aws-ec2-metadata-token", token); err != nil {
			return nil, err
		}
		ts = append(ts, time.Since(t))
	}
	res := &PerfResult{Addr: base}
	res.latencies(ts, time.Since(start))
	return res, nil
}
