package sigv4

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Debian's python3-botocore and awscli, at the paths Debian installs them (another python3 or
// aws earlier in PATH is not what CI installs). .ci/run installs both.
const (
	debianPython = "/usr/bin/python3"
	debianAWS    = "/usr/bin/aws"
)

func requireTool(t *testing.T, path, pkg string, check ...string) {
	t.Helper()
	cmd := exec.Command(path, check...)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := path + " does not run (" + strings.TrimSpace(string(out)) + "): apt-get install " + pkg
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// signWithBotocore signs a request with botocore's SigV4Auth (header) or SigV4QueryAuth
// (presigned URL), for service ec2, now, and returns what to send.
const botocoreSigner = `
import json, sys
from urllib.parse import parse_qsl
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

def sign(spec):
    # A form body as botocore's EC2 serializer hands it over: a dict, which it encodes itself.
    data = dict(parse_qsl(spec["body"], keep_blank_values=True)) if spec["body"] else ""
    req = AWSRequest(method=spec["method"], url=spec["url"], data=data, headers=spec["headers"])
    creds = Credentials(spec["key"], spec["secret"], spec.get("token"))
    if spec["presign"]:
        SigV4QueryAuth(creds, "ec2", spec["region"], expires=300).add_auth(req)
    else:
        SigV4Auth(creds, "ec2", spec["region"]).add_auth(req)
    body = req.body or b""
    if isinstance(body, str):
        body = body.encode()
    return {"method": req.method, "url": req.url, "headers": dict(req.headers.items()), "body": body.decode()}

json.dump([sign(spec) for spec in json.load(sys.stdin)], sys.stdout)
`

type botocoreRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Key     string            `json:"key"`
	Secret  string            `json:"secret"`
	Token   *string           `json:"token,omitempty"`
	Region  string            `json:"region"`
	Presign bool              `json:"presign"`
}

// signWithBotocore signs the requests in one run of python.
func signWithBotocore(t *testing.T, specs []botocoreRequest) []botocoreRequest {
	cmd := exec.Command(debianPython, "-c", botocoreSigner)
	in, err := json.Marshal(specs)
	require.NoError(t, err)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var signed []botocoreRequest
	require.NoError(t, json.Unmarshal(out, &signed), string(out))
	require.Len(t, signed, len(specs))
	return signed
}

// Requests signed by Debian's botocore, both forms, verify over real TCP; a wrong secret is
// refused.
func TestBotocore(t *testing.T) {
	requireTool(t, debianPython, "python3-botocore", "-c", "import botocore.auth")
	keys := newKeyring()
	srv := verifyServer(t, newTestVerifier(keys, time.Now))
	creds := keys.add("bob", "")
	temp := keys.add("temp", "IQoJb3JpZ2luX2VjEXAMPLE//token+=")

	requests := []botocoreRequest{
		{Method: "GET", URL: srv.URL + "/?Action=DescribeInstances&Version=2016-11-15&Filter.1.Value.1=a%20b%2Bc~%C3%A9"},
		{Method: "POST", URL: srv.URL + "/", Body: "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&Version=2016-11-15",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}},
		{Method: "GET", URL: srv.URL + "/api/./a%20b//c/?Action=DescribeVpcs"}, // botocore normalises the path, as the verifier does
	}
	type signer struct {
		user, key, secret string
		token             *string
	}
	signers := []signer{
		{"bob", creds.AccessKeyID, creds.SecretAccessKey, nil},
		{"temp", temp.AccessKeyID, temp.SecretAccessKey, &temp.SessionToken},
		{"", creds.AccessKeyID, creds.SecretAccessKey + "x", nil}, // a wrong secret
	}
	var specs []botocoreRequest
	var by []signer
	for _, presign := range []bool{false, true} {
		for _, r := range requests {
			for _, s := range signers {
				r.Key, r.Secret, r.Token, r.Region, r.Presign = s.key, s.secret, s.token, testRegion, presign
				if r.Headers == nil {
					r.Headers = map[string]string{}
				}
				specs = append(specs, r)
				by = append(by, s)
			}
		}
	}
	for i, signed := range signWithBotocore(t, specs) {
		id, e := send(t, botocoreHTTP(t, signed))
		if by[i].user == "" {
			require.NotNil(t, e, "%+v", specs[i])
			assert.Equal(t, api.CodeAuthFailure, e.Code)
			continue
		}
		require.Nil(t, e, "%+v", specs[i])
		assert.Equal(t, by[i].user, id.UserName)
	}
}

func botocoreHTTP(t *testing.T, signed botocoreRequest) *http.Request {
	r, err := http.NewRequest(signed.Method, signed.URL, strings.NewReader(signed.Body))
	require.NoError(t, err)
	for name, value := range signed.Headers {
		r.Header.Set(name, value)
	}
	return r
}

// The AWS CLI itself (Debian's awscli), pointed at a server that verifies, gets through with
// the right key and gets EC2's AuthFailure with a wrong one.
func TestAWSCLI(t *testing.T) {
	requireTool(t, debianAWS, "awscli", "--version")
	keys := newKeyring()
	v := newTestVerifier(keys, time.Now)
	creds := keys.add("carol", "")
	var verified []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		id, err := v.Verify(FromHTTP(r, body))
		w.Header().Set("Content-Type", "text/xml")
		if err != nil {
			e := api.AsError(err)
			w.WriteHeader(api.HTTPStatus(e.Code))
			fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>r-1</RequestID></Response>`, e.Code, html.EscapeString(e.Message))
			return
		}
		verified = append(verified, id.UserName)
		fmt.Fprint(w, `<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><vpcSet/></DescribeVpcsResponse>`)
	}))
	defer srv.Close()

	run := func(secret string) (string, error) {
		cmd := exec.Command(debianAWS, "--endpoint-url", srv.URL, "--region", testRegion, "ec2", "describe-vpcs")
		home := t.TempDir()
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home,
			"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
			"AWS_MAX_ATTEMPTS=1", "AWS_PAGER="}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(creds.SecretAccessKey)
	require.NoError(t, err, out)
	assert.JSONEq(t, `{"Vpcs":[]}`, out)
	assert.Equal(t, []string{"carol"}, verified)

	out, err = run(creds.SecretAccessKey + "x")
	require.Error(t, err)
	assert.Contains(t, out, "(AuthFailure)")
	assert.Equal(t, []string{"carol"}, verified)
}
