package iam

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The oracle is a second, plain reading of IAM's rules: each pattern becomes a regular
// expression, and the decision is "any Deny matches any resource: denied; else every resource
// matched by some Allow: allowed; else denied".

// actionRegexp: * is any run, ? any one character, letters in either case.
func actionRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)^`)
	for _, c := range pattern {
		switch c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// resourceRegexp: "*" is everything; otherwise * and ? stay within a colon-separated segment,
// but a * that ends a segment may run on over colons.
func resourceRegexp(pattern string) *regexp.Regexp {
	if pattern == "*" {
		return regexp.MustCompile(`(?s)^.*$`)
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i, segment := range strings.Split(pattern, ":") {
		if i > 0 {
			b.WriteString(`:`)
		}
		for j, c := range segment {
			switch {
			case c == '*' && j == len(segment)-1:
				b.WriteString(`.*`)
			case c == '*':
				b.WriteString(`[^:]*`)
			case c == '?':
				b.WriteString(`[^:]`)
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// The oracle's regular expressions, compiled once per pattern.
var actionRegexps, resourceRegexps = map[string]*regexp.Regexp{}, map[string]*regexp.Regexp{}

func anyRegexp(patterns []string, s string, cache map[string]*regexp.Regexp, compile func(string) *regexp.Regexp) bool {
	for _, p := range patterns {
		re := cache[p]
		if re == nil {
			if len(cache) > 100000 {
				clear(cache)
			}
			re = compile(p)
			cache[p] = re
		}
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func oracleMatches(s Statement, action, resource string) bool {
	actionOK := anyRegexp(s.Actions, action, actionRegexps, actionRegexp)
	if s.NotActions != nil {
		actionOK = !anyRegexp(s.NotActions, action, actionRegexps, actionRegexp)
	}
	resourceOK := anyRegexp(s.Resources, resource, resourceRegexps, resourceRegexp)
	if s.NotResources != nil {
		resourceOK = !anyRegexp(s.NotResources, resource, resourceRegexps, resourceRegexp)
	}
	return actionOK && resourceOK
}

func oracle(policies []*Policy, action string, resources []string) Reason {
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	for _, r := range resources {
		for _, p := range policies {
			for _, s := range p.Statements {
				if s.Effect == Deny && oracleMatches(s, action, r) {
					return ExplicitDeny
				}
			}
		}
	}
	for _, r := range resources {
		allowed := false
		for _, p := range policies {
			for _, s := range p.Statements {
				allowed = allowed || s.Effect == Allow && oracleMatches(s, action, r)
			}
		}
		if !allowed {
			return ImplicitDeny
		}
	}
	return Allowed
}

// checkAgainstOracle fails when Evaluate and the oracle disagree, or when the statement the
// decision names does not itself say what the decision says.
func checkAgainstOracle(t *testing.T, policies []*Policy, action string, resources []string) {
	t.Helper()
	d := Evaluate(policies, action, resources)
	if want := oracle(policies, action, resources); d.Reason != want {
		t.Fatalf("Evaluate says %s, the oracle %s: action %q, resources %q, policies %s", d.Reason, want, action, resources, dump(policies))
	}
	if d.Reason == ImplicitDeny {
		return
	}
	var p *Policy
	for _, candidate := range policies {
		if candidate.Name == d.Policy {
			p = candidate
		}
	}
	s := p.Statements[d.Statement]
	wantEffect := map[Reason]Effect{Allowed: Allow, ExplicitDeny: Deny}[d.Reason]
	if s.Effect != wantEffect || !oracleMatches(s, action, d.Resource) {
		t.Fatalf("decision %+v names a statement that does not decide it: %+v", d, s)
	}
}

func dump(policies []*Policy) string {
	raw, _ := json.Marshal(policies)
	return string(raw)
}

// Pieces that make patterns and requests likely to match one another, sometimes.
var (
	services       = []string{"ec2:", "EC2:", "s3:"}
	actionPieces   = []string{"Describe", "describe", "Run", "Terminate", "Instances", "Vpcs", "*", "?", "i", "s"}
	resourcePieces = []string{"arn:aws:ec2:", "us-east-1", "eu-west-3", ":", "111122223333", "444455556666", "instance/", "vpc/",
		"i-0a1", "i-0b2", "vpc-1", "*", "?", "/", "-", "a"}
	requestActions = []string{"ec2:DescribeInstances", "ec2:RunInstances", "ec2:TerminateInstances", "EC2:describevpcs", "ec2:Describe", "s3:GetObject"}
)

func randomFrom(rng *rand.Rand, pieces []string, n int) string {
	var b strings.Builder
	for range 1 + rng.IntN(n) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func randomAction(rng *rand.Rand) string {
	return services[rng.IntN(len(services))] + randomFrom(rng, actionPieces, 4)
}

func randomList(rng *rand.Rand, f func() string) []string {
	out := make([]string, 1+rng.IntN(3))
	for i := range out {
		out[i] = f()
	}
	return out
}

// randomPolicy makes a policy document from the pieces, and parses it.
func randomPolicy(rng *rand.Rand, name string) *Policy {
	var statements []map[string]any
	for range 1 + rng.IntN(4) {
		s := map[string]any{"Effect": []string{"Allow", "Deny"}[rng.IntN(2)]}
		actions := randomList(rng, func() string {
			if rng.IntN(8) == 0 {
				return "*"
			}
			return randomAction(rng)
		})
		resources := randomList(rng, func() string {
			if rng.IntN(6) == 0 {
				return "*"
			}
			return "arn:aws:ec2:" + randomFrom(rng, resourcePieces, 7)
		})
		s[[]string{"Action", "NotAction"}[rng.IntN(4)/3]] = actions
		s[[]string{"Resource", "NotResource"}[rng.IntN(4)/3]] = resources
		statements = append(statements, s)
	}
	doc, _ := json.Marshal(map[string]any{"Version": Version, "Statement": statements})
	p, err := Parse(name, doc)
	if err != nil {
		panic(fmt.Sprintf("a generated policy is refused: %v", err))
	}
	return p
}

// TestEvaluateMatchesOracle: on generated policies and requests, Evaluate and the oracle agree.
func TestEvaluateMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	reasons := map[Reason]int{}
	for range 20000 {
		var policies []*Policy
		for i := range rng.IntN(4) {
			policies = append(policies, randomPolicy(rng, fmt.Sprint("p", i)))
		}
		action := requestActions[rng.IntN(len(requestActions))]
		if rng.IntN(3) == 0 {
			action = randomAction(rng)
		}
		resources := randomList(rng, func() string {
			if rng.IntN(5) == 0 {
				return "*"
			}
			return "arn:aws:ec2:" + randomFrom(rng, resourcePieces, 7)
		})
		checkAgainstOracle(t, policies, action, resources)
		reasons[Evaluate(policies, action, resources).Reason]++
	}
	// The generator is only worth something if all three outcomes come up often.
	for _, r := range []Reason{Allowed, ExplicitDeny, ImplicitDeny} {
		if reasons[r] < 1000 {
			t.Errorf("only %d of 20000 generated cases came out %s: %v", reasons[r], r, reasons)
		}
	}
}

var denyAll = &Policy{Name: "deny-all", Statements: []Statement{{Effect: Deny, Actions: []string{"*"}, Resources: []string{"*"}}}}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzPolicy: whatever the document, Parse does not panic; whatever it accepts, Evaluate does
// not panic, agrees with the oracle, and a Deny of everything added denies everything.
func FuzzPolicy(f *testing.F) {
	f.Add(readDoc, "ec2:DescribeInstances", inst1)
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":"ec2:Run*","NotResource":"arn:aws:ec2:*:instance/*"},`+
		`{"Effect":"Allow","Action":"*","Resource":"arn:aws:ec2:us-*"}]}`, "ec2:RunInstances", "arn:aws:ec2:us-east-1:1:instance/i-1")
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:?un*","Resource":"arn:a?s:*:*:*:*"}}`, "EC2:RUNinstances", "*")
	f.Fuzz(func(t *testing.T, doc, action, resource string) {
		p, err := Parse("fuzz", []byte(doc))
		if err != nil {
			return
		}
		if !isASCII(action) || !isASCII(resource) {
			return // hostd's actions and ARNs are ASCII; the oracle's regexps count runes
		}
		checkAgainstOracle(t, []*Policy{p}, action, []string{resource})
		if d := Evaluate([]*Policy{p, denyAll}, action, []string{resource}); d.Reason != ExplicitDeny {
			t.Fatalf("a Deny of everything did not deny: %+v", d)
		}
	})
}
