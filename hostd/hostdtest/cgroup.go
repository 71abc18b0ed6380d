package hostdtest

import (
	"os/exec"
	"path/filepath"

	"github.com/containerd/cgroups/v3"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/cgroup"
)

// CgroupV2 tells whether this host's cgroups are the unified (v2) layout.
func CgroupV2() bool { return cgroups.Mode() == cgroups.Unified }

// CgroupFile picks an instance's cgroup file for this host's layout: v1 names it under its
// hierarchy (memory/memory.limit_in_bytes), v2 in the group's one directory (memory.max). Inside
// the guest it is under /sys/fs/cgroup; on the host, under CgroupDir.
func CgroupFile(v1, v2 string) string {
	if CgroupV2() {
		return v2
	}
	return v1
}

// CgroupDir is the host directory of an instance's group in a v1 hierarchy, or in the one
// hierarchy on v2.
func (d *Daemon) CgroupDir(hierarchy, id string) string {
	if CgroupV2() {
		hierarchy = ""
	}
	return filepath.Join(cgroup.Root, hierarchy, "hostd", d.Fabric, id)
}

// Admits tells whether an instance's device allowlist lets its processes open the host's device
// node at path. A shell joins the instance's group (its devices hierarchy on v1; on v2 the group,
// where the allowlist is an eBPF program) and opens the node for reading and writing: the same
// check a guest's open meets, on either layout.
func (d *Daemon) Admits(id, path string) bool {
	d.t.Helper()
	out, err := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec 3<>"$2"`, "sh", d.CgroupDir("devices", id), path).CombinedOutput()
	if err == nil {
		return true
	}
	require.Contains(d.t, string(out), "Operation not permitted", "opening %s from the group of %s", path, id)
	return false
}
