package vnet

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors of the address model. The daemon maps each to its EC2 error code.
var (
	ErrInvalidCIDR      = errors.New("invalid CIDR block")
	ErrBlockSize        = errors.New("CIDR block size out of range")
	ErrSubnetOutsideVPC = errors.New("subnet outside its VPC")
	ErrSubnetConflict   = errors.New("subnet overlaps another")
	ErrAddressOutside   = errors.New("address outside the subnet")
	ErrAddressReserved  = errors.New("address reserved")
	ErrAddressInUse     = errors.New("address in use")
	ErrNoFreeAddress    = errors.New("no free address in the subnet")
)

// EC2's bounds for VPC and subnet blocks.
const (
	MinPrefixBits = 16
	MaxPrefixBits = 28
)

// ParseBlock reads an IPv4 CIDR block for a VPC or a subnet as EC2 accepts one: dotted quad,
// prefix /16 to /28, and canonical (no host bits set: 10.0.0.0/16, not 10.0.0.5/16).
func ParseBlock(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an IPv4 CIDR block such as 10.0.0.0/16", ErrInvalidCIDR, s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%w: %q has host bits set; did you mean %s?", ErrInvalidCIDR, s, p.Masked())
	}
	if p.Bits() < MinPrefixBits || p.Bits() > MaxPrefixBits {
		return netip.Prefix{}, fmt.Errorf("%w: %s: the prefix must be /%d to /%d", ErrBlockSize, s, MinPrefixBits, MaxPrefixBits)
	}
	return p, nil
}

// CheckSubnet tells whether subnet may be created in a VPC with block vpc beside the existing
// subnets.
func CheckSubnet(vpc, subnet netip.Prefix, existing []netip.Prefix) error {
	if !vpc.Contains(subnet.Addr()) || subnet.Bits() < vpc.Bits() {
		return fmt.Errorf("%w: %s is not inside the VPC's %s", ErrSubnetOutsideVPC, subnet, vpc)
	}
	for _, e := range existing {
		if e.Overlaps(subnet) {
			return fmt.Errorf("%w: %s overlaps the subnet %s", ErrSubnetConflict, subnet, e)
		}
	}
	return nil
}

// Usable is how many addresses of subnet instances can have: all but the five EC2 reserves (the
// network address, the router .1, DNS .2, .3 for future use, and the broadcast address).
func Usable(subnet netip.Prefix) int { return 1<<(32-subnet.Bits()) - 5 }

// Router is the subnet's .1, the default gateway of its instances.
func Router(subnet netip.Prefix) netip.Addr { return subnet.Addr().Next() }

// Reserved tells whether addr is one of the subnet's five reserved addresses.
func Reserved(subnet netip.Prefix, addr netip.Addr) bool {
	first := subnet.Addr()
	for range 4 {
		if addr == first {
			return true
		}
		first = first.Next()
	}
	return addr == lastAddr(subnet)
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= 1<<hostBits - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Allocate picks an address of subnet for a new interface: want if given (it must be usable and
// free), else the lowest free one.
func Allocate(subnet netip.Prefix, used map[netip.Addr]bool, want netip.Addr) (netip.Addr, error) {
	if want.IsValid() {
		switch {
		case !subnet.Contains(want):
			return netip.Addr{}, fmt.Errorf("%w: %s is not in %s", ErrAddressOutside, want, subnet)
		case Reserved(subnet, want):
			return netip.Addr{}, fmt.Errorf("%w: %s is one of the five addresses every subnet reserves", ErrAddressReserved, want)
		case used[want]:
			return netip.Addr{}, fmt.Errorf("%w: %s is taken", ErrAddressInUse, want)
		}
		return want, nil
	}
	for a := subnet.Addr(); subnet.Contains(a); a = a.Next() {
		if !Reserved(subnet, a) && !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: all %d usable addresses of %s are taken", ErrNoFreeAddress, Usable(subnet), subnet)
}
