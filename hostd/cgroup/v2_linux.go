package cgroup

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/containerd/cgroups/v3/cgroup2"
)

type v2Group struct {
	path   string
	m      *cgroup2.Manager
	limits Limits // for rebuilding the device filter, which v2 replaces whole
}

func newV2(path string, l Limits) (Group, error) {
	res := &cgroup2.Resources{Devices: allowedDevices(l)}
	if l.MemoryBytes > 0 {
		res.Memory = &cgroup2.Memory{Max: ptr(l.MemoryBytes), Swap: ptr(int64(0))}
	}
	if l.Cpus > 0 {
		quota, period := cpuQuota(l.Cpus)
		res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&quota, &period)}
	}
	if l.Pids > 0 {
		res.Pids = &cgroup2.Pids{Max: l.Pids}
	}
	// The controllers must be enabled down the path; the manager does that for its ancestors.
	m, err := cgroup2.NewManager(Root, "/"+path, res)
	if err != nil {
		return nil, err
	}
	return &v2Group{path: path, m: m, limits: l}, nil
}

func loadV2(path string) (Group, error) {
	m, err := cgroup2.Load("/"+path, cgroup2.WithMountpoint(Root))
	if err != nil {
		return nil, err
	}
	return &v2Group{path: path, m: m}, nil
}

func (g *v2Group) Add(pid int) error { return g.m.AddProc(uint64(pid)) }

func (g *v2Group) TaskFiles() []string { return nil }

func (g *v2Group) CloneInto() (*os.File, error) {
	return os.OpenFile(filepath.Join(Root, g.path), os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func (g *v2Group) Kill() error {
	// cgroup.kill kills the whole subtree atomically, forks included.
	if err := g.m.Kill(); err != nil {
		return err
	}
	return waitEmpty(func() (int, error) {
		pids, err := g.m.Procs(true)
		return len(pids), err
	})
}

func (g *v2Group) Delete() error { return g.m.Delete() }

func (g *v2Group) Pids() ([]int, error) {
	procs, err := g.m.Procs(true)
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = int(p)
	}
	return pids, err
}

// On v2 the allowlist is an eBPF program; a changed list is a new program. A group loaded after a
// restart knows only the base list, so its earlier volumes' devices must be allowed again by the
// caller.
func (g *v2Group) AllowBlockDevice(d Device) error {
	g.limits.BlockDevices = append(g.limits.BlockDevices, d)
	return g.m.Update(&cgroup2.Resources{Devices: allowedDevices(g.limits)})
}

func (g *v2Group) DenyBlockDevice(d Device) error {
	kept := g.limits.BlockDevices[:0]
	for _, b := range g.limits.BlockDevices {
		if b != d {
			kept = append(kept, b)
		}
	}
	g.limits.BlockDevices = kept
	return g.m.Update(&cgroup2.Resources{Devices: allowedDevices(g.limits)})
}

func (g *v2Group) Dirs() map[string]string {
	return map[string]string{"": filepath.Join(Root, g.path)}
}
