// Package cgroup gives each instance a control group with its limits and a device allowlist,
// behind one interface for both cgroup layouts: v1 (legacy and hybrid hosts, like most CI VMs) and
// v2 (unified hosts). The layout is asked once of containerd/cgroups' Mode(), as that package does.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits are the resources an instance may use. A zero field leaves that resource unlimited.
type Limits struct {
	MemoryBytes int64
	Cpus        float64
	Pids        int64
	// BlockDevices lists the only block devices the instance may open (its volumes).
	BlockDevices []Device
}

// Device is a device number the allowlist admits.
type Device struct{ Major, Minor int64 }

// Group is one instance's control group.
type Group interface {
	// Add moves a process into the group.
	Add(pid int) error
	// CloneInto opens the group's directory for clone3's CLONE_INTO_CGROUP, so that a process is
	// born in the group (v2); nil on v1.
	CloneInto() (*os.File, error)
	// TaskFiles are the files a process writes "0" to, one per hierarchy, to move itself into the
	// group (v1; none on v2). A thread that moves itself skips the global lock that moving
	// another process takes, whose RCU grace period cost 5 ms per move here.
	TaskFiles() []string
	// Kill sends SIGKILL to every process in the group and returns once the group is empty.
	Kill() error
	// Delete removes the group; it must be empty.
	Delete() error
	// AllowBlockDevice and DenyBlockDevice change the device allowlist of a live group. On a
	// group opened by Load they fail with ErrBlockDevicesUnknown until SetBlockDevices is called.
	AllowBlockDevice(Device) error
	DenyBlockDevice(Device) error
	// SetBlockDevices makes devs the only block devices the allowlist admits. A daemon that
	// adopts a group with Load must call it with the instance's volumes: on v2 the list lives
	// only in an eBPF program, which cannot be read back, and is replaced whole on every change.
	SetBlockDevices(devs []Device) error
	// Pids lists the processes in the group.
	Pids() ([]int, error)
	// Dirs maps each hierarchy's directory name under /sys/fs/cgroup to the group's directory in
	// it, so that the guest can be shown its own limits and nothing else.
	Dirs() map[string]string
}

// ErrBlockDevicesUnknown is the refusal to change the allowlist of a group opened by Load before
// its owner has said which block devices it admits (SetBlockDevices): a change made from an
// empty list would drop the devices of the instance's other volumes.
var ErrBlockDevicesUnknown = errors.New("the block devices this cgroup admits are unknown since it was loaded; set them first (SetBlockDevices)")

// Root is where the cgroup filesystems are mounted.
const Root = "/sys/fs/cgroup"

// New creates the group at path (relative to each hierarchy's root) with limits applied.
func New(path string, l Limits) (Group, error) {
	if cgroups.Mode() == cgroups.Unified {
		return newV2(path, l)
	}
	return newV1(path, l)
}

// Load opens an existing group. It fails if the group does not exist.
func Load(path string) (Group, error) {
	if cgroups.Mode() == cgroups.Unified {
		return loadV2(path)
	}
	return loadV1(path)
}

// Children lists the names of the groups directly below parent, in the hierarchy that every
// layout has (memory on v1, the unified tree on v2). Used at start to find groups nobody owns.
func Children(parent string) ([]string, error) {
	dir := filepath.Join(Root, "memory", parent)
	if cgroups.Mode() == cgroups.Unified {
		dir = filepath.Join(Root, parent)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, err
}

// RemoveEmpty removes each of paths from every hierarchy where it exists and is empty, in the
// order given: pass a daemon's level before its parent. Groups that still have children stay.
func RemoveEmpty(paths ...string) {
	for _, p := range paths {
		for _, h := range hierarchies() {
			_ = os.Remove(filepath.Join(Root, h, p))
		}
	}
}

// hierarchies are the directories under Root that hold instance groups.
func hierarchies() []string {
	if cgroups.Mode() == cgroups.Unified {
		return []string{""}
	}
	return v1Subsystems
}

// allowedDevices is the allowlist every instance gets: the character devices of its minimal /dev
// and, of block devices, only those given.
func allowedDevices(block []Device) []specs.LinuxDeviceCgroup {
	char := func(major, minor int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}
	}
	wildcard := int64(-1) // "*"; v2's filter needs every number set
	devs := []specs.LinuxDeviceCgroup{
		{Allow: false, Type: "a", Major: &wildcard, Minor: &wildcard, Access: "rwm"}, // deny everything first
		char(1, 3), char(1, 5), char(1, 7), char(1, 8), char(1, 9), // null zero full random urandom
		char(5, 0), char(5, 2), // tty ptmx
		char(136, wildcard), // pts
	}
	for _, d := range block {
		devs = append(devs, specs.LinuxDeviceCgroup{Allow: true, Type: "b", Major: ptr(d.Major), Minor: ptr(d.Minor), Access: "rw"})
	}
	return devs
}

func ptr[T any](v T) *T { return &v }

// blockDevices is the list of block devices a group's allowlist admits, kept by the group for
// changes that rebuild the allowlist (v2) and to refuse changes while the list is unknown.
type blockDevices struct {
	mu    sync.Mutex
	list  []Device
	known bool // false after Load, until set
}

// change allows or denies d: apply makes the kernel admit next, the list with the change made,
// and the list is updated only if it succeeded.
func (b *blockDevices) change(d Device, allow bool, apply func(next []Device) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.known {
		return ErrBlockDevicesUnknown
	}
	next := slices.DeleteFunc(slices.Clone(b.list), func(x Device) bool { return x == d })
	if allow {
		next = append(next, d)
	}
	if err := apply(next); err != nil {
		return err
	}
	b.list = next
	return nil
}

// set makes devs the list, once apply has made the kernel admit exactly them.
func (b *blockDevices) set(devs []Device, apply func(devs []Device) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := apply(devs); err != nil {
		return err
	}
	b.list, b.known = slices.Clone(devs), true
	return nil
}

// cpuQuota turns a CPU count into a CFS quota over the default 100 ms period.
func cpuQuota(cpus float64) (quota int64, period uint64) {
	period = 100000
	return int64(cpus * float64(period)), period
}

// waitEmpty polls count until it reports no processes, for at most ten seconds: SIGKILLed
// processes leave the group only once the kernel has torn them down.
func waitEmpty(count func() (int, error)) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := count()
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes still in the cgroup 10s after SIGKILL", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
