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

// at reads a value from a client's JSON answer by a path of keys and indices.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	s, _ := at(v, path...).([]any)
	return s
}

// scenario drives one client through the scenario on s. reader is the same kind of
// client with the tenant's read-only key (run needs it; the other tests leave it nil).
type scenario struct {
	t      *testing.T
	s      *ec2test.Server
	c      client
	reader client
}

func (sc *scenario) must(action string, input map[string]any) map[string]any {
	sc.t.Helper()
	out, err := sc.c.call(action, input)
	require.Nil(sc.t, err, "%s %s %v", sc.c.name(), action, input)
	return out
}

func (sc *scenario) refused(code, action string, input map[string]any) {
	sc.t.Helper()
	_, err := sc.c.call(action, input)
	require.NotNil(sc.t, err, "%s %s should be refused with %s", sc.c.name(), action, code)
	require.Equal(sc.t, code, err.Code, "%s %s: %s", sc.c.name(), action, err.Message)
}

func tagSpec(resourceType string, kv ...string) []any {
	var tags []any
	for i := 0; i < len(kv); i += 2 {
		tags = append(tags, map[string]any{"Key": kv[i], "Value": kv[i+1]})
	}
	return []any{map[string]any{"ResourceType": resourceType, "Tags": tags}}
}

func filters(kv ...string) []any {
	var out []any
	for i := 0; i < len(kv); i += 2 {
		out = append(out, map[string]any{"Name": kv[i], "Values": []any{kv[i+1]}})
	}
	return out
}

// connects runs `hostd probe connect` in an instance: whether a TCP connection to addr is
// answered.
func connects(s *ec2test.Server, instance, addr string) bool {
	_, _, code := s.Exec(instance, "hostd", "probe", "connect", "--addr", addr, "--message", "xx", "--timeout", hostdtest.Scaled(time.Second).String())
	return code == 0
}

const (
	dbIP     = "10.0.2.10"
	dbServer = "#!/bin/sh\nhostd probe serve --port 5433 --seconds 3600 &\nexec hostd probe serve --port 5432 --seconds 3600\n"
	// The client waits for the server and for the test's go (/tmp/go), then holds one
	// connection for 10 s of requests: the tracked flow that must outlive the revoked rule.
	webClient = "#!/bin/sh\n" +
		"until hostd probe connect --addr " + dbIP + ":5432 --message xx --timeout 1s >/dev/null 2>&1; do sleep 0.2; done\n" +
		"touch /tmp/rr.ready\n" +
		"until [ -e /tmp/go ]; do sleep 0.05; done\n" +
		"hostd probe rr --addr " + dbIP + ":5432 --seconds 10 > /tmp/rr.json 2>&1\n" +
		"touch /tmp/rr.done\n"
)

