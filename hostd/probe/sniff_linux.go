package probe

import (
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Flow is what a sniffer saw between two endpoints.
type Flow struct {
	Src    string `json:"Src"`
	Dst    string `json:"Dst"`
	Proto  string `json:"Proto"`
	Frames int    `json:"Frames"`
}

// SniffResult is what `probe sniff` prints.
type SniffResult struct {
	Interface   string  `json:"Interface"`
	Promiscuous bool    `json:"Promiscuous"`
	Seconds     float64 `json:"Seconds"`
	Frames      int     `json:"Frames"`
	Flows       []Flow  `json:"Flows"`
}

// Sniff captures every frame the interface receives for d, in promiscuous mode if promisc,
// and summarizes them by source, destination and protocol. Frames the guest itself sends are not
// counted: a sniffer is after other people's traffic.
func Sniff(ifc *net.Interface, d time.Duration, promisc bool) (*SniffResult, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return nil, err
	}
	if promisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	res := &SniffResult{Interface: ifc.Name, Promiscuous: promisc, Seconds: d.Seconds(), Flows: []Flow{}}
	flows := map[Flow]int{}
	deadline := time.Now().Add(d)
	buf := make([]byte, 65536)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, err
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		res.Frames++
		flows[classify(buf[:n])]++
	}
	for f, n := range flows {
		f.Frames = n
		res.Flows = append(res.Flows, f)
	}
	sort.Slice(res.Flows, func(i, j int) bool { return res.Flows[i].Frames > res.Flows[j].Frames })
	return res, nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
