// Package vnet is hostd's virtual network. For now it holds the fabric: the daemon's own network
// namespace, where the host side of every instance's interface will live, so that nothing hostd
// does ever touches the host's root network namespace.
package vnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces; `ip netns` lists ours there.
const netnsDir = "/run/netns"

// FabricNetnsName is the name of fabric's network namespace, as `ip netns list` shows it.
func FabricNetnsName(fabric string) string { return "hostd-" + fabric }

// Fabric is a daemon's network namespace.
type Fabric struct {
	Name string
	// Path is the namespace's bind mount, which keeps it alive while no process is in it.
	Path string
}

// OpenFabric returns fabric's namespace, creating it (with loopback up) if it does not exist.
// An existing namespace is adopted as it is, so a restarted daemon finds its network intact.
func OpenFabric(fabric string) (*Fabric, error) {
	name := FabricNetnsName(fabric)
	f := &Fabric{Name: name, Path: filepath.Join(netnsDir, name)}
	created, err := openNamedNetns(name)
	if err != nil {
		return nil, fmt.Errorf("creating the fabric network namespace %s: %w", name, err)
	}
	if created {
		if err := f.setLoopbackUp(); err != nil {
			_ = DeleteFabric(fabric)
			return nil, err
		}
	}
	return f, nil
}

// openNamedNetns makes the named namespace unless it exists, and tells whether it made it.
func openNamedNetns(name string) (created bool, err error) {
	path := filepath.Join(netnsDir, name)
	if isNetns(path) {
		return false, nil
	}
	if err := shareNetnsDir(); err != nil {
		return false, err
	}
	// A file left by a crash between creating it and mounting the namespace on it, or whose
	// mount was made in another mount namespace.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, createNamedNetns(name)
}

// DeleteFabric removes fabric's namespace. Missing is fine.
func DeleteFabric(fabric string) error { return deleteNamedNetns(FabricNetnsName(fabric)) }

// deleteNamedNetns removes the named namespace's mount and file. Missing is fine.
func deleteNamedNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// shareNetnsDir makes /run/netns a shared mount of itself, as `ip netns add` does before its first
// namespace. Were it left a plain directory, the first `ip netns add` after ours would bind it
// over itself and bury a copy of our namespace's mount underneath, where no path reaches it and
// it cannot be removed.
func shareNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("making %s a shared mount: %w", netnsDir, err)
	}
	return nil
}

// createNamedNetns makes a named namespace the way `ip netns add` does. netns.NewNamed moves the
// calling thread into the new namespace; the thread is moved back, and if that fails it is never
// unlocked, so the Go runtime throws it away rather than reuse it in the wrong namespace.
func createNamedNetns(name string) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err == nil {
		// No IPv6 in the fabric: the datapath offers none yet, and link-local chatter would only
		// fill the drop counters. The thread is in the new namespace, so this is the fabric's.
		err = disableIPv6()
	}
	if restoreErr := netns.Set(orig); restoreErr != nil {
		return fmt.Errorf("returning to the original network namespace: %w", restoreErr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return err
	}
	return ns.Close()
}

// disableIPv6 turns IPv6 off in the calling thread's network namespace.
func disableIPv6() error {
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0); err != nil {
			return fmt.Errorf("disabling IPv6: %w", err)
		}
	}
	return nil
}

func (f *Fabric) setLoopbackUp() error {
	return f.withHandle(func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
}

// isNetns tells whether path is a mounted network namespace.
func isNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}
