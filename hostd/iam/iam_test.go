package iam

import (
	"strings"
	"testing"

	"github.com/hostd/hostd/hostd/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	region  = "us-east-1"
	acct    = "111122223333"
	other   = "444455556666"
	inst1   = "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0"
	inst2   = "arn:aws:ec2:us-east-1:111122223333:instance/i-0fedcba9876543210"
	vpc1    = "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-0123456789abcdef0"
	sg1     = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0"
	readDoc = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}`
)

func mustParse(t *testing.T, name, doc string) *Policy {
	t.Helper()
	p, err := Parse(name, []byte(doc))
	require.NoError(t, err, doc)
	return p
}

func TestParse(t *testing.T) {
	p := mustParse(t, "ops", `{
		"Version": "2012-10-17",
		"Id": "ops-policy",
		"Statement": [
			{"Sid": "ReadAll", "Effect": "Allow", "Action": ["ec2:Describe*", "EC2:Get*"], "Resource": "*"},
			{"Effect": "Deny", "NotAction": "ec2:Describe*", "NotResource": ["arn:aws:ec2:*:111122223333:instance/*"]}
		]
	}`)
	require.Len(t, p.Statements, 2)
	assert.Equal(t, Statement{Sid: "ReadAll", Effect: Allow, Actions: []string{"ec2:describe*", "ec2:get*"}, Resources: []string{"*"}}, p.Statements[0])
	assert.Equal(t, Statement{Effect: Deny, NotActions: []string{"ec2:describe*"}, NotResources: []string{"arn:aws:ec2:*:111122223333:instance/*"}}, p.Statements[1])
	assert.Equal(t, "ops", p.Name)
}

// Every malformed document is refused with MalformedPolicyDocument and a message that says
// what is wrong; what hostd cannot honour (Condition, policy variables) is refused rather than
// ignored.
func TestParseRefuses(t *testing.T) {
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	for _, tc := range []struct{ doc, says string }{
		{``, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`{"Version":"2012-10-17","Statement":[]} x`, "not a JSON object"},
		{`{"Version":"2012-10-17"`, "not a JSON object"},
		{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "lacks Version"},
		{`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "Version must be"},
		{`{"Version":"2012-10-17"}`, "lacks Statement"},
		{`{"Version":"2012-10-17","Statement":[]}`, "non-empty list"},
		{`{"Version":"2012-10-17","Statement":"x"}`, "Statement must be"},
		{`{"Version":"2012-10-17","version":"2012-10-17","Statement":[]}`, `unknown element "version"`},
		{`{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "appears twice"},
		{stmt(`{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}`), "appears twice"},
		{stmt(`{"effect":"Allow","Action":"*","Resource":"*"}`), `unknown element "effect"`},
		{stmt(`{"Effect":"allow","Action":"*","Resource":"*"}`), "Effect must be"},
		{stmt(`{"Action":"*","Resource":"*"}`), "Effect is missing"},
		{stmt(`{"Effect":"Allow","Resource":"*"}`), "exactly one of Action and NotAction"},
		{stmt(`{"Effect":"Allow","Action":"*","NotAction":"ec2:Run*","Resource":"*"}`), "exactly one of Action and NotAction"},
		{stmt(`{"Effect":"Allow","Action":"*"}`), "exactly one of Resource and NotResource"},
		{stmt(`{"Effect":"Allow","Action":"DescribeInstances","Resource":"*"}`), "SERVICE:ACTION"},
		{stmt(`{"Effect":"Allow","Action":"*:DescribeInstances","Resource":"*"}`), "SERVICE:ACTION"},
		{stmt(`{"Effect":"Allow","Action":"ec2:","Resource":"*"}`), "SERVICE:ACTION"},
		{stmt(`{"Effect":"Allow","Action":"ec2:Run Instances","Resource":"*"}`), "SERVICE:ACTION"},
		{stmt(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "non-empty list of strings"},
		{stmt(`{"Effect":"Allow","Action":["ec2:Run*",null],"Resource":"*"}`), "non-empty list of strings"},
		{stmt(`{"Effect":"Allow","Action":[1],"Resource":"*"}`), "non-empty list of strings"},
		{stmt(`{"Effect":"Allow","Action":"*","Resource":"i-0123456789abcdef0"}`), "must be \"*\" or an ARN"},
		{stmt(`{"Effect":"Allow","Action":"*","Resource":"arn:aws:ec2:*:*:instance/é"}`), "must be \"*\" or an ARN"},
		{stmt(`{"Effect":"Allow","Action":"*","Resource":"arn:aws:ec2:*:*:instance/${aws:username}"}`), "policy variable"},
		{stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}`), "does not support Condition"},
		{stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}`), "Principal has no place"},
		{stmt(`{"Sid":"a-b","Effect":"Allow","Action":"*","Resource":"*"}`), "Sid must be"},
		{stmt(`{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}`), "used twice"},
		{stmt(strings.Repeat(`{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"},`, 120) + `{"Effect":"Allow","Action":"*","Resource":"*"}`), "the limit is 6144"},
	} {
		_, err := Parse("p", []byte(tc.doc))
		require.Error(t, err, tc.doc)
		e := api.AsError(err)
		assert.Equal(t, api.CodeMalformedPolicyDocument, e.Code, tc.doc)
		assert.Contains(t, e.Message, tc.says, tc.doc)
	}
}

