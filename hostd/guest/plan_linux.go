package guest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/guest/initc"
)

// The guest's root: the host's root read-only, nosuid and nodev, with the host's mounts but those
// the guest has no business knowing about, fresh /tmp, /run, /dev, /proc and /sys, and masks over
// what reveals the host or other tenants. The init builds it as host root, in a copy of the
// host's mount namespace (owned by the host's user namespace) that no guest process has entered
// yet, and drops the rest of that copy when it pivots.

// Paths masked as runc masks them, and more where hostd would leak its own layout: the kernel's
// command line, and every view of the block devices (loop devices are other tenants' volumes:
// their backing file, offset, size and I/O).
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/interrupts", "/proc/cmdline",
		"/proc/diskstats", "/proc/partitions"}
	maskedDirs = []string{"/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware",
		"/sys/devices/virtual/powercap", "/sys/block", "/sys/class/block", "/sys/dev/block",
		"/sys/devices/virtual/block"}
	readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"}
	// The character devices of the guest's minimal /dev, bound from the host's. The cgroup's
	// device allowlist admits exactly these.
	guestDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}
	// Host mounts under these are replaced by the guest's own.
	replacedDirs = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}
)

// mountPoint is a line of /proc/self/mountinfo.
type mountPoint struct{ Path, FSType, Source string }

// hostMounts reads the daemon's mount table, which the init's namespace is a copy of.
func hostMounts() ([]mountPoint, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountinfo(bufio.NewScanner(f))
}

func parseMountinfo(s *bufio.Scanner) ([]mountPoint, error) {
	var out []mountPoint
	for s.Scan() {
		before, after, ok := strings.Cut(s.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			return nil, fmt.Errorf("unreadable mountinfo line %q", s.Text())
		}
		out = append(out, mountPoint{Path: unescapeMountinfo(fields[4]), FSType: tail[0], Source: unescapeMountinfo(tail[1])})
	}
	return out, s.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space, and so on).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// under tells whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// keptMounts are the host mounts the guest's root shows, read-only, by path: every one but those
// under the dirs the guest gets fresh, under the daemon's private dirs (its state dir), every RAM
// pool and guests' files tmpfs (any daemon's: the source names them), namespace and bpf pins,
// and anything mounted below one of those. Binding what is kept one by one, rather than binding the whole tree and
// detaching what is not, spares a launch one RCU grace period per detach.
func keptMounts(mounts []mountPoint, private []string) []string {
	var hidden, kept []string
	for _, m := range mounts {
		if m.Path == "/" {
			continue
		}
		if slices.ContainsFunc(replacedDirs, func(d string) bool { return under(m.Path, d) }) ||
			slices.ContainsFunc(private, func(d string) bool { return under(m.Path, d) }) ||
			m.FSType == "nsfs" || m.FSType == "bpf" || m.Source == ramPoolSource || m.Source == filesSource {
			hidden = append(hidden, m.Path)
		}
	}
	for _, m := range mounts {
		if m.Path != "/" && !slices.Contains(kept, m.Path) && !slices.ContainsFunc(hidden, func(h string) bool { return under(m.Path, h) }) {
			kept = append(kept, m.Path)
		}
	}
	return kept
}

// ramPoolSource is the source name memscrub mounts RAM pools with.
const ramPoolSource = "hostd-ram"

// plan is a root plan being written: paths inside the new root are relative (the init works in
// it), host paths absolute (the init's root is still the host's).
type plan struct{ ops []initc.Op }

func (p *plan) add(op initc.Op) { p.ops = append(p.ops, op) }

func (p *plan) mount(src, dst, fstype string, flags uintptr, data string) {
	p.add(initc.Op{Code: initc.OpMount, Arg: uint32(flags), Src: src, Dst: dst, FSType: fstype, Data: data})
}

func (p *plan) tmpfs(dst string, flags uintptr, data string) {
	p.mount("tmpfs", dst, "tmpfs", flags, data)
}

// bind binds src on dst, then remounts the bind with flags (the kernel ignores most flags on
// the first MS_BIND).
func (p *plan) bind(src, dst string, flags uintptr, optional bool) {
	p.add(initc.Op{Code: initc.OpMount, Arg: unix.MS_BIND, Src: src, Dst: dst, Optional: optional})
	if flags != 0 {
		p.add(initc.Op{Code: initc.OpMount, Arg: uint32(unix.MS_BIND | unix.MS_REMOUNT | flags), Dst: dst, Optional: optional})
	}
}

