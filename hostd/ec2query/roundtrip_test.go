package ec2query

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

// debianPython is Debian's interpreter, whose botocore is Debian's python3-botocore (another
// python3 earlier on the PATH may have a botocore of its own).
const debianPython = "/usr/bin/python3"

type botocoreRequest struct {
	Action string `json:"action"`
	Params any    `json:"params"`
}

type botocoreResponse struct {
	Action string `json:"action"`
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// runPython runs testdata/botocore_client.py MODE with Debian's botocore and boto3.
func runPython(t *testing.T, mode string, in any) []byte {
	t.Helper()
	loadModel(t)
	b, err := json.Marshal(in)
	require.NoError(t, err)
	cmd := exec.Command(debianPython, "testdata/botocore_client.py", mode)
	cmd.Stdin = bytes.NewReader(b)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "botocore_client.py %s: %s", mode, stderr.String())
	return out
}

// runBotocore serialises requests and parses responses with botocore's own ec2 protocol code.
func runBotocore(t *testing.T, reqs []botocoreRequest, resps []botocoreResponse) (forms []url.Values, parsed []map[string]any) {
	t.Helper()
	out := runPython(t, "roundtrip", map[string]any{"requests": reqs, "responses": resps})
	var res struct {
		Botocore  string           `json:"botocore"`
		Requests  [][][2]string    `json:"requests"`
		Responses []map[string]any `json:"responses"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	t.Logf("botocore %s", res.Botocore)
	for _, pairs := range res.Requests {
		form := url.Values{}
		for _, kv := range pairs {
			form.Add(kv[0], kv[1])
		}
		forms = append(forms, form)
	}
	return forms, res.Responses
}

// TestBotocoreRequestsDecode: for every action, a request with every member hostd takes, as
// botocore's ec2 serializer writes it, decodes into exactly the request it was made from.
func TestBotocoreRequestsDecode(t *testing.T) {
	var reqs []botocoreRequest
	var samples []reflect.Value
	for _, a := range Catalog {
		s := sampleOf(a.Request)
		samples = append(samples, s)
		reqs = append(reqs, botocoreRequest{Action: a.Name, Params: members(s)})
	}
	forms, _ := runBotocore(t, reqs, nil)
	require.Len(t, forms, len(Catalog))
	for i, a := range Catalog {
		form := forms[i]
		require.Equal(t, a.Name, form.Get("Action"))
		require.Equal(t, APIVersion, form.Get("Version"))
		form.Del("Action")
		form.Del("Version")
		got := reflect.New(a.Request)
		if err := Decode(form, got.Interface()); err != nil {
			t.Errorf("%s: %v\nform: %v", a.Name, err, form)
			continue
		}
		if want, have := members(samples[i]), members(got); !reflect.DeepEqual(want, have) {
			t.Errorf("%s: decoded\n%v\nfrom\n%v\nwant\n%v", a.Name, have, form, want)
		}
	}
}

// TestBotocoreParsesResponses: for every action, an output with every member hostd writes, as
// EncodeResponse writes it, is what botocore's ec2 parser reads, member for member.
func TestBotocoreParsesResponses(t *testing.T) {
	var resps []botocoreResponse
	var want []any
	for _, a := range Catalog {
		var out any
		if a.Output != noOutputType {
			s := sampleOf(a.Output)
			out = s.Interface()
			want = append(want, members(s))
		} else {
			want = append(want, map[string]any{})
		}
		resps = append(resps, botocoreResponse{Action: a.Name, Status: 200, Body: string(EncodeResponse(a.Name, NewRequestID(), out))})
	}
	_, parsed := runBotocore(t, nil, resps)
	require.Len(t, parsed, len(Catalog))
	for i, a := range Catalog {
		if !reflect.DeepEqual(want[i], any(parsed[i])) {
			t.Errorf("%s: botocore read\n%v\nwant\n%v\nfrom\n%s", a.Name, parsed[i], want[i], resps[i].Body)
		}
	}
}

// TestBotocoreParsesErrors: EC2's error document, with each status the router sends, reads back
// as the code and message.
func TestBotocoreParsesErrors(t *testing.T) {
	codes := []string{api.CodeInvalidParameterValue, CodeAuthFailure, CodeUnauthorizedOperation, CodeDryRunOperation, api.CodeInternalError, CodeRequestLimitExceeded, "InvalidVpcID.NotFound"}
	var resps []botocoreResponse
	for _, code := range codes {
		e := &api.Error{Code: code, Message: "message of " + code + " <&>"}
		resps = append(resps, botocoreResponse{Action: "DescribeVpcs", Status: HTTPStatus(code), Body: string(EncodeError(e, "req-1"))})
	}
	_, parsed := runBotocore(t, nil, resps)
	for i, code := range codes {
		require.Equal(t, map[string]any{"Code": code, "Message": "message of " + code + " <&>"}, parsed[i]["Error"], "status %d", resps[i].Status)
	}
	require.Equal(t, http.StatusPreconditionFailed, HTTPStatus(CodeDryRunOperation))
}
