package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// refused runs a command that must fail with status 1 and the given EC2 (or IAM) code; it returns
// the message.
func refused(t *testing.T, d *hostdtest.Daemon, code string, args ...string) string {
	t.Helper()
	out, errOut, status := d.Run(args...)
	require.Equal(t, 1, status, "hostd %v: stdout %s stderr %s", args, out, errOut)
	got, msg := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
	require.Equal(t, code, got, "hostd %v: %s", args, msg)
	return msg
}

// tenant is an account with one user, its policy and an access key.
type tenant struct {
	account, user, keyID, secret string
}

// makeTenant creates an account, a user with the policy (none if empty) and a key for it.
func makeTenant(t *testing.T, d *hostdtest.Daemon, name, policy string, quota ...string) tenant {
	t.Helper()
	var a api.Account
	d.JSON(&a, append([]string{"account", "create", "--name", name}, quota...)...)
	tn := tenant{account: a.AccountId, user: name + "-user"}
	var u api.User
	d.JSON(&u, "user", "create", "--account", tn.account, "--name", tn.user)
	if policy != "" {
		var r api.ReturnResponse
		d.JSON(&r, "user", "put-policy", "--account", tn.account, "--name", tn.user, "--policy-name", "p", "--policy-document", policy)
	}
	var k api.AccessKey
	d.JSON(&k, "access-key", "create", "--account", tn.account, "--user", tn.user)
	tn.keyID, tn.secret = k.AccessKeyId, k.SecretAccessKey
	return tn
}

// Accounts, users, policies and keys, as the operator manages them: the secret is shown once,
// at creation, and nowhere after (describe, the daemon's log, the state file); a bad policy is
// refused with IAM's code and changes nothing; a user has at most two keys.
func TestAccountsUsersAndKeys(t *testing.T) {
	d := hostdtest.Start(t)
	tn := makeTenant(t, d, "alice", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`, "--max-instances", "3", "--max-ram", "64M")
	assert.Regexp(t, `^\d{12}$`, tn.account)
	assert.Regexp(t, `^AKIA[A-Z0-9]{16}$`, tn.keyID)
	assert.Len(t, tn.secret, 40)

	var accounts api.DescribeAccountsResponse
	d.JSON(&accounts, "account", "describe", tn.account)
	require.Len(t, accounts.Accounts, 1)
	assert.Equal(t, 3, accounts.Accounts[0].MaxInstances)
	assert.EqualValues(t, 64<<20, accounts.Accounts[0].MaxRamBytes)
	refused(t, d, "EntityAlreadyExists", "account", "create", "--name", "alice")

	// The policy: a file:// document, an invalid one refused with IAM's code, nothing changed.
	doc := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(doc, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ec2:*","Resource":"*"}}`), 0o600))
	var r api.ReturnResponse
	d.JSON(&r, "user", "put-policy", "--account", tn.account, "--name", tn.user, "--policy-name", "deny", "--policy-document", "file://"+doc)
	msg := refused(t, d, "MalformedPolicyDocument", "user", "put-policy", "--account", tn.account, "--name", tn.user, "--policy-name", "cond",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`)
	assert.Contains(t, msg, "Condition")
	var users api.DescribeUsersResponse
	d.JSON(&users, "user", "describe", "--account", tn.account, "--name", tn.user)
	require.Len(t, users.Users, 1)
	assert.Equal(t, []string{"deny", "p"}, users.Users[0].PolicyNames)
	assert.Equal(t, "arn:aws:iam::"+tn.account+":user/"+tn.user, users.Users[0].Arn)
	d.JSON(&r, "user", "delete-policy", "--account", tn.account, "--name", tn.user, "--policy-name", "deny")

	// Keys: two at most; describe never shows a secret.
	var second api.AccessKey
	d.JSON(&second, "access-key", "create", "--account", tn.account, "--user", tn.user)
	refused(t, d, "LimitExceeded", "access-key", "create", "--account", tn.account, "--user", tn.user)
	out, _, _ := d.Run("access-key", "describe", "--account", tn.account)
	var keys api.DescribeAccessKeysResponse
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	assert.Len(t, keys.AccessKeyMetadata, 2)
	assert.NotContains(t, out, tn.secret)
	assert.NotContains(t, out, "SecretAccessKey")
	d.JSON(&r, "access-key", "update", second.AccessKeyId, "--status", "Inactive")
	d.JSON(&keys, "access-key", "describe", "--account", tn.account, "--user", tn.user)
	assert.Equal(t, "Inactive", keys.AccessKeyMetadata[1].Status)
	refused(t, d, "InvalidParameterValue", "access-key", "update", second.AccessKeyId, "--status", "Sleeping")
	refused(t, d, "DeleteConflict", "user", "delete", "--account", tn.account, "--name", tn.user)
	d.JSON(&r, "access-key", "delete", second.AccessKeyId)
	refused(t, d, "NoSuchEntity", "access-key", "delete", second.AccessKeyId)

	// The secrets are nowhere in the clear: not in the log, not in the state file.
	for _, secret := range []string{tn.secret, second.SecretAccessKey} {
		assert.NotContains(t, d.Log(), secret)
		db, err := os.ReadFile(filepath.Join(d.StateDir, "hostd.db"))
		require.NoError(t, err)
		assert.NotContains(t, string(db), secret)
	}
	st, err := os.Stat(filepath.Join(d.StateDir, "keys", "master.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The operator makes things for an account with --account; they are that account's.
	var vpc api.Vpc
	d.JSON(&vpc, "vpc", "create", "--cidr", "10.0.0.0/16", "--account", tn.account)
	var vpcs api.DescribeVpcsResponse
	d.JSON(&vpcs, "vpc", "describe", vpc.VpcId)
	assert.Equal(t, tn.account, vpcs.Vpcs[0].OwnerId)
	refused(t, d, "InvalidAccountID.NotFound", "vpc", "create", "--cidr", "10.0.0.0/16", "--account", "999999999999")
	refused(t, d, "DependencyViolation", "account", "delete", tn.account)
	d.JSON(&r, "vpc", "delete", vpc.VpcId)

	// A restarted daemon has them all.
	d.Stop()
	d.Restart()
	d.JSON(&keys, "access-key", "describe", "--account", tn.account)
	require.Len(t, keys.AccessKeyMetadata, 1)
	assert.Equal(t, tn.keyID, keys.AccessKeyMetadata[0].AccessKeyId)
	d.JSON(&r, "access-key", "delete", tn.keyID)
	d.JSON(&r, "user", "delete-policy", "--account", tn.account, "--name", tn.user, "--policy-name", "p")
	d.JSON(&r, "user", "delete", "--account", tn.account, "--name", tn.user)
	d.JSON(&r, "account", "delete", tn.account)
	refused(t, d, "InvalidAccountID.NotFound", "account", "describe", tn.account)
}
