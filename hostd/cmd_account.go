package main

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
)

// The operator's commands for tenants: accounts, their IAM users and policies, access keys.
// The daemon answers them on its unix socket only.

func cmdAccount(g *globals, args []string) error {
	return runVerb(g, "account", args, map[string]func(*globals, []string) error{
		"create": accountCreate, "describe": accountDescribe, "delete": accountDelete,
	})
}

func cmdUser(g *globals, args []string) error {
	return runVerb(g, "user", args, map[string]func(*globals, []string) error{
		"create": userCreate, "describe": userDescribe, "delete": userDelete,
		"put-policy": userPutPolicy, "delete-policy": userDeletePolicy,
	})
}

func cmdAccessKey(g *globals, args []string) error {
	return runVerb(g, "access-key", args, map[string]func(*globals, []string) error{
		"create": accessKeyCreate, "describe": accessKeyDescribe, "update": accessKeyUpdate, "delete": accessKeyDelete,
	})
}

// callAndPrint sends one call and prints its answer.
func callAndPrint(g *globals, method, path string, in, out any) error {
	if err := client(g).Call(context.Background(), method, path, in, out); err != nil {
		return err
	}
	return g.print(out)
}

func accountCreate(g *globals, args []string) error {
	fs := newFlags("account create")
	var req api.CreateAccountRequest
	fs.StringVar(&req.AccountName, "name", "", "the account's name")
	fs.IntVar(&req.MaxInstances, "max-instances", 0, "most instances the account may have (not terminated)")
	maxRAM := fs.String("max-ram", "", "most guest RAM its running instances may hold (SIZE)")
	maxDisk := fs.String("max-disk", "", "most disk its volumes may take (SIZE)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.AccountName == "" {
		return api.Errorf(api.CodeMissingParameter, "--name is required")
	}
	var err error
	if *maxRAM != "" {
		if req.MaxRamBytes, err = api.ParseSizeFlag("--max-ram", *maxRAM); err != nil {
			return err
		}
	}
	if *maxDisk != "" {
		if req.MaxDiskBytes, err = api.ParseSizeFlag("--max-disk", *maxDisk); err != nil {
			return err
		}
	}
	return callAndPrint(g, http.MethodPost, "/v1/accounts", req, &api.Account{})
}

func accountDescribe(g *globals, args []string) error {
	fs := newFlags("account describe")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	for _, id := range fs.Args() {
		if err := checkAccountID(id); err != nil {
			return err
		}
		q.Add("AccountId", id)
	}
	return callAndPrint(g, http.MethodGet, "/v1/accounts?"+q.Encode(), nil, &api.DescribeAccountsResponse{})
}

func accountDelete(g *globals, args []string) error {
	fs := newFlags("account delete")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: hostd account delete ID")
	}
	if err := checkAccountID(fs.Arg(0)); err != nil {
		return err
	}
	return callAndPrint(g, http.MethodDelete, "/v1/accounts/"+fs.Arg(0), nil, &api.ReturnResponse{})
}

func checkAccountID(id string) error {
	if !account.ValidAccountID(id) {
		return api.Errorf(api.CodeInvalidParameterValue, "%q is not an account id (12 digits)", id)
	}
	return nil
}

// userFlags adds --account and --name (or --user) to a user or access-key verb.
func userFlags(fs *flag.FlagSet, req *api.UserRequest, nameFlag string) {
	fs.StringVar(&req.AccountId, "account", "", "the user's account id")
	fs.StringVar(&req.UserName, nameFlag, "", "the user's name")
}

// requireUser checks that a verb's --account and its user flag are given.
func requireUser(req api.UserRequest, nameFlag string) error {
	if req.AccountId == "" || req.UserName == "" {
		return api.Errorf(api.CodeMissingParameter, "--account and --%s are required", nameFlag)
	}
	return checkAccountID(req.AccountId)
}

// userVerb runs a verb on a user: its --account and name flag, then one call. A verb that must
// name one user posts it; describe lists what the flags select.
func userVerb(g *globals, args []string, name, nameFlag, path string, out any) error {
	fs := newFlags(name)
	var req api.UserRequest
	userFlags(fs, &req, nameFlag)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if strings.HasSuffix(name, " describe") {
		return callAndPrint(g, http.MethodGet, path+"?"+userQuery(req), nil, out)
	}
	if err := requireUser(req, nameFlag); err != nil {
		return err
	}
	return callAndPrint(g, http.MethodPost, path, req, out)
}

