package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The guest's root is built the way bubblewrap builds one inside a user namespace: pivot into a
// scratch tmpfs so the host's tree sits at /oldroot, assemble the new root at /newroot from parts
// of it, drop /oldroot, and pivot again. Every step happens in the instance's own mount namespace;
// the host's mounts are never touched.
const (
	scratch = "/tmp" // exists on every host; only the instance's mount namespace sees the tmpfs on it
	newRoot = "/newroot"
	oldRoot = "/oldroot"
)

// Paths masked as runc masks them: reading them reveals the host, or writing them acts on it.
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/interrupts"}
	maskedDirs    = []string{"/proc/acpi", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"}
	// The character devices of the guest's minimal /dev, bound from the host's (a user namespace
	// may not mknod). The cgroup's device allowlist admits exactly these.
	guestDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}
)

func buildRootfs(cfg *initConfig) error {
	steps := []struct {
		what string
		do   func() error
	}{
		{"make mounts private", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"mount scratch tmpfs", func() error { return mountTmpfs(scratch, "mode=0700,size=64k", 0) }},
		{"pivot into scratch", pivotIntoScratch},
		{"bind host root", func() error { return unix.Mount(oldRoot, newRoot, "", unix.MS_BIND|unix.MS_REC, "") }},
		{"make host root read-only", func() error {
			// nosuid and nodev too: no device node or setuid file of the host works in the guest.
			return unix.MountSetattr(-1, newRoot, unix.AT_RECURSIVE, &unix.MountAttr{
				Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV})
		}},
		{"mount private /tmp", func() error { return mountTmpfs(newRoot+"/tmp", "mode=1777", unix.MS_NOSUID|unix.MS_NODEV) }},
		{"mount private /run", func() error { return mountTmpfs(newRoot+"/run", "mode=0755", unix.MS_NOSUID|unix.MS_NODEV) }},
		{"show hostd inside", func() error { return showBinary(cfg.Binary) }},
		{"build /dev", buildDev},
		{"show guest RAM", func() error { return showGuestRAM(cfg.ram) }},
		{"show volumes", func() error { return showDevices(cfg.Devices, cfg.devices) }},
		{"mount /proc", func() error {
			return unix.Mount("proc", newRoot+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"mount /sys", func() error {
			return unix.Mount("sysfs", newRoot+"/sys", "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"show own cgroup", func() error { return showOwnCgroup(cfg.CgroupDirs) }},
		{"mask host paths", maskPaths},
		{"hide daemon paths", func() error { return hide(cfg.HidePaths) }},
		{"drop host root", func() error { return unix.Unmount(oldRoot, unix.MNT_DETACH) }},
		{"pivot into new root", pivotIntoNewRoot},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

func mountTmpfs(target, opts string, flags uintptr) error {
	return unix.Mount("tmpfs", target, "tmpfs", flags, opts)
}

func pivotIntoScratch() error {
	for _, d := range []string{newRoot, oldRoot} {
		if err := os.Mkdir(scratch+d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.PivotRoot(scratch, scratch+oldRoot); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// pivotIntoNewRoot makes /newroot the root with the pivot_root(".", ".") idiom (as runc does):
// the scratch root ends up stacked on the new one and is detached at once.
func pivotIntoNewRoot() error {
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Chdir("/")
}

func buildDev() error {
	dev := newRoot + "/dev"
	if err := mountTmpfs(dev, "mode=0755,size=64k", unix.MS_NOSUID|unix.MS_NOEXEC); err != nil {
		return err
	}
	for _, name := range guestDevices {
		if err := bindFile(oldRoot+"/dev/"+name, dev+"/"+name, 0); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	if err := mountTmpfs(dev+"/shm", "mode=1777", unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return err
	}
	links := map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, dev+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

// bindFile bind-mounts the file src over a new empty file dst, adding flags (read-only, say).
func bindFile(src, dst string, flags uintptr) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return bind(src, dst, flags)
}

// bind bind-mounts src on dst; with extra flags it remounts the bind with them, since the kernel
// ignores most flags on the first MS_BIND.
func bind(src, dst string, flags uintptr) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if flags == 0 {
		return nil
	}
	return unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
}

// showOwnCgroup replaces the guest's /sys/fs/cgroup with the instance's own groups: the guest can
// read its limits (memory.limit_in_bytes, pids.max, …) but sees no other group on the host.
func showOwnCgroup(dirs map[string]string) error {
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	target := newRoot + "/sys/fs/cgroup"
	if dir, unified := dirs[""]; unified && len(dirs) == 1 {
		// cgroup v2: the one hierarchy's group directory is the whole of /sys/fs/cgroup.
		return bind(oldRoot+dir, target, ro)
	}
	if err := mountTmpfs(target, "mode=0755,size=16k", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	for hierarchy, dir := range dirs {
		dst := filepath.Join(target, hierarchy)
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		if err := bind(oldRoot+dir, dst, ro); err != nil {
			return err
		}
	}
	return unix.Mount("", target, "", unix.MS_REMOUNT|ro, "mode=0755,size=16k")
}

// showGuestRAM binds the RAM region the daemon passed (nil for none) at GuestRAMPath. The region
// is a file on the daemon's tmpfs under its root-only state dir, which the guest's uid cannot even
// walk to; the fd's /proc link reaches it without walking the path.
func showGuestRAM(ram *os.File) error {
	if ram == nil {
		return nil
	}
	defer ram.Close()
	return bindFile(fmt.Sprintf("%s/proc/self/fd/%d", oldRoot, ram.Fd()), newRoot+GuestRAMPath, 0)
}

// showDevices binds each volume's device node (an O_PATH fd from the daemon) at its guest path
// in /dev. The device cgroup admits exactly these block devices.
func showDevices(guestPaths []string, nodes []*os.File) error {
	for i, node := range nodes {
		err := bindFile(fmt.Sprintf("%s/proc/self/fd/%d", oldRoot, node.Fd()), newRoot+guestPaths[i], 0)
		node.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", guestPaths[i], err)
		}
	}
	return nil
}

// showBinary binds the hostd binary, read-only, at GuestBinDir/hostd.
func showBinary(hostPath string) error {
	dir := newRoot + GuestBinDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return bindFile(oldRoot+hostPath, dir+"/hostd", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV)
}

func maskPaths() error {
	for _, p := range maskedFiles {
		if err := bind(newRoot+"/dev/null", newRoot+p, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	for _, p := range maskedDirs {
		if err := mountTmpfs(newRoot+p, "size=0", unix.MS_RDONLY); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	for _, p := range readOnlyPaths {
		if err := bind(newRoot+p, newRoot+p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// hide covers each host path: a directory with an empty read-only tmpfs, a file (the API socket)
// with /dev/null. A path already gone from the new root (under /tmp or /run, which are fresh)
// needs nothing; one the guest cannot even reach (EACCES on the way) is unreachable anyway.
func hide(paths []string) error {
	for _, p := range paths {
		target := newRoot + p
		st, err := os.Lstat(target)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			continue
		}
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = mountTmpfs(target, "size=0,mode=0555", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
		} else {
			err = bind(newRoot+"/dev/null", target, 0)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}
