package api

import "time"

// Ids and error codes of flow logs, as EC2's.
var FlowLogID = IDKind{"flow log ID", "fl-", "FlowLogId", CodeInvalidFlowLogMalformed, CodeInvalidFlowLogNotFound}

const (
	CodeInvalidFlowLogMalformed          = "InvalidFlowLogId.Malformed"
	CodeInvalidFlowLogNotFound           = "InvalidFlowLogId.NotFound"
	CodeInvalidNetworkInterfaceMalformed = "InvalidNetworkInterfaceID.Malformed"
	CodeInvalidNetworkInterfaceNotFound  = "InvalidNetworkInterfaceID.NotFound"
	CodeFlowLogAlreadyExists             = "FlowLogAlreadyExists"
)

// Flow logs' traffic types, as EC2's.
const (
	TrafficAccept = "ACCEPT"
	TrafficReject = "REJECT"
	TrafficAll    = "ALL"
)

// FlowLogFormat is the one format flow logs are written in: VPC Flow Logs version 2, the default.
const FlowLogFormat = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

// CreateFlowLogRequest asks for a flow log of a VPC, a subnet or an interface.
type CreateFlowLogRequest struct {
	ResourceId  string `json:"ResourceId"`
	TrafficType string `json:"TrafficType"`
	// MaxAggregationInterval is in seconds, as EC2's (which takes 60 or 600): here 1 to 600.
	MaxAggregationInterval int `json:"MaxAggregationInterval,omitempty"`
	// LogDestination is a file: an absolute path on the host, or a name under the state dir's
	// flow-logs/ directory.
	LogDestination string `json:"LogDestination"`
}

// FlowLog is what `flow-log create` prints and an element of DescribeFlowLogsResponse.
type FlowLog struct {
	FlowLogId              string    `json:"FlowLogId"`
	ResourceId             string    `json:"ResourceId"`
	TrafficType            string    `json:"TrafficType"`
	MaxAggregationInterval int       `json:"MaxAggregationInterval"`
	LogDestinationType     string    `json:"LogDestinationType"`
	LogDestination         string    `json:"LogDestination"`
	LogFormat              string    `json:"LogFormat"`
	FlowLogStatus          string    `json:"FlowLogStatus"`
	CreationTime           time.Time `json:"CreationTime"`
}

// DescribeFlowLogsResponse is what `flow-log describe` prints.
type DescribeFlowLogsResponse struct {
	FlowLogs []FlowLog `json:"FlowLogs"`
}
