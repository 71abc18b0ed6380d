package ec2query

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

func decodeForm(t *testing.T, form string, v any) error {
	t.Helper()
	values, err := url.ParseQuery(form)
	require.NoError(t, err)
	return Decode(values, v)
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, api.AsError(err).Code, "%v", err)
}

func TestDecodeRunInstances(t *testing.T) {
	var req RunInstancesRequest
	err := decodeForm(t, "ImageId=ami-1&MinCount=1&MaxCount=2&InstanceType=t3.micro&SubnetId=subnet-1"+
		"&SecurityGroupId.1=sg-1&SecurityGroupId.2=sg-2&PrivateIpAddress=10.0.1.10&UserData=IyEvYmluL3NoCg%3D%3D"+
		"&ClientToken=tok&DryRun=true&Monitoring.Enabled=false&Placement.AvailabilityZone=us-east-1a"+
		"&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web"+
		"&NetworkInterface.1.DeviceIndex=0&NetworkInterface.1.SecurityGroupId.1=sg-3", &req)
	require.NoError(t, err)
	require.Equal(t, "ami-1", req.ImageId)
	require.Equal(t, 1, req.MinCount)
	require.Equal(t, 2, req.MaxCount)
	require.Equal(t, []string{"sg-1", "sg-2"}, req.SecurityGroupIds)
	require.True(t, req.DryRun)
	require.False(t, req.Monitoring.Enabled)
	require.Equal(t, []TagSpecification{{ResourceType: "instance", Tags: []Tag{{Key: "Name", Value: "web"}}}}, req.TagSpecifications)
	require.Equal(t, []string{"sg-3"}, req.NetworkInterfaces[0].Groups)
	require.Equal(t, 0, *req.NetworkInterfaces[0].DeviceIndex)
	ud, err := req.DecodedUserData()
	require.NoError(t, err)
	require.Equal(t, "#!/bin/sh\n", string(ud))
	req.UserData = "#!/bin/sh"
	_, err = req.DecodedUserData()
	requireCode(t, err, api.CodeInvalidParameterValue)
}

func TestDecodeIpPermissionsAndFilters(t *testing.T) {
	var req AuthorizeSecurityGroupIngressRequest
	require.NoError(t, decodeForm(t, "GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=5432&IpPermissions.1.ToPort=5432"+
		"&IpPermissions.1.Groups.1.GroupId=sg-2&IpPermissions.2.IpProtocol=-1&IpPermissions.2.IpRanges.1.CidrIp=10.0.0.0/16"+
		"&IpPermissions.2.IpRanges.1.Description=all", &req))
	require.Len(t, req.IpPermissions, 2)
	require.Equal(t, 5432, *req.IpPermissions[0].FromPort)
	require.Equal(t, "sg-2", req.IpPermissions[0].UserIdGroupPairs[0].GroupId)
	require.Nil(t, req.IpPermissions[1].FromPort, "an absent port stays absent")
	require.Equal(t, IpRange{CidrIp: "10.0.0.0/16", Description: "all"}, req.IpPermissions[1].IpRanges[0])

	// Indices need not be dense: the list keeps their order.
	var d DescribeInstancesRequest
	require.NoError(t, decodeForm(t, "Filter.3.Name=b&Filter.3.Value.1=y&Filter.1.Name=a&Filter.1.Value.2=x2&Filter.1.Value.1=x1&MaxResults=10", &d))
	require.Equal(t, []Filter{{Name: "a", Values: []string{"x1", "x2"}}, {Name: "b", Values: []string{"y"}}}, d.Filters)
	require.Equal(t, 10, *d.MaxResults)
}

func TestDecodeTypes(t *testing.T) {
	var acl CreateNetworkAclRequest
	require.NoError(t, decodeForm(t, "VpcId=vpc-1&ClientToken=tok", &acl))
	require.Equal(t, CreateNetworkAclRequest{VpcId: "vpc-1", ClientToken: "tok"}, acl)

	var m ModifyInstanceAttributeRequest
	require.NoError(t, decodeForm(t, "InstanceId=i-1&SourceDestCheck.Value=FALSE&UserData.Value=aGk%3D", &m))
	require.False(t, *m.SourceDestCheck.Value)
	require.Equal(t, "hi", string(m.UserData.Value))

	type withTime struct {
		When time.Time
	}
	var w withTime
	require.NoError(t, decodeForm(t, "When=2016-11-15T10:00:00.5Z", &w))
	require.Equal(t, time.Date(2016, 11, 15, 10, 0, 0, 5e8, time.UTC), w.When)
}

