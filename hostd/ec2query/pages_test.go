package ec2query

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

func TestPagerWalksAListingOnce(t *testing.T) {
	p := NewPager([]byte("key"))
	var ids []string
	for i := range 23 {
		ids = append(ids, fmt.Sprintf("vpc-%03d", i))
	}
	five := 5
	var seen []string
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := p.Page("scope", ids, &five, token, DefaultPageLimits)
		require.NoError(t, err)
		seen = append(seen, ids[page.Start:page.End]...)
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
		// A resource made and one deleted between pages neither repeat nor hide others.
		if len(seen) == 5 {
			ids = append(ids[:1], ids[2:]...) // vpc-001, already listed, is deleted
			ids = append(ids, "vpc-100")
		}
	}
	require.Equal(t, ids[0], seen[0])
	require.Len(t, seen, 24)
	require.Equal(t, "vpc-100", seen[23])

	all, err := p.Page("scope", ids, nil, "", DefaultPageLimits)
	require.NoError(t, err)
	require.Equal(t, Page{Start: 0, End: len(ids)}, all)
}

func TestPagerRefusesForeignTokens(t *testing.T) {
	p := NewPager([]byte("key"))
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	five := 5
	page, err := p.Page("account-1/DescribeVpcs", ids, &five, "", DefaultPageLimits)
	require.NoError(t, err)
	require.NotEmpty(t, page.NextToken)

	_, err = p.Page("account-1/DescribeVpcs", ids, &five, page.NextToken, DefaultPageLimits)
	require.NoError(t, err, "the token works where it was issued")
	for name, try := range map[string]func() error{
		"another scope": func() error {
			_, err := p.Page("account-2/DescribeVpcs", ids, &five, page.NextToken, DefaultPageLimits)
			return err
		},
		"another key": func() error {
			_, err := NewPager([]byte("other")).Page("account-1/DescribeVpcs", ids, &five, page.NextToken, DefaultPageLimits)
			return err
		},
		"an edited token": func() error {
			b := []byte(page.NextToken)
			b[len(b)-1] ^= 1
			_, err := p.Page("account-1/DescribeVpcs", ids, &five, string(b), DefaultPageLimits)
			return err
		},
		"garbage": func() error {
			_, err := p.Page("account-1/DescribeVpcs", ids, &five, "!!", DefaultPageLimits)
			return err
		},
	} {
		requireCode(t, try(), CodeInvalidPaginationToken)
		t.Log(name, "refused")
	}
	four, thousand1 := 4, 1001
	_, err = p.Page("s", ids, &four, "", DefaultPageLimits)
	requireCode(t, err, api.CodeInvalidParameterValue)
	_, err = p.Page("s", ids, &thousand1, "", DefaultPageLimits)
	requireCode(t, err, api.CodeInvalidParameterValue)
}
