package main

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

func cmdVpc(g *globals, args []string) error {
	return runVerb(g, "vpc", args, map[string]func(*globals, []string) error{
		"create": vpcCreate, "describe": vpcDescribe, "delete": vpcDelete, "modify": vpcModify,
	})
}

func cmdSubnet(g *globals, args []string) error {
	return runVerb(g, "subnet", args, map[string]func(*globals, []string) error{
		"create": subnetCreate, "describe": subnetDescribe, "delete": subnetDelete,
	})
}

func vpcCreate(g *globals, args []string) error {
	fs := newFlags("vpc create")
	g.accountFlag(fs)
	var req api.CreateVpcRequest
	fs.StringVar(&req.CidrBlock, "cidr", "", "the VPC's IPv4 block, /16 to /28")
	fs.StringVar(&req.Name, "name", "", "a name for the VPC")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.CidrBlock == "" {
		return api.Errorf(api.CodeMissingParameter, "--cidr is required")
	}
	var out api.Vpc
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/vpcs", req, &out); err != nil {
		return err
	}
	return g.print(api.Vpc{VpcId: out.VpcId, CidrBlock: out.CidrBlock})
}

func vpcDescribe(g *globals, args []string) error {
	return describeVerb(g, "vpc describe", "/v1/vpcs", api.VpcID, args, &api.DescribeVpcsResponse{})
}

// vpcModify turns one of a VPC's DNS switches on or off, as `aws ec2 modify-vpc-attribute`.
func vpcModify(g *globals, args []string) error {
	fs := newFlags("vpc modify")
	support := fs.String("enable-dns-support", "", "true or false: whether the VPC's resolver answers its instances")
	hostnames := fs.String("enable-dns-hostnames", "", "true or false: whether it answers their private names")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: hostd vpc modify ID (--enable-dns-support|--enable-dns-hostnames)=true|false")
	}
	id := args[0]
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if err := api.VpcID.Check(id); err != nil {
		return err
	}
	var req api.ModifyVpcAttributeRequest
	for _, f := range []struct {
		name, value string
		into        **bool
	}{{"--enable-dns-support", *support, &req.EnableDnsSupport}, {"--enable-dns-hostnames", *hostnames, &req.EnableDnsHostnames}} {
		if f.value == "" {
			continue
		}
		v, err := strconv.ParseBool(f.value)
		if err != nil {
			return api.Errorf(api.CodeInvalidParameterValue, "%s takes true or false, not %q", f.name, f.value)
		}
		*f.into = &v
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/vpcs/"+url.PathEscape(id)+"/modify", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func vpcDelete(g *globals, args []string) error {
	return deleteVerb(g, "vpc delete", "/v1/vpcs/", api.VpcID, args)
}

func subnetCreate(g *globals, args []string) error {
	fs := newFlags("subnet create")
	g.accountFlag(fs)
	var req api.CreateSubnetRequest
	fs.StringVar(&req.VpcId, "vpc", "", "the VPC the subnet is in")
	fs.StringVar(&req.CidrBlock, "cidr", "", "the subnet's IPv4 block, /16 to /28, inside the VPC's")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.VpcId == "" || req.CidrBlock == "" {
		return api.Errorf(api.CodeMissingParameter, "--vpc and --cidr are required")
	}
	if err := api.VpcID.Check(req.VpcId); err != nil {
		return err
	}
	var out api.Subnet
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/subnets", req, &out); err != nil {
		return err
	}
	out.State, out.OwnerId = "", ""
	return g.print(out)
}

func subnetDescribe(g *globals, args []string) error {
	return describeVerb(g, "subnet describe", "/v1/subnets", api.SubnetID, args, &api.DescribeSubnetsResponse{})
}

func subnetDelete(g *globals, args []string) error {
	return deleteVerb(g, "subnet delete", "/v1/subnets/", api.SubnetID, args)
}

// runVerb dispatches RESOURCE VERB to its function.
func runVerb(g *globals, resource string, args []string, verbs map[string]func(*globals, []string) error) error {
	if len(args) == 0 {
		return usagef("%s needs a verb\n%s", resource, usage)
	}
	verb, ok := verbs[args[0]]
	if !ok {
		return usagef("unknown verb %q for %s\n%s", args[0], resource, usage)
	}
	return verb(g, args[1:])
}

// describeVerb lists resources of a kind, all or the ids given, into out and prints it.
func describeVerb(g *globals, name, path string, kind api.IDKind, args []string, out any) error {
	fs := newFlags(name)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := kind.Check(fs.Args()...); err != nil {
		return err
	}
	q := url.Values{}
	for _, id := range fs.Args() {
		q.Add(kind.Field, id)
	}
	if err := client(g).Call(context.Background(), http.MethodGet, path+"?"+q.Encode(), nil, out); err != nil {
		return err
	}
	return g.print(out)
}

// deleteVerb deletes the one resource of a kind named.
func deleteVerb(g *globals, name, path string, kind api.IDKind, args []string) error {
	fs := newFlags(name)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: hostd %s ID", name)
	}
	if err := kind.Check(fs.Arg(0)); err != nil {
		return err
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodDelete, path+url.PathEscape(fs.Arg(0)), nil, &out); err != nil {
		return err
	}
	return g.print(out)
}

// parseNoArgs parses flags of a command that takes no positional arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments, got %q", fs.Name(), fs.Args())
	}
	return nil
}
