package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/hostd/vpcdns"
	"github.com/hostd/hostd/vnet"
)

// networkError maps the address model's errors to EC2's codes.
func networkError(err error, rangeCode string) error {
	switch {
	case errors.Is(err, vnet.ErrInvalidCIDR), errors.Is(err, vnet.ErrAddressOutside), errors.Is(err, vnet.ErrAddressReserved):
		return api.Errorf(api.CodeInvalidParameterValue, "%v", err)
	case errors.Is(err, vnet.ErrBlockSize), errors.Is(err, vnet.ErrSubnetOutsideVPC):
		return api.Errorf(rangeCode, "%v", err)
	case errors.Is(err, vnet.ErrSubnetConflict):
		return api.Errorf(api.CodeInvalidSubnetConflict, "%v", err)
	case errors.Is(err, vnet.ErrAddressInUse):
		return api.Errorf(api.CodeAddressInUse, "%v", err)
	case errors.Is(err, vnet.ErrNoFreeAddress):
		return api.Errorf(api.CodeInsufficientAddressSpace, "%v", err)
	}
	return err
}

// CreateVpc makes a VPC. Each VPC gets a number of its own for the datapath, so that VPCs with
// the same CIDR never share a lookup.
func (d *Daemon) CreateVpc(c api.Caller, req api.CreateVpcRequest) (api.Vpc, error) {
	block, err := vnet.ParseBlock(req.CidrBlock)
	if err != nil {
		return api.Vpc{}, networkError(err, api.CodeInvalidVpcRange)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := nextNumber(d.vpcs, func(v *state.VPC) uint32 { return v.Number })
	// Both DNS switches on: hostd's VPCs resolve their instances' names from the start, as
	// EC2's default VPCs do (a new non-default VPC of EC2's has DNS hostnames off).
	v := &state.VPC{ID: newID("vpc-"), CIDR: block.String(), Name: req.Name, Number: n, CreatedAt: time.Now().UTC(),
		EnableDnsSupport: true, EnableDnsHostnames: true, OwnerID: c.AccountID}
	if err := d.createDefaultsLocked(v); err != nil {
		return api.Vpc{}, err
	}
	if err := d.store.PutVPC(v); err != nil {
		d.deleteDefaultsLocked(v)
		return api.Vpc{}, err
	}
	d.vpcs[v.ID] = v
	d.log.Info("vpc created", "vpc", v.ID, "cidr", v.CIDR, "account", v.OwnerID)
	return describeVpc(v), nil
}

func describeVpc(v *state.VPC) api.Vpc {
	return api.Vpc{VpcId: v.ID, CidrBlock: v.CIDR, Name: v.Name, State: "available", OwnerId: v.Owner(),
		EnableDnsSupport: v.EnableDnsSupport, EnableDnsHostnames: v.EnableDnsHostnames}
}

// ModifyVpcAttribute turns one of a VPC's DNS switches on or off, as EC2's: one attribute per
// call, and DNS hostnames only while DNS support is on. The resolver reads them on every query.
func (d *Daemon) ModifyVpcAttribute(c api.Caller, id string, req api.ModifyVpcAttributeRequest) (api.ReturnResponse, error) {
	if (req.EnableDnsSupport == nil) == (req.EnableDnsHostnames == nil) {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterCombination, "name exactly one attribute to change: --enable-dns-support or --enable-dns-hostnames")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookupVpcLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	updated := *v
	if req.EnableDnsSupport != nil {
		updated.EnableDnsSupport = *req.EnableDnsSupport
	} else {
		updated.EnableDnsHostnames = *req.EnableDnsHostnames
	}
	if updated.EnableDnsHostnames && !updated.EnableDnsSupport && req.EnableDnsHostnames != nil {
		return api.ReturnResponse{}, api.Errorf(api.CodeInvalidParameterValue, "DNS hostnames can be enabled only while DNS support is: enable --enable-dns-support first")
	}
	if err := d.store.PutVPC(&updated); err != nil {
		return api.ReturnResponse{}, err
	}
	*v = updated
	d.log.Info("vpc attribute changed", "vpc", id, "dns_support", v.EnableDnsSupport, "dns_hostnames", v.EnableDnsHostnames, "caller", c.AccountID)
	return api.ReturnResponse{Return: true}, nil
}

// DescribeVpcs lists the given VPCs, or all the caller sees.
func (d *Daemon) DescribeVpcs(c api.Caller, ids []string) (api.DescribeVpcsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	vpcs, err := pick(c, d.vpcs, ids, d.lookupVpcLocked)
	out := api.DescribeVpcsResponse{Vpcs: []api.Vpc{}}
	for _, v := range vpcs {
		out.Vpcs = append(out.Vpcs, describeVpc(v))
	}
	return out, err
}

// DeleteVpc removes an empty VPC.
func (d *Daemon) DeleteVpc(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookupVpcLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	for _, s := range d.subnets {
		if s.VpcID == id {
			return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "the vpc '%s' has dependencies and cannot be deleted: subnet %s is in it", id, s.ID)
		}
	}
	if groups := d.vpcGroupsLocked(id); len(groups) > 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "the vpc '%s' has dependencies and cannot be deleted: security group %s is in it", id, groups[0])
	}
	if err := d.store.DeleteVPC(v.ID); err != nil {
		return api.ReturnResponse{}, err
	}
	d.deleteDefaultsLocked(v)
	delete(d.vpcs, id)
	d.log.Info("vpc deleted", "vpc", id)
	return api.ReturnResponse{Return: true}, nil
}

