package vnet

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// InterfaceConfig is one instance interface to plumb: a veth pair whose host end lives in the
// fabric and whose guest end is eth0 in the instance.
type InterfaceConfig struct {
	HostName string // name of the host end in the fabric (at most 15 bytes)
	GuestPid int    // any process in the instance's network namespace
	MAC      net.HardwareAddr
	Addr     netip.Prefix // the private address with its subnet's prefix length
	Gateway  netip.Addr
}

// AddInterface creates the veth pair and configures the guest end (address, up, default route).
// It returns the host end's ifindex. Nothing is attached yet: see Attach.
func (f *Fabric) AddInterface(cfg InterfaceConfig) (int, error) {
	fabricNS, err := netns.GetFromPath(f.Path)
	if err != nil {
		return 0, err
	}
	defer fabricNS.Close()
	guestNS, err := netns.GetFromPid(cfg.GuestPid)
	if err != nil {
		return 0, fmt.Errorf("the instance's network namespace: %w", err)
	}
	defer guestNS.Close()
	fh, err := netlink.NewHandleAt(fabricNS, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	gh, err := netlink.NewHandleAt(guestNS, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, err
	}
	defer gh.Close()

	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: cfg.HostName},
		PeerName:         "eth0",
		PeerHardwareAddr: cfg.MAC,
		PeerNamespace:    netlink.NsFd(guestNS),
	}
	if err := fh.LinkAdd(veth); err != nil {
		return 0, fmt.Errorf("creating veth %s: %w", cfg.HostName, err)
	}
	fail := func(err error) (int, error) {
		_ = fh.LinkDel(veth)
		return 0, err
	}
	host, err := fh.LinkByName(cfg.HostName)
	if err != nil {
		return fail(err)
	}
	if err := fh.LinkSetIP6AddrGenMode(host, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		return fail(err)
	}
	if err := fh.LinkSetUp(host); err != nil {
		return fail(err)
	}
	eth0, err := gh.LinkByName("eth0")
	if err != nil {
		return fail(err)
	}
	// No IPv6 link-local address, hence no IPv6 at all from eth0: the datapath offers none yet.
	// (The init also turns IPv6 off in the guest, but only after eth0 is up.)
	if err := gh.LinkSetIP6AddrGenMode(eth0, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		return fail(fmt.Errorf("eth0 without IPv6: %w", err))
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: cfg.Addr.Addr().AsSlice(), Mask: net.CIDRMask(cfg.Addr.Bits(), 32)}}
	if err := gh.AddrAdd(eth0, addr); err != nil {
		return fail(fmt.Errorf("addressing eth0: %w", err))
	}
	if err := gh.LinkSetUp(eth0); err != nil {
		return fail(err)
	}
	route := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: cfg.Gateway.AsSlice()}
	if err := gh.RouteAdd(route); err != nil {
		return fail(fmt.Errorf("default route via %s: %w", cfg.Gateway, err))
	}
	return host.Attrs().Index, nil
}

// DeleteInterface removes the veth pair of hostName (both ends). Missing is fine: the pair goes
// by itself when the instance's namespace does.
func (f *Fabric) DeleteInterface(hostName string) error {
	return f.withHandle(func(h *netlink.Handle) error {
		l, err := h.LinkByName(hostName)
		if err != nil {
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			return err
		}
		return h.LinkDel(l)
	})
}

// HostInterfaces lists the names of the instances' veth host ends in the fabric.
func (f *Fabric) HostInterfaces() ([]string, error) {
	var names []string
	err := f.withHandle(func(h *netlink.Handle) error {
		links, err := h.LinkList()
		for _, l := range links {
			if l.Type() == "veth" && l.Attrs().Name != servicesHostIf {
				names = append(names, l.Attrs().Name)
			}
		}
		return err
	})
	return names, err
}

