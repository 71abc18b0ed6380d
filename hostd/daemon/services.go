package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/keyfile"
	"github.com/hostd/hostd/hostd/metadata"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/hostd/vpcdns"
	"github.com/hostd/hostd/vnet"
)

// The link-local services every guest is given: the VPC resolver and the instance metadata
// service. They listen on sockets the daemon opens in the fabric's services namespace (vnet.Services);
// the datapath takes a guest's packets there, tagged with the interface that sent them, and
// takes the answers back to that interface alone. The sockets are the daemon's: while it
// restarts nothing answers (a guest's DNS query waits for its retry, a metadata connection is
// refused), and they are back as soon as the new daemon has recovered its state, before its API
// answers: well within a second.

// forwardTimeout bounds a forwarded query: SERVFAIL comes well within the guest's first timeout.
const forwardTimeout = 500 * time.Millisecond

// What the metadata service says of what hostd has no notion of: instances run the host's own
// root (read-only), so there is no image, and no instance types.
const (
	metadataAMI  = "ami-00000000000000000"
	instanceType = "hostd.custom"
)

// openServices makes or adopts the services namespace and prepares the resolver and the
// metadata service; serveServices starts them.
func (d *Daemon) openServices() error {
	var err error
	if d.services, err = vnet.OpenServices(d.fabric, d.dp, d.cfg.Fabric); err != nil {
		return err
	}
	// Tokens are sealed with a key of the daemon's own, so that they outlive a restart.
	key, err := keyfile.LoadOrCreate(filepath.Join(d.cfg.StateDir, "metadata.key"))
	if err != nil {
		return fmt.Errorf("the metadata service's token key: %w", err)
	}
	d.imds = &metadata.Server{Directory: d.metadataOf, Key: key}
	d.resolver = &vpcdns.Resolver{Directory: d.dnsViewOf, Upstreams: d.cfg.DNSUpstreams, ForwardTimeout: forwardTimeout, Log: d.log}
	if netns := d.cfg.DNSUpstreamNetns; netns != "" {
		d.resolver.Dial = func(network, address string, timeout time.Duration) (c net.Conn, err error) {
			err = vnet.InNetns(netns, func() error {
				c, err = vpcdns.DialHere(network, address, timeout)
				return err
			})
			return c, err
		}
	}
	return nil
}

