package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/bpf"
	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/vnet"
)

// Every firewall change either takes effect everywhere and is recorded, or is refused with an
// error and leaves the records and the datapath as they were. The datapath is made to fail the
// 1st, 2nd, ... map update of each change until the change goes through; after each refusal the
// records (describe) and the verdicts of the datapath's program on packets between the instances
// must be what they were before.
func TestFailedDatapathUpdatesChangeNothing(t *testing.T) {
	hostdtest.RequireRoot(t)
	dir, err := os.MkdirTemp("/var/tmp", "hostd-atomic-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755)) // instances' inits, unprivileged, run from below it
	cfg := Config{
		StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "hostd.sock"), Fabric: fmt.Sprintf("atom%d", os.Getpid()),
		InitPath: hostdtest.Binary(t), Log: slog.New(slog.DiscardHandler), RAMPoolBytes: 16 << 20, DiskSize: 16 << 20,
	}
	d, err := Open(cfg)
	require.NoError(t, err)
	var launched []string
	t.Cleanup(func() {
		// Terminated by this daemon: another in this process would race with its watchers.
		if len(launched) > 0 {
			_, err := d.TerminateInstances(api.Operator, launched)
			assert.NoError(t, err)
		}
		d.Close()
		assert.NoError(t, Teardown(cfg))
		os.RemoveAll(dir)
	})

	vpc, err := d.CreateVpc(api.Operator, api.CreateVpcRequest{CidrBlock: "10.40.0.0/16"})
	require.NoError(t, err)
	var subnets []string
	for _, cidr := range []string{"10.40.1.0/24", "10.40.2.0/24"} {
		s, err := d.CreateSubnet(api.Operator, api.CreateSubnetRequest{VpcId: vpc.VpcId, CidrBlock: cidr})
		require.NoError(t, err)
		subnets = append(subnets, s.SubnetId)
	}
	group := func(name string) string {
		g, err := d.CreateSecurityGroup(api.Operator, api.CreateSecurityGroupRequest{VpcId: vpc.VpcId, GroupName: name})
		require.NoError(t, err)
		return g.GroupId
	}
	web, db := group("web"), group("db")
	tcp := func(group string, port int, peer string) api.SecurityGroupRulesRequest {
		return api.SecurityGroupRulesRequest{GroupId: group, IpPermissions: []firewall.IpPermission{{
			IpProtocol: "tcp", FromPort: &port, ToPort: &port, UserIdGroupPairs: []firewall.UserIdGroupPair{{GroupId: peer}},
		}}}
	}
	_, err = d.AuthorizeSecurityGroup(api.Operator, tcp(db, 5432, web))
	require.NoError(t, err)
	none := int64(0)
	launch := func(subnet string, groups ...string) string {
		out, err := d.RunInstance(api.Operator, api.RunInstanceRequest{Command: []string{"sleep", "1000"}, SubnetId: subnet, SecurityGroupIds: groups, RamBytes: &none})
		require.NoError(t, err)
		launched = append(launched, out.InstanceId)
		return out.InstanceId
	}
	w1, w2, db1 := launch(subnets[0], web), launch(subnets[0], web), launch(subnets[1], db)
	acl, err := d.CreateNetworkAcl(api.Operator, api.CreateNetworkAclRequest{VpcId: vpc.VpcId})
	require.NoError(t, err)
	entry := func(n int, egress bool, action string, port int) api.NetworkAclEntryRequest {
		e := api.NetworkAclEntry{RuleNumber: n, Protocol: "tcp", RuleAction: action, Egress: egress, CidrBlock: "0.0.0.0/0", PortRange: &api.PortRange{From: 0, To: 65535}}
		if port > 0 {
			e.PortRange = &api.PortRange{From: port, To: port}
		}
		return api.NetworkAclEntryRequest{NetworkAclId: acl.NetworkAclId, NetworkAclEntry: e}
	}
	// Subnet B lets in TCP to 5432 only, and out all TCP.
	for _, e := range []api.NetworkAclEntryRequest{entry(100, false, "allow", 5432), entry(100, true, "allow", 0)} {
		_, err = d.CreateNetworkAclEntry(api.Operator, e)
		require.NoError(t, err)
	}
	_, err = d.AssociateNetworkAcl(api.Operator, api.AssociateNetworkAclRequest{NetworkAclId: acl.NetworkAclId, SubnetId: subnets[1]})
	require.NoError(t, err)
	defaultACL := d.vpcs[vpc.VpcId].DefaultACLID

	probe := newVerdicts(t, cfg.Fabric, d, w1, w2, db1)
	// The rule sets in the maps once those a change replaced are retired.
	settled := func() int {
		var n int
		require.Eventually(t, func() bool {
			before := probe.ruleSets(t)
			time.Sleep(100 * time.Millisecond)
			n = probe.ruleSets(t)
			return n == before
		}, 5*time.Second, time.Millisecond)
		return n
	}
	changes := []struct {
		name     string
		do, undo func() error
	}{
		{"sg authorize", func() error { _, err := d.AuthorizeSecurityGroup(api.Operator, tcp(web, 6000, web)); return err },
			func() error { _, err := d.RevokeSecurityGroup(api.Operator, tcp(web, 6000, web)); return err }},
		{"sg revoke", func() error { _, err := d.RevokeSecurityGroup(api.Operator, tcp(db, 5432, web)); return err },
			func() error { _, err := d.AuthorizeSecurityGroup(api.Operator, tcp(db, 5432, web)); return err }},
		{"instance set-groups", func() error {
			_, err := d.SetGroups(api.Operator, w1, api.SetGroupsRequest{Groups: []string{web, db}})
			return err
		},
			func() error {
				_, err := d.SetGroups(api.Operator, w1, api.SetGroupsRequest{Groups: []string{web}})
				return err
			}},
		{"nacl entry", func() error {
			_, err := d.CreateNetworkAclEntry(api.Operator, entry(50, false, "deny", 5432))
			return err
		},
			func() error { _, err := d.DeleteNetworkAclEntry(api.Operator, entry(50, false, "", 0)); return err }},
		{"nacl delete-entry", func() error { _, err := d.DeleteNetworkAclEntry(api.Operator, entry(100, true, "", 0)); return err },
			func() error {
				_, err := d.CreateNetworkAclEntry(api.Operator, entry(100, true, "allow", 0))
				return err
			}},
		{"nacl associate", func() error {
			_, err := d.AssociateNetworkAcl(api.Operator, api.AssociateNetworkAclRequest{NetworkAclId: defaultACL, SubnetId: subnets[1]})
			return err
		}, func() error {
			_, err := d.AssociateNetworkAcl(api.Operator, api.AssociateNetworkAclRequest{NetworkAclId: acl.NetworkAclId, SubnetId: subnets[1]})
			return err
		}},
		{"instance modify --source-dest-check", func() error { return d.setSourceDestCheck(w1, false) },
			func() error { return d.setSourceDestCheck(w1, true) }},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			before, enforced, sets := records(t, d), probe.all(t), settled()
			refusals := 0
			for n := 1; ; n++ {
				d.dp.FailMapUpdate(n)
				err := c.do()
				d.dp.FailMapUpdate(0)
				if err == nil {
					break
				}
				refusals++
				require.ErrorContains(t, err, "failed on purpose", "refused at map update %d for another reason", n)
				require.Equal(t, before, records(t, d), "the records changed though update %d failed", n)
				require.Equal(t, enforced, probe.all(t), "enforcement changed though update %d failed", n)
				require.Equal(t, sets, probe.ruleSets(t), "rule sets were left behind by the refusal at update %d", n)
			}
			assert.Positive(t, refusals, "the change makes no map update")
			assert.NotEqual(t, enforced, probe.all(t), "the change took no effect")
			require.NoError(t, c.undo())
			assert.Equal(t, enforced, probe.all(t), "undoing the change")
			t.Logf("refused at each of map updates 1 to %d, then made", refusals)
		})
	}
}