func (f *Fabric) withHandle(fn func(*netlink.Handle) error) error {
	ns, err := netns.GetFromPath(f.Path)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// Attach puts the datapath on the host end ifindex: from_guest on ingress, to_guest on egress.
func (f *Fabric) Attach(dp *Datapath, hostName string, ifindex int) error {
	return f.attach(dp, hostName, ifindex, dp.progs.FromGuest, dp.progs.ToGuest)
}

// attach puts ingress and, if not nil, egress on the host end ifindex. TCX links (kernel 6.6 and
// later) are pinned so that they outlive this daemon; where TCX is missing, clsact filters are
// used, which the interface itself keeps.
func (f *Fabric) attach(dp *Datapath, hostName string, ifindex int, ingress, egress *ebpf.Program) error {
	return f.inNetns(func() error {
		if dp.TCX && !dp.ForceClsact {
			return attachTCX(dp, hostName, ifindex, ingress, egress)
		}
		return attachClsact(ifindex, ingress, egress)
	})
}

// haveTCX asks the kernel whether it has TCX: attaching to an interface that does not exist fails
// with ENODEV where it has, and cilium/ebpf's own probe answers ErrNotSupported where it has not.
func haveTCX(prog *ebpf.Program) bool {
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err == nil {
		l.Close()
	}
	return !errors.Is(err, ebpf.ErrNotSupported)
}

func attachTCX(dp *Datapath, hostName string, ifindex int, ingress, egress *ebpf.Program) error {
	for _, a := range []struct {
		prog   *ebpf.Program
		attach ebpf.AttachType
		suffix string
	}{{ingress, ebpf.AttachTCXIngress, "in"}, {egress, ebpf.AttachTCXEgress, "out"}} {
		if a.prog == nil {
			continue
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: a.prog, Attach: a.attach})
		if err != nil {
			return err
		}
		pin := dp.linkPin(hostName, a.suffix)
		_ = os.Remove(pin)
		err = l.Pin(pin)
		l.Close()
		if err != nil {
			return fmt.Errorf("pinning the %s link of %s: %w", a.suffix, hostName, err)
		}
	}
	return nil
}

func attachClsact(ifindex int, ingress, egress *ebpf.Program) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscReplace(qdisc); err != nil {
		return fmt.Errorf("clsact qdisc: %w", err)
	}
	for _, a := range []struct {
		prog   *ebpf.Program
		parent uint32
	}{{ingress, netlink.HANDLE_MIN_INGRESS}, {egress, netlink.HANDLE_MIN_EGRESS}} {
		if a.prog == nil {
			continue
		}
		info, err := a.prog.Info()
		if err != nil {
			return err
		}
		filter := &netlink.BpfFilter{
			FilterAttrs:  netlink.FilterAttrs{LinkIndex: ifindex, Parent: a.parent, Handle: 1, Protocol: unix.ETH_P_ALL},
			Fd:           a.prog.FD(),
			Name:         info.Name,
			DirectAction: true,
		}
		if err := netlink.FilterReplace(filter); err != nil {
			return fmt.Errorf("clsact filter %s: %w", info.Name, err)
		}
	}
	return nil
}

// Detach removes the pinned links of hostName, if any (clsact filters go with the interface).
func (dp *Datapath) Detach(hostName string) {
	for _, s := range []string{"in", "out"} {
		_ = os.Remove(dp.linkPin(hostName, s))
	}
}

// AttachedInterfaces lists the instances' host ends with pinned links.
func (dp *Datapath) AttachedInterfaces() []string {
	pins, _ := filepath.Glob(filepath.Join(dp.pinDir, "links", "*-in"))
	var names []string
	for _, p := range pins {
		if name := filepath.Base(p[:len(p)-len("-in")]); name != servicesHostIf {
			names = append(names, name)
		}
	}
	return names
}

func (dp *Datapath) linkPin(hostName, suffix string) string {
	return filepath.Join(dp.pinDir, "links", hostName+"-"+suffix)
}

// inNetns runs fn on an OS thread that is in the fabric's network namespace: interface indexes
// given to the kernel (TCX attach, netlink without a handle) are read in the caller's namespace.
func (f *Fabric) inNetns(fn func() error) error { return InNetns(f.Path, fn) }

// InNetns runs fn on an OS thread that is in the network namespace mounted at path; sockets fn
// opens stay in that namespace. A thread that cannot be moved back is never unlocked, so the
// runtime discards it.
func InNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		result := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(result, fmt.Errorf("returning to the original network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- result
	}()
	return <-errc
}