func (sc *scenario) run() {
	t, s, name := sc.t, sc.s, sc.c.name()
	images := sc.must("DescribeImages", map[string]any{"Filters": filters("name", "hostd-host-root")})
	ami := str(images, "Images", 0, "ImageId")
	require.True(t, strings.HasPrefix(ami, "ami-"), "%v", images)
	zone := str(sc.must("DescribeAvailabilityZones", map[string]any{}), "AvailabilityZones", 0, "ZoneName")

	vpc := str(sc.must("CreateVpc", map[string]any{"CidrBlock": "10.0.0.0/16", "TagSpecifications": tagSpec("vpc", "Name", "scenario-"+name)}), "Vpc", "VpcId")
	// The VPC is the key's account's, as EC2 answers and as the core keeps it; its read-only
	// user sees it too.
	require.Equal(t, s.Account, str(sc.must("DescribeVpcs", map[string]any{"VpcIds": []any{vpc}}), "Vpcs", 0, "OwnerId"))
	var nativeVpc struct{ Vpcs []struct{ OwnerId string } }
	s.JSON(&nativeVpc, "vpc", "describe", vpc)
	require.Equal(t, s.Account, nativeVpc.Vpcs[0].OwnerId, "the core keeps the VPC in the key's account")
	reader := &scenario{t: t, s: s, c: sc.reader}
	require.Equal(t, vpc, str(reader.must("DescribeVpcs", map[string]any{}), "Vpcs", 0, "VpcId"))
	subnet := func(cidr, tier string) string {
		return str(sc.must("CreateSubnet", map[string]any{"VpcId": vpc, "CidrBlock": cidr, "AvailabilityZone": zone,
			"TagSpecifications": tagSpec("subnet", "Tier", tier)}), "Subnet", "SubnetId")
	}
	webNet, dbNet := subnet("10.0.1.0/24", "web"), subnet("10.0.2.0/24", "db")
	group := func(n string) string {
		return str(sc.must("CreateSecurityGroup", map[string]any{"VpcId": vpc, "GroupName": n, "Description": n + " tier"}), "GroupId")
	}
	web, db := group("web"), group("db")
	auth := sc.must("AuthorizeSecurityGroupIngress", map[string]any{"GroupId": db, "IpPermissions": []any{map[string]any{
		"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5433, "UserIdGroupPairs": []any{map[string]any{"GroupId": web}}}}})
	ruleID := str(auth, "SecurityGroupRules", 0, "SecurityGroupRuleId")
	require.True(t, strings.HasPrefix(ruleID, "sgr-"), "%v", auth)
	sc.refused("InvalidPermission.Duplicate", "AuthorizeSecurityGroupIngress", map[string]any{"GroupId": db, "IpPermissions": []any{map[string]any{
		"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5433, "UserIdGroupPairs": []any{map[string]any{"GroupId": web}}}}})

	// The db subnet's ACL: 5432 in from the web subnet, replies out to it; 5433 falls to the
	// implicit deny, though the group admits it.
	acl := str(sc.must("CreateNetworkAcl", map[string]any{"VpcId": vpc, "TagSpecifications": tagSpec("network-acl", "Tier", "db")}), "NetworkAcl", "NetworkAclId")
	sc.must("CreateNetworkAclEntry", map[string]any{"NetworkAclId": acl, "RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": false,
		"CidrBlock": "10.0.1.0/24", "PortRange": map[string]any{"From": 5432, "To": 5432}})
	sc.must("CreateNetworkAclEntry", map[string]any{"NetworkAclId": acl, "RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": true,
		"CidrBlock": "10.0.1.0/24", "PortRange": map[string]any{"From": 1024, "To": 65535}})
	sc.must("CreateNetworkAclEntry", map[string]any{"NetworkAclId": acl, "RuleNumber": 200, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"})
	sc.must("ReplaceNetworkAclEntry", map[string]any{"NetworkAclId": acl, "RuleNumber": 200, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "10.9.0.0/16"})
	sc.must("DeleteNetworkAclEntry", map[string]any{"NetworkAclId": acl, "RuleNumber": 200, "Egress": false})
	current := sc.must("DescribeNetworkAcls", map[string]any{"Filters": filters("association.subnet-id", dbNet)})
	var assoc string
	for _, a := range list(current, "NetworkAcls", 0, "Associations") {
		if str(a, "SubnetId") == dbNet {
			assoc = str(a, "NetworkAclAssociationId")
		}
	}
	require.NotEmpty(t, assoc, "%v", current)
	sc.must("ReplaceNetworkAclAssociation", map[string]any{"AssociationId": assoc, "NetworkAclId": acl})

	run := func(subnetID string, groups []any, ip, userData, token string, kv ...string) string {
		in := map[string]any{"ImageId": ami, "InstanceType": "t3.nano", "MinCount": 1, "MaxCount": 1, "SubnetId": subnetID,
			"UserData": userData, "TagSpecifications": tagSpec("instance", kv...)}
		if groups != nil {
			in["SecurityGroupIds"] = groups
		}
		if ip != "" {
			in["PrivateIpAddress"] = ip
		}
		if token != "" {
			in["ClientToken"] = token
		}
		out := sc.must("RunInstances", in)
		require.Equal(t, "running", str(out, "Instances", 0, "State", "Name"), "%v", out)
		require.Equal(t, s.Account, str(out, "OwnerId"), "the reservation is the key's account's")
		return str(out, "Instances", 0, "InstanceId")
	}
	dbID := run(dbNet, []any{db}, dbIP, dbServer, "db-"+name, "Role", "db")
	again := run(dbNet, []any{db}, dbIP, dbServer, "db-"+name, "Role", "db")
	require.Equal(t, dbID, again, "the same ClientToken answers the same instance")
	webID := run(webNet, []any{web}, "", webClient, "", "Role", "web")
	otherID := run(webNet, nil, "", "#!/bin/sh\necho idle\n", "", "Role", "other")

	// Filters find them by tag and state, as the native CLI sees them.
	found := sc.must("DescribeInstances", map[string]any{"Filters": filters("tag:Role", "web", "instance-state-name", "running", "vpc-id", vpc)})
	require.Len(t, list(found, "Reservations"), 1)
	require.Equal(t, webID, str(found, "Reservations", 0, "Instances", 0, "InstanceId"))
	webIP := str(found, "Reservations", 0, "Instances", 0, "PrivateIpAddress")
	var native struct {
		Instances []struct {
			InstanceId, PrivateIpAddress, State, InstanceType, OwnerId string
			SecurityGroups                                             []struct{ GroupId string }
		}
	}
	s.JSON(&native, "instance", "describe", webID)
	require.Equal(t, webIP, native.Instances[0].PrivateIpAddress, "the native describe agrees")
	require.Equal(t, web, native.Instances[0].SecurityGroups[0].GroupId)
	require.Equal(t, "t3.nano", native.Instances[0].InstanceType)
	require.Equal(t, s.Account, native.Instances[0].OwnerId, "the core keeps the instance in the key's account")
	// IAM's evaluation of the reader's policy (ec2:Describe* only) refuses it the rest, and the
	// refusal changes nothing.
	reader.refused("UnauthorizedOperation", "TerminateInstances", map[string]any{"InstanceIds": []any{webID}})
	reader.refused("UnauthorizedOperation", "CreateSubnet", map[string]any{"VpcId": vpc, "CidrBlock": "10.0.3.0/24"})
	require.Equal(t, "running", str(reader.must("DescribeInstances", map[string]any{"InstanceIds": []any{webID}}), "Reservations", 0, "Instances", 0, "State", "Name"))
	require.Len(t, list(reader.must("DescribeSubnets", map[string]any{"Filters": filters("vpc-id", vpc)}), "Subnets"), 2)
	groups := sc.must("DescribeSecurityGroups", map[string]any{"Filters": filters("vpc-id", vpc, "group-name", "db")})
	require.Equal(t, db, str(groups, "SecurityGroups", 0, "GroupId"))
	require.Equal(t, web, str(groups, "SecurityGroups", 0, "IpPermissions", 0, "UserIdGroupPairs", 0, "GroupId"))
	var nativeGroups struct {
		SecurityGroups []struct {
			GroupId       string
			IpPermissions []struct{ UserIdGroupPairs []struct{ GroupId string } }
		}
	}
	s.JSON(&nativeGroups, "sg", "describe", db)
	require.Equal(t, web, nativeGroups.SecurityGroups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId)
	subnets := sc.must("DescribeSubnets", map[string]any{"Filters": filters("tag:Tier", "db", "vpc-id", vpc)})
	require.Equal(t, dbNet, str(subnets, "Subnets", 0, "SubnetId"))
	tags := sc.must("DescribeTags", map[string]any{"Filters": filters("resource-id", vpc)})
	require.Equal(t, "scenario-"+name, str(tags, "Tags", 0, "Value"), "%v", tags)
	ud := sc.must("DescribeInstanceAttribute", map[string]any{"InstanceId": webID, "Attribute": "userData"})
	require.NotEmpty(t, str(ud, "UserData", "Value"))

	// Real TCP, as the rules say.
	hostdtest.WaitExec(t, s.Daemon, webID, "test", "-e", "/tmp/rr.ready")
	s.MustExec(webID, "touch", "/tmp/go")
	assert.True(t, connects(s, webID, dbIP+":5432"), "web reaches db:5432 (group rule, ACL rule 100)")
	assert.False(t, connects(s, webID, dbIP+":5433"), "web is refused db:5433: the group admits it, the ACL does not")
	assert.False(t, connects(s, otherID, dbIP+":5432"), "an instance outside web is refused db:5432 by the group")

	// The rule goes by its id; the client's tracked connection goes on, new ones are refused.
	_, _, code := s.Exec(webID, "test", "-e", "/tmp/rr.done")
	require.NotZero(t, code, "the client's connection must still be open when the rule is revoked, or the test proves nothing")
	sc.must("RevokeSecurityGroupIngress", map[string]any{"GroupId": db, "SecurityGroupRuleIds": []any{ruleID}})
	assert.False(t, connects(s, webID, dbIP+":5432"), "a new connection after the revoke is refused")
	hostdtest.WaitExec(t, s.Daemon, webID, "test", "-e", "/tmp/rr.done")
	var rr struct{ Transactions int64 }
	out := s.MustExec(webID, "cat", "/tmp/rr.json")
	require.NoError(t, json.Unmarshal([]byte(out), &rr), "the client's run failed: %s", out)
	assert.Greater(t, rr.Transactions, int64(100), "the tracked connection outlived the revoke: %s", out)

	// The rule again, and the other instance's interface joins web: now it is admitted.
	sc.must("AuthorizeSecurityGroupIngress", map[string]any{"GroupId": db, "IpPermissions": []any{map[string]any{
		"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5433, "UserIdGroupPairs": []any{map[string]any{"GroupId": web}}}}})
	enis := sc.must("DescribeNetworkInterfaces", map[string]any{"Filters": filters("attachment.instance-id", otherID)})
	eni := str(enis, "NetworkInterfaces", 0, "NetworkInterfaceId")
	require.True(t, strings.HasPrefix(eni, "eni-"), "%v", enis)
	sc.must("ModifyNetworkInterfaceAttribute", map[string]any{"NetworkInterfaceId": eni, "Groups": []any{web}})
	assert.True(t, connects(s, otherID, dbIP+":5432"), "in web, the other instance reaches db:5432")
	sc.must("ModifyInstanceAttribute", map[string]any{"InstanceId": otherID, "SourceDestCheck": map[string]any{"Value": false}})
	check := sc.must("DescribeInstanceAttribute", map[string]any{"InstanceId": otherID, "Attribute": "sourceDestCheck"})
	require.Equal(t, false, at(check, "SourceDestCheck", "Value"), "%v", check)
	var nativeOther struct {
		Instances []struct {
			SourceDestCheck *bool
			SecurityGroups  []struct{ GroupId string }
		}
	}
	s.JSON(&nativeOther, "instance", "describe", otherID)
	require.False(t, *nativeOther.Instances[0].SourceDestCheck, "the native describe agrees")
	require.Equal(t, web, nativeOther.Instances[0].SecurityGroups[0].GroupId)

	// Stopped and started, it keeps its address.
	stopped := sc.must("StopInstances", map[string]any{"InstanceIds": []any{otherID}})
	require.Equal(t, "stopped", str(stopped, "StoppingInstances", 0, "CurrentState", "Name"), "%v", stopped)
	state := sc.must("DescribeInstances", map[string]any{"InstanceIds": []any{otherID}})
	require.Equal(t, "stopped", str(state, "Reservations", 0, "Instances", 0, "State", "Name"))
	otherIP := str(state, "Reservations", 0, "Instances", 0, "PrivateIpAddress")
	sc.must("StartInstances", map[string]any{"InstanceIds": []any{otherID}})
	state = sc.must("DescribeInstances", map[string]any{"InstanceIds": []any{otherID}})
	require.Equal(t, "running", str(state, "Reservations", 0, "Instances", 0, "State", "Name"))
	require.Equal(t, otherIP, str(state, "Reservations", 0, "Instances", 0, "PrivateIpAddress"))

	sc.must("RevokeSecurityGroupIngress", map[string]any{"GroupId": db, "IpPermissions": []any{map[string]any{
		"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5433, "UserIdGroupPairs": []any{map[string]any{"GroupId": web}}}}})

	// A volume, attached to db, found by its attachment.
	vol := str(sc.must("CreateVolume", map[string]any{"AvailabilityZone": zone, "Size": 1, "TagSpecifications": tagSpec("volume", "Role", "db")}), "VolumeId")
	sc.must("AttachVolume", map[string]any{"VolumeId": vol, "InstanceId": dbID, "Device": "/dev/xvdb"})
	s.MustExec(dbID, "test", "-b", "/dev/xvdb")
	attached := sc.must("DescribeVolumes", map[string]any{"Filters": filters("attachment.instance-id", dbID)})
	require.Equal(t, vol, str(attached, "Volumes", 0, "VolumeId"))
	require.Equal(t, "in-use", str(attached, "Volumes", 0, "State"))
	sc.must("DetachVolume", map[string]any{"VolumeId": vol})
	sc.must("DeleteVolume", map[string]any{"VolumeId": vol})

	// Everything deleted, in the order EC2 allows.
	sc.refused("DependencyViolation", "DeleteVpc", map[string]any{"VpcId": vpc})
	term := sc.must("TerminateInstances", map[string]any{"InstanceIds": []any{dbID, webID, otherID}})
	require.Len(t, list(term, "TerminatingInstances"), 3)
	for _, g := range []string{web, db} {
		sc.must("DeleteSecurityGroup", map[string]any{"GroupId": g})
	}
	sc.must("DeleteSubnet", map[string]any{"SubnetId": webNet})
	sc.must("DeleteSubnet", map[string]any{"SubnetId": dbNet})
	sc.must("DeleteNetworkAcl", map[string]any{"NetworkAclId": acl})
	sc.must("DeleteVpc", map[string]any{"VpcId": vpc})
	left := sc.must("DescribeVpcs", map[string]any{})
	require.Empty(t, list(left, "Vpcs"), "%v", left)
	var nativeVpcs struct{ Vpcs []any }
	s.JSON(&nativeVpcs, "vpc", "describe")
	require.Empty(t, nativeVpcs.Vpcs)
	running := sc.must("DescribeInstances", map[string]any{"Filters": filters("instance-state-name", "running")})
	require.Empty(t, list(running, "Reservations"))
}

// TestScenario: the scenario through the AWS CLI, boto3 and the Go SDK, each on a daemon
// of its own, whose leak check runs at the end, with the keys of an account of its own.
func TestScenario(t *testing.T) {
	for _, c := range []struct {
		name string
		make func(*testing.T, *ec2test.Server, ec2test.Key) client
	}{
		{"go-sdk", func(_ *testing.T, s *ec2test.Server, k ec2test.Key) client { return newGoSDK(s, k) }},
		{"boto3", func(t *testing.T, s *ec2test.Server, k ec2test.Key) client { return newBoto3(t, s, k) }},
		{"aws-cli", func(t *testing.T, s *ec2test.Server, k ec2test.Key) client { return newAWSCLI(t, s, k) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := ec2test.Start(t, ec2test.Options{})
			(&scenario{t: t, s: s, c: c.make(t, s, s.Admin), reader: c.make(t, s, s.ReadOnly)}).run()
		})
	}
}