func TestDecodeRefusals(t *testing.T) {
	for _, c := range []struct {
		form, code string
		v          any
	}{
		{"VpcId=vpc-1&Bogus=1", CodeUnknownParameter, &DeleteVpcRequest{}},
		{"VpcId=vpc-1&VpcId.1=x", CodeUnknownParameter, &DeleteVpcRequest{}},          // a scalar with members
		{"VpcId=vpc-1&DryRun.x=1", CodeUnknownParameter, &DeleteVpcRequest{}},         // the same, nested
		{"Filter=x", CodeUnknownParameter, &DescribeVpcsRequest{}},                    // a list given as a value
		{"Filter.0.Name=x", CodeUnknownParameter, &DescribeVpcsRequest{}},             // lists count from 1
		{"Filter.01.Name=x", CodeUnknownParameter, &DescribeVpcsRequest{}},            // one spelling per index
		{"Filter.a.Name=x", CodeUnknownParameter, &DescribeVpcsRequest{}},             //
		{"Filter.1001.Name=x", api.CodeInvalidParameterValue, &DescribeVpcsRequest{}}, // beyond MaxListIndex
		{"Filter.1.Bogus=x", CodeUnknownParameter, &DescribeVpcsRequest{}},            //
		{"VpcId..x=1", CodeUnknownParameter, &DeleteVpcRequest{}},                     // empty segment
		{"DryRun=true", api.CodeMissingParameter, &DeleteVpcRequest{}},                // VpcId is required
		{"VpcId=v&DryRun=yes", api.CodeInvalidParameterValue, &DeleteVpcRequest{}},    //
		{"ImageId=a&MinCount=x&MaxCount=1", api.CodeInvalidParameterValue, &RunInstancesRequest{}},
		{"ImageId=a&MinCount=99999999999999999999&MaxCount=1", api.CodeInvalidParameterValue, &RunInstancesRequest{}},
		{"ImageId=a&MinCount=1", api.CodeMissingParameter, &RunInstancesRequest{}},
		{"ImageId=a&MinCount=1&MaxCount=1&KernelId=k", CodeInvalidParameter, &RunInstancesRequest{}}, // in the model, not in hostd
		{"ImageId=a&MinCount=1&MaxCount=1&LaunchTemplate.LaunchTemplateId=x", CodeInvalidParameter, &RunInstancesRequest{}},
		{"ImageId=a&MinCount=1&MaxCount=1&Placement.GroupName=x", CodeInvalidParameter, &RunInstancesRequest{}},
		{"NetworkAclId=a&RuleNumber=1", api.CodeMissingParameter, &DeleteNetworkAclEntryRequest{}},
		{"InstanceId=i&UserData.Value=%%%", api.CodeInvalidParameterValue, &ModifyInstanceAttributeRequest{}},
		{"Resources.1=x&Tag.1.Key=k", CodeUnknownParameter, &CreateTagsRequest{}}, // the wire name is ResourceId
		{"ResourceId.1=x&Tag.1.Key=k&Tag.1.Key.2=j", CodeUnknownParameter, &CreateTagsRequest{}},
	} {
		err := decodeForm(t, strings.ReplaceAll(c.form, "%%%", "%25%25"), c.v)
		requireCode(t, err, c.code)
		t.Logf("%-60s %v", c.form, err)
	}
	// The same key twice.
	requireCode(t, Decode(url.Values{"VpcId": {"a", "b"}}, &DeleteVpcRequest{}), api.CodeInvalidParameterValue)
	// A key too long, and too many keys.
	requireCode(t, Decode(url.Values{strings.Repeat("A", MaxKeyLength+1): {"x"}}, &DeleteVpcRequest{}), CodeUnknownParameter)
	many := url.Values{}
	for i := range MaxParameters + 1 {
		many.Set(fmt.Sprintf("Filter.%d.Name", i%MaxListIndex+1)+strings.Repeat("x", i/MaxListIndex), "v")
	}
	requireCode(t, Decode(many, &DescribeVpcsRequest{}), api.CodeInvalidParameterValue)
}

// FuzzDecode: no form makes the decoder panic or answer anything but an EC2 error with a
// message, and whatever it accepts can be written out.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"ImageId=ami-1&MinCount=1&MaxCount=1&SecurityGroupId.1=sg-1&TagSpecification.1.Tag.1.Key=k",
		"IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8&IpPermissions.1.FromPort=1&GroupId=sg-1",
		"Filter.1.Name=tag:Name&Filter.1.Value.1=web*&MaxResults=5&NextToken=abc",
		"InstanceId=i-1&SourceDestCheck.Value=true&UserData.Value=aGk=",
		"Filter.999.Value.1000=x", "a..b=1", "Filter.1=x&Filter.1.Name=y",
	} {
		f.Add(s)
	}
	types := []func() any{
		func() any { return &RunInstancesRequest{} },
		func() any { return &AuthorizeSecurityGroupIngressRequest{} },
		func() any { return &DescribeInstancesRequest{} },
		func() any { return &ModifyInstanceAttributeRequest{} },
		func() any { return &CreateNetworkAclEntryRequest{} },
	}
	f.Fuzz(func(t *testing.T, form string) {
		values, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		for _, newReq := range types {
			req := newReq()
			if err := Decode(values, req); err != nil {
				if e := api.AsError(err); e.Code == api.CodeInternalError || e.Message == "" {
					t.Fatalf("%q: not an EC2 error: %v", form, err)
				}
				continue
			}
			// Whatever was accepted is there to be written out again.
			_ = EncodeResponse("Fuzz", "id", req)
		}
	})
}
