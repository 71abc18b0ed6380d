package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// DefaultFlowLogInterval is a flow log's aggregation interval unless asked otherwise: EC2's
// default, 60 s (its other choice is 600 s); down to 1 s here, for tests.
const DefaultFlowLogInterval = 60 * time.Second

// CreateFlowLog starts a flow log of a VPC, a subnet or an interface. Nothing is made if any
// part of the request is refused.
func (d *Daemon) CreateFlowLog(c api.Caller, req api.CreateFlowLogRequest) (api.FlowLog, error) {
	traffic := strings.ToUpper(req.TrafficType)
	if traffic != api.TrafficAccept && traffic != api.TrafficReject && traffic != api.TrafficAll {
		return api.FlowLog{}, api.Errorf(api.CodeInvalidParameterValue, "--traffic-type %q: give ACCEPT, REJECT or ALL", req.TrafficType)
	}
	interval := DefaultFlowLogInterval
	if req.MaxAggregationInterval != 0 {
		interval = time.Duration(req.MaxAggregationInterval) * time.Second
	}
	if interval < time.Second || interval > 600*time.Second {
		return api.FlowLog{}, api.Errorf(api.CodeInvalidParameterValue, "--interval %ds is out of range: give 1s to 600s (EC2 takes 60s or 600s)", req.MaxAggregationInterval)
	}
	dest, err := d.flowLogDestination(c, req.LogDestination)
	if err != nil {
		return api.FlowLog{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkFlowLogResourceLocked(c, req.ResourceId); err != nil {
		return api.FlowLog{}, err
	}
	for _, f := range d.flowLogs {
		if f.ResourceID == req.ResourceId && f.TrafficType == traffic && f.Destination == dest {
			return api.FlowLog{}, api.Errorf(api.CodeFlowLogAlreadyExists, "flow log %s already writes %s traffic of %s to %s", f.ID, traffic, f.ResourceID, dest)
		}
	}
	f := &state.FlowLog{ID: newID("fl-"), OwnerID: c.AccountID, ResourceID: req.ResourceId, TrafficType: traffic,
		Interval: interval, Destination: dest, CreatedAt: time.Now().UTC()}
	if err := d.store.PutFlowLog(f); err != nil {
		return api.FlowLog{}, err
	}
	d.flowLogs[f.ID] = f
	d.log.Info("flow log created", "flow_log", f.ID, "resource", f.ResourceID, "traffic", traffic, "interval", interval, "destination", dest)
	return describeFlowLog(f), nil
}

// flowLogDestination is the file a flow log writes: an absolute path (the operator's only: it
// writes there with the daemon's privileges) or a plain name under <state-dir>/flow-logs/.
func (d *Daemon) flowLogDestination(c api.Caller, dest string) (string, error) {
	if dest == "" {
		return "", api.Errorf(api.CodeMissingParameter, "--destination is required: a file for the flow log's records")
	}
	if !filepath.IsAbs(dest) {
		if dest != filepath.Base(dest) || dest == "." || dest == ".." {
			return "", api.Errorf(api.CodeInvalidParameterValue, "--destination %q: give an absolute path, or a plain file name (kept under the state dir's flow-logs/)", dest)
		}
		dir := filepath.Join(d.cfg.StateDir, "flow-logs")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		return filepath.Join(dir, dest), nil
	}
	if !c.Operator {
		return "", api.Errorf(api.CodeInvalidParameterValue, "--destination %q: only the operator may name a path on the host; give a plain file name", dest)
	}
	dest = filepath.Clean(dest)
	if st, err := os.Stat(filepath.Dir(dest)); err != nil || !st.IsDir() {
		return "", api.Errorf(api.CodeInvalidParameterValue, "--destination %q: its directory does not exist", dest)
	}
	if st, err := os.Stat(dest); err == nil && !st.Mode().IsRegular() {
		return "", api.Errorf(api.CodeInvalidParameterValue, "--destination %q is not a regular file", dest)
	}
	return dest, nil
}

// checkFlowLogResourceLocked checks that the VPC, subnet or interface a flow log is for exists
// and is the caller's.
func (d *Daemon) checkFlowLogResourceLocked(c api.Caller, id string) error {
	switch {
	case api.VpcID.Valid(id):
		_, err := d.lookupVpcLocked(c, id)
		return err
	case api.SubnetID.Valid(id):
		_, err := d.lookupSubnetLocked(c, id)
		return err
	case api.NetworkInterfaceID.Valid(id):
		for _, e := range d.enis {
			if e.ID == id && c.Sees(e.Owner()) {
				return nil
			}
		}
		return api.NetworkInterfaceID.NotFoundError(id)
	}
	return api.Errorf(api.CodeInvalidParameterValue, "--resource %q: give a VPC (vpc-…), subnet (subnet-…) or network interface (eni-…) ID", id)
}

func describeFlowLog(f *state.FlowLog) api.FlowLog {
	return api.FlowLog{FlowLogId: f.ID, ResourceId: f.ResourceID, TrafficType: f.TrafficType, MaxAggregationInterval: int(f.Interval / time.Second),
		LogDestinationType: "file", LogDestination: f.Destination, LogFormat: api.FlowLogFormat, FlowLogStatus: "ACTIVE", CreationTime: f.CreatedAt}
}

// DescribeFlowLogs lists the caller's flow logs, or those named.
func (d *Daemon) DescribeFlowLogs(c api.Caller, ids []string) (api.DescribeFlowLogsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	logs, err := pick(c, d.flowLogs, ids, d.lookupFlowLogLocked)
	out := api.DescribeFlowLogsResponse{FlowLogs: []api.FlowLog{}}
	for _, f := range logs {
		out.FlowLogs = append(out.FlowLogs, describeFlowLog(f))
	}
	return out, err
}

// DeleteFlowLog stops a flow log; what it wrote stays.
func (d *Daemon) DeleteFlowLog(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.lookupFlowLogLocked(c, id)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if err := d.store.DeleteFlowLog(f.ID); err != nil {
		return api.ReturnResponse{}, err
	}
	delete(d.flowLogs, f.ID)
	d.log.Info("flow log deleted", "flow_log", f.ID)
	return api.ReturnResponse{Return: true}, nil
}

func (d *Daemon) lookupFlowLogLocked(c api.Caller, id string) (*state.FlowLog, error) {
	return lookupID(c, d.flowLogs, id, api.FlowLogID)
}

// flowLogCovers tells whether flow log f is for interface e: its own, its subnet's or its VPC's.
func flowLogCovers(f *state.FlowLog, e *state.ENI) bool {
	return f.ResourceID == e.ID || f.ResourceID == e.SubnetID || f.ResourceID == e.VpcID
}

// appendFile appends to a file of records (a flow log's, the findings'), made 0600 if new.
func appendFile(path string, write func(*os.File) error) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if err := write(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
