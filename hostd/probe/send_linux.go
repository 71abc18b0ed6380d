package probe

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Send writes frame count times on the interface, raw: the kernel adds nothing and checks nothing.
func Send(ifc *net.Interface, frame []byte, count int) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	addr := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
	copy(addr.Addr[:], frame[0:6])
	for range count {
		if err := unix.Sendto(fd, frame, 0, addr); err != nil {
			return err
		}
	}
	return nil
}
