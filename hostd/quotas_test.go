package main_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

// Per-account quotas: the launch or the volume past them is refused with EC2's code, and the
// pools are exactly as they were: nothing of the refused call was taken.
func TestQuotasRefuseAndTakeNothing(t *testing.T) {
	d := startWithListener(t)
	tn := makeTenant(t, d, "small", allowAll, "--max-instances", "2", "--max-ram", "32M", "--max-disk", "4M")
	// The pool once its background work (the reserve of clean regions) is done.
	pool := func() api.PoolDescription {
		var p api.PoolDescription
		require.NoError(t, json.Unmarshal([]byte(settledPool(t, d)), &p))
		return p
	}
	var first, second api.RunInstanceResponse
	tn.json(t, d, &first, "instance", "run", "--ram", "16M", "--", "sleep", "1000")
	tn.json(t, d, &second, "instance", "run", "--ram", "16M", "--", "sleep", "1000")

	before := pool()
	msg := tn.refused(t, d, "InstanceLimitExceeded", "instance", "run", "--ram", "0", "--", "sleep", "1000")
	assert.Contains(t, msg, "2 of its 2 instances")
	after := pool()
	assert.Equal(t, before.RamPool.InUseBytes, after.RamPool.InUseBytes, "the refused launch took no RAM")
	assert.Equal(t, before.RamPool.CleanBytes+before.RamPool.DirtyBytes, after.RamPool.CleanBytes+after.RamPool.DirtyBytes)

	// The RAM quota: 16M held, 32M more does not fit.
	tn.json(t, d, &api.TerminateInstancesResponse{}, "instance", "terminate", second.InstanceId)
	before = pool()
	tn.refused(t, d, "InstanceLimitExceeded", "instance", "run", "--ram", "32M", "--", "sleep", "1000")
	assert.Equal(t, before.RamPool.InUseBytes, pool().RamPool.InUseBytes)
	var third api.RunInstanceResponse
	tn.json(t, d, &third, "instance", "run", "--ram", "16M", "--", "sleep", "1000")

	// The disk quota.
	var vol api.Volume
	tn.json(t, d, &vol, "volume", "create", "--size", "3M")
	disk := pool().DiskStore
	tn.refused(t, d, "VolumeLimitExceeded", "volume", "create", "--size", "2M")
	assert.Equal(t, disk.AllocatedBytes, pool().DiskStore.AllocatedBytes, "the refused volume took no extent")

	var accounts api.DescribeAccountsResponse
	d.JSON(&accounts, "account", "describe", tn.account)
	a := accounts.Accounts[0]
	assert.Equal(t, 2, a.Instances)
	assert.EqualValues(t, 32<<20, a.RamBytes)
	assert.EqualValues(t, 3<<20, a.DiskBytes)

	// The operator's own account has no quota; acting for the account, the operator is held to it.
	d.JSON(&api.RunInstanceResponse{}, "instance", "run", "--ram", "0", "--", "true")
	refused(t, d, "InstanceLimitExceeded", "instance", "run", "--account", tn.account, "--ram", "0", "--", "true")
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", first.InstanceId, third.InstanceId)
}
