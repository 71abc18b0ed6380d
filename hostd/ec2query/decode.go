package ec2query

import (
	"encoding/base64"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hostd/hostd/hostd/api"
)

// Bounds on what one request may make the decoder hold, so that a hostile body cannot blow up
// memory: the body is at most MaxBodyBytes, it has at most MaxParameters keys, a key is at most
// MaxKeyLength bytes, and a list index is at most MaxListIndex. Lists are built from the indices
// present (Filter.1, Filter.7 make a list of two), so no index makes the decoder allocate more
// than the keys it was given. EC2's own caps (200 filter values, 1,000 instance ids) are below
// these; the handlers enforce the ones that mean something.
const (
	MaxBodyBytes  = 1 << 20
	MaxParameters = 5000
	MaxKeyLength  = 256
	MaxListIndex  = 1000
)

// Unsupported marks a member of EC2's model that hostd does not implement. The request types
// list every member of the model's input shapes, so that a key EC2 knows but hostd does not
// is refused as unsupported (InvalidParameter) rather than unknown (UnknownParameter); any key
// at or below an Unsupported field is refused.
type Unsupported struct{}

// Decode fills the request struct v (a pointer) from a request's parameters, as botocore's ec2
// serializer writes them: a member is named by its queryName, else its locationName with the
// first letter capitalised, else its member name; list elements are numbered from 1 with no
// ".member."; booleans are true/false; timestamps ISO 8601; []byte fields are base64.
// Action, Version and the presigned URL's X-Amz-* keys are not the action's and must be
// removed before (Read does). Errors are EC2's: UnknownParameter, InvalidParameter,
// InvalidParameterValue, MissingParameter.
func Decode(params map[string][]string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("ec2query: Decode needs a pointer to a struct")
	}
	if len(params) > MaxParameters {
		return errorf(api.CodeInvalidParameterValue, "the request has %d parameters; at most %d are accepted", len(params), MaxParameters)
	}
	root := &node{}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key reported is always the same one
	for _, k := range keys {
		vals := params[k]
		if len(vals) != 1 {
			return errorf(api.CodeInvalidParameterValue, "the parameter %s is given %d times; give it once", k, len(vals))
		}
		if err := root.insert(k, vals[0]); err != nil {
			return err
		}
	}
	return decodeValue(root, rv.Elem(), "")
}

// node is one segment of the parameters' dotted keys: Filter.1.Value.2 is the path
// Filter → 1 → Value → 2, with the value at the end.
type node struct {
	key      string // the full key down to here, for messages
	value    *string
	children map[string]*node
}

func (n *node) insert(key, value string) error {
	if len(key) > MaxKeyLength {
		return errorf(CodeUnknownParameter, "the parameter %.40s… is longer than %d bytes", key, MaxKeyLength)
	}
	cur := n
	for seg := range strings.SplitSeq(key, ".") {
		if seg == "" {
			return errorf(CodeUnknownParameter, "the parameter %q is not recognized", key)
		}
		if cur.children == nil {
			cur.children = make(map[string]*node)
		}
		next := cur.children[seg]
		if next == nil {
			next = &node{key: join(cur.key, seg)}
			cur.children[seg] = next
		}
		cur = next
	}
	cur.value = &value
	return nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	unsupportedType = reflect.TypeFor[Unsupported]()
	bytesType       = reflect.TypeFor[[]byte]()
)

func decodeValue(n *node, v reflect.Value, key string) error {
	t := v.Type()
	switch {
	case t == unsupportedType:
		return errorf(CodeInvalidParameter, "hostd does not support the parameter %s", key)
	case t.Kind() == reflect.Pointer:
		elem := reflect.New(t.Elem())
		if err := decodeValue(n, elem.Elem(), key); err != nil {
			return err
		}
		v.Set(elem)
		return nil
	case t.Kind() == reflect.Struct && t != timeType:
		return decodeStruct(n, v)
	case t.Kind() == reflect.Slice && t != bytesType:
		return decodeList(n, v)
	}
	if len(n.children) > 0 { // a scalar has no members
		return unknown(n.children[sortedKeys(n.children)[0]])
	}
	return decodeScalar(*n.value, v, key)
}

// unknown reports the first key below n, in order, that names nothing.
func unknown(n *node) error {
	for n.value == nil && len(n.children) > 0 {
		n = n.children[sortedKeys(n.children)[0]]
	}
	return errorf(CodeUnknownParameter, "the parameter %s is not recognized", n.key)
}

func sortedKeys(m map[string]*node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func decodeStruct(n *node, v reflect.Value) error {
	if n.value != nil && n.key != "" {
		// A structure is given by its members, never as a value of its own.
		return errorf(CodeUnknownParameter, "the parameter %s is not recognized", n.key)
	}
	info := structInfoOf(v.Type())
	for _, name := range sortedKeys(n.children) {
		child := n.children[name]
		f := info.byQuery[name]
		if f == nil {
			return unknown(child)
		}
		if err := decodeValue(child, v.Field(f.index), child.key); err != nil {
			return err
		}
	}
	for _, f := range info.fields {
		if f.required && n.children[f.queryName] == nil {
			return errorf(api.CodeMissingParameter, "The request must contain the parameter %s", join(n.key, f.queryName))
		}
	}
	return nil
}

func decodeList(n *node, v reflect.Value) error {
	if n.value != nil {
		return errorf(CodeUnknownParameter, "the parameter %s is a list: number its elements from 1 (%s.1)", n.key, n.key)
	}
	indices := make([]int, 0, len(n.children))
	byIndex := make(map[int]*node, len(n.children))
	for seg, child := range n.children {
		i, err := strconv.Atoi(seg)
		if err != nil || i < 1 || strconv.Itoa(i) != seg {
			return errorf(CodeUnknownParameter, "the parameter %s is not recognized: list elements are numbered 1, 2, …", child.key)
		}
		if i > MaxListIndex {
			return errorf(api.CodeInvalidParameterValue, "the parameter %s is beyond the largest list index hostd accepts, %d", child.key, MaxListIndex)
		}
		indices = append(indices, i)
		byIndex[i] = child
	}
	sort.Ints(indices)
	list := reflect.MakeSlice(v.Type(), len(indices), len(indices))
	for j, i := range indices {
		child := byIndex[i]
		if err := decodeValue(child, list.Index(j), child.key); err != nil {
			return err
		}
	}
	v.Set(list)
	return nil
}

func decodeScalar(s string, v reflect.Value, key string) error {
	bad := func(expected string) error {
		return errorf(api.CodeInvalidParameterValue, "Value (%.64s) for parameter %s is invalid. Expected %s.", s, key, expected)
	}
	switch t := v.Type(); {
	case t == timeType:
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad("an ISO 8601 time such as 2016-11-15T10:00:00Z")
		}
		v.Set(reflect.ValueOf(tm))
	case t == bytesType:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad("base64")
		}
		v.SetBytes(b)
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return bad("true or false")
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int32 || t.Kind() == reflect.Int64:
		i, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return bad("an integer")
		}
		v.SetInt(i)
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad("a number")
		}
		v.SetFloat(f)
	default:
		panic("ec2query: no wire form for " + t.String())
	}
	return nil
}
