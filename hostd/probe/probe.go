// Package probe is the network toolkit hostd ships for tests, demos and users: run inside an
// instance (`hostd instance exec ID -- hostd probe …`), it sends crafted frames, sniffs the
// interface in promiscuous mode, and connects or listens over TCP and UDP, so that no test needs
// tcpdump, nmap or netcat. Results are JSON documents.
package probe

import (
	"fmt"
	"net"
)

// RouterMAC is the MAC hostd's VPC router answers every ARP with; frames to other instances are
// sent to it.
var RouterMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}

// Interface returns the named interface and its first IPv4 address.
func Interface(name string) (*net.Interface, net.IP, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return ifc, n.IP.To4(), nil
		}
	}
	return ifc, nil, fmt.Errorf("%s has no IPv4 address", name)
}
