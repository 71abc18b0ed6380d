package daemon

import (
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/cgroup"
)

// logKernel says in one line at start what this kernel gives hostd and how each protection is
// enforced. (What it lacks outright, cgroup.Check refuses before anything is made.)
func (d *Daemon) logKernel(layout cgroup.Layout) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	attach := "clsact"
	note := "no TCX before Linux 6.6: the datapath is attached with clsact filters, which the interfaces hold (not pinned links)"
	if d.dp.TCX {
		attach, note = "tcx", "the datapath is attached with TCX links, pinned"
	}
	d.log.Info("kernel", "release", unix.ByteSliceToString(uts.Release[:]), "cgroup", layout.Version,
		"device_allowlist", layout.Devices, "attach", attach, "note", note)
}
