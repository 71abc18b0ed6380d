package main

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
)

func cmdSg(g *globals, args []string) error {
	return runVerb(g, "sg", args, map[string]func(*globals, []string) error{
		"create": sgCreate, "describe": sgDescribe, "delete": sgDelete,
		"authorize": sgRules("authorize"), "revoke": sgRules("revoke"), "modify": sgModify, "rules": sgListRules,
	})
}

func cmdNacl(g *globals, args []string) error {
	return runVerb(g, "nacl", args, map[string]func(*globals, []string) error{
		"create": naclCreate, "entry": naclEntry("entry"), "replace-entry": naclEntry("replace-entry"), "delete-entry": naclDeleteEntry,
		"delete": func(g *globals, args []string) error {
			return deleteVerb(g, "nacl delete", "/v1/network-acls/", api.NetworkAclID, args)
		},
		"associate": naclAssociate, "describe": naclDescribe,
	})
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// ruleFlags is RULE: --ip-permissions JSON, or the shorthand --protocol P [--port N|N-M|TYPE[:CODE]]
// (--cidr CIDR | --source-group ID) [--description D].
type ruleFlags struct {
	json, protocol, port, cidr, group, description string
	ingress, egress                                bool
}

func (r *ruleFlags) register(fs *flag.FlagSet, groups bool) {
	fs.StringVar(&r.json, "ip-permissions", "", "the rule as EC2's IpPermissions JSON (a list)")
	fs.StringVar(&r.protocol, "protocol", "", "tcp, udp, icmp, icmpv6, all, or a protocol number")
	fs.StringVar(&r.port, "port", "", "a port N or range N-M (tcp, udp), or TYPE[:CODE] (icmp)")
	fs.StringVar(&r.cidr, "cidr", "", "the peer CIDR")
	if groups {
		fs.StringVar(&r.group, "source-group", "", "the peer group (its members' private addresses)")
		fs.StringVar(&r.description, "description", "", "what the rule is for")
	}
}

// registerDirection adds --ingress and --egress, for the calls that add or remove rules.
func (r *ruleFlags) registerDirection(fs *flag.FlagSet) {
	fs.BoolVar(&r.ingress, "ingress", false, "an inbound rule")
	fs.BoolVar(&r.egress, "egress", false, "an outbound rule")
}

// direction returns whether the rule is outbound; exactly one of --ingress and --egress is needed.
func (r *ruleFlags) direction() (bool, error) {
	if r.ingress == r.egress {
		return false, usagef("give one of --ingress and --egress")
	}
	return r.egress, nil
}

// permissions reads RULE into EC2's form; the daemon validates it.
func (r *ruleFlags) permissions() ([]firewall.IpPermission, error) {
	if r.json != "" {
		if r.protocol != "" || r.port != "" || r.cidr != "" || r.group != "" || r.description != "" {
			return nil, usagef("give the rule either as --ip-permissions or as --protocol/--port/--cidr/--source-group/--description, not both")
		}
		perms, err := firewall.DecodeIpPermissions([]byte(r.json))
		if err != nil {
			return nil, api.FirewallError(err)
		}
		for _, p := range perms {
			for _, pair := range p.UserIdGroupPairs {
				if err := api.GroupID.Check(pair.GroupId); err != nil {
					return nil, err
				}
			}
		}
		return perms, nil
	}
	if r.protocol == "" {
		return nil, api.Errorf(api.CodeMissingParameter, "name a rule: --protocol with --cidr or --source-group (and --port), or --ip-permissions JSON")
	}
	if (r.cidr == "") == (r.group == "") {
		return nil, api.Errorf(api.CodeMissingParameter, "a rule names one peer: --cidr CIDR or --source-group ID")
	}
	p := firewall.IpPermission{IpProtocol: r.protocol}
	if r.port != "" {
		from, to, err := parsePorts(r.protocol, r.port)
		if err != nil {
			return nil, err
		}
		p.FromPort, p.ToPort = &from, &to
	} else if isICMP(r.protocol) {
		any := -1
		p.FromPort, p.ToPort = &any, &any
	}
	if r.cidr != "" {
		p.IpRanges = []firewall.IpRange{{CidrIp: r.cidr, Description: r.description}}
		if strings.Contains(r.cidr, ":") {
			p.IpRanges, p.Ipv6Ranges = nil, []firewall.Ipv6Range{{CidrIpv6: r.cidr, Description: r.description}}
		}
	} else {
		if err := api.GroupID.Check(r.group); err != nil {
			return nil, err
		}
		p.UserIdGroupPairs = []firewall.UserIdGroupPair{{GroupId: r.group, Description: r.description}}
	}
	return []firewall.IpPermission{p}, nil
}

// parsePorts reads --port: N or N-M, or for ICMP TYPE[:CODE].
func parsePorts(protocol, s string) (int, int, error) {
	bad := api.Errorf(api.CodeInvalidParameterValue, "--port %q: give N or N-M (tcp, udp) or TYPE[:CODE] (icmp)", s)
	sep := "-"
	if isICMP(protocol) {
		sep = ":"
	}
	a, b, two := strings.Cut(s, sep)
	from, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, bad
	}
	if !two {
		if sep == ":" {
			return from, -1, nil
		}
		return from, from, nil
	}
	to, err := strconv.Atoi(b)
	if err != nil {
		return 0, 0, bad
	}
	return from, to, nil
}

