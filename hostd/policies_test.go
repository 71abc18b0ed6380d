package main_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// addUser gives an account another user, with a policy (none if empty) and a key.
func addUser(t *testing.T, d *hostdtest.Daemon, account, name, policy string) tenant {
	t.Helper()
	u := tenant{account: account, user: name}
	d.JSON(&api.User{}, "user", "create", "--account", account, "--name", name)
	if policy != "" {
		d.JSON(&api.ReturnResponse{}, "user", "put-policy", "--account", account, "--name", name, "--policy-name", "p", "--policy-document", policy)
	}
	var k api.AccessKey
	d.JSON(&k, "access-key", "create", "--account", account, "--user", name)
	u.keyID, u.secret = k.AccessKeyId, k.SecretAccessKey
	return u
}

func instanceCount(t *testing.T, d *hostdtest.Daemon) int {
	var all api.DescribeInstancesResponse
	d.JSON(&all, "instance", "describe")
	return len(all.Instances)
}

// IAM policies decide what each key may do: default deny, an explicit Deny beats any Allow,
// wildcards in actions and resources; a refused call answers UnauthorizedOperation and changes
// nothing.
func TestPoliciesDecideWhatAKeyMayDo(t *testing.T) {
	d := startWithListener(t)
	admin := makeTenant(t, d, "acme", allowAll)
	w := admin.makeWorld(t, d)
	var second api.RunInstanceResponse
	admin.json(t, d, &second, "instance", "run", "--ram", "0", "--", "sleep", "1000")

	// Read-only: describes only.
	reader := addUser(t, d, admin.account, "reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`)
	var ins api.DescribeInstancesResponse
	reader.json(t, d, &ins, "instance", "describe")
	assert.Len(t, ins.Instances, 2)
	before := instanceCount(t, d)
	for _, args := range [][]string{
		{"instance", "run", "--ram", "0", "--", "true"},
		{"instance", "terminate", w.instance},
		{"sg", "authorize", "--group", w.group, "--ingress", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0"},
		{"vpc", "create", "--cidr", "10.1.0.0/16"},
		{"volume", "delete", w.volume},
	} {
		msg := reader.refused(t, d, "UnauthorizedOperation", args...)
		assert.Contains(t, msg, "not authorized")
	}
	assert.Equal(t, before, instanceCount(t, d), "a refused call changed nothing")
	var groups api.DescribeSecurityGroupsResponse
	reader.json(t, d, &groups, "sg", "describe", w.group)
	assert.Empty(t, groups.SecurityGroups[0].IpPermissions, "the refused authorize added no rule")

	// An explicit Deny on one instance's ARN beats an Allow on everything.
	guarded := addUser(t, d, admin.account, "guarded", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"ec2:TerminateInstances","Resource":"arn:aws:ec2:us-east-1:%s:instance/%s"}]}`, admin.account, w.instance))
	msg := guarded.refused(t, d, "UnauthorizedOperation", "instance", "terminate", w.instance)
	assert.Contains(t, msg, "explicit deny")
	guarded.refused(t, d, "UnauthorizedOperation", "instance", "terminate", second.InstanceId, w.instance)
	guarded.json(t, d, &ins, "instance", "describe", w.instance)
	assert.Equal(t, "running", ins.Instances[0].State)
	guarded.json(t, d, &api.TerminateInstancesResponse{}, "instance", "terminate", second.InstanceId)

	// Wildcards: ? and * in actions, * in a resource's segments.
	launcher := addUser(t, d, admin.account, "launcher", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
		{"Effect":"Allow","Action":["ec2:?unInstances","ec2:Terminate*"],"Resource":"arn:aws:ec2:*:*:instance/*"}]}`)
	var run api.RunInstanceResponse
	launcher.json(t, d, &run, "instance", "run", "--ram", "0", "--", "sleep", "1000")
	launcher.json(t, d, &api.TerminateInstancesResponse{}, "instance", "terminate", run.InstanceId)
	// Into a subnet it needs the subnet's ARN too, which it is not allowed.
	launcher.refused(t, d, "UnauthorizedOperation", "instance", "run", "--subnet", w.subnet, "--ram", "0", "--", "true")
	launcher.refused(t, d, "UnauthorizedOperation", "vpc", "create", "--cidr", "10.2.0.0/16")

	// sg modify is ec2:ModifySecurityGroupRules on the group's ARN, and in the trail by that name.
	modifier := addUser(t, d, admin.account, "modifier", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
		{"Effect":"Allow","Action":"ec2:ModifySecurityGroupRules","Resource":"arn:aws:ec2:*:*:security-group/%s"}]}`, w.group))
	var rules api.DescribeSecurityGroupRulesResponse
	modifier.json(t, d, &rules, "sg", "rules", w.group)
	require.Len(t, rules.SecurityGroupRules, 1, "a new group's one outbound rule")
	modifier.json(t, d, &api.ReturnResponse{}, "sg", "modify", "--group", w.group, "--rule-id", rules.SecurityGroupRules[0].SecurityGroupRuleId,
		"--protocol", "tcp", "--port", "443", "--cidr", "0.0.0.0/0")
	modifier.refused(t, d, "UnauthorizedOperation", "sg", "authorize", "--group", w.group, "--egress", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	assert.Len(t, lookup(t, d, "--account", admin.account, "--event-name", "ModifySecurityGroupRules"), 1)

	// No policy: nothing at all.
	nobody := addUser(t, d, admin.account, "nobody", "")
	for _, args := range [][]string{
		{"instance", "describe"}, {"vpc", "describe"}, {"volume", "describe"},
		{"instance", "run", "--ram", "0", "--", "true"}, {"volume", "create", "--size", "1M"},
	} {
		nobody.refused(t, d, "UnauthorizedOperation", args...)
	}
	// Operator-only calls are refused on the network whatever the policy says.
	for _, args := range [][]string{
		{"account", "describe"}, {"user", "describe"}, {"access-key", "describe"}, {"pool", "describe"},
		{"access-key", "create", "--account", admin.account, "--user", "admin"},
	} {
		admin.refused(t, d, "UnauthorizedOperation", args...)
	}
	_, errOut, code := admin.run(d, "instance", "exec", w.instance, "--", "true")
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "UnauthorizedOperation")

	// A presigned URL is the other form of a signature: it verifies too.
	req, err := http.NewRequest("GET", d.Endpoint()+"/v1/vpcs?X-Amz-Expires=300", nil) // as presigners set it
	require.NoError(t, err)
	sum := sha256.Sum256(nil)
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: admin.keyID, SecretAccessKey: admin.secret},
		req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now())
	require.NoError(t, err)
	presigned, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	status, _, body := send(t, http.DefaultClient, presigned)
	assert.Equal(t, 200, status, "%s\n%s", url, body)

	// An inactive key, then a deleted one, is refused as an unknown one is: AuthFailure.
	d.JSON(&api.ReturnResponse{}, "access-key", "update", reader.keyID, "--status", "Inactive")
	reader.refused(t, d, "AuthFailure", "instance", "describe")
	d.JSON(&api.ReturnResponse{}, "access-key", "update", reader.keyID, "--status", "Active")
	reader.json(t, d, &ins, "instance", "describe")
	d.JSON(&api.ReturnResponse{}, "access-key", "delete", reader.keyID)
	reader.refused(t, d, "AuthFailure", "instance", "describe")
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", w.instance)
}
