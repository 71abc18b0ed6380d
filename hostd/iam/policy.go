// Package iam reads IAM policy documents and decides, as IAM does, whether they allow an
// action on resources.
//
// A policy is IAM's JSON: {"Version":"2012-10-17","Statement":[...]} with each statement's
// Effect (Allow or Deny), Action or NotAction, Resource or NotResource, and an optional Sid.
// Actions ("ec2:Describe*") match case-insensitively, resources (EC2's ARNs,
// arn:aws:ec2:REGION:ACCOUNT:instance/i-…) case-sensitively; both take the wildcards * (any
// run of characters) and ? (any one character). In a resource, a wildcard stays within its
// colon-separated segment, except a * that ends a segment, which may run on across colons.
//
// What IAM has and hostd does not is refused, never ignored, because ignoring it could allow
// more than its author meant: Condition, Principal and NotPrincipal (which identity-based
// policies may not have either), and policy variables (${aws:username}).
//
// Evaluate is a pure function of the policies, the action and the resources: default deny, an
// explicit Deny beats any Allow, and every resource must be allowed.
package iam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

// Version is the only policy language version hostd reads.
const Version = "2012-10-17"

// MaxPolicySize bounds a policy document, in characters other than white space (IAM's limit
// for a managed policy).
const MaxPolicySize = 6144

