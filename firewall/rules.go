// Package firewall is EC2's firewall model: security groups (stateful, allow-only, per
// interface) and network ACLs (stateless, ordered, per subnet); their rules as EC2's
// IpPermissions JSON, validated as EC2 validates them; and a pure-Go evaluator of their semantics,
// the oracle the eBPF datapath is to be tested against. It depends on nothing else in hostd.
package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Error is a validation failure with EC2's error code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: "InvalidParameterValue", Message: fmt.Sprintf(format, args...)}
}

// AllProtocols is IpProtocol "-1": every protocol, every port.
const AllProtocols = -1

// Protocol numbers with EC2 names.
const (
	ICMP   = 1
	TCP    = 6
	UDP    = 17
	ICMPv6 = 58
)

// ParseProtocol reads an IpProtocol: a name (tcp, udp, icmp, icmpv6, all), -1, or a number 0-255.
func ParseProtocol(s string) (int, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "icmp":
		return ICMP, nil
	case "icmpv6":
		return ICMPv6, nil
	case "all", "-1":
		return AllProtocols, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, invalid("protocol %q: use tcp, udp, icmp, icmpv6, all (-1) or a number from 0 to 255", s)
	}
	return n, nil
}

// Rule is one security group rule: a protocol, ports (for ICMP, type and code), and one source
// (ingress) or destination (egress): a CIDR or the members of a group.
type Rule struct {
	Protocol int
	// From and To are the port range for TCP and UDP; for ICMP, From is the type and To the code,
	// -1 meaning any. For other protocols they are -1.
	From, To    int
	CIDR        netip.Prefix // valid when the peer is a CIDR
	Group       string       // set when the peer is a group
	Description string
}

// IpPermission is EC2's JSON form of rules, as `aws ec2 describe-security-groups` prints them.
type IpPermission struct {
	IpProtocol       string            `json:"IpProtocol"`
	FromPort         *int              `json:"FromPort,omitempty"`
	ToPort           *int              `json:"ToPort,omitempty"`
	IpRanges         []IpRange         `json:"IpRanges,omitempty"`
	Ipv6Ranges       []Ipv6Range       `json:"Ipv6Ranges,omitempty"`
	UserIdGroupPairs []UserIdGroupPair `json:"UserIdGroupPairs,omitempty"`
}

// IpRange is an IPv4 peer.
type IpRange struct {
	CidrIp      string `json:"CidrIp"`
	Description string `json:"Description,omitempty"`
}

// Ipv6Range is an IPv6 peer.
type Ipv6Range struct {
	CidrIpv6    string `json:"CidrIpv6"`
	Description string `json:"Description,omitempty"`
}

// UserIdGroupPair is a group peer.
type UserIdGroupPair struct {
	GroupId     string `json:"GroupId"`
	Description string `json:"Description,omitempty"`
}

// DecodeIpPermissions reads EC2's JSON, a list of IpPermission, refusing fields EC2 has not.
func DecodeIpPermissions(data []byte) ([]IpPermission, error) {
	var perms []IpPermission
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&perms); err != nil {
		return nil, &Error{Code: "InvalidPermission.Malformed", Message: fmt.Sprintf("IpPermissions is not valid JSON of EC2's shape: %v", err)}
	}
	return perms, nil
}

// RulesOf validates permissions as EC2 does and expands them into rules, one per peer.
func RulesOf(perms []IpPermission) ([]Rule, error) {
	var rules []Rule
	for _, p := range perms {
		rs, err := p.Rules()
		if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	if len(rules) == 0 {
		return nil, &Error{Code: "MissingParameter", Message: "no rule given: name a protocol and at least one CIDR or group"}
	}
	return rules, nil
}

// Rules validates p as EC2 does and expands it into one rule per peer.
func (p IpPermission) Rules() ([]Rule, error) {
	proto, err := ParseProtocol(p.IpProtocol)
	if err != nil {
		return nil, err
	}
	from, to, err := portsFor(proto, p.FromPort, p.ToPort)
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, r := range p.IpRanges {
		cidr, err := ParseCIDR(r.CidrIp)
		if err != nil {
			return nil, err
		}
		rules = append(rules, Rule{Protocol: proto, From: from, To: to, CIDR: cidr, Description: r.Description})
	}
	for _, r := range p.Ipv6Ranges {
		cidr, err := ParseCIDR(r.CidrIpv6)
		if err != nil {
			return nil, err
		}
		rules = append(rules, Rule{Protocol: proto, From: from, To: to, CIDR: cidr, Description: r.Description})
	}
	for _, g := range p.UserIdGroupPairs {
		if !strings.HasPrefix(g.GroupId, "sg-") {
			return nil, &Error{Code: "InvalidGroupId.Malformed", Message: fmt.Sprintf("invalid id: %q (expecting \"sg-...\")", g.GroupId)}
		}
		rules = append(rules, Rule{Protocol: proto, From: from, To: to, Group: g.GroupId, Description: g.Description})
	}
	if len(rules) == 0 {
		return nil, &Error{Code: "MissingParameter", Message: "a rule needs at least one CIDR or group"}
	}
	return rules, nil
}

// portsFor checks FromPort and ToPort for a protocol and returns the range a rule keeps.
func portsFor(proto int, fromPtr, toPtr *int) (int, int, error) {
	get := func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	}
	from, to := get(fromPtr), get(toPtr)
	switch proto {
	case TCP, UDP:
		if fromPtr == nil || toPtr == nil {
			return 0, 0, invalid("TCP and UDP rules need FromPort and ToPort")
		}
		if from < 0 || to > 65535 || from > to {
			return 0, 0, invalid("port range %d-%d: give 0 to 65535, FromPort no greater than ToPort", from, to)
		}
		return from, to, nil
	case ICMP, ICMPv6:
		// FromPort is the type, ToPort the code; -1 is any. A code needs a type.
		if from < -1 || from > 255 || to < -1 || to > 255 || (from == -1 && to != -1) {
			return 0, 0, invalid("ICMP type %d code %d: give a type and code from 0 to 255 (-1 for any); a code needs a type", from, to)
		}
		return from, to, nil
	}
	return -1, -1, nil // all protocols, or one with no ports
}

// ParseCIDR reads a peer CIDR as EC2 accepts one: canonical (no host bits set).
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalid("CIDR %q is not a valid CIDR block", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalid("CIDR %q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// IpPermission is the rule in EC2's JSON form, for describe.
func (r Rule) IpPermission() IpPermission {
	p := IpPermission{IpProtocol: strconv.Itoa(r.Protocol)}
	switch r.Protocol {
	case TCP:
		p.IpProtocol = "tcp"
	case UDP:
		p.IpProtocol = "udp"
	case ICMP:
		p.IpProtocol = "icmp"
	case ICMPv6:
		p.IpProtocol = "icmpv6"
	}
	if r.Protocol != AllProtocols {
		from, to := r.From, r.To
		p.FromPort, p.ToPort = &from, &to
	}
	switch {
	case r.Group != "":
		p.UserIdGroupPairs = []UserIdGroupPair{{GroupId: r.Group, Description: r.Description}}
	case r.CIDR.Addr().Is4():
		p.IpRanges = []IpRange{{CidrIp: r.CIDR.String(), Description: r.Description}}
	default:
		p.Ipv6Ranges = []Ipv6Range{{CidrIpv6: r.CIDR.String(), Description: r.Description}}
	}
	return p
}