// isICMP tells whether protocol is ICMP or ICMPv6, whose "ports" are a type and a code.
func isICMP(protocol string) bool {
	proto, err := firewall.ParseProtocol(protocol)
	return err == nil && (proto == firewall.ICMP || proto == firewall.ICMPv6)
}

func sgCreate(g *globals, args []string) error {
	fs := newFlags("sg create")
	g.accountFlag(fs)
	var req api.CreateSecurityGroupRequest
	fs.StringVar(&req.VpcId, "vpc", "", "the VPC of the group")
	fs.StringVar(&req.GroupName, "name", "", "the group's name, unique in its VPC")
	fs.StringVar(&req.Description, "description", "", "what the group is for")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.VpcId == "" || req.GroupName == "" {
		return api.Errorf(api.CodeMissingParameter, "--vpc and --name are required")
	}
	if err := api.VpcID.Check(req.VpcId); err != nil {
		return err
	}
	if req.Description == "" {
		req.Description = req.GroupName
	}
	var out api.CreateSecurityGroupResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/security-groups", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func sgDescribe(g *globals, args []string) error {
	return describeVerb(g, "sg describe", "/v1/security-groups", api.GroupID, args, &api.DescribeSecurityGroupsResponse{})
}

func sgDelete(g *globals, args []string) error {
	return deleteVerb(g, "sg delete", "/v1/security-groups/", api.GroupID, args)
}

// sgRules is `sg authorize` and `sg revoke`.
func sgRules(verb string) func(*globals, []string) error {
	return func(g *globals, args []string) error {
		fs := newFlags("sg " + verb)
		var req api.SecurityGroupRulesRequest
		fs.StringVar(&req.GroupId, "group", "", "the group")
		var rule ruleFlags
		rule.register(fs, true)
		rule.registerDirection(fs)
		var ruleIDs stringList
		if verb == "revoke" {
			fs.Var(&ruleIDs, "rule-id", "a rule to revoke by its sgr- id (repeatable), instead of RULE")
		}
		if err := parseNoArgs(fs, args); err != nil {
			return err
		}
		req.SecurityGroupRuleIds = ruleIDs
		var err error
		if req.Egress, err = rule.direction(); err != nil {
			return err
		}
		if req.GroupId == "" {
			return api.Errorf(api.CodeMissingParameter, "--group is required")
		}
		if err := api.GroupID.Check(req.GroupId); err != nil {
			return err
		}
		if len(ruleIDs) == 0 || rule.json != "" || rule.protocol != "" {
			if req.IpPermissions, err = rule.permissions(); err != nil {
				return err
			}
		}
		var out any = &api.ReturnResponse{}
		if verb == "authorize" {
			out = &api.AuthorizeSecurityGroupResponse{}
		}
		if err := client(g).Call(context.Background(), http.MethodPost, "/v1/security-groups/"+verb, req, out); err != nil {
			return err
		}
		return g.print(out)
	}
}

