package guest

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/guest/initc"
)

// Devices are added to and removed from a running guest by its init, which is host root in the
// guest's mount namespace (a namespace guest root cannot change). The daemon clones the host's
// device node as a detached mount (open_tree) and passes it over the control socket; the init
// moves it onto a new file in the guest's /dev, which belongs to host root. Nothing runs in the
// guest's filesystem, and no path in it is resolved, on the daemon's side.

// AttachDevice shows the host device node hostPath at guestPath (/dev/NAME) in the running
// instance id. The caller has made the node the guest root's and admitted it in the cgroup.
func (l *Launcher) AttachDevice(id, hostPath, guestPath string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, hostPath, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", hostPath, err)
	}
	clone := os.NewFile(uintptr(fd), "device-mount")
	defer clone.Close()
	return l.deviceRequest(id, initc.MsgAttach, guestPath, clone)
}

// DetachDevice removes guestPath from the running instance id. Descriptors the guest holds stay
// open: the caller checks for them.
func (l *Launcher) DetachDevice(id, guestPath string) error {
	return l.deviceRequest(id, initc.MsgDetach, guestPath)
}

func (l *Launcher) deviceRequest(id string, typ uint32, guestPath string, files ...*os.File) error {
	name, ok := strings.CutPrefix(guestPath, "/dev/")
	if !ok {
		return fmt.Errorf("%s is not in /dev", guestPath)
	}
	conn, err := l.dial(id)
	if err != nil {
		return fmt.Errorf("reaching the instance's init: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := initc.Send(conn, typ, append([]byte(name), 0), files...); err != nil {
		return err
	}
	m, err := initc.Receive(conn)
	if err != nil {
		return fmt.Errorf("the instance's init did not answer: %w", err)
	}
	m.Close()
	switch m.Type {
	case initc.MsgOK:
		return nil
	case initc.MsgError:
		return fmt.Errorf("%s in the instance: %s", guestPath, m.Payload)
	}
	return fmt.Errorf("the instance's init answered message %d", m.Type)
}
