package ec2query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// Caller is who sent a request, as the Authenticator established it.
type Caller struct {
	AccountID   string // the 12-digit account the caller acts in
	ARN         string // arn:aws:iam::ACCOUNT:user/NAME
	AccessKeyID string
}

// Resource is one resource a call acts on, for the IAM check: Type is EC2's ARN resource type
// (vpc, subnet, security-group, network-acl, instance, volume, image, …) and ID its id. The
// Authorizer makes the ARN (arn:aws:ec2:REGION:ACCOUNT:TYPE/ID) from the caller's account.
type Resource struct {
	Type, ID string
}

// Authenticator checks a request's SigV4 signature (the Authorization header or a presigned URL)
// over its raw body and says who signed it. Its errors are EC2's: AuthFailure,
// RequestExpired, IncompleteSignature, MissingAuthenticationToken.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) (Caller, error)
}

// Authorizer decides whether the caller may call action ("ec2:RunInstances") on resources (none
// means "*"): nil to allow, an UnauthorizedOperation error to refuse.
type Authorizer interface {
	Authorize(ctx context.Context, caller Caller, action string, resources []Resource) error
}

// Auditor keeps the record of a call. Record is called once for every request, answered or
// refused, before the answer is sent; when it fails the client gets InternalError instead, so
// that no client holds the answer to a call the trail does not have.
type Auditor interface {
	Record(ctx context.Context, rec Record) error
}

// Record is what the Auditor gets of a call. Request and Response are the decoded request and the
// handler's output (nil when the call did not get that far); the Auditor chooses what of them to
// keep, and must leave out secrets (UserData).
type Record struct {
	Time      time.Time
	RequestID string
	Action    string
	Caller    *Caller // nil when the request was not authenticated
	SourceIP  string
	UserAgent string
	ReadOnly  bool
	Request   any
	Response  any
	Error     *api.Error
}

// Call is what a handler gets besides its request.
type Call struct {
	Caller    Caller
	Action    string
	RequestID string
	Region    string

	pager     *Pager
	pageScope string
	pages     *PageLimits
}

// Page picks the page of a listing (ids of everything the call would answer, sorted) that the
// request's MaxResults and NextToken ask for, within the action's MaxResults range.
func (c *Call) Page(ids []string, maxResults *int, nextToken string) (Page, error) {
	if c.pages == nil {
		return Page{}, errors.New(c.Action + " has no pages")
	}
	return c.pager.Page(c.pageScope, ids, maxResults, nextToken, *c.pages)
}

// Config is what a Router needs. Authenticator is required; Authorizer and Auditor may be nil
// (allow everything, keep no record) until the tenants' packages plug in.
type Config struct {
	Region        string
	Authenticator Authenticator
	Authorizer    Authorizer
	Auditor       Auditor
	// PageKey seals pagination tokens (see Pager).
	PageKey []byte
	Log     *slog.Logger
}

// Router is the EC2 Query front end: an http.Handler for POST / and GET /?Action=… that
// authenticates, decodes, authorises, audits and dispatches each call to its registered action.
type Router struct {
	cfg     Config
	pager   *Pager
	actions map[string]*action
}

type action struct {
	spec      ActionSpec
	handle    func(ctx context.Context, call *Call, req any) (any, error)
	resources func(req any) []Resource
}

// NoOutput is the output of an action whose model has none: EC2 answers <return>true</return>.
type NoOutput struct{}

var noOutputType = reflect.TypeFor[NoOutput]()

