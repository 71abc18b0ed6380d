package ec2api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2api/ec2test"
)

// TestDescribePages: the Go SDK's paginator walks a listing page by page, each resource once, and
// a filter narrows it before it is cut.
func TestDescribePages(t *testing.T) {
	s := ec2test.Start(t, ec2test.Options{})
	c := newGoSDK(s, s.Admin).c
	ctx := context.Background()
	made := map[string]bool{}
	for i := range 7 {
		out, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(fmt.Sprintf("10.%d.0.0/16", 50+i)),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("Parity"), Value: aws.String(fmt.Sprint(i % 2))}}}}})
		require.NoError(t, err)
		made[*out.Vpc.VpcId] = true
	}
	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeVpcsPaginator(c, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		for _, v := range page.Vpcs {
			require.False(t, seen[*v.VpcId], "%s listed twice", *v.VpcId)
			seen[*v.VpcId] = true
		}
	}
	require.Equal(t, 2, pages)
	require.Equal(t, made, seen)

	even, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5), Filters: []types.Filter{{Name: aws.String("tag:Parity"), Values: []string{"0"}}}})
	require.NoError(t, err)
	require.Len(t, even.Vpcs, 4)
	require.Nil(t, even.NextToken, "four match: one page")

	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5), NextToken: aws.String("forged")})
	require.Equal(t, "InvalidPaginationToken", sdkError(err).Code)
	for id := range made {
		_, err := c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
		require.NoError(t, err)
	}
}
