package main

import (
	"context"
	"net/http"
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

func flowLogDescribe(g *globals, args []string) error {
	return describeVerb(g, "flow-log describe", "/v1/flow-logs", api.FlowLogID, args, &api.DescribeFlowLogsResponse{})
}

func flowLogDelete(g *globals, args []string) error {
	return deleteVerb(g, "flow-log delete", "/v1/flow-logs/", api.FlowLogID, args)
}