func userCreate(g *globals, args []string) error {
	return userVerb(g, args, "user create", "name", "/v1/users", &api.User{})
}

func userDescribe(g *globals, args []string) error {
	return userVerb(g, args, "user describe", "name", "/v1/users", &api.DescribeUsersResponse{})
}

func userQuery(req api.UserRequest) string {
	q := url.Values{}
	if req.AccountId != "" {
		q.Set("AccountId", req.AccountId)
	}
	if req.UserName != "" {
		q.Set("UserName", req.UserName)
	}
	return q.Encode()
}

func userDelete(g *globals, args []string) error {
	return userVerb(g, args, "user delete", "name", "/v1/users/delete", &api.ReturnResponse{})
}

func userPutPolicy(g *globals, args []string) error {
	return userPolicyVerb(g, "user put-policy", "/v1/users/policies", args)
}

func userDeletePolicy(g *globals, args []string) error {
	return userPolicyVerb(g, "user delete-policy", "/v1/users/policies/delete", args)
}

func userPolicyVerb(g *globals, name, path string, args []string) error {
	fs := newFlags(name)
	var user api.UserRequest
	userFlags(fs, &user, "name")
	policyName := fs.String("policy-name", "", "the policy's name")
	var doc *string
	if name == "user put-policy" {
		doc = fs.String("policy-document", "", "the policy: IAM's JSON, inline or file://PATH")
	}
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := requireUser(user, "name"); err != nil {
		return err
	}
	if *policyName == "" {
		return api.Errorf(api.CodeMissingParameter, "--policy-name is required")
	}
	req := api.UserPolicyRequest{AccountId: user.AccountId, UserName: user.UserName, PolicyName: *policyName}
	if doc != nil {
		text, err := policyDocument(*doc)
		if err != nil {
			return err
		}
		req.PolicyDocument = text
	}
	return callAndPrint(g, http.MethodPost, path, req, &api.ReturnResponse{})
}

// policyDocument reads --policy-document as the AWS CLI does: file://PATH, or the JSON itself.
func policyDocument(arg string) (string, error) {
	if arg == "" {
		return "", api.Errorf(api.CodeMissingParameter, "--policy-document is required: IAM's JSON, inline or file://PATH")
	}
	path, ok := strings.CutPrefix(arg, "file://")
	if !ok {
		return arg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", api.Errorf(api.CodeInvalidParameterValue, "--policy-document: %v", err)
	}
	return string(data), nil
}

func accessKeyCreate(g *globals, args []string) error {
	return userVerb(g, args, "access-key create", "user", "/v1/access-keys", &api.AccessKey{})
}

func accessKeyDescribe(g *globals, args []string) error {
	return userVerb(g, args, "access-key describe", "user", "/v1/access-keys", &api.DescribeAccessKeysResponse{})
}

// accessKeyID reads the one access key id a verb takes, before its flags.
func accessKeyID(name string, args []string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, usagef("usage: hostd %s ACCESS_KEY_ID", name)
	}
	if !account.ValidAccessKeyID(args[0]) {
		return "", nil, api.Errorf(api.CodeInvalidParameterValue, "%q is not an access key id (AKIA and 16 upper-case letters or digits)", args[0])
	}
	return args[0], args[1:], nil
}

func accessKeyUpdate(g *globals, args []string) error {
	id, rest, err := accessKeyID("access-key update", args)
	if err != nil {
		return err
	}
	fs := newFlags("access-key update")
	var req api.UpdateAccessKeyRequest
	fs.StringVar(&req.Status, "status", "", "Active or Inactive")
	if err := parseNoArgs(fs, rest); err != nil {
		return err
	}
	if req.Status == "" {
		return api.Errorf(api.CodeMissingParameter, "--status Active|Inactive is required")
	}
	return callAndPrint(g, http.MethodPost, "/v1/access-keys/"+id+"/status", req, &api.ReturnResponse{})
}

func accessKeyDelete(g *globals, args []string) error {
	id, rest, err := accessKeyID("access-key delete", args)
	if err != nil {
		return err
	}
	if err := parseNoArgs(newFlags("access-key delete"), rest); err != nil {
		return err
	}
	return callAndPrint(g, http.MethodDelete, "/v1/access-keys/"+id, nil, &api.ReturnResponse{})
}