// sgModify is `sg modify`: a rule, named by its sgr- id, becomes RULE, keeping its id and its
// direction.
func sgModify(g *globals, args []string) error {
	fs := newFlags("sg modify")
	var groupID, ruleID string
	fs.StringVar(&groupID, "group", "", "the group")
	fs.StringVar(&ruleID, "rule-id", "", "the rule to modify, by its sgr- id")
	var rule ruleFlags
	rule.register(fs, true)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if groupID == "" || ruleID == "" {
		return api.Errorf(api.CodeMissingParameter, "--group and --rule-id are required")
	}
	if err := api.GroupID.Check(groupID); err != nil {
		return err
	}
	perms, err := rule.permissions()
	if err != nil {
		return err
	}
	if len(perms) != 1 {
		return api.Errorf(api.CodeInvalidParameterValue, "a rule becomes one rule: give one permission, not %d", len(perms))
	}
	req := api.ModifySecurityGroupRulesRequest{GroupId: groupID, SecurityGroupRules: []api.SecurityGroupRuleUpdate{{SecurityGroupRuleId: ruleID, IpPermission: perms[0]}}}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/security-groups/modify", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

// sgListRules lists the rules of groups, or of all, with their sgr- ids.
func sgListRules(g *globals, args []string) error {
	return describeVerb(g, "sg rules", "/v1/security-group-rules", api.GroupID, args, &api.DescribeSecurityGroupRulesResponse{})
}

func instanceSetGroups(g *globals, args []string) error {
	fs := newFlags("instance set-groups")
	var groups stringList
	fs.Var(&groups, "sg", "a security group (repeatable, at most 5)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: hostd instance set-groups ID --sg ID...")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if err := api.InstanceID.Check(args[0]); err != nil {
		return err
	}
	if err := api.GroupID.Check(groups...); err != nil {
		return err
	}
	var out api.ReturnResponse
	req := api.SetGroupsRequest{Groups: groups}
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances/"+url.PathEscape(args[0])+"/groups", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func naclCreate(g *globals, args []string) error {
	fs := newFlags("nacl create")
	g.accountFlag(fs)
	var req api.CreateNetworkAclRequest
	fs.StringVar(&req.VpcId, "vpc", "", "the VPC of the ACL")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.VpcId == "" {
		return api.Errorf(api.CodeMissingParameter, "--vpc is required")
	}
	if err := api.VpcID.Check(req.VpcId); err != nil {
		return err
	}
	var out api.CreateNetworkAclResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/network-acls", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

// naclEntryFlags are the flags every entry command has: the ACL, the number, the direction.
func naclEntryFlags(fs *flag.FlagSet, req *api.NetworkAclEntryRequest, rule *ruleFlags) *string {
	fs.StringVar(&req.NetworkAclId, "nacl", "", "the network ACL")
	number := fs.String("rule-number", "", "the entry's number, 1 to 32766 (lowest first)")
	rule.register(fs, false)
	rule.registerDirection(fs)
	return number
}

func (r *ruleFlags) entryRequest(req *api.NetworkAclEntryRequest, number string) error {
	var err error
	if req.Egress, err = r.direction(); err != nil {
		return err
	}
	if req.NetworkAclId == "" || number == "" {
		return api.Errorf(api.CodeMissingParameter, "--nacl and --rule-number are required")
	}
	if err := api.NetworkAclID.Check(req.NetworkAclId); err != nil {
		return err
	}
	if req.RuleNumber, err = strconv.Atoi(number); err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "--rule-number %q is not a number", number)
	}
	return nil
}

// naclEntry adds an entry (entry) or puts one in the place of the entry of its number
// (replace-entry).
func naclEntry(verb string) func(*globals, []string) error {
	return func(g *globals, args []string) error { return naclPutEntry(g, verb, args) }
}

func naclPutEntry(g *globals, verb string, args []string) error {
	fs := newFlags("nacl " + verb)
	var req api.NetworkAclEntryRequest
	var rule ruleFlags
	number := naclEntryFlags(fs, &req, &rule)
	fs.StringVar(&req.RuleAction, "action", "", "allow or deny")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := rule.entryRequest(&req, *number); err != nil {
		return err
	}
	perms, err := rule.permissions()
	if err != nil {
		return err
	}
	if len(perms) != 1 || len(perms[0].IpRanges) != 1 || len(perms[0].UserIdGroupPairs) > 0 || len(perms[0].Ipv6Ranges) > 0 {
		return api.Errorf(api.CodeInvalidParameterValue, "an ACL entry has one protocol, one port range and one IPv4 CIDR (no groups)")
	}
	p := perms[0]
	req.Protocol, req.CidrBlock = p.IpProtocol, p.IpRanges[0].CidrIp
	if p.FromPort != nil && p.ToPort != nil {
		if isICMP(p.IpProtocol) {
			req.IcmpTypeCode = &api.IcmpTypeCode{Type: *p.FromPort, Code: *p.ToPort}
		} else {
			req.PortRange = &api.PortRange{From: *p.FromPort, To: *p.ToPort}
		}
	}
	var out api.ReturnResponse
	path := "/v1/network-acls/entries"
	if verb == "replace-entry" {
		path += "/replace"
	}
	if err := client(g).Call(context.Background(), http.MethodPost, path, req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func naclDeleteEntry(g *globals, args []string) error {
	fs := newFlags("nacl delete-entry")
	var req api.NetworkAclEntryRequest
	var rule ruleFlags
	number := naclEntryFlags(fs, &req, &rule)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := rule.entryRequest(&req, *number); err != nil {
		return err
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/network-acls/entries/delete", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func naclAssociate(g *globals, args []string) error {
	fs := newFlags("nacl associate")
	var req api.AssociateNetworkAclRequest
	fs.StringVar(&req.NetworkAclId, "nacl", "", "the network ACL")
	fs.StringVar(&req.SubnetId, "subnet", "", "the subnet to put under it")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.NetworkAclId == "" || req.SubnetId == "" {
		return api.Errorf(api.CodeMissingParameter, "--nacl and --subnet are required")
	}
	if err := api.NetworkAclID.Check(req.NetworkAclId); err != nil {
		return err
	}
	if err := api.SubnetID.Check(req.SubnetId); err != nil {
		return err
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/network-acls/associate", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func naclDescribe(g *globals, args []string) error {
	return describeVerb(g, "nacl describe", "/v1/network-acls", api.NetworkAclID, args, &api.DescribeNetworkAclsResponse{})
}
