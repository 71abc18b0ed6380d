package daemon

import (
	"net/netip"

	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/hostd/vpcdns"
)

// nameFiles are an instance's /etc/resolv.conf and /etc/hosts: its VPC's resolver and its own
// names (e is nil for an instance without a network). The guest never sees the host's, whose
// resolvers it cannot reach: a lookup would wait out their timeout.
func (d *Daemon) nameFiles(id string, e *state.ENI) map[string][]byte {
	var resolver, ip netip.Addr
	if e != nil {
		_, v := d.subnetAndVpc(e)
		resolver, ip = vpcdns.ResolverAddr(netip.MustParsePrefix(v.CIDR)), netip.MustParseAddr(e.IP)
	}
	return map[string][]byte{"/etc/resolv.conf": vpcdns.ResolvConf(resolver), "/etc/hosts": vpcdns.Hosts(id, ip)}
}
