// Package api defines hostd's wire format: the JSON documents the daemon and the CLI exchange over
// the unix socket, the EC2-style errors, and a small client.
package api

import (
	"errors"
	"fmt"
	"net/http"
)

// EC2 error codes used by hostd. Where EC2 has a name for a failure we use it, so that scripts
// written against the AWS CLI recognise it.
const (
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeMissingParameter      = "MissingParameter"
	// Two parameters that may not be given together (EC2's, as ModifyVpcAttribute answers).
	CodeInvalidParameterCombination = "InvalidParameterCombination"
	CodeInvalidInstanceNotFound     = "InvalidInstanceID.NotFound"
	CodeInvalidInstanceMalformed    = "InvalidInstanceID.Malformed"
	CodeIncorrectInstanceState      = "IncorrectInstanceState"
	CodeInsufficientCapacity        = "InsufficientInstanceCapacity"
	CodeInternalError               = "InternalError"
	// EC2's answer to an action it does not know: here, a path or method the daemon has no route for.
	CodeInvalidAction = "InvalidAction"
	// Authentication of signed requests (the TCP listener) and authorisation by IAM policy.
	CodeAuthFailure                = "AuthFailure"
	CodeRequestExpired             = "RequestExpired"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeMalformedQueryString       = "MalformedQueryString"
	CodeMalformedPolicyDocument    = "MalformedPolicyDocument"
	CodeUnauthorizedOperation      = "UnauthorizedOperation"
	// Not EC2's: the client could not reach a daemon at all.
	CodeDaemonUnavailable = "DaemonUnavailable"
	// Not EC2's: the command line itself is wrong (exit status 2).
	CodeUsage = "InvalidUsage"
)

// Error is an EC2-style error: {"Error":{"Code":"…","Message":"…"}} on the wire.
type Error struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// ErrorDocument is the JSON envelope of an Error.
type ErrorDocument struct {
	Error *Error `json:"Error"`
}

// Errorf builds an Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping anything else as an InternalError.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}

// HTTPStatus maps an error code to the HTTP status the daemon answers with. Clients go by the
// code in the body; the status is for humans poking the socket with curl.
func HTTPStatus(code string) int {
	switch code {
	case CodeInternalError:
		return http.StatusInternalServerError
	case CodeInsufficientCapacity:
		return http.StatusServiceUnavailable
	case CodeInvalidInstanceNotFound:
		return http.StatusNotFound
	case CodeIncorrectInstanceState:
		return http.StatusConflict
	case CodeAuthFailure:
		return http.StatusUnauthorized
	case CodeMissingAuthenticationToken, CodeUnauthorizedOperation:
		return http.StatusForbidden
	case CodeMalformedQueryString: // AWS's own choice for this code
		return http.StatusNotFound
	default:
		return http.StatusBadRequest
	}
}
