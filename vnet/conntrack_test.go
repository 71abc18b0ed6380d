package vnet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
)

// sendAs runs from_guest on frame as if the interface whose host end is ifindex had sent it:
// under BPF_PROG_TEST_RUN every frame comes in on loopback, so its entry is copied there.
func sendAs(t *testing.T, dp *Datapath, ifindex int, frame []byte) uint32 {
	t.Helper()
	var entry bpf.DatapathIface
	require.NoError(t, dp.maps.Ifaces.Lookup(uint32(ifindex), &entry))
	var own bpf.DatapathIface
	require.NoError(t, dp.maps.Ifaces.Lookup(uint32(1), &own))
	require.NoError(t, dp.maps.Ifaces.Put(uint32(1), entry))
	defer func() { require.NoError(t, dp.maps.Ifaces.Put(uint32(1), own)) }()
	verdict, _ := run(t, dp.progs.FromGuest, frame)
	return verdict
}

// fragment makes frame (IPv4 in Ethernet) a first fragment with IP id id, or a later one.
func fragment(frame []byte, id uint16, first bool) []byte {
	f := append([]byte(nil), frame...)
	binary.BigEndian.PutUint16(f[14+4:], id)
	if first {
		binary.BigEndian.PutUint16(f[14+6:], 0x2000) // more fragments
	} else {
		binary.BigEndian.PutUint16(f[14+6:], 185) // offset 1480, the last one
	}
	return f
}

// A guest that floods new flows and first fragments fills its own share of the conntrack table:
// past its allowance they are refused and counted as conntrack_allowance_exceeded on its
// interface, while its peer still opens flows and sends fragmented datagrams. Control: with
// an allowance larger than the table, the same flood fills the table and the peer is refused.
func TestConntrackAllowanceIsPerInterface(t *testing.T) {
	const limit, allowance, flood = 200, 100, 300
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "own share", true: "control: one shared table"}[shared], func(t *testing.T) {
			in := guest()
			in.ConntrackAllowance = allowance
			if shared {
				in.ConntrackAllowance = 10 * limit
			}
			dp := testDatapath(t, in)
			require.NoError(t, dp.SetConntrackLimit(limit))

			refused := map[uint32]int{}
			for i := range flood {
				verdict, _ := run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, uint16(10000+i), 53))
				refused[verdict]++
			}
			for i := range flood {
				first := fragment(udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, 9999, 53), uint16(i), true)
				verdict, _ := run(t, dp.progs.FromGuest, first)
				refused[verdict]++
			}
			drops := dp.Drops(1)
			for reason, n := range dp.Drops(99) { // a full table is counted on the receiver
				drops[reason] += n
			}
			tracked, _, err := dp.ConntrackUsage(1)
			require.NoError(t, err)
			if shared {
				assert.Equal(t, int64(limit), tracked, "the flood took the whole table")
				assert.Equal(t, uint64(2*flood-limit), drops[firewall.ReasonCTFull])
			} else {
				assert.Equal(t, int64(allowance), tracked, "the flood took its own share")
				assert.Equal(t, uint64(2*flood-allowance), drops[firewall.ReasonCTAllowance])
			}

			// The peer answers, opens a flow of its own, and sends a fragmented datagram.
			assert.Equal(t, uint32(actRedirect), sendAs(t, dp, 99, udpFrame(t, peerMAC, routerMAC, peerIP, guestIP, 53, 10000)), "an answer to a tracked flow")
			opens := sendAs(t, dp, 99, udpFrame(t, peerMAC, routerMAC, peerIP, guestIP, 7000, 80))
			first := sendAs(t, dp, 99, fragment(udpFrame(t, peerMAC, routerMAC, peerIP, guestIP, 7000, 80), 77, true))
			later := sendAs(t, dp, 99, fragment(udpFrame(t, peerMAC, routerMAC, peerIP, guestIP, 7000, 80), 77, false))
			if shared {
				assert.Equal(t, []uint32{actShot, actShot, actShot}, []uint32{opens, first, later}, "control: the peer finds the table full")
				return
			}
			assert.Equal(t, []uint32{actRedirect, actRedirect, actRedirect}, []uint32{opens, first, later}, "the peer's new flow, first fragment and later fragment")
			peerTracked, peerAllowance, err := dp.ConntrackUsage(99)
			require.NoError(t, err)
			assert.Equal(t, int64(2), peerTracked)
			assert.Equal(t, uint32(DefaultConntrackAllowance), peerAllowance)
		})
	}
}

