package ec2api

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2query"
)

// The Authorizer is asked about the resources a request names, by EC2's ARN types.
func TestResourcesOf(t *testing.T) {
	for _, c := range []struct {
		req  any
		want []ec2query.Resource
	}{
		{&ec2query.DeleteVpcRequest{VpcId: "vpc-1"}, []ec2query.Resource{{Type: "vpc", ID: "vpc-1"}}},
		{&ec2query.RunInstancesRequest{ImageId: "ami-1", SubnetId: "subnet-1", SecurityGroupIds: []string{"sg-1", "sg-2"}},
			[]ec2query.Resource{{Type: "image", ID: "ami-1"}, {Type: "security-group", ID: "sg-1"}, {Type: "security-group", ID: "sg-2"}, {Type: "subnet", ID: "subnet-1"}}},
		{&ec2query.CreateTagsRequest{Resources: []string{"i-1", "vol-1", "x-1"}}, []ec2query.Resource{{Type: "instance", ID: "i-1"}, {Type: "volume", ID: "vol-1"}}},
		{&ec2query.DescribeVpcsRequest{}, nil},
	} {
		got := resourcesOf(reflect.ValueOf(c.req).Elem())
		require.ElementsMatch(t, c.want, got, "%T", c.req)
	}
}
