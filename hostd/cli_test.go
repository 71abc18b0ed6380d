package main_test

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// assertSizeError checks a refused SIZE: status 1, InvalidParameterValue, and a message that
// names the flag and the forms a SIZE takes.
func assertSizeError(t *testing.T, flag, stderr string, status int) {
	t.Helper()
	assert.Equal(t, 1, status, "stderr: %s", stderr)
	code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr))
	assert.Equal(t, "InvalidParameterValue", code)
	assert.Contains(t, msg, flag+` "banana"`)
	for _, form := range []string{"512M", "512MiB", "1G", "1GiB", "bytes"} {
		assert.Contains(t, msg, form)
	}
}

// Every SIZE flag, of the client and of the daemon, names itself and the accepted forms.
func TestSizeFlagsNameTheFlag(t *testing.T) {
	d := hostdtest.Start(t)
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--memory", []string{"instance", "run", "--memory", "banana", "--", "true"}},
		{"--ram", []string{"instance", "run", "--ram", "banana", "--", "true"}},
		{"--size", []string{"volume", "create", "--size", "banana"}},
	} {
		out, errOut, status := d.Run(c.args...)
		assert.Empty(t, out)
		assertSizeError(t, c.flag, errOut, status)
	}
	for _, flag := range []string{"--ram-pool", "--scrub-rate", "--disk-size"} {
		dir := t.TempDir()
		cmd := exec.Command(d.Bin, "serve", "--state-dir", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "s.sock"), flag, "banana")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.Error(t, cmd.Run())
		assertSizeError(t, flag, stderr.String(), cmd.ProcessState.ExitCode())
	}
}

// Well-formed ids of each kind, of nothing.
const (
	anInstance = "i-0123456789abcdef0"
	aVpc       = "vpc-0123456789abcdef0"
	aSubnet    = "subnet-0123456789abcdef0"
	aGroup     = "sg-0123456789abcdef0"
	anACL      = "acl-0123456789abcdef0"
	aVolume    = "vol-0123456789abcdef0"
)

