package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

const secret = "TENANT-A-SECRET-0123456789"

// writeSecret writes the secret at the start and in the middle of the instance's RAM.
func writeSecret(t *testing.T, d *hostdtest.Daemon, id string) {
	d.MustExec(id, "sh", "-c", "printf "+secret+" | dd of=/dev/guest-ram conv=notrunc 2>/dev/null && printf "+secret+" | dd of=/dev/guest-ram bs=1M seek=3 conv=notrunc 2>/dev/null")
}

// readsSecret tells whether an instance finds the secret anywhere in its RAM.
func readsSecret(t *testing.T, d *hostdtest.Daemon, id string) bool {
	out, _, _ := d.Exec(id, "sh", "-c", "grep -c -a "+secret+" /dev/guest-ram || true")
	return strings.TrimSpace(out) != "0"
}

func ramRegion(t *testing.T, d *hostdtest.Daemon, id string) string {
	in := describe(t, d, id)
	require.NotNil(t, in.RamRegion, "%s has no RAM region", id)
	return in.RamRegion.RegionId
}

// The pool holds one 4 MiB region, so tenant B necessarily gets the region tenant A left.
func remanence(t *testing.T, scrub string) (sameRegion, found bool, d *hostdtest.Daemon) {
	d = hostdtest.Start(t, "--ram-pool", "4M", "--scrub", scrub)
	a := d.Launch("--ram", "4M", "--", "sleep", "1000")
	regionA := ramRegion(t, d, a)
	writeSecret(t, d, a)
	require.True(t, readsSecret(t, d, a), "the secret was not written")
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", a)
	b := d.Launch("--ram", "4M", "--", "sleep", "1000")
	return regionA == ramRegion(t, d, b), readsSecret(t, d, b), d
}

func TestGuestRAMIsScrubbedBetweenTenants(t *testing.T) {
	same, found, d := remanence(t, "on")
	require.True(t, same, "B did not get A's region: the test proves nothing")
	assert.False(t, found, "tenant B read tenant A's secret from its RAM")
	assert.Contains(t, d.Log(), "RAM region scrubbed")
	var pool api.PoolDescription
	d.JSON(&pool, "pool", "describe")
	assert.GreaterOrEqual(t, pool.RamPool.ScrubbedBytes, int64(4<<20))
	assert.Equal(t, int64(4<<20), pool.RamPool.InUseBytes)
}

// The negative control: with scrubbing off, the next tenant reads the last one's secret, and the
// daemon says so loudly.
func TestGuestRAMRemanenceWithScrubbingOff(t *testing.T) {
	same, found, d := remanence(t, "off")
	require.True(t, same)
	assert.True(t, found, "control: with scrubbing off the secret should survive")
	assert.Contains(t, d.Log(), "RAM scrubbing is OFF")
	assert.Contains(t, d.Log(), "REUSING AN UNSCRUBBED RAM REGION")
}

func TestGuestRAMDevice(t *testing.T) {
	d := hostdtest.Start(t, "--ram-pool", "64M")
	id := d.Launch("--", "sleep", "1000")
	// Default size, owned by guest root, readable, writable and mmap-able.
	assert.Equal(t, "16777216 0 0", d.MustExec(id, "stat", "-c", "%s %u %g", "/dev/guest-ram"))
	assert.Equal(t, "ok", d.MustExec(id, "python3", "-c",
		`import mmap; f=open("/dev/guest-ram","r+b"); m=mmap.mmap(f.fileno(),0); m[100:102]=b"ok"; m.flush(); print(open("/dev/guest-ram","rb").read(102)[100:].decode())`))
	none := d.Launch("--ram", "0", "--", "sleep", "1000")
	_, _, code := d.Exec(none, "test", "-e", "/dev/guest-ram")
	assert.NotEqual(t, 0, code, "--ram 0 still has a region")

	// Full pool, and sizes that cannot be: EC2-style errors, nothing changed.
	d.Launch("--ram", "48M", "--", "sleep", "1000")
	before := snapshot(t, d)
	for args, code := range map[string]string{
		"--ram 4M":     "InsufficientInstanceCapacity",
		"--ram 128M":   "InvalidParameterValue",
		"--ram 1000":   "InvalidParameterValue",
		"--ram banana": "InvalidParameterValue",
	} {
		_, errOut, status := d.Run(append(append([]string{"instance", "run"}, strings.Fields(args)...), "--", "true")...)
		assert.Equal(t, 1, status, args)
		c, _ := hostdtest.ErrorOf(t, errOut)
		assert.Equal(t, code, c, args)
	}
	assert.Equal(t, before, snapshot(t, d))
}

// A hostile guest truncates its region (or grows it); the daemon survives, and the next tenant
// gets the region whole and zeroed.
func TestGuestRAMResizedByTheGuest(t *testing.T) {
	d := hostdtest.Start(t, "--ram-pool", "4M")
	for _, resize := range []string{"truncate -s 0 /dev/guest-ram", "truncate -s 3M /dev/guest-ram", "truncate -s 5M /dev/guest-ram"} {
		a := d.Launch("--ram", "4M", "--", "sleep", "1000")
		writeSecret(t, d, a)
		d.MustExec(a, "sh", "-c", resize)
		d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", a)
		b := d.Launch("--ram", "4M", "--", "sleep", "1000")
		assert.Equal(t, "4194304", d.MustExec(b, "stat", "-c", "%s", "/dev/guest-ram"), "after %q", resize)
		assert.False(t, readsSecret(t, d, b), "after %q", resize)
		d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", b)
	}
	assert.NotContains(t, d.Log(), "fatal error")
}

// A daemon killed while instances hold RAM adopts them with their memory intact, and still
// scrubs what they leave.
func TestGuestRAMAcrossDaemonRestart(t *testing.T) {
	d := hostdtest.Start(t, "--ram-pool", "4M")
	a := d.Launch("--ram", "4M", "--", "sleep", "1000")
	writeSecret(t, d, a)
	d.Kill()
	d.Restart()
	assert.True(t, readsSecret(t, d, a), "the running instance lost its memory")
	d.JSON(&api.TerminateInstancesResponse{}, "instance", "terminate", a)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pool api.PoolDescription
		d.JSON(&pool, "pool", "describe")
		if pool.RamPool.CleanBytes == 4<<20 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the released region was never scrubbed: %+v", pool.RamPool)
		time.Sleep(20 * time.Millisecond)
	}
	b := d.Launch("--ram", "4M", "--", "sleep", "1000")
	assert.False(t, readsSecret(t, d, b))
}
