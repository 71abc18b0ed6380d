package hostdtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stretchr/testify/assert"
)

// CheckNoLeaks fails the test if anything this daemon made is still on the host: its fabric
// namespace, any cgroup at its level, an id range claimed by it, a mount or a process of its.
func (d *Daemon) CheckNoLeaks() {
	t := d.t
	t.Helper()
	assert.NoFileExists(t, filepath.Join("/run/netns", "hostd-"+d.Fabric), "fabric network namespace left")
	assert.NoFileExists(t, filepath.Join("/run/netns", "hostd-"+d.Fabric+"-svc"), "services network namespace left")
	assert.NoDirExists(t, filepath.Join("/sys/fs/bpf/hostd", d.Fabric), "pinned eBPF objects left")
	for _, h := range []string{"cpu", "cpuacct", "memory", "pids", "devices", "freezer", ""} {
		assert.NoDirExists(t, filepath.Join("/sys/fs/cgroup", h, "hostd", d.Fabric), "cgroup left in %q", h)
	}
	slots, _ := filepath.Glob("/run/hostd-idranges/*")
	for _, s := range slots {
		data, _ := os.ReadFile(s)
		assert.NotContains(t, string(data), d.StateDir+" ", "id range %s left claimed", s)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		assert.False(t, strings.Contains(line, d.Dir) || strings.Contains(line, "hostd-"+d.Fabric), "mount left: %s", line)
	}
	backing, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range backing {
		data, _ := os.ReadFile(b)
		assert.NotContains(t, string(data), d.Dir, "loop device left: %s", b)
	}
	for _, p := range InstanceInits() {
		if d.ownsInstance(p.ID) {
			t.Errorf("init of %s (pid %d) still running", p.ID, p.Pid)
		}
	}
}

func (d *Daemon) ownsInstance(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[id]
}

var instanceIDPattern = regexp.MustCompile(`"InstanceId": "(i-[0-9a-f]+)"`)

// noteInstances remembers every instance id a command printed, for the leak check.
func (d *Daemon) noteInstances(stdout string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range instanceIDPattern.FindAllStringSubmatch(stdout, -1) {
		d.seen[m[1]] = true
	}
}

// InitProcess is an instance's init seen in /proc.
type InitProcess struct {
	Pid int
	ID  string
}

// InstanceInits lists every instance init running on the host.
func InstanceInits() []InitProcess {
	var out []InitProcess
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if len(args) == 3 && args[1] == "instance-init" {
			var pid int
			for _, c := range filepath.Base(dir) {
				pid = pid*10 + int(c-'0')
			}
			out = append(out, InitProcess{Pid: pid, ID: args[2]})
		}
	}
	return out
}
