package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

type v2Group struct {
	path  string
	m     *cgroup2.Manager
	block blockDevices
}

func newV2(path string, l Limits) (Group, error) {
	res := &cgroup2.Resources{}
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
	g := &v2Group{path: path, m: m}
	// The device filter is ours to attach (see setDeviceFilter); no process is in the group yet.
	if err := g.SetBlockDevices(l.BlockDevices); err != nil {
		_ = m.Delete()
		return nil, err
	}
	return g, nil
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

func (g *v2Group) AllowBlockDevice(d Device) error { return g.block.change(d, true, g.setDeviceFilter) }

func (g *v2Group) DenyBlockDevice(d Device) error { return g.block.change(d, false, g.setDeviceFilter) }

func (g *v2Group) SetBlockDevices(devs []Device) error { return g.block.set(devs, g.setDeviceFilter) }

// setDeviceFilter makes the group's eBPF device program one that admits the base list and the
// block devices given, and no other program. containerd's cgroup2 only ever adds a program beside
// the old ones (BPF_F_ALLOW_MULTI), and the kernel admits a device only if every attached program
// does, so a device allowed by a later program would stay denied by the first. The new program
// is attached before the old ones are detached: in between, the group admits only what both do.
func (g *v2Group) setDeviceFilter(block []Device) error {
	insts, license, err := cgroup2.DeviceFilter(allowedDevices(block))
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insts, License: license})
	if err != nil {
		return fmt.Errorf("loading the device filter: %w", err)
	}
	defer prog.Close()
	dir, err := os.Open(filepath.Join(Root, g.path))
	if err != nil {
		return err
	}
	defer dir.Close()
	target := int(dir.Fd())
	old, err := link.QueryPrograms(link.QueryOptions{Target: target, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("listing the device filters of %s: %w", g.path, err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: target, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attaching the device filter to %s: %w", g.path, err)
	}
	var errs []error
	for _, p := range old.Programs {
		if err := detachDeviceFilter(target, p.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The group admits less than it should (the intersection), never more.
		return fmt.Errorf("detaching the replaced device filters of %s: %w", g.path, err)
	}
	return nil
}

func detachDeviceFilter(target int, id ebpf.ProgramID) error {
	p, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil // gone already
	}
	if err != nil {
		return err
	}
	defer p.Close()
	return link.RawDetachProgram(link.RawDetachProgramOptions{Target: target, Program: p, Attach: ebpf.AttachCGroupDevice})
}

func (g *v2Group) Dirs() map[string]string {
	return map[string]string{"": filepath.Join(Root, g.path)}
}
