package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// routes is the HTTP/JSON API. Every answer is one JSON document; errors are EC2-shaped. Each
// call acts for the caller its listener put in the request's context (listener.go).
func (d *Daemon) routes() *http.ServeMux {
	mux := http.NewServeMux()
	ids := func(param string) func(*http.Request) []string {
		return func(r *http.Request) []string { return r.URL.Query()[param] }
	}
	pathID := func(r *http.Request) string { return r.PathValue("id") }

	mux.HandleFunc("POST /v1/instances", withBody(d, d.RunInstance))
	mux.HandleFunc("GET /v1/instances", noBody(d, ids(api.InstanceID.Field), d.DescribeInstances))
	mux.HandleFunc("POST /v1/instances/terminate", withBody(d, func(c api.Caller, req api.TerminateInstancesRequest) (api.TerminateInstancesResponse, error) {
		return d.TerminateInstances(c, req.InstanceIds)
	}))
	mux.HandleFunc("POST /v1/instances/stop", withBody(d, func(c api.Caller, req api.TerminateInstancesRequest) (api.StopInstancesResponse, error) {
		return d.StopInstances(c, req.InstanceIds)
	}))
	mux.HandleFunc("POST /v1/instances/start", withBody(d, func(c api.Caller, req api.TerminateInstancesRequest) (api.StartInstancesResponse, error) {
		return d.StartInstances(c, req.InstanceIds)
	}))
	mux.HandleFunc("POST /v1/instances/{id}/exec", noBody(d, pathID, d.ExecTarget))
	mux.HandleFunc("POST /v1/instances/{id}/modify", func(w http.ResponseWriter, r *http.Request) {
		withBody(d, func(c api.Caller, req api.ModifyInstanceRequest) (api.ReturnResponse, error) {
			return d.ModifyInstance(c, pathID(r), req)
		})(w, r)
	})

	mux.HandleFunc("POST /v1/vpcs", withBody(d, d.CreateVpc))
	mux.HandleFunc("GET /v1/vpcs", noBody(d, ids(api.VpcID.Field), d.DescribeVpcs))
	mux.HandleFunc("DELETE /v1/vpcs/{id}", noBody(d, pathID, d.DeleteVpc))
	mux.HandleFunc("POST /v1/vpcs/{id}/modify", func(w http.ResponseWriter, r *http.Request) {
		withBody(d, func(c api.Caller, req api.ModifyVpcAttributeRequest) (api.ReturnResponse, error) {
			return d.ModifyVpcAttribute(c, pathID(r), req)
		})(w, r)
	})
	mux.HandleFunc("POST /v1/subnets", withBody(d, d.CreateSubnet))
	mux.HandleFunc("GET /v1/subnets", noBody(d, ids(api.SubnetID.Field), d.DescribeSubnets))
	mux.HandleFunc("DELETE /v1/subnets/{id}", noBody(d, pathID, d.DeleteSubnet))

	mux.HandleFunc("POST /v1/instances/{id}/groups", func(w http.ResponseWriter, r *http.Request) {
		withBody(d, func(c api.Caller, req api.SetGroupsRequest) (api.ReturnResponse, error) {
			return d.SetGroups(c, pathID(r), req)
		})(w, r)
	})
	mux.HandleFunc("POST /v1/security-groups", withBody(d, d.CreateSecurityGroup))
	mux.HandleFunc("GET /v1/security-groups", noBody(d, ids(api.GroupID.Field), d.DescribeSecurityGroups))
	mux.HandleFunc("DELETE /v1/security-groups/{id}", noBody(d, pathID, d.DeleteSecurityGroup))
	mux.HandleFunc("POST /v1/security-groups/authorize", withBody(d, d.AuthorizeSecurityGroup))
	mux.HandleFunc("POST /v1/security-groups/revoke", withBody(d, d.RevokeSecurityGroup))
	mux.HandleFunc("POST /v1/security-groups/modify", withBody(d, d.ModifySecurityGroupRules))
	mux.HandleFunc("GET /v1/security-group-rules", noBody(d, ids(api.GroupID.Field), d.DescribeSecurityGroupRules))
	mux.HandleFunc("POST /v1/network-acls", withBody(d, d.CreateNetworkAcl))
	mux.HandleFunc("GET /v1/network-acls", noBody(d, ids(api.NetworkAclID.Field), d.DescribeNetworkAcls))
	mux.HandleFunc("POST /v1/network-acls/entries", withBody(d, d.CreateNetworkAclEntry))
	mux.HandleFunc("POST /v1/network-acls/entries/delete", withBody(d, d.DeleteNetworkAclEntry))
	mux.HandleFunc("POST /v1/network-acls/associate", withBody(d, d.AssociateNetworkAcl))
	mux.HandleFunc("POST /v1/network-acls/entries/replace", withBody(d, d.ReplaceNetworkAclEntry))
	mux.HandleFunc("DELETE /v1/network-acls/{id}", noBody(d, pathID, d.DeleteNetworkAcl))

	mux.HandleFunc("POST /v1/tags", withBody(d, d.CreateTags))
	mux.HandleFunc("POST /v1/tags/delete", withBody(d, d.DeleteTags))
	mux.HandleFunc("GET /v1/tags", noBody(d, ids("ResourceId"), d.DescribeTags))

	mux.HandleFunc("POST /v1/volumes", withBody(d, d.CreateVolume))
	mux.HandleFunc("GET /v1/volumes", noBody(d, ids(api.VolumeID.Field), d.DescribeVolumes))
	mux.HandleFunc("DELETE /v1/volumes/{id}", noBody(d, pathID, d.DeleteVolume))
	mux.HandleFunc("POST /v1/volumes/{id}/attach", func(w http.ResponseWriter, r *http.Request) {
		withBody(d, func(c api.Caller, req api.AttachVolumeRequest) (api.VolumeAttachment, error) {
			return d.AttachVolume(c, pathID(r), req)
		})(w, r)
	})
	mux.HandleFunc("POST /v1/volumes/{id}/detach", noBody(d, pathID, d.DetachVolume))
	mux.HandleFunc("POST /v1/flow-logs", withBody(d, d.CreateFlowLog))
	mux.HandleFunc("GET /v1/flow-logs", noBody(d, ids(api.FlowLogID.Field), d.DescribeFlowLogs))
	mux.HandleFunc("DELETE /v1/flow-logs/{id}", noBody(d, pathID, d.DeleteFlowLog))
	mux.HandleFunc("GET /v1/findings", func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			var err error
			if since, err = time.Parse(time.RFC3339, s); err != nil {
				writeError(w, api.Errorf(api.CodeInvalidParameterValue, "since %q is not an RFC 3339 time", s))
				return
			}
		}
		out, err := d.ListFindings(callerOf(r), since, r.URL.Query().Get("type"))
		d.reply(w, r, out, err)
	})
	mux.HandleFunc("GET /v1/pool", noBody(d, func(*http.Request) struct{} { return struct{}{} },
		func(c api.Caller, _ struct{}) (api.PoolDescription, error) { return d.DescribePool(c) }))
	return mux
}

