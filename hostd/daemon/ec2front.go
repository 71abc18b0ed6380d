package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/ec2query"
	"github.com/hostd/hostd/hostd/iam"
	"github.com/hostd/hostd/hostd/sigv4"
)

// The seam for EC2's Query API (hostd/ec2query, issue 13): its Router serves POST / and
// GET /?Action= on the network listener, and calls these hooks itself in its own order
// (authenticate → decode → authorize → handle → audit). They are the native API's: the same
// verifier, the same users' policies, the same trail.
//
//	router := ec2query.NewRouter(ec2query.Config{Region: d.Region(), Authenticator: d.EC2Authenticator(),
//		Authorizer: d.EC2Authorizer(), Auditor: d.EC2Auditor()})
//	d.MountEC2(router) // before Serve
//
// A handler acts for api.Caller{AccountID: call.Caller.AccountID, AccessKeyID: ...}. ec2api.NewRouter
// builds this router with EC2's actions, for serve --listen and for tests alike.

// MountEC2 serves h at / on the network listener. Call it before Serve.
func (d *Daemon) MountEC2(h http.Handler) { d.ec2Front = h }

// Region is the region the daemon's signatures are scoped to.
func (d *Daemon) Region() string { return d.cfg.Region }

// EC2Authenticator verifies a Query request's signature, as the native API's.
func (d *Daemon) EC2Authenticator() ec2query.Authenticator { return ec2Hooks{d} }

// EC2Authorizer evaluates the caller's policies, as the native API's.
func (d *Daemon) EC2Authorizer() ec2query.Authorizer { return ec2Hooks{d} }

// EC2Auditor appends a Query call's record to the trail.
func (d *Daemon) EC2Auditor() ec2query.Auditor { return ec2Hooks{d} }

type ec2Hooks struct{ d *Daemon }

func (h ec2Hooks) Authenticate(r *http.Request, body []byte) (ec2query.Caller, error) {
	id, err := h.d.verifier.Verify(sigv4.FromHTTP(r, body))
	if err != nil {
		return ec2query.Caller{}, err
	}
	return ec2query.Caller{AccountID: id.AccountID, ARN: id.ARN(), AccessKeyID: id.AccessKeyID}, nil
}

func (h ec2Hooks) Authorize(_ context.Context, c ec2query.Caller, action string, resources []ec2query.Resource) error {
	user := h.d.userOfKey(c.AccessKeyID)
	var arns []string
	for _, res := range resources {
		arns = append(arns, iam.ResourceARN(h.d.cfg.Region, c.AccountID, res.Type, res.ID))
	}
	return iam.Evaluate(h.d.policiesOf(api.Caller{AccountID: c.AccountID, UserName: user}), action, arns).Err()
}

func (h ec2Hooks) Record(_ context.Context, rec ec2query.Record) error {
	// The router reads the action only once the signature is verified: a refused signature's
	// record names none (the native listener knows its route first).
	out := &audit.Record{EventTime: rec.Time, EventName: cmp.Or(rec.Action, "UnknownAction"), AWSRegion: h.d.cfg.Region, SourceIPAddress: rec.SourceIP,
		UserAgent: rec.UserAgent, RequestID: rec.RequestID, ReadOnly: rec.ReadOnly, UserIdentity: audit.UserIdentity{Type: "Unknown"}}
	if c := rec.Caller; c != nil {
		out.UserIdentity = audit.UserIdentity{Type: "IAMUser", AccountID: c.AccountID, ARN: c.ARN, AccessKeyID: c.AccessKeyID, UserName: h.d.userOfKey(c.AccessKeyID)}
		out.RecipientAccountID = c.AccountID
	}
	out.RequestParameters, _ = json.Marshal(rec.Request)
	if !rec.ReadOnly && rec.Response != nil {
		out.ResponseElements, _ = json.Marshal(rec.Response)
	}
	if rec.Error != nil {
		out.ErrorCode, out.ErrorMessage = rec.Error.Code, truncate(rec.Error.Message, 1024)
	}
	return h.d.trail.Append(out)
}

// userOfKey is the user an access key belongs to ("" for none).
func (d *Daemon) userOfKey(id string) string {
	d.tenants.mu.RLock()
	defer d.tenants.mu.RUnlock()
	if k, ok := d.tenants.keys[id]; ok {
		return k.UserName
	}
	return ""
}
