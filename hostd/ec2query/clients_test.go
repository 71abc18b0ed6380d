package ec2query

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// stubServer answers every action of the Catalog over real HTTP with a canned output (every
// member filled in), remembers the request it decoded, and fails where a test says so. It is the
// router of the real front end with stand-ins for the handlers and the SigV4 verifier.
type stubServer struct {
	*httptest.Server
	authz *denyList

	mu      sync.Mutex
	got     map[string]any
	outputs map[string]any
	fail    map[string]*api.Error
}

func newStubServer(t *testing.T) *stubServer {
	s := &stubServer{authz: &denyList{deny: map[string]bool{}}, got: map[string]any{}, outputs: map[string]any{}, fail: map[string]*api.Error{}}
	r := NewRouter(Config{
		Region:        "us-east-1",
		Authenticator: keyAuthenticator{keyA: "111111111111", keyB: "222222222222"},
		Authorizer:    s.authz,
		Auditor:       &memoryAudit{},
		PageKey:       []byte("k"),
		Log:           slog.New(slog.DiscardHandler),
	})
	for _, spec := range Catalog {
		if spec.Output != noOutputType {
			s.outputs[spec.Name] = sampleOf(spec.Output).Interface()
		}
		r.register(spec, func(_ context.Context, _ *Call, req any) (any, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.got[spec.Name] = req
			if e := s.fail[spec.Name]; e != nil {
				return nil, e
			}
			if spec.Output == noOutputType {
				return &NoOutput{}, nil
			}
			return s.outputs[spec.Name], nil
		}, nil)
	}
	s.Server = httptest.NewServer(r)
	t.Cleanup(s.Close)
	return s
}

func (s *stubServer) request(action string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[action]
}

// normalised is a client's reading of an answer as plain JSON: no nulls, empty strings or
// empty objects (what a client shows for an absent member), timestamps in one text form.
func normalised(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "ResultMetadata" || k == "ResponseMetadata" {
				continue
			}
			if n := normalised(e); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalised(e)
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		if tm, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return tm.UTC().Format(timeFormat)
		}
	}
	return v
}

