package main_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

func TestNetworkBadInputChangesNothing(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.5.0.0/16", "10.5.1.0/24")
	in := launchIn(t, d, subnets[0])

	cases := []struct {
		name string
		args []string
		code string
	}{
		{"vpc without a CIDR", []string{"vpc", "create"}, "MissingParameter"},
		{"vpc CIDR not canonical", []string{"vpc", "create", "--cidr", "10.0.0.5/16"}, "InvalidParameterValue"},
		{"vpc CIDR not IPv4", []string{"vpc", "create", "--cidr", "fd00::/48"}, "InvalidParameterValue"},
		{"vpc CIDR garbage", []string{"vpc", "create", "--cidr", "ten.0.0.0/16"}, "InvalidParameterValue"},
		{"vpc too large", []string{"vpc", "create", "--cidr", "10.0.0.0/8"}, "InvalidVpc.Range"},
		{"vpc too small", []string{"vpc", "create", "--cidr", "10.0.0.0/29"}, "InvalidVpc.Range"},
		{"subnet of an unknown vpc", []string{"subnet", "create", "--vpc", "vpc-0123456789abcdef0", "--cidr", "10.5.2.0/24"}, "InvalidVpcID.NotFound"},
		{"subnet of a malformed vpc id", []string{"subnet", "create", "--vpc", "net-1", "--cidr", "10.5.2.0/24"}, "InvalidVpcID.Malformed"},
		{"subnet outside its vpc", []string{"subnet", "create", "--vpc", vpc, "--cidr", "10.6.0.0/24"}, "InvalidSubnet.Range"},
		{"subnet overlapping another", []string{"subnet", "create", "--vpc", vpc, "--cidr", "10.5.1.128/25"}, "InvalidSubnet.Conflict"},
		{"subnet too small", []string{"subnet", "create", "--vpc", vpc, "--cidr", "10.5.2.0/29"}, "InvalidSubnet.Range"},
		{"delete a vpc with a subnet", []string{"vpc", "delete", vpc}, "DependencyViolation"},
		{"delete a subnet with an instance", []string{"subnet", "delete", subnets[0]}, "DependencyViolation"},
		{"delete an unknown subnet", []string{"subnet", "delete", "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound"},
		{"describe an unknown vpc", []string{"vpc", "describe", "vpc-0123456789abcdef0"}, "InvalidVpcID.NotFound"},
		{"run in an unknown subnet", []string{"instance", "run", "--subnet", "subnet-0123456789abcdef0", "--", "true"}, "InvalidSubnetID.NotFound"},
		{"run with an address in use", []string{"instance", "run", "--subnet", subnets[0], "--private-ip", in.ip, "--", "true"}, "InvalidIPAddress.InUse"},
		{"run with a reserved address", []string{"instance", "run", "--subnet", subnets[0], "--private-ip", "10.5.1.1", "--", "true"}, "InvalidParameterValue"},
		{"run with the broadcast address", []string{"instance", "run", "--subnet", subnets[0], "--private-ip", "10.5.1.255", "--", "true"}, "InvalidParameterValue"},
		{"run with an address outside the subnet", []string{"instance", "run", "--subnet", subnets[0], "--private-ip", "10.5.2.9", "--", "true"}, "InvalidParameterValue"},
		{"run with an address that is not one", []string{"instance", "run", "--subnet", subnets[0], "--private-ip", "10.5.1.x", "--", "true"}, "InvalidParameterValue"},
		{"private ip without a subnet", []string{"instance", "run", "--private-ip", "10.5.1.9", "--", "true"}, "InvalidParameterValue"},
		{"run a missing command with a subnet", []string{"instance", "run", "--subnet", subnets[0], "--", "/no/such"}, "InvalidParameterValue"},
		{"modify with a bad value", []string{"instance", "modify", in.id, "--source-dest-check=maybe"}, "InvalidParameterValue"},
		{"modify nothing", []string{"instance", "modify", in.id}, "MissingParameter"},
		{"modify an unknown instance", []string{"instance", "modify", "i-0123456789abcdef0", "--source-dest-check=false"}, "InvalidInstanceID.NotFound"},
	}
	before := networkSnapshot(t, d)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, status := d.Run(c.args...)
			assert.Equal(t, 1, status, "stderr: %s", errOut)
			assert.Empty(t, out)
			code, _ := hostdtest.ErrorOf(t, strings.TrimSpace(errOut))
			assert.Equal(t, c.code, code)
			assert.Equal(t, before, networkSnapshot(t, d), "the failed command changed something")
		})
	}
}

// networkSnapshot is the network state a failed command must leave as it was.
func networkSnapshot(t *testing.T, d *hostdtest.Daemon) string {
	var parts []string
	for _, r := range []string{"vpc", "subnet", "instance"} {
		out, _, code := d.Run(r, "describe")
		require.Equal(t, 0, code)
		parts = append(parts, out)
	}
	links, _, _ := runIP(t, "netns", "exec", "hostd-"+d.Fabric, "ip", "-o", "link", "show", "type", "veth")
	return strings.Join(parts, "") + snapshot(t, d) + links
}

// An exhausted subnet refuses the next launch with no half-made instance; terminating frees an
// address for the next one, and deleting works once the subnet and VPC are empty.
func TestAddressExhaustionAndRelease(t *testing.T) {
	d := hostdtest.Start(t)
	vpc, subnets := createVpc(t, d, "10.6.0.0/16", "10.6.0.0/28") // 11 usable addresses
	var ids []string
	for range 11 {
		ids = append(ids, launchIn(t, d, subnets[0]).id)
	}
	var s api.DescribeSubnetsResponse
	d.JSON(&s, "subnet", "describe", subnets[0])
	assert.Equal(t, 0, s.Subnets[0].AvailableIpAddressCount)
	before := networkSnapshot(t, d)
	_, errOut, status := d.Run("instance", "run", "--subnet", subnets[0], "--", "sleep", "1")
	assert.Equal(t, 1, status)
	code, _ := hostdtest.ErrorOf(t, errOut)
	assert.Equal(t, "InsufficientAddressCapacity", code)
	assert.Equal(t, before, networkSnapshot(t, d))

	// A stopped instance keeps its address, as in EC2; a terminated one gives it back.
	d.Exec(ids[0], "sh", "-c", "kill -KILL $(pgrep -x sleep)")
	waitState(t, d, ids[0], "stopped")
	d.JSON(&s, "subnet", "describe", subnets[0])
	assert.Equal(t, 0, s.Subnets[0].AvailableIpAddressCount)
	d.JSON(&api.TerminateInstancesResponse{}, append([]string{"instance", "terminate"}, ids...)...)
	d.JSON(&s, "subnet", "describe", subnets[0])
	assert.Equal(t, 11, s.Subnets[0].AvailableIpAddressCount)
	d.JSON(&api.ReturnResponse{}, "subnet", "delete", subnets[0])
	d.JSON(&api.ReturnResponse{}, "vpc", "delete", vpc)
	var v api.DescribeVpcsResponse
	d.JSON(&v, "vpc", "describe")
	assert.Empty(t, v.Vpcs)
}
