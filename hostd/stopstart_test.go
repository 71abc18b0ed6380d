package main_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// stopStart stops an instance that wrote a secret into its RAM and starts it again; the pool has
// one region, so the started instance necessarily gets the region it gave back.
func stopStart(t *testing.T, scrub string) (found bool, d *hostdtest.Daemon) {
	d = hostdtest.Start(t, "--ram-pool", "4M", "--scrub", scrub)
	var vpc api.Vpc
	d.JSON(&vpc, "vpc", "create", "--cidr", "10.7.0.0/16")
	var subnet api.Subnet
	d.JSON(&subnet, "subnet", "create", "--vpc", vpc.VpcId, "--cidr", "10.7.1.0/24")
	script := filepath.Join(t.TempDir(), "user-data")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\ntouch /tmp/ran\n"), 0o644))
	id := d.Launch("--subnet", subnet.SubnetId, "--ram", "4M", "--instance-type", "t3.nano", "--user-data", script)
	before := describe(t, d, id)
	assert.Equal(t, int64(512<<20), before.Limits.MemoryBytes, "t3.nano's memory is the limit")
	hostdtest.WaitExec(t, d, id, "test", "-e", "/tmp/ran")
	writeSecret(t, d, id)
	require.True(t, readsSecret(t, d, id), "the secret was not written")

	var stopped api.StopInstancesResponse
	d.JSON(&stopped, "instance", "stop", id)
	require.Equal(t, api.StateRunning, stopped.StoppingInstances[0].PreviousState)
	in := describe(t, d, id)
	require.Equal(t, api.StateStopped, in.State)
	require.Nil(t, in.RamRegion, "a stopped instance holds no RAM")
	var pool api.PoolDescription
	d.JSON(&pool, "pool", "describe")
	assert.Zero(t, pool.RamPool.InUseBytes, "the stopped instance's region went back to the pool")
	_, _, code := d.Exec(id, "true")
	assert.NotZero(t, code, "nothing runs in a stopped instance")

	var started api.StartInstancesResponse
	d.JSON(&started, "instance", "start", id)
	require.Equal(t, api.StateStopped, started.StartingInstances[0].PreviousState)
	after := describe(t, d, id)
	require.Equal(t, api.StateRunning, after.State)
	require.Equal(t, before.PrivateIpAddress, after.PrivateIpAddress, "the instance keeps its address")
	hostdtest.WaitExec(t, d, id, "test", "-e", "/tmp/ran") // the workload ran again, in a fresh /tmp
	return readsSecret(t, d, id), d
}

// Stop gives the RAM region back to be scrubbed; start runs the workload again on a clean one.
func TestStopScrubsTheRAMAndStartRunsAgain(t *testing.T) {
	found, d := stopStart(t, "on")
	assert.False(t, found, "the started instance read what it wrote before its stop")
	assert.Contains(t, d.Log(), "RAM region scrubbed")
}

// The negative control: with scrubbing off, the region comes back as it was left.
func TestStopStartRemanenceWithScrubbingOff(t *testing.T) {
	found, _ := stopStart(t, "off")
	assert.True(t, found, "control: with scrubbing off the secret should survive a stop and start")
}

// Tags from the native CLI: on any resource, by key, found again, and gone with their resource.
func TestTagsNative(t *testing.T) {
	d := hostdtest.Start(t)
	var vpc api.Vpc
	d.JSON(&vpc, "vpc", "create", "--cidr", "10.8.0.0/16")
	d.JSON(&api.ReturnResponse{}, "tag", "create", "--resource", vpc.VpcId, "--tag", "Name=blue", "--tag", "Team=net")
	var tags api.DescribeTagsResponse
	d.JSON(&tags, "tag", "describe", vpc.VpcId)
	require.Equal(t, []api.TagDescription{
		{ResourceId: vpc.VpcId, ResourceType: "vpc", Key: "Name", Value: "blue"},
		{ResourceId: vpc.VpcId, ResourceType: "vpc", Key: "Team", Value: "net"},
	}, tags.Tags)
	d.JSON(&api.ReturnResponse{}, "tag", "delete", "--resource", vpc.VpcId, "--tag", "Team=other")
	d.JSON(&tags, "tag", "describe", vpc.VpcId)
	require.Len(t, tags.Tags, 2, "a value that does not match deletes nothing")
	d.JSON(&api.ReturnResponse{}, "tag", "delete", "--resource", vpc.VpcId, "--tag", "Team")
	d.JSON(&tags, "tag", "describe", vpc.VpcId)
	require.Len(t, tags.Tags, 1)

	_, stderr, code := d.Run("tag", "create", "--resource", "vpc-0123456789abcdef0", "--tag", "a=b")
	require.Equal(t, 1, code)
	c, _ := hostdtest.ErrorOf(t, stderr)
	require.Equal(t, api.CodeInvalidVpcNotFound, c)
	_, stderr, code = d.Run("tag", "create", "--resource", vpc.VpcId, "--tag", "aws:x=1")
	require.Equal(t, 1, code)
	c, _ = hostdtest.ErrorOf(t, stderr)
	require.Equal(t, api.CodeInvalidParameterValue, c)

	d.JSON(&api.ReturnResponse{}, "vpc", "delete", vpc.VpcId)
	d.JSON(&tags, "tag", "describe")
	require.Empty(t, tags.Tags, "a deleted resource's tags go with it")
}
