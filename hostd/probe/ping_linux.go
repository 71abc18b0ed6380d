package probe

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"
)

// PingResult is what `probe ping` prints.
type PingResult struct {
	Addr  string  `json:"Addr"`
	RttMs float64 `json:"RttMs"`
}

// Ping sends one ICMP echo request to addr and waits up to timeout for the reply.
func Ping(addr string, timeout time.Duration) (*PingResult, error) {
	dst := net.ParseIP(addr)
	if dst == nil || dst.To4() == nil {
		return nil, fmt.Errorf("%q is not an IPv4 address", addr)
	}
	conn, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("ICMP socket (needs CAP_NET_RAW): %w", err)
	}
	defer conn.Close()
	const id = 0x4844
	start := time.Now()
	if _, err := conn.WriteTo(echoRequest(id, 1, []byte("hostd-probe")), &net.IPAddr{IP: dst}); err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(start.Add(timeout))
	reply := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(reply)
		if err != nil {
			return nil, fmt.Errorf("no echo reply from %s within %s", addr, timeout)
		}
		// An echo reply (type 0) to our id, from the address pinged.
		if n >= 8 && reply[0] == 0 && binary.BigEndian.Uint16(reply[4:]) == id && from.String() == dst.String() {
			return &PingResult{Addr: addr, RttMs: float64(time.Since(start).Microseconds()) / 1000}, nil
		}
	}
}