func (d *Daemon) setSourceDestCheck(id string, on bool) error {
	_, err := d.ModifyInstance(api.Operator, id, api.ModifyInstanceRequest{SourceDestCheck: &on})
	return err
}

// records is what describe shows of the firewall and the interfaces, drop counters aside.
func records(t *testing.T, d *Daemon) string {
	groups, err := d.DescribeSecurityGroups(api.Operator, nil)
	require.NoError(t, err)
	acls, err := d.DescribeNetworkAcls(api.Operator, nil)
	require.NoError(t, err)
	instances, err := d.DescribeInstances(api.Operator, nil)
	require.NoError(t, err)
	for i := range instances.Instances {
		for j := range instances.Instances[i].NetworkInterfaces {
			instances.Instances[i].NetworkInterfaces[j].DropCounters = nil
		}
	}
	data, err := json.Marshal([]any{groups, acls, instances})
	require.NoError(t, err)
	return string(data)
}

// verdicts runs the daemon's pinned from_guest on TCP ACKs (which no flow tracks: the rules judge
// each afresh) between every two instances, to several ports, and from a forged source address.
type verdicts struct {
	dp        *vnet.Datapath
	prog      *ebpf.Program
	ifaces    *ebpf.Map
	rulePorts *ebpf.Map
	ends      []end
}

