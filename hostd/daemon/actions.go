package daemon

import (
	"encoding/json"
	"net/http"

	"github.com/hostd/hostd/hostd/api"
)

// verb is what the listeners know of a call of the native API besides its handler: its name
// (EC2's action, as IAM policies and the audit trail name it), whether it only reads, whether it
// is the operator's alone, and the resources IAM checks it against.
type verb struct {
	action   string
	readOnly bool
	// operator: answered on the unix socket only; the network listener refuses it.
	operator bool
	// resources are what the call acts on, for IAM; nil means "*", as for EC2's describes.
	resources func(r *http.Request, body []byte) []resource
	// egressAction names the call when its body asks for egress rules (sg authorize|revoke).
	egressAction string
}

// resource is one resource a call names: kind is EC2's ARN resource type, id "*" for one being made.
type resource struct{ kind, id string }

// verbs maps each route of the API (its mux pattern) to its verb. A route missing here is
// treated as the operator's: the network listener refuses it until it is given a verb.
var verbs = map[string]verb{
	"POST /v1/instances": {action: "RunInstances", resources: fromBody(func(_ *http.Request, q api.RunInstanceRequest) []resource {
		res := []resource{{"instance", "*"}}
		if q.SubnetId != "" {
			res = append(res, resource{"subnet", q.SubnetId})
		}
		res = append(res, each("security-group", q.SecurityGroupIds)...)
		for _, v := range q.Volumes {
			res = append(res, resource{"volume", v.VolumeId})
		}
		return res
	})},
	"GET /v1/instances": {action: "DescribeInstances", readOnly: true},
	"POST /v1/instances/terminate": {action: "TerminateInstances", resources: fromBody(func(_ *http.Request, q api.TerminateInstancesRequest) []resource {
		return each("instance", q.InstanceIds)
	})},
	// exec reaches the instance's init through a unix socket on the host: the operator's.
	"POST /v1/instances/{id}/exec":   {action: "ExecInstance", operator: true},
	"POST /v1/instances/{id}/modify": {action: "ModifyInstanceAttribute", resources: inPath("instance")},
	"POST /v1/instances/{id}/groups": {action: "ModifyInstanceAttribute", resources: fromBody(func(r *http.Request, q api.SetGroupsRequest) []resource {
		return append([]resource{{"instance", r.PathValue("id")}}, each("security-group", q.Groups)...)
	})},

	"POST /v1/vpcs":             {action: "CreateVpc", resources: made("vpc")},
	"GET /v1/vpcs":              {action: "DescribeVpcs", readOnly: true},
	"DELETE /v1/vpcs/{id}":      {action: "DeleteVpc", resources: inPath("vpc")},
	"POST /v1/vpcs/{id}/modify": {action: "ModifyVpcAttribute", resources: inPath("vpc")},
	"POST /v1/subnets": {action: "CreateSubnet", resources: fromBody(func(_ *http.Request, q api.CreateSubnetRequest) []resource {
		return []resource{{"subnet", "*"}, {"vpc", q.VpcId}}
	})},
	"GET /v1/subnets":         {action: "DescribeSubnets", readOnly: true},
	"DELETE /v1/subnets/{id}": {action: "DeleteSubnet", resources: inPath("subnet")},

	"POST /v1/security-groups": {action: "CreateSecurityGroup", resources: fromBody(func(_ *http.Request, q api.CreateSecurityGroupRequest) []resource {
		return []resource{{"security-group", "*"}, {"vpc", q.VpcId}}
	})},
	"GET /v1/security-groups":            {action: "DescribeSecurityGroups", readOnly: true},
	"DELETE /v1/security-groups/{id}":    {action: "DeleteSecurityGroup", resources: inPath("security-group")},
	"POST /v1/security-groups/authorize": {action: "AuthorizeSecurityGroupIngress", egressAction: "AuthorizeSecurityGroupEgress", resources: ruleGroup},
	"POST /v1/security-groups/revoke":    {action: "RevokeSecurityGroupIngress", egressAction: "RevokeSecurityGroupEgress", resources: ruleGroup},
	"POST /v1/security-groups/modify":    {action: "ModifySecurityGroupRules", resources: ruleGroup},
	"POST /v1/network-acls": {action: "CreateNetworkAcl", resources: fromBody(func(_ *http.Request, q api.CreateNetworkAclRequest) []resource {
		return []resource{{"network-acl", "*"}, {"vpc", q.VpcId}}
	})},
	"GET /v1/network-acls":                  {action: "DescribeNetworkAcls", readOnly: true},
	"POST /v1/network-acls/entries":         {action: "CreateNetworkAclEntry", resources: aclEntryACL},
	"POST /v1/network-acls/entries/delete":  {action: "DeleteNetworkAclEntry", resources: aclEntryACL},
	"POST /v1/network-acls/entries/replace": {action: "ReplaceNetworkAclEntry", resources: aclEntryACL},
	"DELETE /v1/network-acls/{id}":          {action: "DeleteNetworkAcl", resources: inPath("network-acl")},
	"GET /v1/security-group-rules":          {action: "DescribeSecurityGroupRules", readOnly: true},
	"POST /v1/instances/stop": {action: "StopInstances", resources: fromBody(func(_ *http.Request, q api.TerminateInstancesRequest) []resource {
		return each("instance", q.InstanceIds)
	})},
	"POST /v1/instances/start": {action: "StartInstances", resources: fromBody(func(_ *http.Request, q api.TerminateInstancesRequest) []resource {
		return each("instance", q.InstanceIds)
	})},
	// Tags: IAM sees "*" (hostd does not name each resource's ARN type from its id here).
	"POST /v1/tags":        {action: "CreateTags"},
	"POST /v1/tags/delete": {action: "DeleteTags"},
	"GET /v1/tags":         {action: "DescribeTags", readOnly: true},
	// Flow logs and findings stay the operator's: a flow log writes to a file on the host.
	"POST /v1/network-acls/associate": {action: "ReplaceNetworkAclAssociation", resources: fromBody(func(_ *http.Request, q api.AssociateNetworkAclRequest) []resource {
		return []resource{{"network-acl", q.NetworkAclId}, {"subnet", q.SubnetId}}
	})},

	"POST /v1/volumes":        {action: "CreateVolume", resources: made("volume")},
	"GET /v1/volumes":         {action: "DescribeVolumes", readOnly: true},
	"DELETE /v1/volumes/{id}": {action: "DeleteVolume", resources: inPath("volume")},
	"POST /v1/volumes/{id}/attach": {action: "AttachVolume", resources: fromBody(func(r *http.Request, q api.AttachVolumeRequest) []resource {
		return []resource{{"volume", r.PathValue("id")}, {"instance", q.InstanceId}}
	})},
	"POST /v1/volumes/{id}/detach": {action: "DetachVolume", resources: inPath("volume")},
	// The pools are every account's: the operator's to see.
	"GET /v1/pool": {action: "DescribePool", readOnly: true, operator: true},

	"POST /v1/accounts":                {action: "CreateAccount", operator: true},
	"GET /v1/accounts":                 {action: "DescribeAccounts", readOnly: true, operator: true},
	"DELETE /v1/accounts/{id}":         {action: "DeleteAccount", operator: true},
	"POST /v1/users":                   {action: "CreateUser", operator: true},
	"GET /v1/users":                    {action: "ListUsers", readOnly: true, operator: true},
	"POST /v1/users/delete":            {action: "DeleteUser", operator: true},
	"POST /v1/users/policies":          {action: "PutUserPolicy", operator: true},
	"POST /v1/users/policies/delete":   {action: "DeleteUserPolicy", operator: true},
	"POST /v1/access-keys":             {action: "CreateAccessKey", operator: true},
	"GET /v1/access-keys":              {action: "ListAccessKeys", readOnly: true, operator: true},
	"POST /v1/access-keys/{id}/status": {action: "UpdateAccessKey", operator: true},
	"DELETE /v1/access-keys/{id}":      {action: "DeleteAccessKey", operator: true},
}