// CreateSubnet makes a subnet inside a VPC, clear of its other subnets.
func (d *Daemon) CreateSubnet(c api.Caller, req api.CreateSubnetRequest) (api.Subnet, error) {
	block, err := vnet.ParseBlock(req.CidrBlock)
	if err != nil {
		return api.Subnet{}, networkError(err, api.CodeInvalidSubnetRange)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, err := d.lookupVpcLocked(c, req.VpcId)
	if err != nil {
		return api.Subnet{}, err
	}
	if err := sameAccount(c, v, v.ID); err != nil {
		return api.Subnet{}, err
	}
	var siblings []netip.Prefix
	for _, s := range d.subnets {
		if s.VpcID == v.ID {
			siblings = append(siblings, netip.MustParsePrefix(s.CIDR))
		}
	}
	if err := vnet.CheckSubnet(netip.MustParsePrefix(v.CIDR), block, siblings); err != nil {
		return api.Subnet{}, networkError(err, api.CodeInvalidSubnetRange)
	}
	s := &state.Subnet{ID: newID("subnet-"), VpcID: v.ID, CIDR: block.String(), CreatedAt: time.Now().UTC(),
		Number: d.nextSubnetNumberLocked(), ACLID: v.DefaultACLID, OwnerID: v.OwnerID}
	if err := d.dp.SetSubnetACL(s.Number, d.rules.acls[s.ACLID]); err != nil {
		return api.Subnet{}, err
	}
	if err := d.store.PutSubnet(s); err != nil {
		d.dp.DeleteSubnetACL(s.Number)
		return api.Subnet{}, err
	}
	d.subnets[s.ID] = s
	d.log.Info("subnet created", "subnet", s.ID, "vpc", v.ID, "cidr", s.CIDR)
	return d.describeSubnetLocked(s), nil
}

func (d *Daemon) describeSubnetLocked(s *state.Subnet) api.Subnet {
	return api.Subnet{
		SubnetId: s.ID, VpcId: s.VpcID, CidrBlock: s.CIDR, State: "available", OwnerId: s.Owner(),
		AvailableIpAddressCount: vnet.Usable(netip.MustParsePrefix(s.CIDR)) - len(d.usedAddressesLocked(s.ID)),
	}
}

// DescribeSubnets lists the given subnets, or all the caller sees.
func (d *Daemon) DescribeSubnets(c api.Caller, ids []string) (api.DescribeSubnetsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	subnets, err := pick(c, d.subnets, ids, d.lookupSubnetLocked)
	out := api.DescribeSubnetsResponse{Subnets: []api.Subnet{}}
	for _, s := range subnets {
		out.Subnets = append(out.Subnets, d.describeSubnetLocked(s))
	}
	return out, err
}

// DeleteSubnet removes a subnet no interface is in.
func (d *Daemon) DeleteSubnet(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookupSubnetLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	for _, e := range d.enis {
		if e.SubnetID == id {
			return api.ReturnResponse{}, api.Errorf(api.CodeDependencyViolation, "the subnet '%s' has dependencies and cannot be deleted: instance %s has an interface in it", id, e.InstanceID)
		}
	}
	if err := d.store.DeleteSubnet(s.ID); err != nil {
		return api.ReturnResponse{}, err
	}
	d.dp.DeleteSubnetACL(s.Number)
	delete(d.subnets, id)
	d.log.Info("subnet deleted", "subnet", id)
	return api.ReturnResponse{Return: true}, nil
}

func (d *Daemon) usedAddressesLocked(subnetID string) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, e := range d.enis {
		if e.SubnetID == subnetID {
			used[netip.MustParseAddr(e.IP)] = true
		}
	}
	return used
}

