package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

func cmdTag(g *globals, args []string) error {
	return runVerb(g, "tag", args, map[string]func(*globals, []string) error{
		"create": tagCreate, "delete": tagDelete, "describe": tagDescribe,
	})
}

// checkResources refuses an id that is not of a kind hostd tags, as the daemon would.
func checkResources(ids []string) error {
	if len(ids) == 0 {
		return api.Errorf(api.CodeMissingParameter, "name a resource: --resource ID (repeatable)")
	}
	for _, id := range ids {
		kind, _, ok := api.ResourceKindOf(id)
		if !ok {
			return api.Errorf(api.CodeInvalidID, "The ID '%s' is not valid: hostd tags vpc-, subnet-, sg-, acl-, i-, vol- and eni- resources", id)
		}
		if err := kind.Check(id); err != nil {
			return err
		}
	}
	return nil
}

func tagCreate(g *globals, args []string) error {
	fs := newFlags("tag create")
	var resources, tags stringList
	fs.Var(&resources, "resource", "a resource to tag (repeatable)")
	fs.Var(&tags, "tag", "KEY=VALUE (repeatable)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkResources(resources); err != nil {
		return err
	}
	req := api.CreateTagsRequest{Resources: resources}
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return api.Errorf(api.CodeInvalidParameterValue, "--tag %q: give KEY=VALUE", t)
		}
		req.Tags = append(req.Tags, api.Tag{Key: k, Value: v})
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/tags", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func tagDelete(g *globals, args []string) error {
	fs := newFlags("tag delete")
	var resources, tags stringList
	fs.Var(&resources, "resource", "a resource (repeatable)")
	fs.Var(&tags, "tag", "KEY, or KEY=VALUE to delete only while it has that value (repeatable; none: every tag)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := checkResources(resources); err != nil {
		return err
	}
	req := api.DeleteTagsRequest{Resources: resources}
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		d := api.DeleteTag{Key: k}
		if ok {
			d.Value = &v
		}
		req.Tags = append(req.Tags, d)
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/tags/delete", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func tagDescribe(g *globals, args []string) error {
	fs := newFlags("tag describe")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		if err := checkResources(fs.Args()); err != nil {
			return err
		}
	}
	q := url.Values{"ResourceId": fs.Args()}
	var out api.DescribeTagsResponse
	if err := client(g).Call(context.Background(), http.MethodGet, "/v1/tags?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	return g.print(out)
}
