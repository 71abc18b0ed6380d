package main_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// awsCLI runs Debian's AWS CLI (`aws ec2 …`) against the daemon's network listener with the
// tenant's key: no config file, no metadata service, no retries.
func (tn tenant) awsCLI(t *testing.T, d *hostdtest.Daemon, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("/usr/bin/aws", append([]string{"ec2", "--endpoint-url", d.Endpoint(), "--output", "json"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_ACCESS_KEY_ID=" + tn.keyID, "AWS_SECRET_ACCESS_KEY=" + tn.secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// `hostd serve --listen` answers EC2's Query API with the accounts of the native API: the AWS
// CLI, with each tenant's own key, makes and sees only its own account's resources; another
// account's id answers NotFound; a user whose policy does not allow an action is refused with
// UnauthorizedOperation and nothing is made; the operator sees every account's, and the trail
// has each call with its caller. Control: the owner's own delete succeeds.
func TestAWSCLIOnTheListenerActsForItsAccount(t *testing.T) {
	hostdtest.RequireTool(t, "/usr/bin/aws", "awscli")
	d := startWithListener(t)
	alice := makeTenant(t, d, "alice", allowAll)
	bob := makeTenant(t, d, "bob", allowAll)
	reader := makeTenant(t, d, "reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`)

	out, errOut, code := alice.awsCLI(t, d, "create-vpc", "--cidr-block", "10.0.0.0/16")
	require.Equal(t, 0, code, errOut)
	var made struct {
		Vpc struct{ VpcId, OwnerId string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &made))
	assert.Equal(t, alice.account, made.Vpc.OwnerId)
	_, errOut, code = bob.awsCLI(t, d, "create-vpc", "--cidr-block", "10.0.0.0/16") // the same CIDR
	require.Equal(t, 0, code, errOut)

	vpcsOf := func(tn tenant) []string {
		out, errOut, code := tn.awsCLI(t, d, "describe-vpcs")
		require.Equal(t, 0, code, errOut)
		var list struct{ Vpcs []struct{ VpcId string } }
		if strings.TrimSpace(out) == "" { // the CLI prints nothing of an empty answer
			return nil
		}
		require.NoError(t, json.Unmarshal([]byte(out), &list))
		var ids []string
		for _, v := range list.Vpcs {
			ids = append(ids, v.VpcId)
		}
		return ids
	}
	assert.Equal(t, []string{made.Vpc.VpcId}, vpcsOf(alice))
	assert.NotContains(t, vpcsOf(bob), made.Vpc.VpcId)
	assert.Empty(t, vpcsOf(reader))

	_, errOut, code = bob.awsCLI(t, d, "delete-vpc", "--vpc-id", made.Vpc.VpcId)
	assert.Equal(t, 254, code)
	assert.Contains(t, errOut, "InvalidVpcID.NotFound")
	_, errOut, code = reader.awsCLI(t, d, "create-vpc", "--cidr-block", "10.1.0.0/16")
	assert.Equal(t, 254, code)
	assert.Contains(t, errOut, "UnauthorizedOperation")

	// The operator sees both VPCs, and alice's is still there; the reader made none.
	var all api.DescribeVpcsResponse
	d.JSON(&all, "vpc", "describe")
	owners := map[string]int{}
	for _, v := range all.Vpcs {
		owners[v.OwnerId]++
	}
	assert.Equal(t, map[string]int{alice.account: 1, bob.account: 1}, owners)

	events := lookup(t, d, "--event-name", "CreateVpc")
	var callers []string
	for _, e := range events {
		callers = append(callers, e.UserIdentity.AccountID+":"+e.ErrorCode)
	}
	assert.ElementsMatch(t, []string{alice.account + ":", bob.account + ":", reader.account + ":UnauthorizedOperation"}, callers)

	// Control: the same delete with the owner's key succeeds.
	_, errOut, code = alice.awsCLI(t, d, "delete-vpc", "--vpc-id", made.Vpc.VpcId)
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, vpcsOf(alice))
}
