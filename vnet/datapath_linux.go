package vnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// BPFRoot is where bpffs is mounted; a daemon's objects are pinned under BPFRoot/hostd/<fabric>.
const BPFRoot = "/sys/fs/bpf"

// ErrStaleDatapath is a datapath pinned by another version of hostd, whose maps this one cannot use.
var ErrStaleDatapath = errors.New("the pinned datapath was made by another version of hostd")

// PinDir is where fabric's programs, maps and links are pinned.
func PinDir(fabric string) string { return filepath.Join(BPFRoot, "hostd", fabric) }

// Datapath is the loaded eBPF datapath of one fabric: its programs and maps, pinned, so that
// enforcement goes on while no daemon runs and a new daemon adopts them as they are. (The
// collector's program, ct_collect, runs only when the daemon asks: it is loaded, never pinned.)
type Datapath struct {
	pinDir string
	rules  ruleSets
	maps   bpf.DatapathMaps
	progs  bpf.DatapathPrograms
	// Adopted tells whether the programs were found pinned rather than loaded.
	Adopted bool
	// TCX tells whether the kernel attaches programs with TCX links (Linux 6.6 and later), which
	// are pinned; without it, clsact filters, which the interfaces themselves hold.
	TCX bool
	// ForceClsact attaches with clsact even where TCX works, so that both paths are tested here.
	ForceClsact bool
	// failIn counts down the map updates until one fails: FailMapUpdate.
	failIn atomic.Int64
}

// FailMapUpdate makes the nth map update of this datapath from now on fail (1: the next one);
// 0 turns it off. Only tests call it, to check that a change whose datapath update fails is
// refused and leaves records and enforcement as they were. No API reaches it.
func (dp *Datapath) FailMapUpdate(n int) { dp.failIn.Store(int64(n)) }

// errInjected is the failure FailMapUpdate makes.
var errInjected = errors.New("map update failed on purpose (FailMapUpdate)")

// update writes one entry of a datapath map: every write of vnet goes through here.
func (dp *Datapath) update(m *ebpf.Map, key, value any, flags ebpf.MapUpdateFlags) error {
	if dp.failIn.Load() > 0 && dp.failIn.Add(-1) == 0 {
		return errInjected
	}
	return m.Update(key, value, flags)
}

func (dp *Datapath) put(m *ebpf.Map, key, value any) error {
	return dp.update(m, key, value, ebpf.UpdateAny)
}

// LoadDatapath opens fabric's datapath: the pinned maps and programs if an earlier daemon left
// them, or freshly loaded and pinned ones.
func LoadDatapath(fabric string) (*Datapath, error) {
	if err := mountBPFFS(); err != nil {
		return nil, err
	}
	dp := &Datapath{pinDir: PinDir(fabric)}
	if err := os.MkdirAll(filepath.Join(dp.pinDir, "links"), 0o700); err != nil {
		return nil, err
	}
	// Maps are pinned by name: LoadAndAssign reuses them when they exist.
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dp.pinDir}}
	if err := bpf.LoadDatapathObjects(&dp.maps, opts); err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("%w: the maps pinned under %s differ from this hostd's; run `hostd teardown --fabric %s` (it terminates the fabric's instances) and start again (%v)", ErrStaleDatapath, dp.pinDir, fabric, err)
		}
		return nil, fmt.Errorf("loading the datapath's maps: %w", err)
	}
	from, ferr := ebpf.LoadPinnedProgram(dp.progPin(bpf.DatapathProgFromGuest), nil)
	to, terr := ebpf.LoadPinnedProgram(dp.progPin(bpf.DatapathProgToGuest), nil)
	services, serr := ebpf.LoadPinnedProgram(dp.progPin(bpf.DatapathProgFromServices), nil)
	if ferr == nil && terr == nil && serr == nil {
		var collector struct {
			CtCollect *ebpf.Program `ebpf:"ct_collect"`
		}
		if err := bpf.LoadDatapathObjects(&collector, opts); err != nil {
			closeAll(from, to, services)
			dp.Close()
			return nil, fmt.Errorf("loading the conntrack collector: %w", err)
		}
		dp.progs = bpf.DatapathPrograms{FromGuest: from, ToGuest: to, FromServices: services, CtCollect: collector.CtCollect}
		dp.Adopted, dp.TCX = true, haveTCX(from)
		return dp, dp.init()
	}
	closeAll(from, to, services)
	if err := bpf.LoadDatapathObjects(&dp.progs, opts); err != nil {
		dp.Close()
		return nil, fmt.Errorf("loading the datapath's programs: %w", err)
	}
	for name, p := range map[string]*ebpf.Program{bpf.DatapathProgFromGuest: dp.progs.FromGuest, bpf.DatapathProgToGuest: dp.progs.ToGuest,
		bpf.DatapathProgFromServices: dp.progs.FromServices} {
		_ = os.Remove(dp.progPin(name))
		if err := p.Pin(dp.progPin(name)); err != nil {
			dp.Close()
			return nil, fmt.Errorf("pinning %s: %w", name, err)
		}
	}
	dp.TCX = haveTCX(dp.progs.FromGuest)
	return dp, dp.init()
}

