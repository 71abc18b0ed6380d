package memscrub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openBacking creates a file store of size bytes (sparse) if nothing is at path, and returns the
// store's size: a block device's own, or the file's.
func openBacking(path string, size int64) (int64, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return size, f.Truncate(size)
	}
	if err != nil {
		return 0, err
	}
	if st.Mode()&os.ModeDevice == 0 {
		return st.Size(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0, fmt.Errorf("size of %s: %w", path, errno)
	}
	return int64(n), nil
}

// wipeExtent zeroes an extent of the store in the given mode.
func wipeExtent(path string, e Extent, mode WipeMode) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeDevice != 0 {
		// BLKZEROOUT writes zeros (or has the device do it); it is the overwrite on a device.
		r := [2]uint64{uint64(e.Offset), uint64(e.Size)}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&r))); errno != 0 {
			return errno
		}
		return nil
	}
	if mode == WipeOverwrite {
		zeros := make([]byte, 1<<20)
		for off := e.Offset; off < e.end(); off += int64(len(zeros)) {
			n := min(int64(len(zeros)), e.end()-off)
			if _, err := f.WriteAt(zeros[:n], off); err != nil {
				return err
			}
		}
		return f.Sync()
	}
	err = unix.EOPNOTSUPP
	if mode != WipePunchHole {
		err = fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, e.Offset, e.Size)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, e.Offset, e.Size)
	}
	return err
}

// LoopDevice is a loop device over one extent of a store.
type LoopDevice struct {
	Path         string
	Major, Minor uint32
	// Backing and Offset are what the device is bound to: the store and the extent's start.
	Backing string
	Offset  int64
}

// ErrStillBound means a loop device is still bound after LOOP_CLR_FD: something holds it open (a
// descriptor passed over a unix socket and not yet received, a mapping), and the kernel unbinds it
// only at the last close. Until then its extent may still be read and written through it.
var ErrStillBound = errors.New("the loop device is still bound: a descriptor of it is still held")

// AttachLoop makes a loop device showing exactly extent e of the store at path.
func AttachLoop(path string, e Extent) (*LoopDevice, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	backing, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer backing.Close()
	for range 8 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("finding a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		lf, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		cfg := &unix.LoopConfig{Fd: uint32(backing.Fd())}
		cfg.Info.Offset, cfg.Info.Sizelimit = uint64(e.Offset), uint64(e.Size)
		// No autoclear: it would end the device when this handle closes, before the guest opens
		// it. The daemon detaches it itself (Detach) and records which device a volume has.
		err = unix.IoctlLoopConfigure(int(lf.Fd()), cfg)
		if errors.Is(err, unix.EBUSY) {
			lf.Close()
			continue
		}
		if err != nil {
			lf.Close()
			return nil, fmt.Errorf("configuring %s: %w", dev, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(lf.Fd()), &st); err != nil {
			lf.Close()
			return nil, err
		}
		lf.Close()
		return &LoopDevice{Path: dev, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Backing: path, Offset: e.Offset}, nil
	}
	return nil, errors.New("no loop device stayed free")
}

// Detach unbinds the loop device and returns nil only once it is no longer bound to its extent.
// If something still holds it, the kernel defers the unbind to the last close (the device is
// marked autoclear) and Detach returns ErrStillBound: the extent must not be reused until Bound
// says otherwise (or Keep cancels the unbind).
func (l *LoopDevice) Detach() error {
	f, err := os.OpenFile(l.Path, os.O_RDWR, 0)
	if err == nil {
		err = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
		// The unbind, deferred or not, happens at the last close: possibly this one.
		f.Close()
		if errors.Is(err, unix.ENXIO) { // not bound any more
			err = nil
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detaching %s: %w", l.Path, err)
	}
	// The unbind at the last close may take a moment to show.
	for range 20 {
		bound, err := l.Bound()
		if err != nil || !bound {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ErrStillBound
}

// Bound tells whether the device is still bound to its extent. One bound to something else has
// been unbound and taken again since.
func (l *LoopDevice) Bound() (bool, error) {
	sys := filepath.Join("/sys/block", filepath.Base(l.Path), "loop")
	offset, err := os.ReadFile(filepath.Join(sys, "offset"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	backing, err := os.ReadFile(filepath.Join(sys, "backing_file"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	want, err := filepath.EvalSymlinks(l.Backing)
	if err != nil {
		want = l.Backing
	}
	return strings.TrimSpace(string(backing)) == want && strings.TrimSpace(string(offset)) == strconv.FormatInt(l.Offset, 10), nil
}

// Keep cancels a deferred unbind (clears LO_FLAGS_AUTOCLEAR), for a detach that is refused and
// undone: the device stays as it was.
func (l *LoopDevice) Keep() error {
	f, err := os.OpenFile(l.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
	if err != nil {
		return err
	}
	info.Flags &^= unix.LO_FLAGS_AUTOCLEAR
	return unix.IoctlLoopSetStatus64(int(f.Fd()), info)
}