// Effect is a statement's Allow or Deny.
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is a parsed, valid policy document.
type Policy struct {
	Name       string
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Actions and NotActions is set, and
// exactly one of Resources and NotResources. Action patterns are kept in lower case.
type Statement struct {
	Sid          string
	Effect       Effect
	Actions      []string
	NotActions   []string
	Resources    []string
	NotResources []string
}

func malformed(format string, args ...any) error {
	return api.Errorf(api.CodeMalformedPolicyDocument, format, args...)
}

// Parse reads a policy document and checks it; its errors are MalformedPolicyDocument and say
// what to change. name is the policy's name, for decisions and error messages.
func Parse(name string, doc []byte) (*Policy, error) {
	if n := len(bytes.Join(bytes.Fields(doc), nil)); n > MaxPolicySize {
		return nil, malformed("policy %s is %d characters long (white space aside); the limit is %d", name, n, MaxPolicySize)
	}
	top, err := readObject(doc)
	if err != nil {
		return nil, malformed("policy %s is not a JSON object: %v", name, err)
	}
	p := &Policy{Name: name}
	var version string
	var statements []json.RawMessage
	for _, f := range top {
		switch f.name {
		case "Version":
			if err := json.Unmarshal(f.value, &version); err != nil || version != Version {
				return nil, malformed("policy %s: Version must be %q", name, Version)
			}
		case "Id":
			var id string
			if err := json.Unmarshal(f.value, &id); err != nil {
				return nil, malformed("policy %s: Id must be a string", name)
			}
		case "Statement":
			if statements, err = oneOrMany(f.value); err != nil || len(statements) == 0 {
				return nil, malformed("policy %s: Statement must be a statement object or a non-empty list of them", name)
			}
		default:
			return nil, malformed("policy %s has an unknown element %q; a policy has Version, Id and Statement", name, truncate(f.name))
		}
	}
	if version == "" {
		return nil, malformed("policy %s lacks Version; set \"Version\": %q", name, Version)
	}
	if statements == nil {
		return nil, malformed("policy %s lacks Statement", name)
	}
	sids := map[string]bool{}
	for i, raw := range statements {
		s, err := parseStatement(raw)
		if err != nil {
			return nil, malformed("policy %s, statement %d: %v", name, i+1, err)
		}
		if s.Sid != "" && sids[s.Sid] {
			return nil, malformed("policy %s, statement %d: Sid %q is used twice; each statement's Sid must be unique", name, i+1, s.Sid)
		}
		sids[s.Sid] = true
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(raw json.RawMessage) (Statement, error) {
	var s Statement
	fields, err := readObject(raw)
	if err != nil {
		return s, fmt.Errorf("not a JSON object: %v", err)
	}
	for _, f := range fields {
		var err error
		switch f.name {
		case "Sid":
			if json.Unmarshal(f.value, &s.Sid) != nil || !isSid(s.Sid) {
				return s, fmt.Errorf("the Sid must be a string of letters and digits")
			}
		case "Effect":
			var e string
			if json.Unmarshal(f.value, &e) != nil || e != string(Allow) && e != string(Deny) {
				return s, fmt.Errorf("the Effect must be \"Allow\" or \"Deny\"")
			}
			s.Effect = Effect(e)
		case "Action":
			s.Actions, err = actionList(f.name, f.value)
		case "NotAction":
			s.NotActions, err = actionList(f.name, f.value)
		case "Resource":
			s.Resources, err = resourceList(f.name, f.value)
		case "NotResource":
			s.NotResources, err = resourceList(f.name, f.value)
		case "Condition":
			return s, fmt.Errorf("hostd does not support Condition; a policy with one is refused rather than applied without it. " +
				"Express the rule with Action and Resource, or leave the statement out")
		case "Principal", "NotPrincipal":
			return s, fmt.Errorf("%s has no place in a user's policy: the policy applies to the user it is attached to", f.name)
		default:
			return s, fmt.Errorf("unknown element %q; a statement has Sid, Effect, Action or NotAction, Resource or NotResource", truncate(f.name))
		}
		if err != nil {
			return s, err
		}
	}
	switch {
	case s.Effect == "":
		return s, fmt.Errorf("the Effect is missing: \"Allow\" or \"Deny\"")
	case (s.Actions == nil) == (s.NotActions == nil):
		return s, fmt.Errorf("a statement must have exactly one of Action and NotAction")
	case (s.Resources == nil) == (s.NotResources == nil):
		return s, fmt.Errorf("a statement must have exactly one of Resource and NotResource")
	}
	return s, nil
}

// actionList reads Action or NotAction: "*", or "service:pattern" with a literal service name.
func actionList(element string, raw json.RawMessage) ([]string, error) {
	values, err := stringList(element, raw)
	if err != nil {
		return nil, err
	}
	for i, v := range values {
		service, name, ok := strings.Cut(v, ":")
		if v != "*" && (!ok || !isServiceName(service) || !isPattern(name, false)) {
			return nil, fmt.Errorf("%s %q must be \"*\" or SERVICE:ACTION, such as \"ec2:DescribeInstances\" or \"ec2:Describe*\"", element, truncate(v))
		}
		values[i] = strings.ToLower(v)
	}
	return values, nil
}

// resourceList reads Resource or NotResource: "*", or an ARN pattern.
func resourceList(element string, raw json.RawMessage) ([]string, error) {
	values, err := stringList(element, raw)
	if err != nil {
		return nil, err
	}
	for _, v := range values {
		if v != "*" && (!strings.HasPrefix(v, "arn:") || !isPattern(v, true)) {
			return nil, fmt.Errorf("%s %q must be \"*\" or an ARN, such as \"arn:aws:ec2:us-east-1:123456789012:instance/*\"", element, truncate(v))
		}
	}
	return values, nil
}

// stringList reads a string or a non-empty list of strings, without policy variables.
func stringList(element string, raw json.RawMessage) ([]string, error) {
	var values []string
	var list []*string // a null in the list stays visible as nil
	if one := ""; json.Unmarshal(raw, &one) == nil {
		values = []string{one}
	} else if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, fmt.Errorf("%s must be a string or a non-empty list of strings", element)
	}
	for _, v := range list {
		if v == nil {
			return nil, fmt.Errorf("%s must be a string or a non-empty list of strings", element)
		}
		values = append(values, *v)
	}
	for _, v := range values {
		if strings.Contains(v, "${") {
			return nil, fmt.Errorf("%s %q uses a policy variable; hostd does not substitute them, so it refuses them", element, truncate(v))
		}
	}
	return values, nil
}

// isPattern tells whether s is a non-empty pattern of printable ASCII (in an action, without
// ':' or '/' either).
func isPattern(s string, resource bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || !resource && (c == ':' || c == '/') {
			return false
		}
	}
	return true
}

func isServiceName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isSid(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

type field struct {
	name  string
	value json.RawMessage
}

// readObject reads one JSON object and nothing after it, refusing a name given twice: Go's
// encoding/json would keep the last silently and match names case-insensitively, and a policy
// whose meaning depends on which of two Effects wins must not be accepted.
func readObject(doc []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("expected an object")
	}
	var fields []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string) // inside an object, a token before a value is always its name
		if seen[name] {
			return nil, fmt.Errorf("%q appears twice", truncate(name))
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		fields = append(fields, field{name, value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("something follows the object")
	}
	return fields, nil
}

// oneOrMany reads a JSON object or a list of them, as raw values.
func oneOrMany(raw json.RawMessage) ([]json.RawMessage, error) {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	var list []json.RawMessage
	err := json.Unmarshal(raw, &list)
	return list, err
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
