package ec2query

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

var vpcFilterNames = []string{"vpc-id", "cidr-block", "state", "is-default", "tag-key", "tag-value", TagFilter}

func TestFiltersMatch(t *testing.T) {
	web := map[string][]string{"vpc-id": {"vpc-0a1"}, "cidr-block": {"10.0.0.0/16"}, "state": {"available"}}
	tags := []Tag{{Key: "Name", Value: "web tier"}, {Key: "env", Value: "prod"}}
	values := func(name string) []string {
		if v, ok := TagValues(name, tags); ok {
			return v
		}
		return web[name]
	}
	for _, c := range []struct {
		filters []Filter
		match   bool
	}{
		{nil, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0a1"}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0a2", "vpc-0a1"}}}, true}, // any value
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0a2"}}}, false},
		{[]Filter{{Name: "vpc-id", Values: []string{"VPC-0A1"}}}, false}, // case-sensitive
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-*"}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0?1"}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0?"}}}, false},
		{[]Filter{{Name: "vpc-id", Values: []string{"*"}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"*a*1*"}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{`vpc\-0a1`}}}, true},
		{[]Filter{{Name: "vpc-id", Values: []string{"vpc-0a1"}}, {Name: "state", Values: []string{"pending"}}}, false}, // every filter
		{[]Filter{{Name: "tag:Name", Values: []string{"web*"}}}, true},
		{[]Filter{{Name: "tag:Name", Values: []string{"db*"}}}, false},
		{[]Filter{{Name: "tag:Owner", Values: []string{"*"}}}, false}, // no such tag
		{[]Filter{{Name: "tag-key", Values: []string{"env"}}}, true},
		{[]Filter{{Name: "tag-value", Values: []string{"prod"}}}, true},
	} {
		fs, err := ParseFilters(c.filters, vpcFilterNames)
		require.NoError(t, err)
		require.Equal(t, c.match, fs.Match(values), "%v", c.filters)
	}
}

func TestGlobEscapes(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		match      bool
	}{
		{`\*amazon\?\\`, `*amazon?\`, true},
		{`\*amazon\?\\`, `xamazon?\`, false},
		{`a\`, `a\`, true},
		{`**`, ``, true},
		{`*?`, ``, false},
		{`é?`, `éè`, true}, // runes, not bytes
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 200), false},
	} {
		require.Equal(t, c.match, matchGlob(compileGlob(c.pattern), c.s), "%q ~ %q", c.pattern, c.s)
	}
}

func TestParseFiltersRefusals(t *testing.T) {
	for _, c := range []struct {
		filters []Filter
		code    string
	}{
		{[]Filter{{Name: "owner-id", Values: []string{"x"}}}, api.CodeInvalidParameterValue},
		{[]Filter{{Name: "tag:", Values: []string{"x"}}}, api.CodeInvalidParameterValue},
		{[]Filter{{Values: []string{"x"}}}, api.CodeMissingParameter},
		{[]Filter{{Name: "vpc-id"}}, api.CodeInvalidParameterValue},
		{make([]Filter, MaxFilters+1), CodeFilterLimitExceeded},
		{[]Filter{{Name: "vpc-id", Values: make([]string, MaxFilterValues+1)}}, CodeFilterLimitExceeded},
		{[]Filter{{Name: "vpc-id", Values: []string{strings.Repeat("x", maxFilterValueBytes+1)}}}, api.CodeInvalidParameterValue},
	} {
		_, err := ParseFilters(c.filters, vpcFilterNames)
		requireCode(t, err, c.code)
	}
	// tag:KEY only where the action takes tags.
	_, err := ParseFilters([]Filter{{Name: "tag:Name", Values: []string{"x"}}}, []string{"vpc-id"})
	requireCode(t, err, api.CodeInvalidParameterValue)
}

// FuzzParseFilters: any filter and value parse or are refused with an EC2 error, never panic,
// and a value without wildcards or escapes matches exactly itself.
func FuzzParseFilters(f *testing.F) {
	f.Add("tag:Name", "web*", "web-1")
	f.Add("vpc-id", `\*a?\\`, `*ab\`)
	f.Add("cidr-block", "10.0.*", "10.0.0.0/16")
	f.Fuzz(func(t *testing.T, name, value, have string) {
		fs, err := ParseFilters([]Filter{{Name: name, Values: []string{value}}}, vpcFilterNames)
		if err != nil {
			if api.AsError(err).Code == api.CodeInternalError {
				t.Fatalf("not an EC2 error: %v", err)
			}
			return
		}
		got := fs.Match(func(string) []string { return []string{have} })
		if !strings.ContainsAny(value, `*?\`) && got != (value == have) {
			t.Fatalf("%q matching %q: %v", value, have, got)
		}
		if value == "*" && !got {
			t.Fatalf("* does not match %q", have)
		}
	})
}