// NewRouter makes a router with no actions; Register adds them.
func NewRouter(cfg Config) *Router {
	if cfg.Authenticator == nil {
		panic("ec2query: a Router needs an Authenticator")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Router{cfg: cfg, pager: NewPager(cfg.PageKey), actions: make(map[string]*action)}
}

// Register adds the action name, answered by handle. resources, if not nil, names what a request
// acts on for the IAM check. The action must be in the Catalog, with the Catalog's types.
func Register[Req, Resp any](r *Router, name string, handle func(context.Context, *Call, *Req) (*Resp, error), resources func(*Req) []Resource) {
	i := slices.IndexFunc(Catalog, func(s ActionSpec) bool { return s.Name == name })
	if i < 0 || Catalog[i].Request != reflect.TypeFor[Req]() || Catalog[i].Output != reflect.TypeFor[Resp]() {
		panic("ec2query: " + name + " is not in the Catalog with these types")
	}
	var res func(any) []Resource
	if resources != nil {
		res = func(req any) []Resource { return resources(req.(*Req)) }
	}
	r.register(Catalog[i], func(ctx context.Context, call *Call, req any) (any, error) {
		out, err := handle(ctx, call, req.(*Req))
		if err != nil || out == nil {
			return nil, err
		}
		return out, nil
	}, res)
}

// register adds an action whose types the caller has checked against the Catalog.
func (r *Router) register(spec ActionSpec, handle func(context.Context, *Call, any) (any, error), resources func(any) []Resource) {
	if _, dup := r.actions[spec.Name]; dup {
		panic("ec2query: action " + spec.Name + " registered twice")
	}
	r.actions[spec.Name] = &action{spec: spec, handle: handle, resources: resources}
}

// Actions are the names of the registered actions, sorted.
func (r *Router) Actions() []string {
	names := make([]string, 0, len(r.actions))
	for name := range r.actions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ServeHTTP answers one call. The order is fixed, and each step's refusal changes nothing:
// read the body (bounded) → authenticate → parse the parameters → find the action
// (InvalidAction) → decode the request → authorise (UnauthorizedOperation) → DryRun
// (DryRunOperation) → the handler → the audit record → the answer.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec := Record{
		Time:      time.Now().UTC(),
		RequestID: NewRequestID(),
		SourceIP:  sourceIP(req),
		UserAgent: req.UserAgent(),
	}
	out, err := r.serve(req, &rec)
	if err != nil {
		rec.Error = api.AsError(err)
		if rec.Error.Code == api.CodeInternalError {
			r.cfg.Log.Error("EC2 call failed", "action", rec.Action, "requestId", rec.RequestID, "err", err)
			rec.Error = errorf(api.CodeInternalError, "An internal error has occurred (request %s)", rec.RequestID)
		}
	} else {
		rec.Response = out
	}
	if r.cfg.Auditor != nil {
		if aerr := r.cfg.Auditor.Record(req.Context(), rec); aerr != nil {
			r.cfg.Log.Error("the audit trail refused a record; the call is answered InternalError", "action", rec.Action, "requestId", rec.RequestID, "err", aerr)
			rec.Error = errorf(api.CodeInternalError, "An internal error has occurred (request %s)", rec.RequestID)
		}
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if rec.Error != nil {
		w.WriteHeader(HTTPStatus(rec.Error.Code))
		_, _ = w.Write(EncodeError(rec.Error, rec.RequestID))
		return
	}
	if reflect.TypeOf(out).Elem() == noOutputType {
		out = nil
	}
	_, _ = w.Write(EncodeResponse(rec.Action, rec.RequestID, out))
}

func (r *Router) serve(req *http.Request, rec *Record) (any, error) {
	body, err := ReadBody(req)
	if err != nil {
		return nil, err
	}
	caller, err := r.cfg.Authenticator.Authenticate(req, body)
	if err != nil {
		return nil, err
	}
	rec.Caller = &caller
	params, err := ParseParameters(req, body)
	if err != nil {
		return nil, err
	}
	if params.Action == "" {
		return nil, errorf(CodeMissingAction, "The request must contain the parameter Action")
	}
	rec.Action = truncate(params.Action, 64)
	a := r.actions[params.Action]
	if a == nil {
		return nil, errorf(CodeInvalidAction, "The action %.64s is not valid for this web service.", params.Action)
	}
	rec.ReadOnly = strings.HasPrefix(a.spec.Name, "Describe")
	if params.Version == "" {
		return nil, errorf(api.CodeMissingParameter, "The request must contain the parameter Version")
	}
	if params.Version != APIVersion {
		return nil, errorf(CodeNoSuchVersion, "The requested version (%.32s) of service AmazonEC2 does not exist; hostd speaks %s", params.Version, APIVersion)
	}
	in := reflect.New(a.spec.Request).Interface()
	if err := Decode(params.Values, in); err != nil {
		return nil, err
	}
	rec.Request = in
	if r.cfg.Authorizer != nil {
		var resources []Resource
		if a.resources != nil {
			resources = a.resources(in)
		}
		if err := r.cfg.Authorizer.Authorize(req.Context(), caller, "ec2:"+a.spec.Name, resources); err != nil {
			return nil, err
		}
	}
	if dryRun(in) {
		return nil, errorf(CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
	}
	call := &Call{
		Caller:    caller,
		Action:    a.spec.Name,
		RequestID: rec.RequestID,
		Region:    r.cfg.Region,
		pager:     r.pager,
		pageScope: pageScope(caller, a.spec.Name, params),
		pages:     a.spec.Pages,
	}
	out, err := a.handle(req.Context(), call, in)
	if err == nil && out == nil {
		err = errors.New("the handler of " + a.spec.Name + " returned no output")
	}
	return out, err
}

// dryRun is a request's DryRun member (all but ModifyVpcAttribute and ModifySubnetAttribute have one).
func dryRun(req any) bool {
	v := reflect.ValueOf(req).Elem()
	f := v.FieldByName("DryRun")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

// pageScope binds a NextToken to the account, the action and the rest of the request.
func pageScope(caller Caller, action string, p *Parameters) string {
	keys := make([]string, 0, len(p.Values))
	for k := range p.Values {
		if k != "NextToken" && k != "MaxResults" && k != "DryRun" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	field := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	field(caller.AccountID)
	field(action)
	for _, k := range keys {
		field(k)
		for _, v := range p.Values[k] {
			field(v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
