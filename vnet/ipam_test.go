package vnet

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBlock(t *testing.T) {
	for _, s := range []string{"10.0.0.0/16", "10.0.0.0/28", "192.168.4.0/24", "172.31.255.240/28"} {
		p, err := ParseBlock(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, p.String())
	}
	bad := map[string]error{
		"10.0.0.5/16": ErrInvalidCIDR, "10.0.0.0": ErrInvalidCIDR, "fd00::/64": ErrInvalidCIDR, "ten/8": ErrInvalidCIDR,
		"10.0.0.0/33": ErrInvalidCIDR, "": ErrInvalidCIDR, "10.0.0.0/8": ErrBlockSize, "10.0.0.0/29": ErrBlockSize,
		"10.0.0.0/015": ErrInvalidCIDR,
	}
	for s, want := range bad {
		_, err := ParseBlock(s)
		assert.ErrorIs(t, err, want, s)
	}
}

func TestCheckSubnet(t *testing.T) {
	vpc := netip.MustParsePrefix("10.0.0.0/16")
	existing := []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}
	assert.NoError(t, CheckSubnet(vpc, netip.MustParsePrefix("10.0.2.0/24"), existing))
	assert.NoError(t, CheckSubnet(vpc, vpc, nil), "a subnet may be the whole VPC")
	assert.ErrorIs(t, CheckSubnet(vpc, netip.MustParsePrefix("10.1.0.0/24"), existing), ErrSubnetOutsideVPC)
	assert.ErrorIs(t, CheckSubnet(netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.0.0/16"), nil), ErrSubnetOutsideVPC)
	assert.ErrorIs(t, CheckSubnet(vpc, netip.MustParsePrefix("10.0.1.128/25"), existing), ErrSubnetConflict)
	assert.ErrorIs(t, CheckSubnet(vpc, netip.MustParsePrefix("10.0.0.0/20"), existing), ErrSubnetConflict)
}

func TestAllocateSkipsReservedAndUsed(t *testing.T) {
	s := netip.MustParsePrefix("10.0.0.0/28") // 16 addresses, 11 usable: .4 to .14
	assert.Equal(t, 11, Usable(s))
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), Router(s))
	used := map[netip.Addr]bool{}
	var got []string
	for range 11 {
		a, err := Allocate(s, used, netip.Addr{})
		require.NoError(t, err)
		used[a] = true
		got = append(got, a.String())
	}
	assert.Equal(t, "10.0.0.4", got[0])
	assert.Equal(t, "10.0.0.14", got[10])
	_, err := Allocate(s, used, netip.Addr{})
	assert.ErrorIs(t, err, ErrNoFreeAddress)

	for addr, want := range map[string]error{
		"10.0.0.0": ErrAddressReserved, "10.0.0.1": ErrAddressReserved, "10.0.0.2": ErrAddressReserved,
		"10.0.0.3": ErrAddressReserved, "10.0.0.15": ErrAddressReserved, "10.0.0.16": ErrAddressOutside, "10.0.0.9": ErrAddressInUse,
	} {
		_, err := Allocate(s, used, netip.MustParseAddr(addr))
		assert.True(t, errors.Is(err, want), "%s: %v", addr, err)
	}
	a, err := Allocate(s, map[netip.Addr]bool{}, netip.MustParseAddr("10.0.0.9"))
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.9", a.String())
}

// FuzzParseBlock: any accepted block is canonical IPv4 within the bounds, and prints back as given.
func FuzzParseBlock(f *testing.F) {
	for _, s := range []string{"10.0.0.0/16", "10.0.0.5/16", "1.2.3.4/28", "::/0", "300.0.0.0/16", "10.0.0.0/8", "0.0.0.0/16"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseBlock(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCIDR) && !errors.Is(err, ErrBlockSize) {
				t.Fatalf("%q: unexpected error kind %v", s, err)
			}
			return
		}
		if !p.Addr().Is4() || p.Masked() != p || p.Bits() < MinPrefixBits || p.Bits() > MaxPrefixBits || p.String() != s {
			t.Fatalf("%q accepted as %v", s, p)
		}
		if Usable(p) < 11 {
			t.Fatalf("%v: only %d usable addresses", p, Usable(p))
		}
	})
}