// Every verb checks the ids it is given before it calls the daemon, with EC2's Malformed code of
// the id's kind. No daemon listens on the socket: a verb that called it would answer
// DaemonUnavailable instead.
func TestMalformedIDsRefusedBeforeAnyCall(t *testing.T) {
	bin := hostdtest.Binary(t)
	socket := filepath.Join(t.TempDir(), "nobody.sock")
	const (
		instance = "InvalidInstanceID.Malformed"
		vpc      = "InvalidVpcID.Malformed"
		subnet   = "InvalidSubnetID.Malformed"
		group    = "InvalidGroupId.Malformed"
		acl      = "InvalidNetworkAclID.Malformed"
		volume   = "InvalidVolumeID.Malformed"
	)
	rule := []string{"--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/16"}
	cases := []struct {
		code string
		args []string
	}{
		{instance, []string{"instance", "exec", "", "--", "true"}},
		{instance, []string{"instance", "exec", "i-XYZ", "--", "true"}},
		{instance, []string{"instance", "describe", anInstance, "vm-12"}},
		{instance, []string{"instance", "terminate", anInstance, "i-0123"}},
		{instance, []string{"instance", "modify", "i-", "--source-dest-check=false"}},
		{instance, []string{"instance", "set-groups", "bogus", "--sg", aGroup}},
		{group, []string{"instance", "set-groups", anInstance, "--sg", "sg-bogus"}},
		{subnet, []string{"instance", "run", "--subnet", "bogus", "--", "true"}},
		{group, []string{"instance", "run", "--subnet", aSubnet, "--sg", aGroup, "--sg", "", "--", "true"}},
		{volume, []string{"instance", "run", "--volume", "vol-XY:/dev/xvdb", "--", "true"}},
		{vpc, []string{"vpc", "describe", "vpc-"}},
		{vpc, []string{"vpc", "delete", aSubnet}},
		{vpc, []string{"subnet", "create", "--vpc", "bogus", "--cidr", "10.0.1.0/24"}},
		{subnet, []string{"subnet", "describe", aSubnet, "subnet-../../x"}},
		{subnet, []string{"subnet", "delete", ""}},
		{vpc, []string{"sg", "create", "--vpc", "bogus", "--name", "web"}},
		{group, []string{"sg", "describe", "sg-0123456789ABCDEF0"}},
		{group, []string{"sg", "delete", aVpc}},
		{group, []string{"sg", "authorize", "--group", "bogus", "--ingress", "--protocol", "tcp", "--port", "80", "--cidr", "10.0.0.0/16"}},
		{group, append([]string{"sg", "revoke", "--group", "sg-1", "--egress"}, rule...)},
		{group, []string{"sg", "authorize", "--group", aGroup, "--ingress", "--protocol", "tcp", "--port", "80", "--source-group", "web"}},
		{group, []string{"sg", "authorize", "--group", aGroup, "--ingress", "--ip-permissions", `[{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"UserIdGroupPairs":[{"GroupId":"sg-web"}]}]`}},
		{vpc, []string{"nacl", "create", "--vpc", "bogus"}},
		{acl, []string{"nacl", "describe", "acl-"}},
		{acl, append([]string{"nacl", "entry", "--nacl", "bogus", "--rule-number", "100", "--ingress", "--action", "allow"}, rule...)},
		{acl, []string{"nacl", "delete-entry", "--nacl", "bogus", "--rule-number", "100", "--ingress"}},
		{acl, []string{"nacl", "associate", "--nacl", aGroup, "--subnet", aSubnet}},
		{subnet, []string{"nacl", "associate", "--nacl", anACL, "--subnet", "bogus"}},
		{volume, []string{"volume", "describe", "vol-0123"}},
		{volume, []string{"volume", "delete", anInstance}},
		{volume, []string{"volume", "attach", "bogus", "--instance", anInstance}},
		{instance, []string{"volume", "attach", aVolume, "--instance", "bogus"}},
		{volume, []string{"volume", "detach", ""}},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, append([]string{"--socket", socket}, c.args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%q: %s", c.args, stderr.String())
		assert.Empty(t, stdout.String())
		code, msg := hostdtest.ErrorOf(t, strings.TrimSpace(stderr.String()))
		assert.Equal(t, c.code, code, "%q: %s", c.args, msg)
	}
}

// The daemon checks ids again with the same table, and answers a path or a method it has no
// route for with an EC2 error document too, never Go's plain-text 404.
func TestDaemonAnswersBadRequestsWithJSON(t *testing.T) {
	d := hostdtest.Start(t)
	c := api.NewClient(d.Socket)
	ctx := context.Background()
	for path, code := range map[string]string{
		"/v1/instances?InstanceId=vm-12":         "InvalidInstanceID.Malformed",
		"/v1/vpcs?VpcId=bogus":                   "InvalidVpcID.Malformed",
		"/v1/subnets?SubnetId=bogus":             "InvalidSubnetID.Malformed",
		"/v1/security-groups?GroupId=bogus":      "InvalidGroupId.Malformed",
		"/v1/network-acls?NetworkAclId=bogus":    "InvalidNetworkAclID.Malformed",
		"/v1/volumes?VolumeId=bogus":             "InvalidVolumeID.Malformed",
		"/v1/instances?InstanceId=" + anInstance: "InvalidInstanceID.NotFound",
		"/v1/volumes?VolumeId=" + aVolume:        "InvalidVolume.NotFound",
		"/v1/network-acls?NetworkAclId=" + anACL: "InvalidNetworkAclID.NotFound",
		"/v1/security-groups?GroupId=" + aGroup:  "InvalidGroup.NotFound",
		"/v1/subnets?SubnetId=" + aSubnet:        "InvalidSubnetID.NotFound",
		"/v1/vpcs?VpcId=" + aVpc:                 "InvalidVpcID.NotFound",
	} {
		err := c.Call(ctx, http.MethodGet, path, nil, nil)
		assert.Equal(t, code, api.AsError(err).Code, path)
	}
	for _, r := range []struct{ method, path, says string }{
		{http.MethodGet, "/v1/nothing", "GET /v1/nothing is not an action"},
		{http.MethodPost, "/v1/instances//exec", "is not an action"},
		{http.MethodDelete, "/v1/instances/" + anInstance, "is not an action"},
		{http.MethodPut, "/v1/pool", "that path takes GET"},
		{http.MethodGet, "/v1/volumes/" + aVolume + "/detach", "that path takes POST"},
	} {
		err := c.Call(ctx, r.method, r.path, nil, nil)
		e := api.AsError(err)
		assert.Equal(t, "InvalidAction", e.Code, "%s %s: %v", r.method, r.path, err)
		assert.Contains(t, e.Message, r.says)
	}
}
