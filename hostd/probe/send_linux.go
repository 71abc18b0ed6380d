package probe

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Send writes each frame next gives (until it gives nil) on the interface, raw: the kernel adds
// nothing and checks nothing.
func Send(ifc *net.Interface, next func() ([]byte, error)) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	for {
		frame, err := next()
		if frame == nil || err != nil {
			return err
		}
		addr := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
		copy(addr.Addr[:], frame[0:6])
		if err := unix.Sendto(fd, frame, 0, addr); err != nil {
			return err
		}
	}
}

// Frames gives f count times, each a new flow if flows (the source port counting up from f's,
// and the destination port when the source ports run out): for Send.
func Frames(f Frame, count int, flows bool) func() ([]byte, error) {
	sent := 0
	return func() ([]byte, error) {
		if sent == count {
			return nil, nil
		}
		g := f
		if flows {
			n := int(f.SrcPort) + sent
			g.SrcPort, g.DstPort = uint16(n), f.DstPort+uint16(n>>16)
		}
		sent++
		return g.Build()
	}
}
