package ec2api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2api/ec2test"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// TestModifySecurityGroupRules: boto3 moves a rule to another port in place; from a real guest
// the new port is answered and the old one refused, and DescribeSecurityGroupRules shows the same
// id with the new rule. Each refused modify, another account's included, leaves the rules and
// their enforcement as they were. The AWS CLI moves the rule back.
func TestModifySecurityGroupRules(t *testing.T) {
	s := ec2test.Start(t, ec2test.Options{})
	sc := &scenario{t: t, s: s, c: newBoto3(t, s, s.Admin)}
	ami := str(sc.must("DescribeImages", map[string]any{}), "Images", 0, "ImageId")
	vpc := str(sc.must("CreateVpc", map[string]any{"CidrBlock": "10.0.0.0/16"}), "Vpc", "VpcId")
	subnet := func(cidr string) string {
		return str(sc.must("CreateSubnet", map[string]any{"VpcId": vpc, "CidrBlock": cidr}), "Subnet", "SubnetId")
	}
	webNet, dbNet := subnet("10.0.1.0/24"), subnet("10.0.2.0/24")
	group := func(name string) string {
		return str(sc.must("CreateSecurityGroup", map[string]any{"VpcId": vpc, "GroupName": name, "Description": name}), "GroupId")
	}
	web, db := group("web"), group("db")
	authorize := func(perm map[string]any) string {
		out := sc.must("AuthorizeSecurityGroupIngress", map[string]any{"GroupId": db, "IpPermissions": []any{perm}})
		return str(out, "SecurityGroupRules", 0, "SecurityGroupRuleId")
	}
	ruleID := authorize(map[string]any{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": []any{map[string]any{"GroupId": web}}})
	authorize(map[string]any{"IpProtocol": "tcp", "FromPort": 6000, "ToPort": 6000, "IpRanges": []any{map[string]any{"CidrIp": "10.0.1.0/24"}}})
	run := func(subnetID, groupID, ip, userData string) string {
		in := map[string]any{"ImageId": ami, "InstanceType": "t3.nano", "MinCount": 1, "MaxCount": 1, "SubnetId": subnetID,
			"SecurityGroupIds": []any{groupID}, "UserData": userData}
		if ip != "" {
			in["PrivateIpAddress"] = ip
		}
		return str(sc.must("RunInstances", in), "Instances", 0, "InstanceId")
	}
	run(dbNet, db, dbIP, dbServer) // serves 5432 and 5433
	webID := run(webNet, web, "", "#!/bin/sh\necho idle\n")
	require.Eventually(t, func() bool { return connects(s, webID, dbIP+":5432") }, hostdtest.Scaled(30*time.Second), 200*time.Millisecond, "web reaches db:5432 under the rule as authorized")
	require.False(t, connects(s, webID, dbIP+":5433"), "db:5433 is served but refused before the modify")

	modify := func(c *scenario, groupID string, updates ...any) (map[string]any, *apiError) {
		return c.c.call("ModifySecurityGroupRules", map[string]any{"GroupId": groupID, "SecurityGroupRules": updates})
	}
	update := func(id string, rule map[string]any) map[string]any {
		return map[string]any{"SecurityGroupRuleId": id, "SecurityGroupRule": rule}
	}
	toWeb := func(port int) map[string]any {
		return map[string]any{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "ReferencedGroupId": web, "Description": "moved"}
	}
	out, err := modify(sc, db, update(ruleID, toWeb(5433)))
	require.Nil(t, err)
	assert.Equal(t, true, out["Return"], "%v", out)
	assert.True(t, connects(s, webID, dbIP+":5433"), "web reaches db:5433, the rule's new port")
	assert.False(t, connects(s, webID, dbIP+":5432"), "web is refused db:5432, the rule's old port")

	rules := func() string {
		out := sc.must("DescribeSecurityGroupRules", map[string]any{"Filters": filters("group-id", db)})
		b, _ := json.Marshal(out["SecurityGroupRules"])
		return string(b)
	}
	rule := sc.must("DescribeSecurityGroupRules", map[string]any{"SecurityGroupRuleIds": []any{ruleID}})
	assert.Equal(t, ruleID, str(rule, "SecurityGroupRules", 0, "SecurityGroupRuleId"), "%v", rule)
	assert.Equal(t, 5433.0, at(rule, "SecurityGroupRules", 0, "FromPort"), "%v", rule)
	assert.Equal(t, 5433.0, at(rule, "SecurityGroupRules", 0, "ToPort"), "%v", rule)
	assert.Equal(t, web, str(rule, "SecurityGroupRules", 0, "ReferencedGroupInfo", "GroupId"), "%v", rule)
	assert.Equal(t, "moved", str(rule, "SecurityGroupRules", 0, "Description"), "%v", rule)
	assert.Equal(t, false, at(rule, "SecurityGroupRules", 0, "IsEgress"), "%v", rule)

	// The refusals: none changes a rule, the valid first update of a refused call included.
	before := rules()
	other, terr := ec2test.NewTenant(s.Core, "other", 1, 64<<20, 1<<30)
	require.NoError(t, terr)
	stranger := &scenario{t: t, s: s, c: newBoto3(t, s, other.Admin)}
	const noGroup, noRule = "sg-0123456789abcdef0", "sgr-0123456789abcdef0"
	for _, c := range []struct {
		code    string
		who     *scenario
		group   string
		updates []any
	}{
		{"InvalidSecurityGroupRuleId.NotFound", sc, db, []any{update(noRule, toWeb(5434))}},
		{"InvalidSecurityGroupRuleId.NotFound", sc, db, []any{update(ruleID, toWeb(5434)), update(noRule, toWeb(5435))}},
		{"InvalidParameterValue", sc, db, []any{update(ruleID, toWeb(5434)), update(ruleID, toWeb(5435))}},
		{"InvalidPermission.Duplicate", sc, db, []any{update(ruleID, map[string]any{"IpProtocol": "tcp", "FromPort": 6000, "ToPort": 6000, "CidrIpv4": "10.0.1.0/24"})}},
		{"InvalidParameterValue", sc, db, []any{update(ruleID, map[string]any{"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "ReferencedGroupId": web})}},
		{"InvalidParameterValue", sc, db, []any{update(ruleID, map[string]any{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8", "ReferencedGroupId": web})}},
		{"InvalidParameter", sc, db, []any{update(ruleID, map[string]any{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "PrefixListId": "pl-0123456789abcdef0"})}},
		// A CIDR peer: the group is all that another account could not name.
		{"InvalidGroup.NotFound", stranger, db, []any{update(ruleID, map[string]any{"IpProtocol": "tcp", "FromPort": 5434, "ToPort": 5434, "CidrIpv4": "10.0.1.0/24"})}},
	} {
		_, err := modify(c.who, c.group, c.updates...)
		require.NotNil(t, err, "%s on %s %v should be refused", c.who.c.name(), c.group, c.updates)
		assert.Equal(t, c.code, err.Code, "%v: %s", c.updates, err.Message)
		if c.who == stranger && c.group == db {
			_, missing := modify(stranger, noGroup, c.updates...)
			assert.Equal(t, strings.ReplaceAll(missing.Message, noGroup, db), err.Message, "another account's group answers as one that does not exist")
		}
	}
	assert.Equal(t, before, rules(), "a refused modify changed the rules")
	assert.True(t, connects(s, webID, dbIP+":5433"), "db:5433 is answered after the refusals")
	assert.False(t, connects(s, webID, dbIP+":5432"), "db:5432 is refused after the refusals")

	// The AWS CLI's modify-security-group-rules, back to 5432.
	cli := &scenario{t: t, s: s, c: newAWSCLI(t, s, s.Admin)}
	_, err = modify(cli, db, update(ruleID, toWeb(5432)))
	require.Nil(t, err)
	assert.True(t, connects(s, webID, dbIP+":5432"), "web reaches db:5432 again")
	assert.False(t, connects(s, webID, dbIP+":5433"), "web is refused db:5433 again")

	// Each call is in the trail under EC2's action name, as it ended.
	var trail struct {
		Events []struct{ EventName, ErrorCode string }
	}
	s.JSON(&trail, "audit", "lookup", "--account", s.Account, "--event-name", "ModifySecurityGroupRules")
	codes := map[string]int{}
	for _, e := range trail.Events {
		codes[e.ErrorCode]++
	}
	assert.Equal(t, map[string]int{"": 2, "InvalidSecurityGroupRuleId.NotFound": 2, "InvalidParameterValue": 3, "InvalidPermission.Duplicate": 1, "InvalidParameter": 1}, codes)
}
