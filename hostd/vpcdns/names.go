// Package vpcdns is what a VPC's resolver knows and answers: EC2's private DNS names, the
// guests' name files, and the resolver the daemon runs for its guests (AmazonProvidedDNS, at the
// VPC's base address plus two and at 169.254.169.253).
package vpcdns

import (
	"fmt"
	"net/netip"
	"strings"
)

// Region is the daemon's region, and Domain its internal domain: EC2 names us-east-1's private
// hosts ec2.internal (every other region's REGION.compute.internal).
const (
	Region = "us-east-1"
	Domain = "ec2.internal"
)

// ResolverAddr is a VPC's resolver: its base address plus two.
func ResolverAddr(vpc netip.Prefix) netip.Addr {
	return vpc.Masked().Addr().Next().Next()
}

// PrivateName is EC2's IP-based private name of ip: ip-10-0-1-11.ec2.internal.
func PrivateName(ip netip.Addr) string {
	return "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + "." + Domain
}

// InstanceName is EC2's resource-based private name of an instance: i-0123456789abcdef0.ec2.internal.
func InstanceName(id string) string { return id + "." + Domain }

// ResolvConf is a guest's /etc/resolv.conf. With a network, its VPC's resolver, searching the
// region's domain, with EC2's own timeout and attempts (the resolver answers SERVFAIL well within
// the first timeout when no upstream does). Without one (resolver invalid), loopback, where
// nothing listens unless the guest runs a server there: a lookup fails at once, never waits.
func ResolvConf(resolver netip.Addr) []byte {
	if !resolver.IsValid() {
		return []byte("# hostd: this instance has no network; lookups fail at once\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	}
	return fmt.Appendf(nil, "# hostd: the VPC's resolver (AmazonProvidedDNS)\nnameserver %s\nsearch %s\noptions timeout:2 attempts:5\n", resolver, Domain)
}

// Hosts is a guest's /etc/hosts: localhost, and its own names (its hostname, the instance id,
// first) at its private address, or at 127.0.1.1 without one, as Debian does, so that a program
// looking up its own host name never asks a resolver.
func Hosts(instanceID string, ip netip.Addr) []byte {
	b := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if !ip.IsValid() {
		return fmt.Appendf(b, "127.0.1.1\t%s %s\n", instanceID, InstanceName(instanceID))
	}
	short := strings.TrimSuffix(PrivateName(ip), "."+Domain)
	return fmt.Appendf(b, "%s\t%s %s %s %s\n", ip, instanceID, InstanceName(instanceID), PrivateName(ip), short)
}