// reserveENI gives instanceID an interface in subnetID: an address (wantIP if given), a MAC and a
// host-side name, recorded before anything is made on the host.
func (d *Daemon) reserveENI(c api.Caller, instanceID string, req api.RunInstanceRequest, memoryBytes int64) (*state.ENI, error) {
	subnetID, wantIP, groups := req.SubnetId, req.PrivateIpAddress, req.SecurityGroupIds
	pps, bandwidth, conntrack, err := d.allowances(req.Allowances, memoryBytes)
	if err != nil {
		return nil, err
	}
	var want netip.Addr
	if wantIP != "" {
		var err error
		if want, err = netip.ParseAddr(wantIP); err != nil || !want.Is4() {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "--private-ip %q is not an IPv4 address", wantIP)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookupSubnetLocked(c, subnetID)
	if err != nil {
		return nil, err
	}
	if err := sameAccount(c, s, s.ID); err != nil {
		return nil, err
	}
	if groups, err = d.resolveGroupsLocked(c, s.VpcID, groups); err != nil {
		return nil, err
	}
	if err := d.conntrackRoomLocked(conntrack); err != nil {
		return nil, err
	}
	addr, err := vnet.Allocate(netip.MustParsePrefix(s.CIDR), d.usedAddressesLocked(s.ID), want)
	if err != nil {
		return nil, networkError(err, api.CodeInvalidParameterValue)
	}
	e := &state.ENI{
		ID: newID("eni-"), SubnetID: s.ID, VpcID: s.VpcID, InstanceID: instanceID, IP: addr.String(),
		MAC: newMAC().String(), HostIfName: "v" + instanceID[2:16], SourceDestCheck: true, Groups: groups, OwnerID: s.OwnerID,
		PPS: pps, BandwidthBits: bandwidth, Conntrack: conntrack,
	}
	if err := d.store.PutENI(e); err != nil {
		return nil, err
	}
	d.enis[instanceID] = e
	return e, nil
}

// conntrackRoomLocked refuses an interface whose conntrack allowance does not fit in the table
// beside the allowances of the interfaces there are. Each is reserved from launch to terminate,
// so that the table, which every tenant shares, never fills: however many flows one instance, or
// one tenant's many, open, every other interface still has its whole allowance.
func (d *Daemon) conntrackRoomLocked(allowance int64) error {
	limit, reserved, err := d.conntrackReservedLocked()
	if err != nil {
		return err
	}
	if reserved+allowance > limit {
		return api.Errorf(api.CodeInsufficientCapacity, "the conntrack table has room for %d more tracked connections (it holds %d, the daemon's --conntrack-max, reserved for the instances there are) and this instance's allowance is %d: give it a smaller --conntrack (or less --memory), terminate instances, or raise --conntrack-max", max(0, limit-reserved), limit, allowance)
	}
	return nil
}

// conntrackReservedLocked returns the conntrack table's limit and how much of it the interfaces
// there are hold.
func (d *Daemon) conntrackReservedLocked() (limit, reserved int64, err error) {
	l, err := d.dp.ConntrackLimit()
	if err != nil {
		return 0, 0, err
	}
	for _, e := range d.enis {
		reserved += conntrackAllowance(e)
	}
	return int64(l), reserved, nil
}

// conntrackAllowance is the conntrack allowance of e.
func conntrackAllowance(e *state.ENI) int64 {
	if e.Conntrack == 0 { // recorded before allowances were: the datapath's default
		return vnet.DefaultConntrackAllowance
	}
	return e.Conntrack
}

// releaseENI frees an instance's interface record and its address.
func (d *Daemon) releaseENI(instanceID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.enis[instanceID]; ok {
		if err := d.store.DeleteENI(e.ID); err != nil {
			d.log.Error("removing an interface record", "eni", e.ID, "err", err)
		}
		delete(d.enis, instanceID)
	}
}

// plumb builds an interface for a launching instance whose init is pid: veth, guest address and
// route, datapath entries, programs attached.
func (d *Daemon) plumb(e *state.ENI, pid int) error {
	s, v := d.subnetAndVpc(e)
	subnet := netip.MustParsePrefix(s.CIDR)
	addr := netip.MustParseAddr(e.IP)
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return fmt.Errorf("the MAC of interface %s: %w", e.ID, err)
	}
	ifindex, err := d.fabric.AddInterface(vnet.InterfaceConfig{
		HostName: e.HostIfName, GuestPid: pid, MAC: mac,
		Addr: netip.PrefixFrom(addr, subnet.Bits()), Gateway: vnet.Router(subnet),
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	err = d.ensurePolicyLocked(e.Groups)
	var entry vnet.Interface
	if err == nil {
		entry, err = d.datapathEntryLocked(e)
	}
	d.mu.Unlock()
	if err == nil {
		err = d.dp.SetInterface(ifindex, entry)
	}
	if err == nil {
		err = d.fabric.Attach(d.dp, e.HostIfName, ifindex)
	}
	if err != nil {
		d.unplumb(e, v)
		return err
	}
	d.net.watchNew(e.ID)
	return nil
}

func (d *Daemon) subnetAndVpc(e *state.ENI) (*state.Subnet, *state.VPC) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.subnets[e.SubnetID], d.vpcs[e.VpcID]
}

// unplumb removes an interface of VPC v from the host and the datapath; the record stays. It
// takes no lock: callers look up v under theirs.
func (d *Daemon) unplumb(e *state.ENI, v *state.VPC) {
	if ifindex := d.dp.IfindexOf(net.ParseIP(e.IP), v.Number); ifindex > 0 {
		d.dp.DeleteInterface(ifindex, v.Number, net.ParseIP(e.IP))
	}
	d.dp.Detach(e.HostIfName)
	if err := d.fabric.DeleteInterface(e.HostIfName); err != nil {
		d.log.Error("removing an interface", "eni", e.ID, "err", err)
	}
}

// ModifyInstance changes the source/destination check of an instance's interface.
func (d *Daemon) ModifyInstance(c api.Caller, id string, req api.ModifyInstanceRequest) (api.ReturnResponse, error) {
	if req.SourceDestCheck == nil {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name an attribute to change: --source-dest-check=true|false")
	}
	d.mu.Lock()
	in, err := d.lookupLocked(c, id)
	if err != nil {
		d.mu.Unlock()
		return api.ReturnResponse{}, err
	}
	e, ok := d.enis[id]
	if !ok || in.rec.Phase == state.Terminated {
		d.mu.Unlock()
		return api.ReturnResponse{}, api.Errorf(api.CodeIncorrectInstanceState, "instance %s has no network interface", id)
	}
	updated := *e
	updated.SourceDestCheck = *req.SourceDestCheck
	err = d.changeENILocked(&updated, nil)
	d.mu.Unlock()
	if err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("source/dest check changed", "instance", id, "source_dest_check", updated.SourceDestCheck)
	return api.ReturnResponse{Return: true}, nil
}

// describeNetworkLocked adds an instance's interface to its description.
func (d *Daemon) describeNetworkLocked(out *api.Instance) {
	e, ok := d.enis[out.InstanceId]
	if !ok {
		return
	}
	ni := api.NetworkInterface{
		NetworkInterfaceId: e.ID, SubnetId: e.SubnetID, VpcId: e.VpcID, PrivateIpAddress: e.IP,
		MacAddress: e.MAC, SourceDestCheck: e.SourceDestCheck,
	}
	if out.State == api.StateRunning {
		ni.HostInterface = e.HostIfName
		if v := d.vpcs[e.VpcID]; v != nil {
			if ifindex := d.dp.IfindexOf(net.ParseIP(e.IP), v.Number); ifindex > 0 {
				ni.DropCounters = d.dp.Drops(ifindex)
			}
		}
		ni.Allowances = describeAllowances(e, ni.DropCounters)
		ni.Traffic = d.interfaceTraffic(e.ID)
	}
	check := e.SourceDestCheck
	ni.Groups = d.describeGroupsLocked(e.Groups)
	out.SecurityGroups = ni.Groups
	out.PrivateIpAddress, out.SubnetId, out.VpcId, out.SourceDestCheck = e.IP, e.SubnetID, e.VpcID, &check
	out.NetworkInterfaces = []api.NetworkInterface{ni}
}

func (d *Daemon) lookupVpcLocked(c api.Caller, id string) (*state.VPC, error) {
	return lookupID(c, d.vpcs, id, api.VpcID)
}

func (d *Daemon) lookupSubnetLocked(c api.Caller, id string) (*state.Subnet, error) {
	return lookupID(c, d.subnets, id, api.SubnetID)
}

// newMAC returns a random locally administered unicast MAC.
func newMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&0xfc | 0x02
	return mac
}