type end struct {
	ifindex uint32
	mac     net.HardwareAddr
	ip      net.IP
}

func newVerdicts(t *testing.T, fabric string, d *Daemon, ids ...string) *verdicts {
	v := &verdicts{dp: d.dp}
	var err error
	v.prog, err = ebpf.LoadPinnedProgram(filepath.Join(vnet.PinDir(fabric), bpf.DatapathProgFromGuest), nil)
	require.NoError(t, err)
	v.ifaces, err = ebpf.LoadPinnedMap(filepath.Join(vnet.PinDir(fabric), "ifaces"), nil)
	require.NoError(t, err)
	v.rulePorts, err = ebpf.LoadPinnedMap(filepath.Join(vnet.PinDir(fabric), "rule_ports"), nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = v.ifaces.Delete(uint32(1))
		v.prog.Close()
		v.ifaces.Close()
		v.rulePorts.Close()
	})
	out, err := d.DescribeInstances(api.Operator, ids)
	require.NoError(t, err)
	for _, in := range out.Instances {
		ni := in.NetworkInterfaces[0]
		mac, err := net.ParseMAC(ni.MacAddress)
		require.NoError(t, err)
		e := end{mac: mac, ip: net.ParseIP(ni.PrivateIpAddress).To4()}
		e.ifindex = uint32(d.dp.IfindexOf(e.ip, d.vpcs[ni.VpcId].Number))
		require.NotZero(t, e.ifindex)
		v.ends = append(v.ends, e)
	}
	return v
}

// all returns the verdict of every probe, in order: the program's, and the drop reason counted.
func (v *verdicts) all(t *testing.T) []string {
	var out []string
	for _, src := range v.ends {
		// Under BPF_PROG_TEST_RUN every frame comes in on loopback: the sender's entry is copied.
		var entry bpf.DatapathIface
		require.NoError(t, v.ifaces.Lookup(src.ifindex, &entry))
		require.NoError(t, v.ifaces.Put(uint32(1), entry))
		for _, dst := range v.ends {
			if dst.ifindex == src.ifindex {
				continue
			}
			for _, port := range []uint16{22, 5432, 6000} {
				out = append(out, v.run(t, src, src.ip, dst.ip, port, dst))
			}
			out = append(out, v.run(t, src, net.IPv4(10, 40, 9, 9).To4(), dst.ip, 5432, dst))
		}
	}
	return out
}

func (v *verdicts) run(t *testing.T, src end, from, to net.IP, port uint16, dst end) string {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from, DstIP: to}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), ACK: true, Window: 1000}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: src.mac, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}, ip, tcp))
	drops := func() map[string]uint64 {
		sum := v.dp.Drops(1)
		for reason, n := range v.dp.Drops(int(dst.ifindex)) {
			sum[reason] += n
		}
		return sum
	}
	before := drops()
	ret, err := v.prog.Run(&ebpf.RunOptions{Data: buf.Bytes(), DataOut: make([]byte, len(buf.Bytes())+256)})
	require.NoError(t, err)
	verdict := fmt.Sprint(ret)
	for reason, n := range drops() {
		if n != before[reason] {
			verdict += " " + reason
		}
	}
	return verdict
}

// ruleSets counts the rule sets in the datapath's verdict map.
func (v *verdicts) ruleSets(t *testing.T) int {
	sets := map[uint32]bool{}
	var key bpf.DatapathRulePortKey
	var row bpf.DatapathRulePortBits
	for it := v.rulePorts.Iterate(); it.Next(&key, &row); {
		sets[key.Set&uint32(bpf.DatapathRuleSetBitsSET_NUMBER)] = true
	}
	return len(sets)
}