// serveServices opens the services' sockets and answers on them until ctx is done.
func (d *Daemon) serveServices(ctx context.Context) error {
	dnsAddr := net.JoinHostPort(vnet.DNSAddr.String(), "53")
	udp, err := d.services.ListenPacket("udp4", dnsAddr)
	if err != nil {
		return fmt.Errorf("the VPC resolver: %w", err)
	}
	tcp, err := d.services.Listen("tcp4", dnsAddr)
	if err != nil {
		udp.Close()
		return fmt.Errorf("the VPC resolver: %w", err)
	}
	imds, err := d.services.Listen("tcp4", net.JoinHostPort(vnet.MetadataAddr.String(), "80"))
	if err != nil {
		udp.Close()
		tcp.Close()
		return fmt.Errorf("the metadata service: %w", err)
	}
	go d.resolver.Serve(ctx, udp, tcp)
	srv := d.imds.HTTPServer()
	go func() {
		if err := srv.Serve(metadata.LimitPerAsker(imds, metadata.MaxConnsPerAsker)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("the metadata service stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// askerLocked is the interface (and its VPC) whose tag asker is.
func (d *Daemon) askerLocked(asker netip.Addr) (*state.ENI, *state.VPC, bool) {
	number, ip, err := d.dp.Asker(asker)
	if err != nil {
		return nil, nil, false
	}
	for _, e := range d.enis {
		if v := d.vpcs[e.VpcID]; v != nil && v.Number == number && e.IP == ip.String() {
			return e, v, true
		}
	}
	return nil, nil, false
}

// dnsViewOf is what the resolver knows for a query from asker: its VPC's switches and
// interfaces.
func (d *Daemon) dnsViewOf(asker netip.Addr) (vpcdns.View, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, v, ok := d.askerLocked(asker)
	if !ok {
		return vpcdns.View{}, false
	}
	view := vpcdns.View{EnableDnsSupport: v.EnableDnsSupport, EnableDnsHostnames: v.EnableDnsHostnames, CIDR: netip.MustParsePrefix(v.CIDR)}
	for _, e := range d.enis {
		if e.VpcID == v.ID {
			view.Hosts = append(view.Hosts, vpcdns.Host{InstanceID: e.InstanceID, IP: netip.MustParseAddr(e.IP)})
		}
	}
	return view, true
}

// metadataOf is what the metadata service tells the instance whose interface asker is.
func (d *Daemon) metadataOf(asker netip.Addr) (metadata.Instance, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, v, ok := d.askerLocked(asker)
	if !ok {
		return metadata.Instance{}, false
	}
	in := d.instances[e.InstanceID]
	if in == nil {
		return metadata.Instance{}, false
	}
	opts := metadataOptions(in.rec.MetadataOptions)
	ip := netip.MustParseAddr(e.IP)
	out := metadata.Instance{
		ID: in.rec.ID, AMI: metadataAMI, Type: instanceType, Region: vpcdns.Region, AvailabilityZone: vpcdns.Region + "a",
		Hostname: vpcdns.PrivateName(ip), IP: ip, MAC: e.MAC, InterfaceID: e.ID, SubnetID: e.SubnetID, VpcID: e.VpcID,
		VpcCIDR: v.CIDR, UserData: in.rec.UserData, Enabled: opts.HttpEndpoint == endpointEnabled,
		Tokens: opts.HttpTokens, HopLimit: opts.HttpPutResponseHopLimit,
	}
	if s := d.subnets[e.SubnetID]; s != nil {
		out.SubnetCIDR = s.CIDR
	}
	for _, g := range e.Groups {
		out.GroupIDs = append(out.GroupIDs, g)
		if sg := d.groups[g]; sg != nil {
			out.GroupNames = append(out.GroupNames, sg.Name)
		}
	}
	return out, true
}

// The metadata service's switch, as EC2's HttpEndpoint.
const (
	endpointEnabled  = "enabled"
	endpointDisabled = "disabled"
)

// metadataOptions are o with EC2's defaults for new instances where o says nothing.
func metadataOptions(o api.InstanceMetadataOptions) api.InstanceMetadataOptions {
	if o.HttpTokens == "" {
		o.HttpTokens = metadata.TokensRequired
	}
	if o.HttpPutResponseHopLimit == 0 {
		o.HttpPutResponseHopLimit = 1
	}
	if o.HttpEndpoint == "" {
		o.HttpEndpoint = endpointEnabled
	}
	return o
}

// validateMetadata checks an instance's metadata settings and user data.
func validateMetadata(req *api.RunInstanceRequest) error {
	if len(req.UserData) > metadata.MaxUserData {
		return api.Errorf(api.CodeInvalidParameterValue, "user data is %d bytes; it is limited to %d bytes", len(req.UserData), metadata.MaxUserData)
	}
	if req.MetadataOptions == nil {
		return nil
	}
	o := req.MetadataOptions
	if o.HttpTokens != "" && o.HttpTokens != metadata.TokensRequired && o.HttpTokens != metadata.TokensOptional {
		return api.Errorf(api.CodeInvalidParameterValue, "--metadata-tokens takes required or optional, not %q", o.HttpTokens)
	}
	if o.HttpPutResponseHopLimit < 0 || o.HttpPutResponseHopLimit > metadata.MaxHopLimit {
		return api.Errorf(api.CodeInvalidParameterValue, "--metadata-hop-limit %d: give 1 to %d", o.HttpPutResponseHopLimit, metadata.MaxHopLimit)
	}
	if o.HttpEndpoint != "" && o.HttpEndpoint != endpointEnabled && o.HttpEndpoint != endpointDisabled {
		return api.Errorf(api.CodeInvalidParameterValue, "the metadata endpoint is enabled or disabled, not %q", o.HttpEndpoint)
	}
	return nil
}
