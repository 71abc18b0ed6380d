package ec2query

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

// keyAuthenticator stands in for the SigV4 verifier of hostd/sigv4, which the second stage
// plugs in: it takes the access key id from the Authorization header (as every AWS client writes
// it: "AWS4-HMAC-SHA256 Credential=AKID/…") and checks nothing else. Keys map to accounts.
type keyAuthenticator map[string]string

var credentialRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (k keyAuthenticator) Authenticate(r *http.Request, _ []byte) (Caller, error) {
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return Caller{}, errorf("MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	account, ok := k[m[1]]
	if !ok {
		return Caller{}, errorf(CodeAuthFailure, "AWS was not able to validate the provided access credentials")
	}
	return Caller{AccountID: account, ARN: "arn:aws:iam::" + account + ":user/test", AccessKeyID: m[1]}, nil
}

// denyList refuses the listed (key, action) pairs, and records what it was asked.
type denyList struct {
	mu     sync.Mutex
	deny   map[string]bool // "KEY ec2:Action"
	asked  []string
	lastRs []Resource
}

func (d *denyList) Authorize(_ context.Context, c Caller, action string, rs []Resource) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, action)
	d.lastRs = rs
	if d.deny[c.AccessKeyID+" "+action] {
		return errorf(CodeUnauthorizedOperation, "You are not authorized to perform this operation.")
	}
	return nil
}

// memoryAudit keeps the records; fail makes Record fail.
type memoryAudit struct {
	mu      sync.Mutex
	records []Record
	fail    bool
}

func (a *memoryAudit) Record(_ context.Context, rec Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("disk full")
	}
	a.records = append(a.records, rec)
	return nil
}

func (a *memoryAudit) last() Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.records[len(a.records)-1]
}

type routerFixture struct {
	router *Router
	authz  *denyList
	audit  *memoryAudit
	calls  map[string]int
}

const (
	keyA = "AKIAAAAAAAAAAAAAAAAA"
	keyB = "AKIABBBBBBBBBBBBBBBB"
)

func newRouterFixture() *routerFixture {
	f := &routerFixture{authz: &denyList{deny: map[string]bool{}}, audit: &memoryAudit{}, calls: map[string]int{}}
	f.router = NewRouter(Config{
		Region:        "us-east-1",
		Authenticator: keyAuthenticator{keyA: "111111111111", keyB: "222222222222"},
		Authorizer:    f.authz,
		Auditor:       f.audit,
		PageKey:       []byte("page key"),
		Log:           slog.New(slog.DiscardHandler),
	})
	Register(f.router, "DeleteVpc", func(_ context.Context, _ *Call, req *DeleteVpcRequest) (*NoOutput, error) {
		f.calls["DeleteVpc"]++
		if req.VpcId == "vpc-missing" {
			return nil, api.Errorf(api.CodeInvalidVpcNotFound, "The vpc ID '%s' does not exist", req.VpcId)
		}
		if req.VpcId == "vpc-broken" {
			return nil, errors.New("bbolt: secret internal detail")
		}
		return &NoOutput{}, nil
	}, func(req *DeleteVpcRequest) []Resource { return []Resource{{Type: "vpc", ID: req.VpcId}} })
	Register(f.router, "DescribeVpcs", func(_ context.Context, call *Call, req *DescribeVpcsRequest) (*DescribeVpcsResult, error) {
		f.calls["DescribeVpcs"]++
		ids := []string{"vpc-1", "vpc-2", "vpc-3", "vpc-4", "vpc-5", "vpc-6", "vpc-7"}
		page, err := call.Page(ids, req.MaxResults, req.NextToken)
		if err != nil {
			return nil, err
		}
		out := &DescribeVpcsResult{Vpcs: []Vpc{}, NextToken: page.NextToken}
		for _, id := range ids[page.Start:page.End] {
			out.Vpcs = append(out.Vpcs, Vpc{VpcId: id, CidrBlock: "10.0.0.0/16", State: "available"})
		}
		return out, nil
	}, nil)
	return f
}

type answer struct {
	status int
	body   string
}