func TestEvaluate(t *testing.T) {
	readOnly := mustParse(t, "read-only", readDoc)
	admin := mustParse(t, "admin", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)
	protect := mustParse(t, "protect", `{"Version":"2012-10-17","Statement":[
		{"Sid":"KeepProd","Effect":"Deny","Action":["ec2:TerminateInstances","ec2:StopInstances"],"Resource":"`+inst1+`"}]}`)
	instancesOnly := mustParse(t, "instances", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ec2:*Instances","Resource":"arn:aws:ec2:*:`+acct+`:instance/*"}]}`)

	for _, tc := range []struct {
		what      string
		policies  []*Policy
		action    string
		resources []string
		want      Reason
	}{
		{"no policy: nothing", nil, "ec2:DescribeInstances", nil, ImplicitDeny},
		{"read-only describes", []*Policy{readOnly}, "ec2:DescribeInstances", []string{"*"}, Allowed},
		{"read-only: action case does not matter", []*Policy{readOnly}, "EC2:describeinstances", nil, Allowed},
		{"read-only cannot run", []*Policy{readOnly}, "ec2:RunInstances", []string{inst1}, ImplicitDeny},
		{"read-only cannot terminate", []*Policy{readOnly}, "ec2:TerminateInstances", []string{inst1}, ImplicitDeny},
		{"read-only cannot authorize", []*Policy{readOnly}, "ec2:AuthorizeSecurityGroupIngress", []string{sg1}, ImplicitDeny},
		{"admin can", []*Policy{admin}, "ec2:TerminateInstances", []string{inst1, inst2}, Allowed},
		{"deny on one instance beats allow *", []*Policy{admin, protect}, "ec2:TerminateInstances", []string{inst1}, ExplicitDeny},
		{"deny beats allow, in either order", []*Policy{protect, admin}, "ec2:TerminateInstances", []string{inst1}, ExplicitDeny},
		{"the other instance is not denied", []*Policy{admin, protect}, "ec2:TerminateInstances", []string{inst2}, Allowed},
		{"one denied resource among several denies", []*Policy{admin, protect}, "ec2:TerminateInstances", []string{inst2, inst1}, ExplicitDeny},
		{"an action the deny does not name", []*Policy{admin, protect}, "ec2:RebootInstances", []string{inst1}, Allowed},
		{"wildcard action on instance ARNs", []*Policy{instancesOnly}, "ec2:RunInstances", []string{inst1}, Allowed},
		{"every resource must be allowed", []*Policy{instancesOnly}, "ec2:RunInstances", []string{inst1, sg1}, ImplicitDeny},
		{"wildcard does not reach vpcs", []*Policy{instancesOnly}, "ec2:RunInstances", []string{vpc1}, ImplicitDeny},
		{"another account's instance", []*Policy{instancesOnly}, "ec2:RunInstances", []string{strings.Replace(inst1, acct, other, 1)}, ImplicitDeny},
		{"resource is case-sensitive", []*Policy{instancesOnly}, "ec2:RunInstances", []string{strings.ToUpper(inst1)}, ImplicitDeny},
		{"not an instance action", []*Policy{instancesOnly}, "ec2:CreateVpc", []string{inst1}, ImplicitDeny},
	} {
		d := Evaluate(tc.policies, tc.action, tc.resources)
		assert.Equal(t, tc.want, d.Reason, tc.what)
		assert.Equal(t, tc.want == Allowed, d.Allowed(), tc.what)
		assert.Equal(t, tc.action, d.Action, tc.what)
	}
}

// The decision names the statement that decided, for the audit trail; the error is EC2's.
func TestDecisionNamesStatement(t *testing.T) {
	admin := mustParse(t, "admin", `{"Version":"2012-10-17","Statement":{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}}`)
	protect := mustParse(t, "protect", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
		{"Sid":"KeepProd","Effect":"Deny","Action":"ec2:Terminate*","Resource":"`+inst1+`"}]}`)

	d := Evaluate([]*Policy{admin, protect}, "ec2:TerminateInstances", []string{inst2, inst1})
	assert.Equal(t, Decision{Reason: ExplicitDeny, Action: "ec2:TerminateInstances", Resource: inst1, Policy: "protect", Statement: 1, Sid: "KeepProd"}, d)
	e := api.AsError(d.Err())
	assert.Equal(t, api.CodeUnauthorizedOperation, e.Code)
	assert.Contains(t, e.Message, "explicit deny")
	assert.NotContains(t, e.Message, "KeepProd", "which policy refused is for the audit trail")

	d = Evaluate([]*Policy{admin, protect}, "ec2:TerminateInstances", []string{inst2})
	assert.Equal(t, Decision{Reason: Allowed, Action: "ec2:TerminateInstances", Resource: inst2, Policy: "admin", Statement: 0, Sid: "All"}, d)
	assert.NoError(t, d.Err())

	d = Evaluate([]*Policy{protect}, "ec2:RunInstances", []string{inst2})
	assert.Equal(t, Decision{Reason: ImplicitDeny, Action: "ec2:RunInstances", Resource: inst2, Statement: -1}, d)
	assert.Contains(t, api.AsError(d.Err()).Message, "no policy of yours allows it")
	assert.Equal(t, 403, api.HTTPStatus(api.AsError(d.Err()).Code))
}

func TestNotActionNotResource(t *testing.T) {
	p := mustParse(t, "p", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","NotAction":"ec2:Terminate*","Resource":"*"},
		{"Effect":"Deny","Action":"*","NotResource":"arn:aws:ec2:us-east-1:*"}]}`)
	assert.Equal(t, Allowed, Evaluate([]*Policy{p}, "ec2:RunInstances", []string{inst1}).Reason)
	assert.Equal(t, ImplicitDeny, Evaluate([]*Policy{p}, "ec2:TerminateInstances", []string{inst1}).Reason)
	assert.Equal(t, ExplicitDeny, Evaluate([]*Policy{p}, "ec2:RunInstances", []string{strings.Replace(inst1, "us-east-1", "eu-west-1", 1)}).Reason)
	assert.Equal(t, ExplicitDeny, Evaluate([]*Policy{p}, "ec2:DescribeVpcs", []string{"*"}).Reason, `"*" is not an us-east-1 ARN`)
}

// Wildcards in resources stay in their segment, but a * that ends a segment runs on.
func TestResourceMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, resource string
		want              bool
	}{
		{"*", inst1, true},
		{"*", "*", true},
		{"arn:aws:ec2:*", inst1, true},
		{"arn:aws:ec2:*", "arn:aws:s3:::bucket", false},
		{"arn:aws:ec2:*:*:instance/*", inst1, true},
		{"arn:aws:ec2:*:*:instance/*", vpc1, false},
		{"arn:aws:ec2:us-east-?:" + acct + ":instance/i-0123456789abcdef?", inst1, true},
		{"arn:aws:ec2:us-east-?:" + acct + ":instance/i-0123456789abcdef", inst1, false},
		{"arn:aws:ec2:*:instance/*", inst1, true}, // the region's * runs on over the account
		{"arn:aws:ec2:us*1:" + acct + ":instance/*", inst1, true},
		{"arn:aws:ec2:us*1:" + acct + ":instance/*", "arn:aws:ec2:us:x:1:" + acct + ":instance/i-1", false}, // a * inside a segment stays there
		{"arn:aws:ec2:us*:" + acct + ":instance/*", "arn:aws:ec2:us:x:1:" + acct + ":instance/i-1", true},
		{"arn:aws:ec2:?:" + acct + ":instance/*", "arn:aws:ec2::" + acct + ":instance/i-1", false},
		{inst1, inst1, true},
		{inst1, inst1 + "0", false},
		{inst1, "*", false},
	} {
		assert.Equal(t, tc.want, resourceMatch(tc.pattern, tc.resource), "%s ~ %s", tc.pattern, tc.resource)
	}
}

func TestResourceARN(t *testing.T) {
	assert.Equal(t, inst1, ResourceARN(region, acct, "instance", "i-0123456789abcdef0"))
}
