package ec2query

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"sort"

	"github.com/hostd/hostd/hostd/api"
)

// Pager cuts a Describe call's answer into pages (MaxResults, NextToken). A token names the last
// resource of the page before it, so that a resource made or deleted between two pages neither
// repeats nor pushes another out of the listing. It is sealed with an HMAC under the pager's key
// and bound to a scope (the caller's account, the action and the rest of the request), so that a
// client can neither forge nor edit one, nor replay it with other filters or as another
// account. Tokens hold a resource id of the caller's own and nothing else.
type Pager struct {
	key []byte
}

// NewPager makes a pager with a secret key. Tokens stay valid as long as the key does: a random
// key per daemon start makes them expire at restart, as EC2's expire after a while.
func NewPager(key []byte) *Pager {
	return &Pager{key: append([]byte(nil), key...)}
}

// PageLimits is an action's range of MaxResults: 5 to 1000 for most of EC2's (DefaultPageLimits),
// 5 to 100 for DescribeInstanceTypes and DescribeRouteTables, 5 to 500 for DescribeVolumes.
type PageLimits struct{ Min, Max int }

// DefaultPageLimits is EC2's usual MaxResults range.
var DefaultPageLimits = PageLimits{Min: 5, Max: 1000}

const (
	tokenMACBytes  = 16
	maxTokenLength = 1024
)

// CodeInvalidPaginationToken is EC2's answer to a NextToken it did not issue.
const CodeInvalidPaginationToken = "InvalidPaginationToken"

// Page is the part of a listing to answer with: ids[Start:End], and the token for the rest ("" on
// the last page).
type Page struct {
	Start, End int
	NextToken  string
}

// Page picks the page of ids (the ids of everything the call would list, sorted ascending) that
// a request's MaxResults and NextToken ask for. Without either, the page is all of it.
func (p *Pager) Page(scope string, ids []string, maxResults *int, token string, limits PageLimits) (Page, error) {
	size := len(ids)
	if maxResults != nil {
		if *maxResults < limits.Min || *maxResults > limits.Max {
			return Page{}, errorf(api.CodeInvalidParameterValue, "Value ( %d ) for parameter MaxResults is invalid. Expecting a value from %d to %d.", *maxResults, limits.Min, limits.Max)
		}
		size = *maxResults
	} else if token != "" {
		size = limits.Max
	}
	start := 0
	if token != "" {
		last, err := p.open(scope, token)
		if err != nil {
			return Page{}, err
		}
		start = sort.Search(len(ids), func(i int) bool { return ids[i] > last })
	}
	end := min(start+size, len(ids))
	page := Page{Start: start, End: end}
	if end < len(ids) {
		page.NextToken = p.seal(scope, ids[end-1])
	}
	return page, nil
}

func (p *Pager) mac(scope, lastID string) []byte {
	h := hmac.New(sha256.New, p.key)
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(lastID))
	return h.Sum(nil)[:tokenMACBytes]
}

func (p *Pager) seal(scope, lastID string) string {
	return base64.RawURLEncoding.EncodeToString(append(p.mac(scope, lastID), lastID...))
}

func (p *Pager) open(scope, token string) (string, error) {
	invalid := errorf(CodeInvalidPaginationToken, "The pagination token is not valid for this request; start again without NextToken")
	if len(token) > maxTokenLength {
		return "", invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < tokenMACBytes {
		return "", invalid
	}
	lastID := string(raw[tokenMACBytes:])
	if !hmac.Equal(raw[:tokenMACBytes], p.mac(scope, lastID)) {
		return "", invalid
	}
	return lastID, nil
}
