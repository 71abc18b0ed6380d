package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/containerd/cgroups/v3"
)

// Layout is how this host's cgroups enforce an instance's limits.
type Layout struct {
	Version string // "v1" (legacy or hybrid) or "v2" (unified)
	Devices string // what enforces the device allowlist
}

// v2Controllers are the controllers an instance's limits need on a unified host.
var v2Controllers = []string{"cpu", "memory", "pids"}

// Check finds the layout, and fails, naming what is missing and what it protects, where the host
// lacks a controller or kernel feature an instance's limits or device allowlist need: a daemon that
// started anyway would run guests unconfined.
func Check() (Layout, error) {
	if cgroups.Mode() != cgroups.Unified {
		for _, s := range v1Subsystems {
			if _, err := os.Stat(filepath.Join(Root, s, "cgroup.procs")); err != nil {
				return Layout{}, fmt.Errorf("cgroup v1: no %s hierarchy at %s: hostd needs the %s controller mounted there to confine instances", s, filepath.Join(Root, s), s)
			}
		}
		return Layout{Version: "v1", Devices: "devices controller"}, nil
	}
	data, err := os.ReadFile(filepath.Join(Root, "cgroup.controllers"))
	if err != nil {
		return Layout{}, fmt.Errorf("cgroup v2: %w", err)
	}
	have := strings.Fields(string(data))
	for _, c := range v2Controllers {
		if !slices.Contains(have, c) {
			return Layout{}, fmt.Errorf("cgroup v2: the %s controller is not available at %s (it has: %s); hostd needs it to enforce instance limits", c, Root, strings.Join(have, " "))
		}
	}
	if err := features.HaveProgramType(ebpf.CGroupDevice); err != nil {
		return Layout{}, fmt.Errorf("cgroup v2: this kernel cannot run device filter programs (%v); without them hostd cannot keep guests off the host's devices", err)
	}
	return Layout{Version: "v2", Devices: "eBPF device program"}, nil
}