// init prepares this process's view of the datapath: rule sets, identities, conntrack limit.
func (dp *Datapath) init() error {
	if err := dp.initRuleSets(); err != nil {
		return err
	}
	if err := dp.initConntrack(); err != nil {
		return err
	}
	return dp.initFlowRecords()
}

func closeAll(progs ...*ebpf.Program) {
	for _, p := range progs {
		if p != nil {
			p.Close()
		}
	}
}

func (dp *Datapath) progPin(name string) string { return filepath.Join(dp.pinDir, name) }

// Close releases this process's handles; the pinned objects stay and keep working.
func (dp *Datapath) Close() {
	dp.stopRetirer()
	for _, m := range []*ebpf.Map{dp.rules.barrier, dp.rules.barrierInner} {
		if m != nil {
			m.Close()
		}
	}
	_ = dp.maps.Close()
	_ = dp.progs.Close()
}

// DeleteDatapath removes fabric's pins. Programs still attached to an interface stay until the
// interface goes.
func DeleteDatapath(fabric string) error {
	if err := os.RemoveAll(PinDir(fabric)); err != nil {
		return err
	}
	_ = os.Remove(filepath.Dir(PinDir(fabric))) // the shared hostd/ level, once no fabric is left
	return nil
}

// Interface is what the datapath knows of one instance interface.
type Interface struct {
	VPC    uint32
	IP     net.IP
	Subnet *net.IPNet
	MAC    net.HardwareAddr
	// SourceDestCheck is EC2's check: the interface may send only from its own IP and is given
	// only what is addressed to it.
	SourceDestCheck bool
	// ChecksOff lifts every check on what the guest sends. Only negative-control tests set it.
	ChecksOff bool
	// SubnetNumber picks the network ACL (SetSubnetACL); traffic between two subnet numbers
	// crosses ACLs, traffic within one does not.
	SubnetNumber uint32
	// ConntrackAllowance is how many conntrack entries (flows, first fragments) the interface
	// may open; 0 is DefaultConntrackAllowance.
	ConntrackAllowance uint32
	// PPSAllowance is how many packets per second the interface may send, and BandwidthAllowance
	// how many bits per second it may send and, apart, receive; 0 is no limit (allowance.h).
	PPSAllowance       uint64
	BandwidthAllowance uint64
	// Policy is the rule set of the interface's security groups (LoadPolicy); 0 admits nothing.
	Policy uint32
	// Groups are the numbers of the groups the interface is in: what rules naming a group match.
	Groups []uint32
	// Resolver is its VPC's resolver address (base + 2), which the datapath steers to the
	// services with 169.254.169.253 (services.h); nil for none.
	Resolver net.IP
}

// SetInterface writes (or rewrites) the entry of the interface whose host end is ifindex, and
// the endpoint that routes its address to it.
func (dp *Datapath) SetInterface(ifindex int, in Interface) error {
	var flags uint16
	if in.SourceDestCheck {
		flags |= uint16(bpf.DatapathIfaceFlagIFACE_SRC_DST_CHECK)
	}
	if in.ChecksOff {
		flags |= uint16(bpf.DatapathIfaceFlagIFACE_CHECKS_OFF)
	}
	key, identity, err := dp.identityFor(ifindex, in.VPC, in.Groups)
	if err != nil {
		return err
	}
	allowance := in.ConntrackAllowance
	if allowance == 0 {
		allowance = DefaultConntrackAllowance
	}
	entry := bpf.DatapathIface{
		Ifindex: uint32(ifindex), Vpc: in.VPC, Ip: ipKey(in.IP), Net: ipKey(in.Subnet.IP), Mask: ipKey(net.IP(in.Subnet.Mask)),
		Flags: flags, Subnet: in.SubnetNumber, Policy: in.Policy, Identity: identity, CtAllowance: allowance,
		PpsNs: uint32(perUnit(1e9, in.PPSAllowance)), BwOutPs: perUnit(8e12, in.BandwidthAllowance),
	}
	copy(entry.Mac[:], in.MAC)
	epKey := bpf.DatapathEndpointKey{Vpc: in.VPC, Ip: ipKey(in.IP)}
	network, _ := netip.AddrFromSlice(in.Subnet.IP.To4())
	ep := bpf.DatapathEndpoint{Ifindex: uint32(ifindex), Subnet: in.SubnetNumber, Policy: in.Policy, Identity: identity,
		Router: ipKey(network.Next().AsSlice()), Groups: key.groups, BwInPs: entry.BwOutPs}
	copy(ep.Mac[:], in.MAC)
	var oldEP bpf.DatapathEndpoint
	hadEP := dp.maps.Endpoints.Lookup(epKey, &oldEP) == nil
	// Its counts first, kept if it has them; then the endpoint: by the time a guest can send,
	// everything it may reach is in place.
	err = dp.update(dp.maps.Usage, uint32(ifindex), bpf.DatapathIfaceUsage{}, ebpf.UpdateNoExist)
	if errors.Is(err, ebpf.ErrKeyExist) {
		err = nil
	}
	if err == nil {
		err = dp.put(dp.maps.SvcIfaces, uint32(ifindex), bpf.DatapathSvcIface{Resolver: ipKey(in.Resolver)})
	}
	if err == nil {
		err = dp.put(dp.maps.Endpoints, epKey, ep)
	}
	if err == nil {
		if err = dp.put(dp.maps.Ifaces, uint32(ifindex), entry); err != nil {
			// Back to the endpoint it had, or none: the interface entry is as it was.
			if hadEP {
				_ = dp.maps.Endpoints.Put(epKey, oldEP)
			} else {
				_ = dp.maps.Endpoints.Delete(epKey)
			}
		}
	}
	if err != nil {
		dp.abandonIdentity(ifindex, key)
		return fmt.Errorf("writing interface %d into the datapath: %w", ifindex, err)
	}
	dp.settleIdentity(ifindex, key)
	return nil
}