// verbOf is the verb of a route pattern; a pattern with none is the operator's.
func verbOf(pattern string) verb {
	if v, ok := verbs[pattern]; ok {
		return v
	}
	return verb{action: pattern, operator: true}
}

// name is the call's action name for this body.
func (v verb) name(body []byte) string {
	if v.egressAction != "" {
		var q struct{ Egress bool }
		if json.Unmarshal(body, &q) == nil && q.Egress {
			return v.egressAction
		}
	}
	return v.action
}

// fromBody reads the resources of a call from its JSON body. A body that does not decode names
// none here; its handler refuses it before anything happens.
func fromBody[Req any](f func(*http.Request, Req) []resource) func(*http.Request, []byte) []resource {
	return func(r *http.Request, body []byte) []resource {
		var q Req
		_ = json.Unmarshal(body, &q)
		return f(r, q)
	}
}

func each(kind string, ids []string) []resource {
	out := make([]resource, len(ids))
	for i, id := range ids {
		out[i] = resource{kind, id}
	}
	return out
}

// inPath is the resource of a call whose id is in its path.
func inPath(kind string) func(*http.Request, []byte) []resource {
	return func(r *http.Request, _ []byte) []resource { return []resource{{kind, r.PathValue("id")}} }
}

// made is the resource a create makes, which has no id yet.
func made(kind string) func(*http.Request, []byte) []resource {
	return func(*http.Request, []byte) []resource { return []resource{{kind, "*"}} }
}

// ruleGroup is the group whose rules a call changes (sg authorize, revoke, modify).
var ruleGroup = fromBody(func(_ *http.Request, q struct{ GroupId string }) []resource {
	return []resource{{"security-group", q.GroupId}}
})

var aclEntryACL = fromBody(func(_ *http.Request, q api.NetworkAclEntryRequest) []resource {
	return []resource{{"network-acl", q.NetworkAclId}}
})
