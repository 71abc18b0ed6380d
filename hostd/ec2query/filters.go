package ec2query

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hostd/hostd/hostd/api"
)

// Filter is one Filter.N of a Describe call: Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-….
type Filter struct {
	Name   string
	Values []string `ec2:"Value"`
}

// EC2's caps on filters: 50 filters and 200 values per filter in one request.
const (
	MaxFilters          = 50
	MaxFilterValues     = 200
	maxFilterValueBytes = 1024
)

// CodeFilterLimitExceeded is EC2's answer to more filters or values than it takes.
const CodeFilterLimitExceeded = "FilterLimitExceeded"

// Filters are a request's filters, checked and compiled: a resource matches when it matches
// every filter, and it matches a filter when one of the filter's values matches one of the
// resource's values for that name. Values may hold EC2's wildcards: * (any run of characters),
// ? (any one character), and \ to take the next character literally. Matching is
// case-sensitive, as EC2's is.
type Filters struct {
	filters []compiledFilter
}

type compiledFilter struct {
	name     string
	patterns [][]globToken
}

// TagFilter, in an action's list of filter names, accepts every tag:KEY filter (the resource's
// value of tag KEY); tag-key and tag-value are ordinary names the action lists when it has them.
const TagFilter = "tag:"

// ParseFilters checks a request's filters against the names the action knows and compiles their
// values. An unknown name is refused as EC2 refuses it (InvalidParameterValue, "The filter
// 'NAME' is invalid").
func ParseFilters(filters []Filter, known []string) (*Filters, error) {
	if len(filters) > MaxFilters {
		return nil, errorf(CodeFilterLimitExceeded, "The request has %d filters; at most %d are allowed", len(filters), MaxFilters)
	}
	out := &Filters{filters: make([]compiledFilter, 0, len(filters))}
	for i, f := range filters {
		if f.Name == "" {
			return nil, errorf(api.CodeMissingParameter, "The request must contain the parameter Filter.%d.Name", i+1)
		}
		tag := strings.HasPrefix(f.Name, TagFilter) && len(f.Name) > len(TagFilter) && slices.Contains(known, TagFilter)
		if !tag && (f.Name == TagFilter || !slices.Contains(known, f.Name)) {
			return nil, errorf(api.CodeInvalidParameterValue, "The filter '%.128s' is invalid", f.Name)
		}
		if len(f.Values) == 0 {
			return nil, errorf(api.CodeInvalidParameterValue, "The filter '%s' needs at least one value (Filter.%d.Value.1)", f.Name, i+1)
		}
		if len(f.Values) > MaxFilterValues {
			return nil, errorf(CodeFilterLimitExceeded, "The filter '%s' has %d values; at most %d are allowed", f.Name, len(f.Values), MaxFilterValues)
		}
		cf := compiledFilter{name: f.Name}
		for _, v := range f.Values {
			if len(v) > maxFilterValueBytes {
				return nil, errorf(api.CodeInvalidParameterValue, "A value of the filter '%s' is longer than %d bytes", f.Name, maxFilterValueBytes)
			}
			cf.patterns = append(cf.patterns, compileGlob(v))
		}
		out.filters = append(out.filters, cf)
	}
	return out, nil
}

// Match says whether a resource passes every filter. values gives the resource's values for a
// filter name (nil when it has none: a resource without the tag never matches tag:KEY).
func (fs *Filters) Match(values func(name string) []string) bool {
	for _, f := range fs.filters {
		if !f.match(values(f.name)) {
			return false
		}
	}
	return true
}

func (f compiledFilter) match(have []string) bool {
	for _, p := range f.patterns {
		for _, h := range have {
			if matchGlob(p, h) {
				return true
			}
		}
	}
	return false
}

// TagValues answers the tag filters from a resource's tags: tag:KEY (the value of KEY), tag-key
// (every key) and tag-value (every value). ok is false for any other name.
func TagValues(name string, tags []Tag) (values []string, ok bool) {
	switch {
	case name == "tag-key":
		for _, t := range tags {
			values = append(values, t.Key)
		}
	case name == "tag-value":
		for _, t := range tags {
			values = append(values, t.Value)
		}
	case strings.HasPrefix(name, TagFilter):
		key := strings.TrimPrefix(name, TagFilter)
		for _, t := range tags {
			if t.Key == key {
				values = append(values, t.Value)
			}
		}
	default:
		return nil, false
	}
	return values, true
}

// globToken is one element of a compiled filter value: a literal character, ? or *.
type globToken struct {
	kind byte   // 'l' literal, '?' one character, '*' any run
	lit  string // the literal's bytes
}

// characters cuts s into what ? matches one of: a UTF-8 character, or a byte that is not one (so
// that two different invalid bytes never compare equal, as they would once made into U+FFFD).
func characters(s string) []string {
	out := make([]string, 0, len(s))
	for len(s) > 0 {
		_, n := utf8.DecodeRuneInString(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func compileGlob(pattern string) []globToken {
	var out []globToken
	escaped := false
	for _, c := range characters(pattern) {
		switch {
		case escaped:
			out = append(out, globToken{kind: 'l', lit: c})
			escaped = false
		case c == `\`:
			escaped = true
		case c == "*":
			if len(out) == 0 || out[len(out)-1].kind != '*' { // ** is *
				out = append(out, globToken{kind: '*'})
			}
		case c == "?":
			out = append(out, globToken{kind: '?'})
		default:
			out = append(out, globToken{kind: 'l', lit: c})
		}
	}
	if escaped { // a trailing backslash stands for itself
		out = append(out, globToken{kind: 'l', lit: `\`})
	}
	return out
}

// matchGlob matches s against a compiled pattern in O(len(p)·len(s)) at worst: on a mismatch it
// goes back only to the last *, which is enough because a later * can absorb whatever an earlier
// one would have.
func matchGlob(p []globToken, s string) bool {
	str := characters(s)
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi].kind == '?' || p[pi].kind == 'l' && p[pi].lit == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi].kind == '*':
			star, starSi = pi, si
			pi++
		case star >= 0:
			starSi++
			pi, si = star+1, starSi
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == '*' {
		pi++
	}
	return pi == len(p)
}