// perUnit is what one unit costs in the datapath's buckets at rate units per second: scale/rate
// (at least 1), or 0 for no limit.
func perUnit(scale float64, rate uint64) uint64 {
	if rate == 0 {
		return 0
	}
	return uint64(max(1, scale/float64(rate)))
}

// DeleteInterface removes the interface's entries, its drop counters, and its conntrack entries
// and those of flows to or from its address.
func (dp *Datapath) DeleteInterface(ifindex int, vpc uint32, ip net.IP) {
	_ = dp.maps.Endpoints.Delete(bpf.DatapathEndpointKey{Vpc: vpc, Ip: ipKey(ip)})
	dp.forgetInterface(uint32(ifindex))
}

// forgetInterface removes the interface entry of ifindex and everything kept of it: drop
// counters, conntrack entries and counts, its use of an identity.
func (dp *Datapath) forgetInterface(ifindex uint32) {
	var iface bpf.DatapathIface
	known := dp.maps.Ifaces.Lookup(ifindex, &iface) == nil
	_ = dp.maps.Ifaces.Delete(ifindex)
	for r := range DropReasons {
		_ = dp.maps.Drops.Delete(bpf.DatapathDropKey{Ifindex: ifindex, Reason: uint32(r)})
	}
	if known {
		dp.forgetConntrack(ifindex, iface.Vpc, iface.Ip)
	}
	_ = dp.maps.Usage.Delete(ifindex)
	_ = dp.maps.SvcIfaces.Delete(ifindex)
	_ = dp.maps.SvcRates.Delete(ifindex)
	dp.settleIdentity(int(ifindex), identityKey{})
}

// IfindexOf returns the host-end ifindex that (vpc, ip) is routed to, or 0.
func (dp *Datapath) IfindexOf(ip net.IP, vpc uint32) int {
	var ep bpf.DatapathEndpoint
	if dp.maps.Endpoints.Lookup(bpf.DatapathEndpointKey{Vpc: vpc, Ip: ipKey(ip)}, &ep) != nil {
		return 0
	}
	return int(ep.Ifindex)
}

// DeleteStale removes every interface and endpoint entry whose ifindex is not in keep: the
// leftovers of instances that ended while no daemon ran.
func (dp *Datapath) DeleteStale(keep map[int]bool) {
	var ifindex uint32
	var iface bpf.DatapathIface
	var stale []uint32
	for it := dp.maps.Ifaces.Iterate(); it.Next(&ifindex, &iface); {
		if !keep[int(ifindex)] {
			stale = append(stale, ifindex)
		}
	}
	var key bpf.DatapathEndpointKey
	var ep bpf.DatapathEndpoint
	staleEPs := map[bpf.DatapathEndpointKey]uint32{}
	for it := dp.maps.Endpoints.Iterate(); it.Next(&key, &ep); {
		if !keep[int(ep.Ifindex)] {
			staleEPs[key] = ep.Ifindex
		}
	}
	for _, i := range stale {
		dp.forgetInterface(i)
	}
	for k, ifindex := range staleEPs {
		_ = dp.maps.Endpoints.Delete(k)
		dp.settleIdentity(int(ifindex), identityKey{})
	}
}