// jsonErrors answers what mux has no route for with EC2's error document, as it answers
// everything else, instead of Go's plain-text "404 page not found": InvalidAction, status 404 for
// an unknown path and 405 (with Allow) for a known path asked with another method. next serves
// the paths mux knows (it ends in mux, which sets the path values the handlers read).
// patternOf names a call by its route (for the API call metrics); "unknown" when none matches.
func patternOf(mux *http.ServeMux) func(*http.Request) string {
	return func(r *http.Request) string {
		if _, pattern := mux.Handler(r); pattern != "" {
			return pattern
		}
		return "unknown"
	}
}

func jsonErrors(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			next.ServeHTTP(w, r)
			return
		}
		// The mux's own answer tells which of the two it is, and which methods the path takes.
		probe := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(probe, r)
		msg := fmt.Sprintf("%s %s is not an action of hostd's API", r.Method, r.URL.Path)
		status := http.StatusNotFound
		if allow := probe.header.Get("Allow"); probe.status == http.StatusMethodNotAllowed {
			status = probe.status
			w.Header().Set("Allow", allow)
			msg += fmt.Sprintf(" (that path takes %s)", allow)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(api.ErrorDocument{Error: api.Errorf(api.CodeInvalidAction, "%s", msg)})
	})
}

// headerRecorder keeps the status and headers a handler writes, and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// withBody adapts a call that takes a JSON request body.
func withBody[Req, Resp any](d *Daemon, call func(api.Caller, Req) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := d.authorize(r); err != nil {
			d.reply(w, r, nil, err)
			return
		}
		var req Req
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, api.Errorf(api.CodeInvalidParameterValue, "the request body is not valid: %v", err))
			return
		}
		resp, err := call(callerOf(r), req)
		d.reply(w, r, resp, err)
	}
}

// noBody adapts a call whose argument comes from the URL.
func noBody[Arg, Resp any](d *Daemon, arg func(*http.Request) Arg, call func(api.Caller, Arg) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := d.authorize(r); err != nil {
			d.reply(w, r, nil, err)
			return
		}
		resp, err := call(callerOf(r), arg(r))
		d.reply(w, r, resp, err)
	}
}

// reply writes a handler's result: the document on success, the EC2 error otherwise. Errors
// that are not the user's (not an api.Error) are logged too.
func (d *Daemon) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		var apiErr *api.Error
		if !errors.As(err, &apiErr) {
			d.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, api.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *api.Error) {
	if rec, ok := w.(interface{ setErrorCode(string) }); ok {
		rec.setErrorCode(e.Code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(api.HTTPStatus(e.Code))
	_ = json.NewEncoder(w).Encode(api.ErrorDocument{Error: e})
}