func jsonRoundtrip(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// TestBoto3DrivesEveryAction: boto3 (Debian's python3-boto3) calls every action of the catalog
// with every member hostd takes; each request decodes to what boto3 was given, and boto3 reads
// each canned answer member for member.
func TestBoto3DrivesEveryAction(t *testing.T) {
	s := newStubServer(t)
	var calls []map[string]any
	samples := map[string]reflect.Value{}
	for _, spec := range Catalog {
		samples[spec.Name] = sampleOf(spec.Request)
		calls = append(calls, map[string]any{"action": spec.Name, "params": members(samples[spec.Name])})
	}
	out := runPython(t, "boto3", map[string]any{"endpoint": s.URL, "key": keyA, "calls": calls})
	var res struct {
		Boto3   string `json:"boto3"`
		Results []any  `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	t.Logf("boto3 %s", res.Boto3)
	require.Len(t, res.Results, len(Catalog))
	for i, spec := range Catalog {
		got := s.request(spec.Name)
		if !assertNoClientError(t, spec.Name, res.Results[i]) || got == nil {
			continue
		}
		if r, ok := got.(*RunInstancesRequest); ok { // boto3 base64-encodes UserData, as EC2 expects
			ud, err := r.DecodedUserData()
			require.NoError(t, err)
			r.UserData = string(ud)
		}
		if want, have := members(samples[spec.Name]), members(reflect.ValueOf(got)); !reflect.DeepEqual(want, have) {
			t.Errorf("%s: the server decoded\n%v\nfrom boto3's\n%v", spec.Name, have, want)
		}
		var want any
		if o := s.outputs[spec.Name]; o != nil {
			want = normalised(members(reflect.ValueOf(o)))
		}
		if have := normalised(res.Results[i]); !reflect.DeepEqual(want, have) {
			t.Errorf("%s: boto3 read\n%v\nwant\n%v", spec.Name, have, want)
		}
	}
}

func assertNoClientError(t *testing.T, action string, result any) bool {
	t.Helper()
	if m, ok := result.(map[string]any); ok && m["error"] != nil && len(m) == 2 {
		t.Errorf("%s: the client got %v", action, m)
		return false
	}
	return true
}

// sdkClient is an aws-sdk-go-v2 EC2 client for the stub, with access key key.
func sdkClient(url, key string) *ec2.Client {
	return ec2.New(ec2.Options{
		BaseEndpoint:     aws.String(url),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(key, strings.Repeat("x", 40), ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: SDKTransport(http.DefaultTransport)},
	})
}

// TestGoSDKDrivesEveryAction: the same with aws-sdk-go-v2's EC2 client. Each input is built from
// the sample through JSON (the SDK's field names are the model's member names) and the call made
// by reflection on the client's method of the action's name.
func TestGoSDKDrivesEveryAction(t *testing.T) {
	s := newStubServer(t)
	client := reflect.ValueOf(sdkClient(s.URL, keyA))
	for _, spec := range Catalog {
		method := client.MethodByName(spec.Name)
		require.True(t, method.IsValid(), "the SDK has no %s", spec.Name)
		sample := sampleOf(spec.Request)
		in := reflect.New(method.Type().In(1).Elem())
		b, err := json.Marshal(jsonMembers(sample, true))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, in.Interface()))
		res := method.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
		if err, _ := res[1].Interface().(error); err != nil {
			t.Errorf("%s: %v", spec.Name, err)
			continue
		}
		if want, have := members(sample), members(reflect.ValueOf(s.request(spec.Name))); !reflect.DeepEqual(want, have) {
			t.Errorf("%s: the server decoded\n%v\nfrom the SDK's\n%v", spec.Name, have, want)
		}
		var want any
		if o := s.outputs[spec.Name]; o != nil {
			want = normalised(jsonMembers(reflect.ValueOf(o), true))
		}
		have := normalised(jsonRoundtrip(t, res[0].Interface()))
		if want == nil && reflect.DeepEqual(have, map[string]any{"Return": true}) {
			have = nil // the SDK's newer model gives DeleteSecurityGroup an output: <return>true</return>
		}
		if !reflect.DeepEqual(want, have) {
			t.Errorf("%s: the SDK read\n%v\nwant\n%v", spec.Name, have, want)
		}
	}
}

// TestGoSDKSeesEC2Errors: the SDK raises the EC2 code of every refusal, with its status.
func TestGoSDKSeesEC2Errors(t *testing.T) {
	s := newStubServer(t)
	s.fail["DeleteVpc"] = api.Errorf(api.CodeDependencyViolation, "The vpc 'vpc-1' has dependencies and cannot be deleted.")
	s.authz.deny[keyB+" ec2:DeleteVpc"] = true
	ctx := context.Background()
	for _, c := range []struct {
		name string
		call func() error
		code string
	}{
		{"core error", func() error {
			_, err := sdkClient(s.URL, keyA).DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String("vpc-1")})
			return err
		}, api.CodeDependencyViolation},
		{"dry run, allowed", func() error {
			_, err := sdkClient(s.URL, keyA).DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String("vpc-1"), DryRun: aws.Bool(true)})
			return err
		}, CodeDryRunOperation},
		{"dry run, denied", func() error {
			_, err := sdkClient(s.URL, keyB).DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String("vpc-1"), DryRun: aws.Bool(true)})
			return err
		}, CodeUnauthorizedOperation},
		{"unknown key", func() error {
			_, err := sdkClient(s.URL, "AKIAZZZZZZZZZZZZZZZZ").DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
			return err
		}, CodeAuthFailure},
		{"a member newer than the model hostd was built to", func() error {
			_, err := sdkClient(s.URL, keyA).DescribeImages(ctx, &ec2.DescribeImagesInput{IncludeDisabled: aws.Bool(true)})
			return err
		}, CodeUnknownParameter},
	} {
		err := c.call()
		var apiErr smithy.APIError
		require.ErrorAs(t, err, &apiErr, c.name)
		require.Equal(t, c.code, apiErr.ErrorCode(), "%s: %v", c.name, err)
	}
}

// TestAWSCLIAgainstTheStub: the AWS CLI (Debian's awscli) with --endpoint-url: its shorthand,
// user data, pagination flags and error output, and what the server decoded from it.
func TestAWSCLIAgainstTheStub(t *testing.T) {
	hostdtest.RequireTool(t, "/usr/bin/aws", "awscli")
	s := newStubServer(t)
	for _, o := range s.outputs { // the CLI follows a NextToken: the canned listings have no more pages
		if f := reflect.ValueOf(o).Elem().FieldByName("NextToken"); f.IsValid() {
			f.SetString("")
		}
	}
	s.fail["DeleteSubnet"] = api.Errorf(api.CodeInvalidSubnetNotFound, "The subnet ID 'subnet-9' does not exist")
	s.authz.deny[keyB+" ec2:TerminateInstances"] = true
	cli := func(key string, args ...string) (string, string, int) {
		cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", s.URL, "--output", "json", "ec2"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+strings.Repeat("x", 40),
			"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1", "HOME="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if err != nil {
			ee, ok := err.(*exec.ExitError)
			require.True(t, ok, "aws %v: %v", args, err)
			code = ee.ExitCode()
		}
		return stdout.String(), stderr.String(), code
	}

	out, stderr, code := cli(keyA, "run-instances", "--image-id", "ami-0hostd", "--count", "2", "--instance-type", "t3.micro",
		"--subnet-id", "subnet-1", "--security-group-ids", "sg-1", "sg-2", "--private-ip-address", "10.0.1.10",
		"--user-data", "#!/bin/sh\necho hello", "--client-token", "tok-1",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web}]")
	require.Zero(t, code, stderr)
	run := s.request("RunInstances").(*RunInstancesRequest)
	ud, err := run.DecodedUserData()
	require.NoError(t, err)
	require.Equal(t, "#!/bin/sh\necho hello", string(ud), "the CLI sends --user-data base64-encoded")
	require.Equal(t, 2, run.MinCount)
	require.Equal(t, 2, run.MaxCount)
	require.Equal(t, []string{"sg-1", "sg-2"}, run.SecurityGroupIds)
	require.Equal(t, "tok-1", run.ClientToken)
	require.Equal(t, []TagSpecification{{ResourceType: "instance", Tags: []Tag{{Key: "Name", Value: "web"}}}}, run.TagSpecifications)
	var reservation map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &reservation))
	want := s.outputs["RunInstances"].(*Reservation)
	require.Equal(t, want.Instances[0].InstanceId, reservation["Instances"].([]any)[0].(map[string]any)["InstanceId"])

	_, stderr, code = cli(keyA, "authorize-security-group-ingress", "--group-id", "sg-db", "--ip-permissions",
		"IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=sg-web}]")
	require.Zero(t, code, stderr)
	auth := s.request("AuthorizeSecurityGroupIngress").(*AuthorizeSecurityGroupIngressRequest)
	require.Equal(t, "sg-web", auth.IpPermissions[0].UserIdGroupPairs[0].GroupId)
	require.Equal(t, 5432, *auth.IpPermissions[0].FromPort)

	_, stderr, code = cli(keyA, "create-network-acl-entry", "--network-acl-id", "acl-1", "--rule-number", "100", "--protocol", "6",
		"--port-range", "From=5432,To=5432", "--egress", "--cidr-block", "10.0.2.0/24", "--rule-action", "allow")
	require.Zero(t, code, stderr)
	entry := s.request("CreateNetworkAclEntry").(*CreateNetworkAclEntryRequest)
	require.Equal(t, CreateNetworkAclEntryRequest{NetworkAclId: "acl-1", RuleNumber: 100, Protocol: "6", Egress: true,
		CidrBlock: "10.0.2.0/24", RuleAction: "allow", PortRange: &PortRange{From: aws.Int(5432), To: aws.Int(5432)}}, *entry)

	out, stderr, code = cli(keyA, "describe-instances", "--filters", "Name=instance-state-name,Values=running,stopped", "Name=tag:Name,Values=web*")
	require.Zero(t, code, stderr)
	require.Contains(t, out, `"Reservations"`)
	require.Equal(t, []Filter{{Name: "instance-state-name", Values: []string{"running", "stopped"}}, {Name: "tag:Name", Values: []string{"web*"}}},
		s.request("DescribeInstances").(*DescribeInstancesRequest).Filters)

	out, stderr, code = cli(keyA, "delete-vpc", "--vpc-id", "vpc-1")
	require.Zero(t, code, stderr)
	require.Empty(t, strings.TrimSpace(out), "an action with no output prints nothing")

	for _, c := range []struct {
		key  string
		args []string
		code string
	}{
		{keyA, []string{"delete-subnet", "--subnet-id", "subnet-9"}, api.CodeInvalidSubnetNotFound},
		{keyA, []string{"delete-vpc", "--vpc-id", "vpc-1", "--dry-run"}, CodeDryRunOperation},
		{keyB, []string{"terminate-instances", "--instance-ids", "i-1"}, CodeUnauthorizedOperation},
		{"AKIAZZZZZZZZZZZZZZZZ", []string{"describe-vpcs"}, CodeAuthFailure},
	} {
		_, stderr, code := cli(c.key, c.args...)
		require.Equal(t, 254, code, "aws %v: the CLI's exit status for a service error", c.args)
		require.Contains(t, stderr, "("+c.code+")", "aws %v", c.args)
	}
}