// DropReasons names the datapath's drop reasons, by their number in datapath.h.
var DropReasons = map[bpf.DatapathDropReason]string{
	bpf.DatapathDropReasonDROP_MALFORMED:        "malformed",
	bpf.DatapathDropReasonDROP_SPOOF_MAC:        "spoof-mac",
	bpf.DatapathDropReasonDROP_SPOOF_IP:         "spoof-ip",
	bpf.DatapathDropReasonDROP_SPOOF_ARP:        "spoof-arp",
	bpf.DatapathDropReasonDROP_DHCP_SERVER:      "dhcp-server",
	bpf.DatapathDropReasonDROP_BROADCAST:        "broadcast",
	bpf.DatapathDropReasonDROP_NO_ROUTE:         "no-route",
	bpf.DatapathDropReasonDROP_VLAN:             "vlan",
	bpf.DatapathDropReasonDROP_IPV6:             "ipv6",
	bpf.DatapathDropReasonDROP_ETHERTYPE:        "ethertype",
	bpf.DatapathDropReasonDROP_NOT_FOR_GUEST:    "not-for-guest",
	bpf.DatapathDropReasonDROP_UNKNOWN_IFACE:    "unknown-interface",
	bpf.DatapathDropReasonDROP_SG_INGRESS:       firewall.ReasonSGIngress,
	bpf.DatapathDropReasonDROP_SG_EGRESS:        firewall.ReasonSGEgress,
	bpf.DatapathDropReasonDROP_NACL_IN:          firewall.ReasonNACLIn,
	bpf.DatapathDropReasonDROP_NACL_OUT:         firewall.ReasonNACLOut,
	bpf.DatapathDropReasonDROP_CT_INVALID:       firewall.ReasonCTInvalid,
	bpf.DatapathDropReasonDROP_CT_FULL:          firewall.ReasonCTFull,
	bpf.DatapathDropReasonDROP_FRAG:             firewall.ReasonFrag,
	bpf.DatapathDropReasonDROP_CT_ALLOWANCE:     firewall.ReasonCTAllowance,
	bpf.DatapathDropReasonDROP_PPS_ALLOWANCE:    ReasonPPSAllowance,
	bpf.DatapathDropReasonDROP_BW_OUT_ALLOWANCE: ReasonBandwidthOutAllowance,
	bpf.DatapathDropReasonDROP_BW_IN_ALLOWANCE:  ReasonBandwidthInAllowance,
	// EC2's name, for packets to the link-local services past an interface's allowance.
	bpf.DatapathDropReasonDROP_LINKLOCAL_ALLOWANCE: "linklocal_allowance_exceeded",
}

// The allowances' drop reasons, by EC2's (ENA's) names of their counters.
const (
	ReasonPPSAllowance          = "pps_allowance_exceeded"
	ReasonBandwidthOutAllowance = "bw_out_allowance_exceeded"
	ReasonBandwidthInAllowance  = "bw_in_allowance_exceeded"
)

// Drops returns the interface's drop counters by reason name, summed over CPUs; reasons with no
// drop are left out.
func (dp *Datapath) Drops(ifindex int) map[string]uint64 {
	out := map[string]uint64{}
	for r, name := range DropReasons {
		var perCPU []uint64
		if dp.maps.Drops.Lookup(bpf.DatapathDropKey{Ifindex: uint32(ifindex), Reason: uint32(r)}, &perCPU) != nil {
			continue
		}
		var sum uint64
		for _, n := range perCPU {
			sum += n
		}
		if sum > 0 {
			out[name] = sum
		}
	}
	return out
}

// ipKey is an IPv4 address as the datapath stores it: network byte order in a host-order u32.
func ipKey(ip net.IP) uint32 {
	v4 := ip.To4()
	if v4 == nil {
		return 0
	}
	return binary.NativeEndian.Uint32(v4)
}

// mountBPFFS mounts bpffs on BPFRoot if nothing is mounted there, as cilium-agent does: pinned
// objects need it, and some hosts (this CI's among them) do not mount it at boot.
func mountBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(BPFRoot, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", BPFRoot, "bpf", 0, "mode=0700"); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mounting bpffs on %s: %w", BPFRoot, err)
	}
	return nil
}

// CostPerPacket runs from_guest on frame repeat times inside the kernel (BPF_PROG_TEST_RUN, as
// if on the host end whose ifindex is 1) and returns its verdict and mean time per run.
func (dp *Datapath) CostPerPacket(frame []byte, repeat int) (uint32, time.Duration, error) {
	return dp.progs.FromGuest.Benchmark(frame, repeat, nil)
}

// EmptyProgramCost is CostPerPacket for a tc program that only returns: the floor of the
// measurement, which the datapath's cost is read against.
func EmptyProgramCost(frame []byte, repeat int) (time.Duration, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return 0, err
	}
	defer prog.Close()
	_, d, err := prog.Benchmark(frame, repeat, nil)
	return d, err
}