// newID returns an id shaped like EC2's: the prefix and 17 hex digits.
func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%x", prefix, b)[:len(prefix)+17]
}

// nextNumber returns the lowest number above 0 that no record of all has: the datapath's keys
// of VPCs, subnets and groups.
func nextNumber[T any](all map[string]*T, number func(*T) uint32) uint32 {
	used := map[uint32]bool{}
	for _, r := range all {
		used[number(r)] = true
	}
	n := uint32(1)
	for used[n] {
		n++
	}
	return n
}

func (d *Daemon) nextSubnetNumberLocked() uint32 {
	return nextNumber(d.subnets, func(s *state.Subnet) uint32 { return s.Number })
}

// datapathEntryLocked is what the datapath is to know of an interface; the policy of its groups
// must be compiled (ensurePolicyLocked).
func (d *Daemon) datapathEntryLocked(e *state.ENI) (vnet.Interface, error) {
	s, v := d.subnets[e.SubnetID], d.vpcs[e.VpcID]
	subnet := netip.MustParsePrefix(s.CIDR)
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return vnet.Interface{}, fmt.Errorf("the MAC of interface %s: %w", e.ID, err)
	}
	policy, ok := d.rules.handle(ruleSetKey{groups: groupSetOf(e.Groups)})
	if !ok {
		return vnet.Interface{}, fmt.Errorf("no rule set for the groups %v of interface %s", e.Groups, e.ID)
	}
	var numbers []uint32
	for _, id := range e.Groups {
		numbers = append(numbers, d.groupNumber(id))
	}
	return vnet.Interface{
		VPC: v.Number, IP: net.ParseIP(e.IP), MAC: mac, SourceDestCheck: e.SourceDestCheck,
		Resolver:     vpcdns.ResolverAddr(netip.MustParsePrefix(v.CIDR)).AsSlice(),
		Subnet:       &net.IPNet{IP: subnet.Addr().AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)},
		SubnetNumber: s.Number, Policy: policy, Groups: numbers,
		PPSAllowance: uint64(e.PPS), BandwidthAllowance: uint64(e.BandwidthBits), ConntrackAllowance: uint32(e.Conntrack),
	}, nil
}

// ensurePolicyLocked compiles the policy of groups, unless it is there: what a new interface
// needs before it is plumbed.
func (d *Daemon) ensurePolicyLocked(groups []string) error {
	for key, compile := range d.policyCompileLocked(groups) {
		h, err := compile()
		if err != nil {
			return ruleSetError(err)
		}
		d.rules.set(key, h)
	}
	return nil
}

// describeAllowances shows an interface's allowances and the counters of each, from its drop
// counters (the datapath counts an allowance's drops as a drop reason of that name).
func describeAllowances(e *state.ENI, drops map[string]uint64) *api.InterfaceAllowances {
	return &api.InterfaceAllowances{
		PacketsPerSecond: e.PPS, BandwidthBitsPerSecond: e.BandwidthBits, TrackedConnections: conntrackAllowance(e),
		PpsAllowanceExceeded:       drops[vnet.ReasonPPSAllowance],
		BwInAllowanceExceeded:      drops[vnet.ReasonBandwidthInAllowance],
		BwOutAllowanceExceeded:     drops[vnet.ReasonBandwidthOutAllowance],
		ConntrackAllowanceExceeded: drops[firewall.ReasonCTAllowance],
	}
}