// bindFile binds the file src on a new empty file dst.
func (p *plan) bindFile(src, dst string, flags uintptr) {
	p.add(initc.Op{Code: initc.OpFile, Arg: 0o600, Dst: dst})
	p.bind(src, dst, flags, false)
}

func (p *plan) mkdir(dst string) { p.add(initc.Op{Code: initc.OpMkdir, Arg: 0o755, Dst: dst}) }

// rel is a guest path as the init names it inside the new root.
func rel(guestPath string) string { return strings.TrimPrefix(filepath.Clean(guestPath), "/") }

// rootPlan is the plan of spec's root, built at newRoot (an empty host directory) and pivoted
// into. kept are the host mounts shown; socket, if the guest could see it, is covered; filesDir
// holds spec's files.
func rootPlan(spec Spec, newRoot, filesDir string, kept []string, socket string) []initc.Op {
	const (
		nosuidNodev = unix.MS_NOSUID | unix.MS_NODEV
		locked      = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	)
	owner := fmt.Sprintf("uid=%d,gid=%d", spec.IDs.HostID, spec.IDs.HostID) // guest root's
	p := &plan{}
	// Nothing done here propagates back to the host.
	p.mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	p.mount("/", newRoot, "", unix.MS_BIND, "")
	p.add(initc.Op{Code: initc.OpChdir, Dst: newRoot})
	for _, k := range kept {
		p.add(initc.Op{Code: initc.OpMount, Arg: unix.MS_BIND, Src: k, Dst: rel(k), Optional: true})
	}
	p.add(initc.Op{Code: initc.OpSetattr, Arg: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Dst: "."})

	p.tmpfs("tmp", nosuidNodev, "mode=1777,"+owner)
	p.tmpfs("run", nosuidNodev, "mode=0755,"+owner)
	p.mkdir("run/hostd")
	p.mkdir(rel(GuestBinDir))
	// The init's own binary, which is the daemon's: read-only, and nothing privileged runs it.
	p.bindFile("/proc/self/exe", rel(GuestBinDir+"/hostd"), unix.MS_RDONLY|nosuidNodev)
	p.guestFiles(spec, filesDir)

	// /dev belongs to host root: the guest cannot add, remove or rename anything in it, so the
	// init may later attach devices there without meeting anything the guest made.
	p.tmpfs("dev", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k")
	for _, name := range guestDevices {
		p.bindFile("/dev/"+name, "dev/"+name, 0)
	}
	p.mkdir("dev/pts")
	p.mkdir("dev/shm")
	// gid 5 inside (tty) for new terminals, as on a host.
	p.mount("devpts", "dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, fmt.Sprintf("newinstance,ptmxmode=0666,mode=0620,gid=%d", spec.IDs.HostID+5))
	p.tmpfs("dev/shm", nosuidNodev, "mode=1777,"+owner)
	for _, l := range [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}} {
		p.add(initc.Op{Code: initc.OpSymlink, Src: l[0], Dst: "dev/" + l[1]})
	}
	if spec.RAMPath != "" {
		p.bindFile(spec.RAMPath, rel(GuestRAMPath), 0)
	}
	for _, d := range spec.Devices {
		p.bindFile(d.HostPath, rel(d.GuestPath), 0)
	}

	// In the instance's PID namespace (the init's) and, for sysfs, its network namespace: all
	// of the above is done while the workload makes that namespace.
	p.mount("proc", "proc", "proc", locked, "")
	p.add(initc.Op{Code: initc.OpNetns})
	p.mount("sysfs", "sys", "sysfs", unix.MS_RDONLY|locked, "")
	// The instance's own cgroups, read-only: the guest reads its limits, and no other group.
	dirs := spec.Group.Dirs()
	if dir, unified := dirs[""]; unified && len(dirs) == 1 {
		// cgroup v2: the one hierarchy's group directory is the whole of /sys/fs/cgroup. (A
		// tmpfs under it would be hidden, and remounting it would remount the cgroup2 superblock.)
		p.bind(dir, "sys/fs/cgroup", unix.MS_RDONLY|locked, false)
	} else {
		p.tmpfs("sys/fs/cgroup", locked, "mode=0755,size=16k")
		var hierarchies []string
		for h := range dirs {
			hierarchies = append(hierarchies, h)
		}
		slices.Sort(hierarchies)
		for _, h := range hierarchies {
			dst := "sys/fs/cgroup/" + h
			p.mkdir(dst)
			p.bind(dirs[h], dst, unix.MS_RDONLY|locked, false)
		}
		p.mount("", "sys/fs/cgroup", "", unix.MS_REMOUNT|unix.MS_RDONLY|locked, "mode=0755,size=16k")
	}

	for _, f := range maskedFiles {
		p.bind("/dev/null", rel(f), 0, true)
	}
	for _, d := range maskedDirs {
		p.add(initc.Op{Code: initc.OpMount, Arg: unix.MS_RDONLY | locked, Src: "tmpfs", Dst: rel(d), FSType: "tmpfs", Data: "size=0", Optional: true})
	}
	for _, d := range readOnlyPaths {
		p.bind(rel(d), rel(d), unix.MS_RDONLY|locked, true)
	}
	// The API socket is root-only, but its path is the daemon's business: where the guest could
	// see it (outside the fresh /run and /tmp), it is covered.
	if socket != "" && !slices.ContainsFunc(replacedDirs, func(d string) bool { return under(socket, d) }) {
		p.bind("/dev/null", rel(socket), 0, true)
	}
	p.add(initc.Op{Code: initc.OpPivot})
	return p.ops
}

// filesSource names the tmpfs of the guests' own files in mount tables.
const filesSource = "hostd-files"

// MountFilesDir mounts the tmpfs of the instances' own files on dir, root-only, unless one is
// there already (an earlier daemon's, with its instances' files).
func MountFilesDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.TMPFS_MAGIC {
		return nil
	}
	// A page or two per instance: 64 MiB is room for thousands.
	if err := unix.Mount(filesSource, dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64m,mode=0700"); err != nil {
		return fmt.Errorf("mounting the guests' files' tmpfs on %s: %w", dir, err)
	}
	return nil
}

