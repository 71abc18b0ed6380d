package iam

import (
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

// Reason says why a Decision came out as it did.
type Reason string

const (
	// ExplicitDeny: a Deny statement matched the action and one of the resources.
	ExplicitDeny Reason = "ExplicitDeny"
	// Allowed: no Deny matched, and for every resource an Allow statement did.
	Allowed Reason = "Allowed"
	// ImplicitDeny: no Deny matched, but no Allow matched one of the resources (default deny).
	ImplicitDeny Reason = "ImplicitDeny"
)

// Decision is the outcome of an evaluation, with the statement that decided it for the audit
// trail. For ImplicitDeny no statement decided: Policy is empty and Statement is -1.
type Decision struct {
	Reason    Reason
	Action    string
	Resource  string // the resource the deciding statement matched, or the first one nothing allowed
	Policy    string // the deciding statement's policy
	Statement int    // its index in the policy, from 0
	Sid       string
}

// Allowed tells whether the action may go ahead.
func (d Decision) Allowed() bool { return d.Reason == Allowed }

// Err is nil for an allowed action, and otherwise EC2's UnauthorizedOperation. Like EC2, it
// says whether an explicit deny refused; which policy did is for the audit trail, not the
// caller.
func (d Decision) Err() error {
	switch d.Reason {
	case Allowed:
		return nil
	case ExplicitDeny:
		return api.Errorf(api.CodeUnauthorizedOperation,
			"You are not authorized to perform %s on %s: an explicit deny in a policy of yours refuses it", d.Action, d.Resource)
	default:
		return api.Errorf(api.CodeUnauthorizedOperation,
			"You are not authorized to perform %s on %s: no policy of yours allows it", d.Action, d.Resource)
	}
}

// Evaluate decides whether the policies allow action (such as "ec2:TerminateInstances") on
// every one of resources (ARNs; "*" for an action that names no resource, as EC2's Describe
// calls do; none at all means "*"). An explicit Deny on any resource refuses; otherwise each
// resource needs an Allow; with no policy nothing is allowed.
func Evaluate(policies []*Policy, action string, resources []string) Decision {
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	d := evaluate(policies, strings.ToLower(action), resources)
	d.Action = action
	return d
}

func evaluate(policies []*Policy, action string, resources []string) Decision {
	for _, resource := range resources {
		if d, ok := find(policies, Deny, action, resource); ok {
			return d
		}
	}
	var allowed Decision
	for i, resource := range resources {
		d, ok := find(policies, Allow, action, resource)
		if !ok {
			return Decision{Reason: ImplicitDeny, Resource: resource, Statement: -1}
		}
		if i == 0 {
			allowed = d
		}
	}
	return allowed
}

// find returns the first statement with the effect that matches the action on the resource.
func find(policies []*Policy, effect Effect, action, resource string) (Decision, bool) {
	for _, p := range policies {
		for i, s := range p.Statements {
			if s.Effect == effect && s.matches(action, resource) {
				reason := Allowed
				if effect == Deny {
					reason = ExplicitDeny
				}
				return Decision{Reason: reason, Resource: resource, Policy: p.Name, Statement: i, Sid: s.Sid}, true
			}
		}
	}
	return Decision{}, false
}

// matches tells whether the statement applies to the (lower-case) action on the resource.
func (s *Statement) matches(action, resource string) bool {
	actionOK := anyMatch(s.Actions, action, globMatch)
	if s.NotActions != nil {
		actionOK = !anyMatch(s.NotActions, action, globMatch)
	}
	if !actionOK {
		return false
	}
	if s.NotResources != nil {
		return !anyMatch(s.NotResources, resource, resourceMatch)
	}
	return anyMatch(s.Resources, resource, resourceMatch)
}

func anyMatch(patterns []string, s string, match func(pattern, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// resourceMatch matches an ARN pattern against an ARN segment by segment (segments are what
// lies between colons): a wildcard matches within its segment, and a segment of the pattern
// that ends with * may also run on over the resource's following segments. "*" matches all.
func resourceMatch(pattern, resource string) bool {
	if pattern == "*" {
		return true
	}
	ps, rs := strings.Split(pattern, ":"), strings.Split(resource, ":")
	// ok[i][j]: pattern segments from i on match resource segments from j on.
	ok := make([][]bool, len(ps)+1)
	for i := range ok {
		ok[i] = make([]bool, len(rs)+1)
	}
	ok[len(ps)][len(rs)] = true
	for i := len(ps) - 1; i >= 0; i-- {
		for j := len(rs) - 1; j >= 0; j-- {
			if !globMatch(ps[i], rs[j]) {
				continue
			}
			ok[i][j] = ok[i+1][j+1]
			if strings.HasSuffix(ps[i], "*") {
				for k := j + 2; k <= len(rs) && !ok[i][j]; k++ {
					ok[i][j] = ok[i+1][k]
				}
			}
		}
	}
	return ok[0][0]
}

// globMatch matches s against a pattern where * is any run of bytes and ? any one byte.
// Greedy with backtracking to the last *: linear in practice, quadratic at worst.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ResourceARN is the ARN of an EC2 resource of hostd's, as policies name it:
// arn:aws:ec2:REGION:ACCOUNT:KIND/ID, with KIND one of instance, vpc, subnet, security-group,
// network-acl, volume, network-interface.
func ResourceARN(region, account, kind, id string) string {
	return "arn:aws:ec2:" + region + ":" + account + ":" + kind + "/" + id
}
