package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// waitState polls describe until the instance reaches state.
func waitState(t *testing.T, d *hostdtest.Daemon, id, state string) api.Instance {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := describe(t, d, id)
		if in.State == state {
			return in
		}
		require.True(t, time.Now().Before(deadline), "%s is %s, not %s", id, in.State, state)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLifecycle(t *testing.T) {
	d := hostdtest.Start(t)
	id := d.Launch("--", "sleep", "1000")
	in := describe(t, d, id)
	assert.Equal(t, "running", in.State)
	assert.Equal(t, []string{"sleep", "1000"}, in.Command)
	assert.Equal(t, id, in.Hostname)

	t.Run("exec passes stdin, stdout, stderr and the exit status through", func(t *testing.T) {
		out, _, code := d.RunStdin("from the host\n", "instance", "exec", id, "--", "cat")
		assert.Equal(t, 0, code)
		assert.Equal(t, "from the host\n", out)
		out, errOut, code := d.Exec(id, "sh", "-c", "echo out; echo err >&2; exit 3")
		assert.Equal(t, 3, code)
		assert.Equal(t, "out\n", out)
		assert.Equal(t, "err\n", errOut)
		_, _, code = d.Exec(id, "sh", "-c", "kill -TERM $$")
		assert.Equal(t, 128+int(syscall.SIGTERM), code)
	})

	t.Run("exec hands the guest pipes, never the caller's own files", func(t *testing.T) {
		// The caller's stdout is a host file here: a guest that could reach it (guest root can
		// pidfd_getfd anything its instance holds) would write into the host's files.
		out, err := os.CreateTemp(d.Dir, "stdout-")
		require.NoError(t, err)
		defer out.Close()
		cmd := exec.Command(d.Bin, "--socket", d.Socket, "instance", "exec", id, "--", "readlink", "/proc/self/fd/1")
		cmd.Stdout = out
		require.NoError(t, cmd.Run())
		got, err := os.ReadFile(out.Name())
		require.NoError(t, err)
		assert.Regexp(t, `^pipe:\[\d+\]\n$`, string(got))
	})

	t.Run("exec of a command the instance lacks", func(t *testing.T) {
		_, errOut, code := d.Exec(id, "no-such-command")
		assert.Equal(t, 1, code)
		c, msg := hostdtest.ErrorOf(t, errOut)
		assert.Equal(t, "InvalidParameterValue", c)
		assert.Contains(t, msg, "not found")
	})

	t.Run("a workload that exits leaves the instance stopped", func(t *testing.T) {
		short := d.Launch("--", "sh", "-c", "exit 7")
		in := waitState(t, d, short, "stopped")
		require.NotNil(t, in.ExitCode)
		assert.Equal(t, 7, *in.ExitCode)
		assert.Zero(t, in.Pid)
		assert.NoDirExists(t, "/sys/fs/cgroup/memory/hostd/"+d.Fabric+"/"+short, "a stopped instance keeps its cgroup")
		_, errOut, code := d.Exec(short, "true")
		assert.Equal(t, 1, code)
		c, _ := hostdtest.ErrorOf(t, errOut)
		assert.Equal(t, "IncorrectInstanceState", c)

		var out api.TerminateInstancesResponse
		d.JSON(&out, "instance", "terminate", short)
		assert.Equal(t, []api.InstanceStateChange{{InstanceId: short, PreviousState: "stopped", CurrentState: "terminated"}}, out.TerminatingInstances)
	})

	t.Run("terminate kills everything and returns when it is gone", func(t *testing.T) {
		// A process that double-forks away from the workload still dies with the instance.
		d.MustExec(id, "sh", "-c", "(setsid sleep 1000 </dev/null >/dev/null 2>&1 &)")
		pid := describe(t, d, id).Pid
		var out api.TerminateInstancesResponse
		d.JSON(&out, "instance", "terminate", id)
		assert.Equal(t, "running", out.TerminatingInstances[0].PreviousState)
		assert.Equal(t, "terminated", out.TerminatingInstances[0].CurrentState)
		// Gone by the time terminate returned: no waiting here.
		assert.NoDirExists(t, "/sys/fs/cgroup/memory/hostd/"+d.Fabric+"/"+id)
		assert.NoDirExists(t, d.StateDir+"/instances/"+id)
		assert.True(t, processDead(pid), "the init still runs")
		assert.Equal(t, "terminated", describe(t, d, id).State)
		// Terminating again is not an error, as in EC2.
		d.JSON(&out, "instance", "terminate", id)
		assert.Equal(t, "terminated", out.TerminatingInstances[0].PreviousState)
	})
}

// A daemon killed with SIGKILL leaves its instances running; the next one adopts them.
func TestRestartAdoptsAfterSIGKILL(t *testing.T) {
	d := hostdtest.Start(t)
	keep := d.Launch("--", "sleep", "1000")
	ends := d.Launch("--", "sleep", "1000") // killed while the daemon is down
	d.MustExec(keep, "sh", "-c", "echo state > /tmp/f")
	before := describe(t, d, keep)

	d.Kill()
	assert.NoError(t, syscall.Kill(before.Pid, 0), "instance died with the daemon")
	// One instance ends while no daemon watches it.
	endsPid := 0
	for _, p := range hostdtest.InstanceInits() {
		if p.ID == ends {
			endsPid = p.Pid
		}
	}
	require.NotZero(t, endsPid)
	require.NoError(t, syscall.Kill(endsPid, syscall.SIGKILL))

	d.Restart()
	after := describe(t, d, keep)
	assert.Equal(t, "running", after.State)
	assert.Equal(t, before.Pid, after.Pid)
	assert.Equal(t, "state", d.MustExec(keep, "cat", "/tmp/f"), "exec after adoption")
	assert.Contains(t, d.Log(), "adopted running instance")
	assert.Equal(t, "stopped", describe(t, d, ends).State)

	var out api.TerminateInstancesResponse
	d.JSON(&out, "instance", "terminate", keep, ends)
	assert.Len(t, out.TerminatingInstances, 2)
	assert.True(t, processDead(before.Pid), "the adopted init still runs")
}

// processDead tells whether pid has exited. An adopted init is no longer the daemon's child, so
// after it dies it stays a zombie until the host's PID 1 reaps it.
func processDead(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	return strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z")
}

// An adopted instance whose workload exits is marked stopped: the daemon watches it by pidfd.
func TestAdoptedInstanceStops(t *testing.T) {
	d := hostdtest.Start(t)
	id := d.Launch("--", "sleep", "1000")
	d.Stop() // SIGTERM: a clean stop also leaves instances running
	d.Restart()
	require.Equal(t, "running", describe(t, d, id).State)
	d.Exec(id, "sh", "-c", "kill -KILL $(pgrep -x sleep)")
	in := waitState(t, d, id, "stopped")
	require.NotNil(t, in.ExitCode)
	assert.Equal(t, 128+9, *in.ExitCode)
}

// Two daemons with their own state dirs, sockets and fabrics do not see each other.
func TestTwoDaemonsSideBySide(t *testing.T) {
	d1, d2 := hostdtest.Start(t), hostdtest.Start(t)
	a := d1.Launch("--", "sleep", "1000")
	b := d2.Launch("--", "sleep", "1000")
	var list api.DescribeInstancesResponse
	d1.JSON(&list, "instance", "describe")
	require.Len(t, list.Instances, 1)
	assert.Equal(t, a, list.Instances[0].InstanceId)
	_, errOut, code := d1.Run("instance", "describe", b)
	assert.Equal(t, 1, code)
	c, _ := hostdtest.ErrorOf(t, errOut)
	assert.Equal(t, "InvalidInstanceID.NotFound", c)
	assert.NotEqual(t, describe(t, d1, a).UserNamespace.HostId, describe(t, d2, b).UserNamespace.HostId)
	assert.FileExists(t, "/run/netns/hostd-"+d1.Fabric)
	assert.FileExists(t, "/run/netns/hostd-"+d2.Fabric)

	// Tearing one down leaves the other alone.
	d1.Stop()
	d1.Teardown()
	d1.CheckNoLeaks()
	assert.Equal(t, "running", describe(t, d2, b).State)
	assert.Equal(t, b, d2.MustExec(b, "hostname"))
	_, err := os.Stat("/run/netns/hostd-" + d2.Fabric)
	assert.NoError(t, err)
}

// The init outlives the daemon and keeps what it owes it: exec works with no daemon, the
// workload's output waits in its pipe and a restarted daemon resumes the log without losing a
// line, and an exit status the daemon missed is kept by the init until a daemon records it.
func TestInitServesAndWaitsWhileTheDaemonIsDown(t *testing.T) {
	d := hostdtest.Start(t)
	chatty := d.Launch("--", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); sleep 0.01; done; echo final-line; sleep 1000")
	ends := d.Launch("--", "sh", "-c", "sleep 1; exit 42")
	endsPid := describe(t, d, ends).Pid

	d.Kill()
	// Exec reaches the init with no daemon: the CLI finds its socket under the state dir.
	assert.Equal(t, chatty, d.MustExec(chatty, "hostname"))
	time.Sleep(2 * time.Second)
	// The workload of `ends` has exited; its init holds the status for a daemon.
	assert.NoError(t, syscall.Kill(endsPid, 0), "the init left without handing over the status")

	d.Restart()
	in := waitState(t, d, ends, "stopped")
	require.NotNil(t, in.ExitCode, "the status the init kept was lost")
	assert.Equal(t, 42, *in.ExitCode)
	assert.True(t, processDead(endsPid) || !processExists(endsPid), "the init stays after handing over its status")

	log := filepath.Join(d.StateDir, "instances", chatty, "console.log")
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(log)
		return strings.HasSuffix(string(data), "final-line\n")
	}, 10*time.Second, 50*time.Millisecond, "the console log did not resume")
	data, _ := os.ReadFile(log)
	var want strings.Builder
	for i := range 300 {
		fmt.Fprintf(&want, "line-%d\n", i)
	}
	assert.Equal(t, want.String()+"final-line\n", string(data), "lines were lost or repeated across the restart")
}

func processExists(pid int) bool { return syscall.Kill(pid, 0) == nil }
