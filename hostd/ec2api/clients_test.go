package ec2api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2api/ec2test"
	"github.com/hostd/hostd/hostd/ec2query"
	"github.com/hostd/hostd/hostd/hostdtest"
)

// client is one of AWS's own clients calling hostd's front end. Calls name the action and give
// its input with the model's member names (as boto3 takes them and as --cli-input-json reads
// them); answers are the output as the client read it, as JSON, or the EC2 error it raised.
type client interface {
	name() string
	call(action string, input map[string]any) (map[string]any, *apiError)
	// raw sends a signed call of an action the client has no method for.
	raw(action string) *apiError
}

type apiError struct{ Code, Message string }

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// goSDK is aws-sdk-go-v2's EC2 client: the call is made by reflection on the client's method of
// the action's name, its input built through JSON (the SDK's field names are the members').
type goSDK struct {
	c   *ec2.Client
	url string
	key ec2test.Key
}

func newGoSDK(s *ec2test.Server, key ec2test.Key) *goSDK {
	return &goSDK{url: s.URL, key: key, c: ec2.New(ec2.Options{
		BaseEndpoint:     aws.String(s.URL),
		Region:           ec2test.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(key.ID, key.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: ec2query.SDKTransport(http.DefaultTransport)},
	})}
}

func (g *goSDK) name() string { return "go-sdk" }

func (g *goSDK) call(action string, input map[string]any) (map[string]any, *apiError) {
	method := reflect.ValueOf(g.c).MethodByName(action)
	if !method.IsValid() {
		panic("the Go SDK has no " + action)
	}
	if ud, ok := input["UserData"].(string); ok { // the Go SDK leaves UserData's base64 to its caller
		input["UserData"] = base64.StdEncoding.EncodeToString([]byte(ud))
	}
	in := reflect.New(method.Type().In(1).Elem())
	b, _ := json.Marshal(input)
	if err := json.Unmarshal(b, in.Interface()); err != nil {
		panic(fmt.Sprintf("%s input %s: %v", action, b, err))
	}
	res := method.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
	if err, _ := res[1].Interface().(error); err != nil {
		return nil, sdkError(err)
	}
	b, _ = json.Marshal(res[0].Interface())
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	delete(out, "ResultMetadata")
	return out, nil
}

func sdkError(err error) *apiError {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &apiError{ae.ErrorCode(), ae.ErrorMessage()}
	}
	return &apiError{"ClientError", err.Error()}
}

// raw signs a POST with the SDK's own SigV4 signer.
func (g *goSDK) raw(action string) *apiError {
	body := "Action=" + action + "&Version=2016-11-15"
	req, _ := http.NewRequest(http.MethodPost, g.url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256Hex(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: g.key.ID, SecretAccessKey: g.key.Secret}, req, sum, "ec2", ec2test.Region, time.Now())
	if err != nil {
		return &apiError{"ClientError", err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &apiError{"ClientError", err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	code := regexp.MustCompile(`<Code>([^<]*)</Code>`).FindSubmatch(b)
	if code == nil {
		return &apiError{"ClientError", string(b)}
	}
	return &apiError{string(code[1]), string(b)}
}

// boto3Client is Debian's boto3 in one Python process, a call a line.
type boto3Client struct {
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

func newBoto3(t *testing.T, s *ec2test.Server, key ec2test.Key) *boto3Client {
	hostdtest.RequireTool(t, "/usr/bin/python3", "python3-boto3")
	cmd := exec.Command("/usr/bin/python3", "../ec2query/testdata/botocore_client.py", "session")
	cmd.Env = append(ec2test.Env(key, t.TempDir()), "HOSTD_EC2_ENDPOINT="+s.URL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	return &boto3Client{stdin: stdin, stdout: bufio.NewReader(stdout)}
}

func (b *boto3Client) name() string { return "boto3" }

func (b *boto3Client) roundtrip(msg map[string]any) (map[string]any, *apiError) {
	line, _ := json.Marshal(msg)
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return nil, &apiError{"ClientError", err.Error()}
	}
	reply, err := b.stdout.ReadBytes('\n')
	if err != nil {
		return nil, &apiError{"ClientError", "boto3 driver: " + err.Error()}
	}
	var out map[string]any
	if err := json.Unmarshal(reply, &out); err != nil {
		return nil, &apiError{"ClientError", string(reply)}
	}
	if e, ok := out["Error"].(map[string]any); ok {
		return nil, &apiError{fmt.Sprint(e["Code"]), fmt.Sprint(e["Message"])}
	}
	return out, nil
}

func (b *boto3Client) call(action string, input map[string]any) (map[string]any, *apiError) {
	return b.roundtrip(map[string]any{"action": action, "params": input})
}

func (b *boto3Client) raw(action string) *apiError {
	_, err := b.roundtrip(map[string]any{"raw": action})
	return err
}

// awsCLI is Debian's AWS CLI, a process a call, the input given whole as --cli-input-json.
type awsCLI struct {
	env []string
	url string
}

func newAWSCLI(t *testing.T, s *ec2test.Server, key ec2test.Key) *awsCLI {
	hostdtest.RequireTool(t, "/usr/bin/aws", "awscli")
	return &awsCLI{env: ec2test.Env(key, t.TempDir()), url: s.URL}
}

func (a *awsCLI) name() string { return "aws-cli" }

var cliError = regexp.MustCompile(`An error occurred \(([^)]+)\) when calling the \w+ operation[^:]*: (.*)`)

// kebab is the CLI's name of an action: DescribeVpcs → describe-vpcs.
func kebab(action string) string {
	var b strings.Builder
	for i, r := range action {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

func (a *awsCLI) call(action string, input map[string]any) (map[string]any, *apiError) {
	in, _ := json.Marshal(input)
	cmd := exec.Command("/usr/bin/aws", "--endpoint-url", a.url, "--output", "json", "ec2", kebab(action), "--cli-input-json", string(in))
	cmd.Env = a.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if m := cliError.FindStringSubmatch(stderr.String()); m != nil {
			return nil, &apiError{m[1], m[2]}
		}
		return nil, &apiError{"ClientError", stderr.String()}
	}
	out := map[string]any{}
	if s := strings.TrimSpace(stdout.String()); s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, &apiError{"ClientError", s}
		}
	}
	return out, nil
}

// raw: the CLI has no way to send an action it does not know.
func (a *awsCLI) raw(string) *apiError { return nil }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
