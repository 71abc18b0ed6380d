package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hostd/hostd/hostd/api"
)

// routes is the HTTP/JSON API. Every answer is one JSON document; errors are EC2-shaped.
func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/instances", func(w http.ResponseWriter, r *http.Request) {
		var req api.RunInstanceRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.RunInstance(req)
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/instances", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DescribeInstances(r.URL.Query()["InstanceId"])
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/instances/terminate", func(w http.ResponseWriter, r *http.Request) {
		var req api.TerminateInstancesRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.TerminateInstances(req.InstanceIds)
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/instances/{id}/exec", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.ExecTarget(r.PathValue("id"))
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/instances/{id}/modify", func(w http.ResponseWriter, r *http.Request) {
		var req api.ModifyInstanceRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.ModifyInstance(r.PathValue("id"), req)
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/pool", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DescribePool()
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/vpcs", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateVpcRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.CreateVpc(req)
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/vpcs", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DescribeVpcs(r.URL.Query()["VpcId"])
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("DELETE /v1/vpcs/{id}", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DeleteVpc(r.PathValue("id"))
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/subnets", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateSubnetRequest
		if !decode(w, r, &req) {
			return
		}
		res, err := d.CreateSubnet(req)
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/subnets", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DescribeSubnets(r.URL.Query()["SubnetId"])
		d.reply(w, r, res, err)
	})
	mux.HandleFunc("DELETE /v1/subnets/{id}", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.DeleteSubnet(r.PathValue("id"))
		d.reply(w, r, res, err)
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, api.Errorf(api.CodeInvalidParameterValue, "the request body is not valid: %v", err))
		return false
	}
	return true
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(api.HTTPStatus(e.Code))
	_ = json.NewEncoder(w).Encode(api.ErrorDocument{Error: e})
}
