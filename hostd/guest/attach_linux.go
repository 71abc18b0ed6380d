package guest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Devices are added to and removed from a running guest from outside it: the init may not mount
// (its seccomp filter), and a guest may not mknod. The daemon clones the device node as a
// detached mount (open_tree), and nsenter (single-threaded C, which can join a mount namespace
// where a Go program cannot) runs hostd as host root inside the instance's mount namespace with
// that mount as fd 3; DeviceHelperArg moves it into place. Nothing else of the host's /dev is
// ever mounted in the guest, even for a moment.

// DeviceHelperArg makes hostd the device helper.
const DeviceHelperArg = "instance-device-helper"

// AttachDevice shows the host device node hostPath at guestPath in the running instance whose
// init is pid; the new file is owned by hostID (the guest root's). The caller has made the node
// the guest root's and admitted it in the cgroup.
func AttachDevice(pid int, hostPath, guestPath string, hostID uint32) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, hostPath, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", hostPath, err)
	}
	clone := os.NewFile(uintptr(fd), "device-mount")
	defer clone.Close()
	return runDeviceHelper(pid, []*os.File{clone}, "attach", guestPath, strconv.FormatUint(uint64(hostID), 10))
}

// DetachDevice removes guestPath from the running instance whose init is pid.
func DetachDevice(pid int, guestPath string) error {
	return runDeviceHelper(pid, nil, "detach", guestPath, "0")
}

func runDeviceHelper(pid int, files []*os.File, args ...string) error {
	// hostd is at GuestBinDir in every instance, so it can be run from inside the namespace.
	cmd := exec.Command("nsenter", append([]string{fmt.Sprintf("--target=%d", pid), "--mount", "--",
		GuestBinDir + "/hostd", DeviceHelperArg}, args...)...)
	cmd.ExtraFiles = files
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s in the instance: %v: %s", args[0], args[1], err, out)
	}
	return nil
}

// RunDeviceHelper is the helper's main: attach GUEST-PATH HOST-ID (the device's detached mount
// is fd 3), or detach GUEST-PATH.
func RunDeviceHelper(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: hostd %s attach|detach GUEST-PATH HOST-ID", DeviceHelperArg)
	}
	verb, guestPath := args[0], args[1]
	hostID, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	if verb == "detach" {
		if err := unix.Unmount(guestPath, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return err
		}
		if err := os.Remove(guestPath); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := createAs(guestPath, hostID); err != nil {
		return err
	}
	return unix.MoveMount(3, "", unix.AT_FDCWD, guestPath, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// createAs creates the empty file path as host uid and gid id: the guest's /dev belongs to its
// user namespace, where host root's own ids do not exist (EOVERFLOW). fsuid is per thread.
func createAs(path string, id int) error {
	runtime.LockOSThread() // never unlocked: this thread's fsuid is not the process's
	unix.Setfsuid(id)
	unix.Setfsgid(id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%s in the instance: %w", path, err)
	}
	return f.Close()
}
