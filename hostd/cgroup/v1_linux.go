package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Subsystems are the v1 hierarchies an instance is placed in: the limits it has, accounting,
// the device allowlist, and the freezer (so that Kill cannot race a fork).
var v1Subsystems = []string{"cpu", "cpuacct", "memory", "pids", "devices", "freezer"}

func v1Hierarchy() ([]cgroup1.Subsystem, error) {
	return []cgroup1.Subsystem{
		cgroup1.NewCpu(Root),
		cgroup1.NewCpuacct(Root),
		cgroup1.NewMemory(Root, cgroup1.OptionalSwap()),
		cgroup1.NewPids(Root),
		cgroup1.NewDevices(Root),
		cgroup1.NewFreezer(Root),
	}, nil
}

type v1Group struct {
	path  string
	cg    cgroup1.Cgroup
	block blockDevices
}

func newV1(path string, l Limits) (Group, error) {
	res := &specs.LinuxResources{Devices: allowedDevices(l.BlockDevices)}
	if l.MemoryBytes > 0 {
		// memsw equal to the memory limit: the instance gets no swap.
		res.Memory = &specs.LinuxMemory{Limit: ptr(l.MemoryBytes), Swap: ptr(l.MemoryBytes), Swappiness: ptr(uint64(0))}
	}
	if l.Cpus > 0 {
		quota, period := cpuQuota(l.Cpus)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if l.Pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: ptr(l.Pids)}
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(v1Hierarchy))
	if err != nil {
		// New may have made some hierarchies' directories before failing.
		if old, lerr := loadV1(path); lerr == nil {
			_ = old.Delete()
		}
		return nil, err
	}
	return &v1Group{path: path, cg: cg, block: blockDevices{list: l.BlockDevices, known: true}}, nil
}

func loadV1(path string) (Group, error) {
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(v1Hierarchy))
	if err != nil {
		return nil, err
	}
	return &v1Group{path: path, cg: cg}, nil
}

func (g *v1Group) Add(pid int) error { return g.cg.Add(cgroup1.Process{Pid: pid}) }

func (g *v1Group) CloneInto() (*os.File, error) { return nil, nil }

func (g *v1Group) TaskFiles() []string {
	files := make([]string, len(v1Subsystems))
	for i, s := range v1Subsystems {
		files[i] = filepath.Join(Root, s, g.path, "tasks")
	}
	return files
}

func (g *v1Group) Kill() error {
	// Freeze first so that nothing forks between listing the processes and killing them.
	if err := g.cg.Freeze(); err != nil {
		return err
	}
	procs, err := g.cg.Processes(cgroup1.Freezer, true)
	if err != nil {
		_ = g.cg.Thaw()
		return err
	}
	for _, p := range procs {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	if err := g.cg.Thaw(); err != nil {
		return err
	}
	return waitEmpty(func() (int, error) {
		procs, err := g.cg.Processes(cgroup1.Freezer, true)
		return len(procs), err
	})
}

func (g *v1Group) Delete() error { return g.cg.Delete() }

func (g *v1Group) Pids() ([]int, error) {
	procs, err := g.cg.Processes(cgroup1.Freezer, true)
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.Pid
	}
	return pids, err
}

func (g *v1Group) AllowBlockDevice(d Device) error {
	return g.block.change(d, true, func([]Device) error { return g.writeDevices("devices.allow", d) })
}

func (g *v1Group) DenyBlockDevice(d Device) error {
	return g.block.change(d, false, func([]Device) error { return g.writeDevices("devices.deny", d) })
}

// SetBlockDevices denies the block devices the kernel's list has beyond devs, then allows devs.
func (g *v1Group) SetBlockDevices(devs []Device) error {
	return g.block.set(devs, func(devs []Device) error {
		list, err := os.ReadFile(filepath.Join(Root, "devices", g.path, "devices.list"))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(list), "\n") {
			var d Device
			if _, err := fmt.Sscanf(line, "b %d:%d", &d.Major, &d.Minor); err == nil && !slices.Contains(devs, d) {
				if err := g.writeDevices("devices.deny", d); err != nil {
					return err
				}
			}
		}
		for _, d := range devs {
			if err := g.writeDevices("devices.allow", d); err != nil {
				return err
			}
		}
		return nil
	})
}

func (g *v1Group) writeDevices(file string, d Device) error {
	rule := fmt.Sprintf("b %d:%d rw", d.Major, d.Minor)
	return os.WriteFile(filepath.Join(Root, "devices", g.path, file), []byte(rule), 0)
}

func (g *v1Group) Dirs() map[string]string {
	dirs := make(map[string]string, len(v1Subsystems))
	for _, s := range v1Subsystems {
		dirs[s] = filepath.Join(Root, s, g.path)
	}
	return dirs
}
