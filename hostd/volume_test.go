package main_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

const diskSecret = "TENANT-A-DISK-SECRET-42"

func createVolume(t *testing.T, d *hostdtest.Daemon, size string) api.Volume {
	t.Helper()
	var v api.Volume
	d.JSON(&v, "volume", "create", "--size", size)
	return v
}

func volumeHasSecret(t *testing.T, d *hostdtest.Daemon, id string) bool {
	out, _, _ := d.Exec(id, "sh", "-c", "grep -c -a "+diskSecret+" /dev/xvdb || true")
	return strings.TrimSpace(out) != "0"
}

// Tenant A writes a secret to its volume and deletes it; tenant B's new volume is made of the
// same bytes of the store (asserted), and finds zeros, or with scrubbing off (the control) the
// secret.
func diskRemanence(t *testing.T, scrub string) (sameExtent, found bool, d *hostdtest.Daemon) {
	d = hostdtest.Start(t, "--disk-size", "64M", "--scrub", scrub)
	va := createVolume(t, d, "16M")
	a := d.Launch("--volume", va.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	d.MustExec(a, "sh", "-c", "printf "+diskSecret+" | dd of=/dev/xvdb bs=1M seek=5 conv=notrunc,fsync 2>/dev/null")
	require.True(t, volumeHasSecret(t, d, a))
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", a)
	d.JSON(&api.ReturnResponse{}, "volume", "delete", va.VolumeId)
	vb := createVolume(t, d, "16M")
	b := d.Launch("--volume", vb.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	return va.StoreOffset == vb.StoreOffset, volumeHasSecret(t, d, b), d
}

func TestDeletedVolumeIsWipedBeforeReuse(t *testing.T) {
	same, found, d := diskRemanence(t, "on")
	require.True(t, same, "B's volume is not made of A's bytes: the test proves nothing")
	assert.False(t, found, "tenant B read tenant A's deleted volume")
	assert.Contains(t, d.Log(), "volume extent wiped and freed")
	var pool api.PoolDescription
	d.JSON(&pool, "pool", "describe")
	assert.Equal(t, int64(16<<20), pool.DiskStore.WipedBytes)
	assert.Equal(t, int64(16<<20), pool.DiskStore.AllocatedBytes)
}

func TestDeletedVolumeRemanenceWithScrubbingOff(t *testing.T) {
	same, found, d := diskRemanence(t, "off")
	require.True(t, same)
	assert.True(t, found, "control: with scrubbing off the secret should survive")
	assert.Contains(t, d.Log(), "REUSING UNWIPED DISK")
}

// A volume keeps its data across instances and a daemon killed with SIGKILL; a guest sees its own
// volume's device and no other block device.
func TestVolumeDataPersistsAndStaysPrivate(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	v := createVolume(t, d, "8M")
	a := d.Launch("--volume", v.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	d.MustExec(a, "sh", "-c", "printf "+diskSecret+" | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null")
	other := d.Launch("--", "sleep", "1000")

	// Only its own device: the other instance has no node, cannot make one, and the allowlist
	// admits nothing but A's loop device.
	assert.Equal(t, "1", d.MustExec(a, "sh", "-c", "for f in /dev/* /dev/*/*; do [ -b $f ] && echo $f; done | wc -l"))
	assert.Equal(t, "0", d.MustExec(other, "sh", "-c", "for f in /dev/* /dev/*/*; do [ -b $f ] && echo $f; done | wc -l"))
	loop := loopOf(t, d, a, "/dev/xvdb")
	assert.True(t, d.Admits(a, loop))
	assert.False(t, d.Admits(other, loop))
	_, _, code := d.Exec(other, "ls", d.StateDir+"/disk.img")
	assert.NotEqual(t, 0, code, "the disk store is visible in a guest")

	d.Kill()
	d.Restart()
	assert.True(t, volumeHasSecret(t, d, a), "the volume lost its data over a daemon restart")
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", a)
	var vols api.DescribeVolumesResponse
	d.JSON(&vols, "volume", "describe", v.VolumeId)
	assert.Equal(t, "available", vols.Volumes[0].State)
	b := d.Launch("--volume", v.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	assert.True(t, volumeHasSecret(t, d, b), "the volume lost its data when re-attached")
}

func TestVolumeBadInputChangesNothing(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	v := createVolume(t, d, "8M")
	in := d.Launch("--volume", v.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	free := createVolume(t, d, "8M")
	stopped := d.Launch("--", "true")
	waitState(t, d, stopped, "stopped")
	cases := []struct {
		name string
		args []string
		code string
	}{
		{"size 0", []string{"volume", "create", "--size", "0"}, "InvalidParameterValue"},
		{"size not whole MiB", []string{"volume", "create", "--size", "1000"}, "InvalidParameterValue"},
		{"larger than the store", []string{"volume", "create", "--size", "1G"}, "InsufficientVolumeCapacity"},
		{"unreadable size", []string{"volume", "create", "--size", "big"}, "InvalidParameterValue"},
		{"delete an attached volume", []string{"volume", "delete", v.VolumeId}, "VolumeInUse"},
		{"delete an unknown volume", []string{"volume", "delete", "vol-0123456789abcdef0"}, "InvalidVolume.NotFound"},
		{"describe a malformed id", []string{"volume", "describe", "disk-1"}, "InvalidVolumeID.Malformed"},
		{"attach an attached volume", []string{"instance", "run", "--volume", v.VolumeId + ":/dev/xvdb", "--", "true"}, "VolumeInUse"},
		{"attach to a reserved name", []string{"instance", "run", "--volume", free.VolumeId + ":/dev/null", "--", "true"}, "InvalidParameterValue"},
		{"attach to a bad name", []string{"instance", "run", "--volume", free.VolumeId + ":/etc/passwd", "--", "true"}, "InvalidParameterValue"},
		{"attach an unknown volume", []string{"instance", "run", "--volume", "vol-0123456789abcdef0:/dev/xvdc", "--", "true"}, "InvalidVolume.NotFound"},
		{"attach to a stopped instance", []string{"volume", "attach", free.VolumeId, "--instance", stopped}, "IncorrectInstanceState"},
		{"attach to an unknown instance", []string{"volume", "attach", free.VolumeId, "--instance", "i-0123456789abcdef0"}, "InvalidInstanceID.NotFound"},
		{"attach at a device the instance has", []string{"volume", "attach", free.VolumeId, "--instance", in, "--device", "/dev/xvdb"}, "InvalidParameterValue"},
		{"attach an attached volume", []string{"volume", "attach", v.VolumeId, "--instance", in, "--device", "/dev/xvdc"}, "VolumeInUse"},
		{"detach an available volume", []string{"volume", "detach", free.VolumeId}, "IncorrectState"},
	}
	before := volumeSnapshot(t, d)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, status := d.Run(c.args...)
			assert.Equal(t, 1, status, errOut)
			code, _ := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
			assert.Equal(t, c.code, code)
			assert.Equal(t, before, volumeSnapshot(t, d))
		})
	}
}

func volumeSnapshot(t *testing.T, d *hostdtest.Daemon) string {
	out, _, code := d.Run("volume", "describe")
	require.Equal(t, 0, code)
	pool, _, _ := d.Run("pool", "describe")
	return out + pool + snapshot(t, d)
}

// A volume attached to and detached from running instances carries its data from one to the
// next; a detach is refused while the guest still has the device open.
func TestVolumeHotAttach(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	v := createVolume(t, d, "8M")
	a := d.Launch("--", "sleep", "1000")
	b := d.Launch("--", "sleep", "1000")

	var att api.VolumeAttachment
	d.JSON(&att, "volume", "attach", v.VolumeId, "--instance", a, "--device", "/dev/xvdb")
	assert.Equal(t, api.VolumeAttachment{InstanceId: a, Device: "/dev/xvdb", State: "attached"}, att)
	d.MustExec(a, "sh", "-c", "printf "+diskSecret+" | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null")
	loop := loopOf(t, d, a, "/dev/xvdb")
	assert.True(t, d.Admits(a, loop))

	// Held open by a process of A: the detach is refused and A keeps its device.
	holder := d.MustExec(a, "sh", "-c", "(exec 3</dev/xvdb; exec sleep 1000) >/dev/null 2>&1 & echo $!")
	_, errOut, code := d.Run("volume", "detach", v.VolumeId)
	assert.Equal(t, 1, code)
	c, _ := hostdtest.ErrorOf(t, errOut)
	assert.Equal(t, "VolumeInUse", c)
	assert.True(t, volumeHasSecret(t, d, a), "a refused detach took the device away")

	d.MustExec(a, "sh", "-c", "kill "+holder+"; while kill -0 "+holder+" 2>/dev/null; do sleep 0.01; done")
	d.JSON(&api.ReturnResponse{}, "volume", "detach", v.VolumeId)
	_, _, code = d.Exec(a, "test", "-e", "/dev/xvdb")
	assert.NotEqual(t, 0, code, "the device is still in A")
	assert.False(t, d.Admits(a, loop), "A's allowlist still admits the detached volume's device")

	d.JSON(&att, "volume", "attach", v.VolumeId, "--instance", b, "--device", "/dev/xvdb")
	assert.True(t, volumeHasSecret(t, d, b), "the data did not follow the volume to B")
}

// A restarted daemon knows which volumes each adopted instance's allowlist admits: attaching or
// detaching one after a restart (SIGKILL) leaves the guest its other volumes. On cgroup v2, where
// every change replaces the allowlist whole, an adopted group once knew only the base list, and
// the first change after a restart took the instance's other volumes away.
func TestVolumeAllowlistAcrossDaemonRestart(t *testing.T) {
	d := hostdtest.Start(t, "--disk-size", "64M")
	v1, v2, v3 := createVolume(t, d, "8M"), createVolume(t, d, "8M"), createVolume(t, d, "8M")
	a := d.Launch("--volume", v1.VolumeId+":/dev/xvdb", "--", "sleep", "1000")
	d.JSON(&api.VolumeAttachment{}, "volume", "attach", v2.VolumeId, "--instance", a, "--device", "/dev/xvdc")
	first, second := loopOf(t, d, a, "/dev/xvdb"), loopOf(t, d, a, "/dev/xvdc")
	readable := func(dev string) bool {
		_, _, code := d.Exec(a, "head", "-c", "1", dev)
		return code == 0
	}

	d.Kill()
	d.Restart()
	d.JSON(&api.VolumeAttachment{}, "volume", "attach", v3.VolumeId, "--instance", a, "--device", "/dev/xvdd")
	third := loopOf(t, d, a, "/dev/xvdd")
	for _, dev := range []string{"/dev/xvdb", "/dev/xvdc", "/dev/xvdd"} {
		assert.True(t, readable(dev), "%s after an attach that followed a restart", dev)
	}

	d.Kill()
	d.Restart()
	d.JSON(&api.ReturnResponse{}, "volume", "detach", v2.VolumeId)
	assert.True(t, readable("/dev/xvdb"), "the volume attached at launch, after a detach that followed a restart")
	assert.True(t, readable("/dev/xvdd"), "the volume attached after the first restart")
	assert.True(t, d.Admits(a, first))
	assert.False(t, d.Admits(a, second), "the detached volume's device is still admitted")
	assert.True(t, d.Admits(a, third))
}

// loopOf is the host's node of the loop device an instance has at guestPath.
func loopOf(t *testing.T, d *hostdtest.Daemon, id, guestPath string) string {
	t.Helper()
	var major, minor int
	_, err := fmt.Sscanf(d.MustExec(id, "stat", "-c", "%t %T", guestPath), "%x %x", &major, &minor)
	require.NoError(t, err)
	require.Equal(t, 7, major, "%s in %s is not a loop device", guestPath, id)
	return fmt.Sprintf("/dev/loop%d", minor)
}