// UnmountFilesDir unmounts it, with every file in it.
func UnmountFilesDir(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return os.RemoveAll(dir)
}

// guestFileSource is the host file, in the instance's files dir, that is shown in the guest at
// guestPath (Spec.Files).
func guestFileSource(filesDir, guestPath string) string {
	return filepath.Join(filesDir, strings.ReplaceAll(rel(guestPath), "/", "_"))
}

// writeGuestFiles writes an instance's files in its files dir, world-readable (guest root is
// "other" to host root's files), for the plan to bind.
func writeGuestFiles(filesDir string, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	if err := os.MkdirAll(filesDir, 0o755); err != nil {
		return err
	}
	for guestPath, content := range files {
		if err := os.WriteFile(guestFileSource(filesDir, guestPath), content, 0o644); err != nil {
			return fmt.Errorf("writing the guest's %s: %w", guestPath, err)
		}
	}
	return nil
}

// hostTarget is where a bind at path lands: path with the host's own symlinks followed, read
// on the host's side, so that the init's mount never follows a link (a host /etc/resolv.conf
// that links into /run, as systemd-resolved's does, points into the guest's fresh /run).
func hostTarget(path string) string {
	for range 8 {
		dir, err := filepath.EvalSymlinks(filepath.Dir(path))
		if err != nil {
			return path
		}
		path = filepath.Join(dir, filepath.Base(path))
		link, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(dir, link)
		}
		path = filepath.Clean(link)
	}
	return path
}

// guestFiles binds spec's files read-only where the guest reads them. Over a file of the host's
// read-only tree, the bind covers it; in the fresh /run or /tmp (where a host link may lead), the
// init makes the file and its directories first: nothing of the guest is in there yet. Under
// /dev, /proc or /sys nothing is bound; nor where the host has no such file (the guest then
// has none either: glibc's default, loopback, fails at once).
func (p *plan) guestFiles(spec Spec, filesDir string) {
	const flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	paths := make([]string, 0, len(spec.Files))
	for path := range spec.Files {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	made := map[string]bool{"run": true, "tmp": true, "run/hostd": true, rel(GuestBinDir): true}
	for _, path := range paths {
		src, target := guestFileSource(filesDir, path), hostTarget(path)
		switch {
		case under(target, "/run") || under(target, "/tmp"):
			parts := strings.Split(rel(filepath.Dir(target)), "/")
			for i := range parts {
				if dir := strings.Join(parts[:i+1], "/"); !made[dir] {
					p.mkdir(dir)
					made[dir] = true
				}
			}
			p.bindFile(src, rel(target), flags)
		case slices.ContainsFunc(replacedDirs, func(d string) bool { return under(target, d) }):
		default:
			p.bind(src, rel(target), flags, true)
		}
	}
}