func (f *routerFixture) do(t *testing.T, method, key, query, form string) answer {
	t.Helper()
	r := httptest.NewRequest(method, "/?"+query, strings.NewReader(form))
	if form != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	if key != "" {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20161115/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00")
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return answer{w.Code, string(body)}
}

func errorCodeOf(t *testing.T, a answer) string {
	t.Helper()
	var doc struct {
		Errors struct {
			Error struct{ Code, Message string }
		}
		RequestID string
	}
	require.NoError(t, xml.Unmarshal([]byte(a.body), &doc), a.body)
	require.NotEmpty(t, doc.RequestID)
	return doc.Errors.Error.Code
}

func TestRouterAnswers(t *testing.T) {
	f := newRouterFixture()
	a := f.do(t, "POST", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1")
	require.Equal(t, 200, a.status, a.body)
	require.Regexp(t, `^<\?xml version="1.0" encoding="UTF-8"\?>\n<DeleteVpcResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>[0-9a-f-]{36}</requestId><return>true</return></DeleteVpcResponse>$`, a.body)
	require.Equal(t, []Resource{{Type: "vpc", ID: "vpc-1"}}, f.authz.lastRs)
	rec := f.audit.last()
	require.Equal(t, "DeleteVpc", rec.Action)
	require.Equal(t, "111111111111", rec.Caller.AccountID)
	require.False(t, rec.ReadOnly)
	require.Nil(t, rec.Error)
	require.Equal(t, &DeleteVpcRequest{VpcId: "vpc-1"}, rec.Request)

	// GET with the parameters in the URL, as EC2 takes them too.
	a = f.do(t, "GET", keyA, "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1", "")
	require.Equal(t, 200, a.status, a.body)
	require.Contains(t, a.body, "<vpcSet><item><cidrBlock>10.0.0.0/16</cidrBlock><state>available</state><vpcId>vpc-1</vpcId></item>")
	require.True(t, f.audit.last().ReadOnly)
}

func TestRouterRefusals(t *testing.T) {
	f := newRouterFixture()
	for _, c := range []struct {
		name, key, query, form string
		status                 int
		code                   string
	}{
		{"no signature", "", "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1", 403, "MissingAuthenticationToken"},
		{"unknown key", "AKIAZZZZZZZZZZZZZZZZ", "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1", 401, CodeAuthFailure},
		{"unknown action", keyA, "", "Action=LaunchRockets&Version=2016-11-15", 400, CodeInvalidAction},
		{"an action hostd has not got yet", keyA, "", "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16", 400, CodeInvalidAction},
		{"no action", keyA, "", "Version=2016-11-15", 400, CodeMissingAction},
		{"no version", keyA, "", "Action=DeleteVpc&VpcId=vpc-1", 400, api.CodeMissingParameter},
		{"another version", keyA, "", "Action=DeleteVpc&Version=2014-10-01&VpcId=vpc-1", 400, CodeNoSuchVersion},
		{"unknown parameter", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1&Force=true", 400, CodeUnknownParameter},
		{"missing parameter", keyA, "", "Action=DeleteVpc&Version=2016-11-15", 400, api.CodeMissingParameter},
		{"in the query and the body", keyA, "VpcId=vpc-2", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1", 400, api.CodeInvalidParameterValue},
		{"not a form", keyA, "", "Action=DeleteVpc;Version=2016-11-15", 400, CodeMalformedQueryString},
		{"dry run, allowed", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1&DryRun=true", 412, CodeDryRunOperation},
		{"the core's own error", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-missing", 400, api.CodeInvalidVpcNotFound},
		{"bad page size", keyA, "", "Action=DescribeVpcs&Version=2016-11-15&MaxResults=4", 400, api.CodeInvalidParameterValue},
		{"forged page token", keyA, "", "Action=DescribeVpcs&Version=2016-11-15&MaxResults=5&NextToken=AAAAAAAAAAAAAAAAAAAAAHZwYy03", 400, CodeInvalidPaginationToken},
	} {
		before := f.calls["DeleteVpc"]
		a := f.do(t, "POST", c.key, c.query, c.form)
		require.Equal(t, c.status, a.status, "%s: %s", c.name, a.body)
		require.Equal(t, c.code, errorCodeOf(t, a), c.name)
		rec := f.audit.last()
		require.Equal(t, c.code, rec.Error.Code, "%s: audited", c.name)
		if c.code != api.CodeInvalidVpcNotFound {
			require.Equal(t, before, f.calls["DeleteVpc"], "%s: the handler was not called", c.name)
		}
	}
	// The same refusal for a denied key, with or without DryRun, and the handler never runs.
	f.authz.deny[keyB+" ec2:DeleteVpc"] = true
	for _, form := range []string{"Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1&DryRun=true"} {
		before := f.calls["DeleteVpc"]
		a := f.do(t, "POST", keyB, "", form)
		require.Equal(t, 403, a.status)
		require.Equal(t, CodeUnauthorizedOperation, errorCodeOf(t, a))
		require.Equal(t, before, f.calls["DeleteVpc"])
	}
}

func TestRouterHidesInternalErrorsAndNeedsTheAudit(t *testing.T) {
	f := newRouterFixture()
	a := f.do(t, "POST", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-broken")
	require.Equal(t, 500, a.status)
	require.Equal(t, api.CodeInternalError, errorCodeOf(t, a))
	require.NotContains(t, a.body, "bbolt", "the client does not see the daemon's insides")

	// A call whose record cannot be kept is answered InternalError, though it ran.
	f.audit.fail = true
	before := f.calls["DeleteVpc"]
	a = f.do(t, "POST", keyA, "", "Action=DeleteVpc&Version=2016-11-15&VpcId=vpc-1")
	require.Equal(t, 500, a.status)
	require.Equal(t, before+1, f.calls["DeleteVpc"])
}

func TestRouterBoundsTheBody(t *testing.T) {
	f := newRouterFixture()
	form := "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=" + strings.Repeat("x", MaxBodyBytes)
	a := f.do(t, "POST", keyA, "", form)
	require.Equal(t, CodeRequestEntityTooLarge, errorCodeOf(t, a))
	a = f.do(t, "POST", keyA, "", "Action=DescribeVpcs&Version=2016-11-15"+strings.Repeat("&", MaxParameters))
	require.Equal(t, api.CodeInvalidParameterValue, errorCodeOf(t, a))
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"Action":"DescribeVpcs"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyA+"/x")
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, r)
	require.Equal(t, 400, w.Code)
	r = httptest.NewRequest("PUT", "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyA+"/x")
	w = httptest.NewRecorder()
	f.router.ServeHTTP(w, r)
	require.Equal(t, 400, w.Code)
}

// TestRouterPageTokensAreTheCallers: a NextToken works for the account and the request it was
// issued for, and for no other.
func TestRouterPageTokensAreTheCallers(t *testing.T) {
	f := newRouterFixture()
	a := f.do(t, "POST", keyA, "", "Action=DescribeVpcs&Version=2016-11-15&MaxResults=5")
	require.Equal(t, 200, a.status, a.body)
	token := regexp.MustCompile(`<nextToken>([^<]+)</nextToken>`).FindStringSubmatch(a.body)[1]
	next := "Action=DescribeVpcs&Version=2016-11-15&MaxResults=5&NextToken=" + url.QueryEscape(token)
	a = f.do(t, "POST", keyA, "", next)
	require.Equal(t, 200, a.status, a.body)
	require.Contains(t, a.body, "<vpcId>vpc-6</vpcId>")
	require.NotContains(t, a.body, "<vpcId>vpc-5</vpcId>")
	require.NotContains(t, a.body, "nextToken")
	a = f.do(t, "POST", keyB, "", next)
	require.Equal(t, CodeInvalidPaginationToken, errorCodeOf(t, a), "another account")
	a = f.do(t, "POST", keyA, "", next+"&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1")
	require.Equal(t, CodeInvalidPaginationToken, errorCodeOf(t, a), "other filters")
}
