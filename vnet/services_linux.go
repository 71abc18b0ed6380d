package vnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/bpf"
)

// The services' veth: its host end in the fabric, its other end in the services namespace.
const (
	servicesHostIf = "hsvc"
	servicesIf     = "svc0"
)

// The link-local services' addresses, and the network of the interfaces' tags (bpf/services.h).
var (
	DNSAddr      = addrOf(uint32(bpf.DatapathSvcConstSVC_DNS_ADDR))
	MetadataAddr = addrOf(uint32(bpf.DatapathSvcConstSVC_METADATA_ADDR))
	tagNet       = netip.PrefixFrom(addrOf(uint32(bpf.DatapathSvcConstSVC_TAG_NET)), 32-int(bpf.DatapathSvcConstSVC_TAG_BITS))
	// The services namespace's way back to the tags: a gateway that is the datapath itself, at
	// the VPC router's MAC, so that nothing there ever asks for an address.
	servicesGateway = netip.MustParseAddr("169.254.0.1")
	routerMAC       = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	servicesMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// LinkLocalPacketsPerSecond is how many packets each interface may send the resolver and the
// metadata service together in a second, as EC2's allowance to its link-local services.
const LinkLocalPacketsPerSecond = uint32(bpf.DatapathSvcConstSVC_LINKLOCAL_PPS)

func addrOf(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// ServicesNetnsName is the name of fabric's services namespace, as `ip netns list` shows it.
func ServicesNetnsName(fabric string) string { return FabricNetnsName(fabric) + "-svc" }

// Services is a fabric's services namespace, where the daemon's resolver and metadata service
// listen (at 169.254.169.253 and 169.254.169.254) and nothing else is. Guests reach it only
// through the datapath, which tags every packet with the interface that sent it (TagOf); the
// host's root namespace has nothing of it.
type Services struct {
	// Path is the namespace's bind mount.
	Path string
}

// OpenServices makes (or adopts) fabric's services namespace and its veth into f, puts
// from_services on the veth's host end and holds each interface to LinkLocalPacketsPerSecond.
func OpenServices(f *Fabric, dp *Datapath, fabric string) (*Services, error) {
	name := ServicesNetnsName(fabric)
	s := &Services{Path: filepath.Join(netnsDir, name)}
	if _, err := openNamedNetns(name); err != nil {
		return nil, fmt.Errorf("creating the services network namespace %s: %w", name, err)
	}
	ifindex, err := s.plumb(f)
	// An adopted from_services is on the veth already, its link pinned (TCX refuses the same
	// program twice); freshly loaded programs replace whatever was there.
	_, pinErr := os.Stat(dp.linkPin(servicesHostIf, "in"))
	if err == nil && !(dp.Adopted && pinErr == nil) {
		err = f.attach(dp, servicesHostIf, ifindex, dp.progs.FromServices, nil)
	}
	if err == nil {
		cfg := bpf.DatapathSvcConfig{Ifindex: uint32(ifindex), LinklocalPps: LinkLocalPacketsPerSecond}
		copy(cfg.Mac[:], servicesMAC)
		err = dp.put(dp.maps.SvcSettings, uint32(0), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("the services' network: %w", err)
	}
	return s, nil
}

// plumb makes the services' veth if it is not there, and (again) its addresses, route and
// neighbour, and returns the ifindex of its host end.
func (s *Services) plumb(f *Fabric) (int, error) {
	svcNS, err := netns.GetFromPath(s.Path)
	if err != nil {
		return 0, err
	}
	defer svcNS.Close()
	sh, err := netlink.NewHandleAt(svcNS, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, err
	}
	defer sh.Close()
	var ifindex int
	err = f.withHandle(func(fh *netlink.Handle) error {
		host, err := fh.LinkByName(servicesHostIf)
		if err != nil {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: servicesHostIf}, PeerName: servicesIf,
				PeerHardwareAddr: servicesMAC, PeerNamespace: netlink.NsFd(svcNS)}
			if err := fh.LinkAdd(veth); err != nil {
				return fmt.Errorf("creating veth %s: %w", servicesHostIf, err)
			}
			if host, err = fh.LinkByName(servicesHostIf); err != nil {
				return err
			}
		}
		ifindex = host.Attrs().Index
		if err := fh.LinkSetIP6AddrGenMode(host, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
			return err
		}
		return fh.LinkSetUp(host)
	})
	if err != nil {
		return 0, err
	}
	for _, name := range []string{"lo", servicesIf} {
		l, err := sh.LinkByName(name)
		if err != nil {
			return 0, err
		}
		if name == servicesIf {
			for _, a := range []netip.Addr{DNSAddr, MetadataAddr} {
				addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
				if err := sh.AddrReplace(l, addr); err != nil {
					return 0, fmt.Errorf("addressing %s: %w", servicesIf, err)
				}
			}
		}
		if err := sh.LinkSetUp(l); err != nil {
			return 0, err
		}
		if name != servicesIf {
			continue
		}
		neigh := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
			IP: servicesGateway.AsSlice(), HardwareAddr: routerMAC}
		if err := sh.NeighSet(neigh); err != nil {
			return 0, fmt.Errorf("the services' gateway: %w", err)
		}
		route := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: tagNet.Addr().AsSlice(), Mask: net.CIDRMask(tagNet.Bits(), 32)},
			Gw: servicesGateway.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
		if err := sh.RouteReplace(route); err != nil {
			return 0, fmt.Errorf("the services' route to the tags: %w", err)
		}
	}
	return ifindex, nil
}

// Listen opens a listener (tcp) in the services namespace.
func (s *Services) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := InNetns(s.Path, func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket (udp) in the services namespace.
func (s *Services) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := InNetns(s.Path, func() (err error) {
		pc, err = net.ListenPacket(network, address)
		return err
	})
	return pc, err
}

// DeleteServices removes fabric's services namespace (its veth goes with the fabric's). Missing
// is fine.
func DeleteServices(fabric string) error { return deleteNamedNetns(ServicesNetnsName(fabric)) }

// ErrNotTagged is the answer of Asker for an address that is no interface's tag.
var ErrNotTagged = errors.New("not an interface's tag")

// Asker returns which interface a service's client is: the VPC number and private address of
// the interface whose tag addr is. Only the datapath writes tags (bpf/services.h), so a guest
// cannot pass for another whatever source it forges.
func (dp *Datapath) Asker(addr netip.Addr) (vpc uint32, ip netip.Addr, err error) {
	if !tagNet.Contains(addr) {
		return 0, netip.Addr{}, ErrNotTagged
	}
	ifindex := binary.BigEndian.Uint32(addr.AsSlice()) & (1<<bpf.DatapathSvcConstSVC_TAG_BITS - 1)
	var iface bpf.DatapathIface
	if err := dp.maps.Ifaces.Lookup(ifindex, &iface); err != nil {
		return 0, netip.Addr{}, fmt.Errorf("%w: no interface %d", ErrNotTagged, ifindex)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], iface.Ip)
	return iface.Vpc, netip.AddrFrom4(b), nil
}
