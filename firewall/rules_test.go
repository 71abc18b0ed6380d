package firewall

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseIpPermissions(t *testing.T) {
	// What `aws ec2 describe-security-groups` prints imports as it is.
	rules, err := parse([]byte(`[
		{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/16","Description":"ssh"}],"UserIdGroupPairs":[{"GroupId":"sg-0123456789abcdef0"}]},
		{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"0.0.0.0/0"}]},
		{"IpProtocol":"-1","IpRanges":[{"CidrIp":"192.168.0.0/24"}],"Ipv6Ranges":[{"CidrIpv6":"fd00::/64"}]},
		{"IpProtocol":"47","IpRanges":[{"CidrIp":"10.1.0.0/16"}]}
	]`))
	require.NoError(t, err)
	require.Len(t, rules, 6)
	assert.Equal(t, Rule{Protocol: TCP, From: 22, To: 22, CIDR: netip.MustParsePrefix("10.0.0.0/16"), Description: "ssh"}, rules[0])
	assert.Equal(t, "sg-0123456789abcdef0", rules[1].Group)
	assert.Equal(t, Rule{Protocol: ICMP, From: 8, To: -1, CIDR: netip.MustParsePrefix("0.0.0.0/0")}, rules[2])
	assert.Equal(t, AllProtocols, rules[3].Protocol)
	assert.Equal(t, 47, rules[5].Protocol)

	// Back to EC2's JSON and in again: the same rules.
	var perms []IpPermission
	for _, r := range rules {
		perms = append(perms, r.IpPermission())
	}
	data, err := json.Marshal(perms)
	require.NoError(t, err)
	again, err := parse(data)
	require.NoError(t, err)
	assert.Equal(t, rules, again)
}

func TestParseIpPermissionsRefuses(t *testing.T) {
	for in, code := range map[string]string{
		`not json`: "InvalidPermission.Malformed",
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.5/16"}]}]`:   "InvalidParameterValue",
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/33"}]}]`:   "InvalidParameterValue",
		`[{"IpProtocol":"tcp","FromPort":80,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:   "InvalidParameterValue",
		`[{"IpProtocol":"tcp","FromPort":0,"ToPort":70000,"IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`: "InvalidParameterValue",
		`[{"IpProtocol":"udp","IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:                             "InvalidParameterValue",
		`[{"IpProtocol":"icmp","FromPort":-1,"ToPort":3,"IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:   "InvalidParameterValue",
		`[{"IpProtocol":"icmp","FromPort":256,"ToPort":0,"IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:  "InvalidParameterValue",
		`[{"IpProtocol":"gre","IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:                             "InvalidParameterValue",
		`[{"IpProtocol":"256","IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`:                             "InvalidParameterValue",
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22}]`:                                         "MissingParameter",
		`[]`: "MissingParameter",
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"UserIdGroupPairs":[{"GroupId":"group-1"}]}]`: "InvalidGroupId.Malformed",
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"Colour":"red"}]`:                             "InvalidPermission.Malformed",
	} {
		_, err := parse([]byte(in))
		var fe *Error
		require.True(t, errors.As(err, &fe), "%s: %v", in, err)
		assert.Equal(t, code, fe.Code, in)
	}
}

// FuzzParseIpPermissions: whatever comes in, the parser fails with an EC2 code or returns rules
// that survive a round trip through EC2's JSON.
func FuzzParseIpPermissions(f *testing.F) {
	for _, s := range []string{
		`[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0.0/16"}]}]`,
		`[{"IpProtocol":"icmp","FromPort":8,"ToPort":0,"UserIdGroupPairs":[{"GroupId":"sg-1"}]}]`,
		`[{"IpProtocol":"-1","Ipv6Ranges":[{"CidrIpv6":"::/0"}]}]`, `[]`, `{}`, `[{"IpProtocol":"17"}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rules, err := parse([]byte(in))
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Code == "" {
				t.Fatalf("%q: an error without an EC2 code: %v", in, err)
			}
			return
		}
		var perms []IpPermission
		for _, r := range rules {
			perms = append(perms, r.IpPermission())
		}
		data, _ := json.Marshal(perms)
		again, err := parse(data)
		if err != nil || len(again) != len(rules) {
			t.Fatalf("%q: rules %v do not survive a round trip: %v", in, rules, err)
		}
	})
}

// parse is what a rule given as JSON goes through: decoding, then validation.
func parse(data []byte) ([]Rule, error) {
	perms, err := DecodeIpPermissions(data)
	if err != nil {
		return nil, err
	}
	return RulesOf(perms)
}