// A deleted interface leaves no conntrack entry behind, of its own or of flows to its address,
// and what they counted against others is given back.
func TestDeletedInterfaceLeavesNoFlows(t *testing.T) {
	dp := testDatapath(t, guest())
	for i := range 5 {
		run(t, dp.progs.FromGuest, udpFrame(t, guestMAC, routerMAC, guestIP, peerIP, uint16(10000+i), 53))
	}
	sendAs(t, dp, 99, udpFrame(t, peerMAC, routerMAC, peerIP, guestIP, 7000, 80))
	n, err := dp.ConntrackCount()
	require.NoError(t, err)
	require.Equal(t, int64(6), n)

	dp.DeleteInterface(1, 7, guestIP)
	n, err = dp.ConntrackCount()
	require.NoError(t, err)
	assert.Zero(t, n)
	peerTracked, _, err := dp.ConntrackUsage(99)
	require.NoError(t, err)
	assert.Zero(t, peerTracked, "the peer's flow to the deleted address was given back")
	_, _, err = dp.ConntrackUsage(1)
	assert.Error(t, err, "the deleted interface's counts are gone")
}

// The rule maps are shared by every tenant: a VPC whose rules compile past its share is refused,
// and another VPC still loads its own.
func TestRuleEntriesArePerVPC(t *testing.T) {
	dp := testDatapath(t, guest())
	// One port in every block of 256 from 10.0.0.0/8, and 600 /24s inside it: each /24's class
	// holds the /8's rules too, a row per block.
	var huge []firewall.Rule
	for block := range 255 {
		huge = append(huge, firewall.Rule{Protocol: firewall.TCP, From: block*256 + 1, To: block*256 + 1, CIDR: netip.MustParsePrefix("10.0.0.0/8")})
	}
	small := []*firewall.SecurityGroup{{ID: "sg-1", Ingress: huge}}
	for i := range 600 {
		prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		huge = append(huge, firewall.Rule{Protocol: firewall.TCP, From: 80, To: 80, CIDR: prefix})
	}
	_, err := dp.LoadPolicy(40, []*firewall.SecurityGroup{{ID: "sg-1", Ingress: huge}}, nil)
	require.ErrorIs(t, err, ErrRuleEntriesExceeded)
	_, err = dp.LoadPolicy(41, small, nil)
	require.NoError(t, err, "another VPC")
	_, err = dp.LoadPolicy(40, small, nil)
	require.NoError(t, err, "the refused VPC, within its share")
}

// A combination of groups gets its identity, and rows in the VPC's policies, when the first
// interface in it appears; the rows go once the last one leaves it.
func TestIdentityRowsComeAndGo(t *testing.T) {
	dp := testDatapath(t, guest())
	rule := firewall.Rule{Protocol: firewall.TCP, From: 22, To: 22, Group: "sg-5"}
	number := func(id string) uint32 { return map[string]uint32{"sg-5": 5, "sg-6": 6}[id] }
	policy, err := dp.LoadPolicy(7, []*firewall.SecurityGroup{{ID: "sg-1", Ingress: []firewall.Rule{rule}}}, number)
	require.NoError(t, err)
	identityRows := func() int {
		n := 0
		var key bpf.DatapathRulePortKey
		var row bpf.DatapathRulePortBits
		for it := dp.maps.RulePorts.Iterate(); it.Next(&key, &row); {
			if key.Set&setNumber == policy&setNumber && key.Peer&peerIdentity != 0 {
				n++
			}
		}
		return n
	}
	member := Interface{VPC: 7, IP: net.IPv4(10, 0, 0, 50), Subnet: subnet, MAC: net.HardwareAddr{2, 0xaa, 0, 0, 0, 50}, Policy: policy, Groups: []uint32{5}}
	require.NoError(t, dp.SetInterface(50, member))
	assert.Positive(t, identityRows(), "the rows of the new identity")
	member.Groups = []uint32{6}
	require.NoError(t, dp.SetInterface(50, member))
	require.Eventually(t, func() bool { return identityRows() == 0 }, 5*time.Second, time.Millisecond, "the rows of the identity nobody has")
}
