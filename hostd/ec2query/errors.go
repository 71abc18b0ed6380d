package ec2query

import (
	"fmt"
	"net/http"

	"github.com/hostd/hostd/hostd/api"
)

// Error codes of the Query protocol itself: what goes wrong before an action's own code runs.
// The actions' codes (InvalidVpcID.NotFound, DependencyViolation, …) are the core's, in package
// api: both front ends answer the same failure with the same code.
const (
	CodeInvalidAction               = "InvalidAction"
	CodeMissingAction               = "MissingAction"
	CodeNoSuchVersion               = "NoSuchVersion"
	CodeUnknownParameter            = "UnknownParameter"
	CodeInvalidParameter            = "InvalidParameter"
	CodeInvalidParameterCombination = "InvalidParameterCombination"
	CodeDryRunOperation             = "DryRunOperation"
	CodeUnauthorizedOperation       = "UnauthorizedOperation"
	CodeAuthFailure                 = "AuthFailure"
	CodeRequestLimitExceeded        = "RequestLimitExceeded"
	CodeUnavailable                 = "Unavailable"
)

// errorf builds an EC2 error. It is the core's error type, so that an error from a handler and
// one from the protocol layer are written alike.
func errorf(code, format string, args ...any) *api.Error {
	return &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// HTTPStatus is the status EC2 answers a code with. EC2 sends 400 for every client error but
// those below (a NotFound is 400, not 404); server errors are 500, and 503 asks the client to
// back off. SDKs retry on 500 and 503, and never on a 4xx.
func HTTPStatus(code string) int {
	switch code {
	case CodeAuthFailure:
		return http.StatusUnauthorized
	case CodeUnauthorizedOperation, "MissingAuthenticationToken", "OptInRequired", "Blocked", "SignatureDoesNotMatch":
		return http.StatusForbidden
	case CodeDryRunOperation:
		return http.StatusPreconditionFailed
	case CodeRequestLimitExceeded, CodeUnavailable, "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case api.CodeInternalError, "InternalFailure", api.CodeInsufficientCapacity,
		api.CodeInsufficientAddressSpace, api.CodeInsufficientVolume:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}
