package main

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

func cmdFlowLog(g *globals, args []string) error {
	return runVerb(g, "flow-log", args, map[string]func(*globals, []string) error{
		"create": flowLogCreate, "describe": flowLogDescribe, "delete": flowLogDelete,
	})
}

func flowLogCreate(g *globals, args []string) error {
	fs := newFlags("flow-log create")
	var req api.CreateFlowLogRequest
	fs.StringVar(&req.ResourceId, "resource", "", "the VPC, subnet or network interface whose traffic to log")
	fs.StringVar(&req.TrafficType, "traffic-type", "", "ACCEPT, REJECT or ALL")
	interval := fs.String("interval", "60s", "the aggregation interval, 1s to 600s")
	fs.StringVar(&req.LogDestination, "destination", "", "the file to append records to (an absolute path, or a name under the state dir's flow-logs/)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if req.ResourceId == "" || req.TrafficType == "" {
		return api.Errorf(api.CodeMissingParameter, "--resource and --traffic-type are required")
	}
	d, err := time.ParseDuration(*interval)
	if err != nil || d%time.Second != 0 || d <= 0 {
		return api.Errorf(api.CodeInvalidParameterValue, "--interval %q: give whole seconds, as 60s or 10m", *interval)
	}
	req.MaxAggregationInterval = int(d / time.Second)
	var out api.FlowLog
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/flow-logs", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

// findingList prints the findings raised since a time (RFC 3339) or a duration ago.
func findingList(g *globals, args []string) error {
	fs := newFlags("finding list")
	since := fs.String("since", "", "only findings raised since TIME (RFC 3339) or DURATION ago (10m)")
	typ := fs.String("type", "", "only findings of this type (Recon:EC2/Portscan, …)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if ago, derr := time.ParseDuration(*since); derr == nil && ago >= 0 {
			t, err = time.Now().Add(-ago), nil
		}
		if err != nil {
			return api.Errorf(api.CodeInvalidParameterValue, "--since %q: give an RFC 3339 time (2026-12-02T22:00:00Z) or a duration (10m)", *since)
		}
		q.Set("since", t.UTC().Format(time.RFC3339))
	}
	if *typ != "" {
		q.Set("type", *typ)
	}
	var out api.ListFindingsResponse
	if err := client(g).Call(context.Background(), http.MethodGet, "/v1/findings?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	return g.print(out)
}

func flowLogDescribe(g *globals, args []string) error {
	return describeVerb(g, "flow-log describe", "/v1/flow-logs", api.FlowLogID, args, &api.DescribeFlowLogsResponse{})
}

func flowLogDelete(g *globals, args []string) error {
	return deleteVerb(g, "flow-log delete", "/v1/flow-logs/", api.FlowLogID, args)
}
