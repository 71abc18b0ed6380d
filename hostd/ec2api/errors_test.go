package ec2api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2api/ec2test"
)

// TestErrorsAsTheClientsSeeThem: each refusal reaches the AWS CLI, boto3 and the Go SDK as its
// EC2 code, and changes nothing.
func TestErrorsAsTheClientsSeeThem(t *testing.T) {
	s := ec2test.Start(t, ec2test.Options{})
	clients := []struct{ admin, reader client }{
		{newGoSDK(s, s.Admin), newGoSDK(s, s.ReadOnly)},
		{newBoto3(t, s, s.Admin), newBoto3(t, s, s.ReadOnly)},
		{newAWSCLI(t, s, s.Admin), newAWSCLI(t, s, s.ReadOnly)},
	}
	setup := &scenario{t: t, s: s, c: clients[0].admin}
	vpc := str(setup.must("CreateVpc", map[string]any{"CidrBlock": "10.1.0.0/16"}), "Vpc", "VpcId")
	subnet := str(setup.must("CreateSubnet", map[string]any{"VpcId": vpc, "CidrBlock": "10.1.1.0/24"}), "Subnet", "SubnetId")
	ami := str(setup.must("DescribeImages", map[string]any{}), "Images", 0, "ImageId")
	vpcIDs := func(c client) []string {
		var ids []string
		for _, v := range list((&scenario{t: t, s: s, c: c}).must("DescribeVpcs", map[string]any{}), "Vpcs") {
			ids = append(ids, str(v, "VpcId"))
		}
		return ids
	}
	before := vpcIDs(setup.c)

	for _, c := range clients {
		sc := &scenario{t: t, s: s, c: c.admin}
		sc.refused("MissingParameter", "CreateVpc", map[string]any{"InstanceTenancy": "default"})
		sc.refused("InvalidVpcID.Malformed", "DescribeVpcs", map[string]any{"VpcIds": []any{"vpc-nothex"}})
		sc.refused("InvalidVpcID.NotFound", "DeleteVpc", map[string]any{"VpcId": "vpc-0123456789abcdef0"})
		sc.refused("DependencyViolation", "DeleteVpc", map[string]any{"VpcId": vpc})
		sc.refused("InvalidAMIID.NotFound", "RunInstances", map[string]any{"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1, "SubnetId": subnet})
		sc.refused("InvalidParameterValue", "RunInstances", map[string]any{"ImageId": ami, "InstanceType": "m9.huge", "MinCount": 1, "MaxCount": 1, "SubnetId": subnet})
		sc.refused("InvalidSubnetID.NotFound", "RunInstances", map[string]any{"ImageId": ami, "MinCount": 1, "MaxCount": 1, "SubnetId": "subnet-0123456789abcdef0"})
		sc.refused("InvalidParameterCombination", "RunInstances", map[string]any{"ImageId": ami, "MinCount": 1, "MaxCount": 2, "SubnetId": subnet, "PrivateIpAddress": "10.1.1.10"})
		sc.refused("InvalidParameterValue", "RunInstances", map[string]any{"ImageId": ami, "MinCount": 1, "MaxCount": 1, "SubnetId": subnet, "UserData": "#!/bin/sh\n" + strings.Repeat("#", 16<<10)})
		sc.refused("DryRunOperation", "CreateVpc", map[string]any{"CidrBlock": "10.2.0.0/16", "DryRun": true})
		(&scenario{t: t, s: s, c: c.reader}).refused("UnauthorizedOperation", "CreateVpc", map[string]any{"CidrBlock": "10.2.0.0/16", "DryRun": true})
		if err := c.admin.raw("DescribeUnicorns"); c.admin.name() != "aws-cli" {
			require.NotNil(t, err, c.admin.name())
			require.Equal(t, "InvalidAction", err.Code, "%s: %s", c.admin.name(), err.Message)
		}
		require.Equal(t, before, vpcIDs(c.admin), "%s: the refusals changed nothing", c.admin.name())
	}
	var native struct{ Vpcs []struct{ VpcId string } }
	s.JSON(&native, "vpc", "describe")
	require.Len(t, native.Vpcs, 1)
	var instances struct{ Instances []any }
	s.JSON(&instances, "instance", "describe")
	require.Empty(t, instances.Instances, "no refused launch left an instance")
	setup.must("DeleteSubnet", map[string]any{"SubnetId": subnet})
	setup.must("DeleteVpc", map[string]any{"VpcId": vpc})
}
