package daemon

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/ec2query"
)

// The seam for EC2's Query API: an ec2query.Router mounted at / on the network listener, with the
// daemon's hooks, verifies aws-sdk-go-v2's signature with the same keys, evaluates the same
// policies, and records its calls in the same trail.
func TestEC2FrontUsesTheDaemonsHooks(t *testing.T) {
	d, _ := openTestDaemon(t, "ec2f")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	d.cfg.Listen = free.Addr().String()
	free.Close()

	router := ec2query.NewRouter(ec2query.Config{Region: d.cfg.Region, Authenticator: d.EC2Authenticator(), Authorizer: d.EC2Authorizer(), Auditor: d.EC2Auditor()})
	ec2query.Register(router, "DescribeVpcs", func(_ context.Context, call *ec2query.Call, _ *ec2query.DescribeVpcsRequest) (*ec2query.DescribeVpcsResult, error) {
		vpcs, err := d.DescribeVpcs(api.Caller{AccountID: call.Caller.AccountID}, nil)
		out := &ec2query.DescribeVpcsResult{}
		for _, v := range vpcs.Vpcs {
			out.Vpcs = append(out.Vpcs, ec2query.Vpc{VpcId: v.VpcId, CidrBlock: v.CidrBlock})
		}
		return out, err
	}, nil)
	d.MountEC2(router)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-served)
	})

	acct, err := d.CreateAccount(api.Operator, api.CreateAccountRequest{AccountName: "front"})
	require.NoError(t, err)
	vpc, err := d.CreateVpc(api.Caller{Operator: true, AccountID: acct.AccountId}, api.CreateVpcRequest{CidrBlock: "10.0.0.0/16"})
	require.NoError(t, err)
	_, err = d.CreateVpc(api.Operator, api.CreateVpcRequest{CidrBlock: "10.0.0.0/16"}) // another account's
	require.NoError(t, err)
	key := func(user, policy string) api.AccessKey {
		_, err := d.CreateUser(api.Operator, api.UserRequest{AccountId: acct.AccountId, UserName: user})
		require.NoError(t, err)
		_, err = d.PutUserPolicy(api.Operator, api.UserPolicyRequest{AccountId: acct.AccountId, UserName: user, PolicyName: "p", PolicyDocument: policy})
		require.NoError(t, err)
		k, err := d.CreateAccessKey(api.Operator, api.UserRequest{AccountId: acct.AccountId, UserName: user})
		require.NoError(t, err)
		return k
	}
	reader := key("reader", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*"}]}`)
	denied := key("denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:Describe*","Resource":"*"}]}`)
	client := func(k api.AccessKey, secret string) *ec2.Client {
		return ec2.New(ec2.Options{BaseEndpoint: aws.String("http://" + d.cfg.Listen), Region: "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyId, secret, ""), RetryMaxAttempts: 1})
	}
	var out *ec2.DescribeVpcsOutput
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out, err = client(reader, reader.SecretAccessKey).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{}); err == nil || time.Now().After(deadline) {
			break
		}
	}
	require.NoError(t, err)
	require.Len(t, out.Vpcs, 1, "its own account's only")
	assert.Equal(t, vpc.VpcId, aws.ToString(out.Vpcs[0].VpcId))

	codeOf := func(err error) string {
		var apiErr smithy.APIError
		require.True(t, errors.As(err, &apiErr), "%v", err)
		return apiErr.ErrorCode()
	}
	_, err = client(denied, denied.SecretAccessKey).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	assert.Equal(t, api.CodeUnauthorizedOperation, codeOf(err))
	_, err = client(reader, "wrong-secret-wrong-secret-wrong-secret-xx").DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	assert.Equal(t, api.CodeAuthFailure, codeOf(err))

	events, err := audit.Lookup(AuditDir(d.cfg.StateDir), audit.Filter{Since: time.Now().Add(-time.Minute)})
	require.NoError(t, err)
	var got []string
	for _, e := range events {
		got = append(got, e.EventName+" "+e.UserIdentity.Type+" "+e.UserIdentity.UserName+" "+e.ErrorCode)
	}
	assert.Subset(t, got, []string{"DescribeVpcs IAMUser reader ", "DescribeVpcs IAMUser denied UnauthorizedOperation", "UnknownAction Unknown  AuthFailure"})
}
