package ec2query

import (
	"reflect"
	"strings"
	"sync"
)

// A request or response type names each member on the wire with its struct tag:
//
//	Groups []string `ec2:"SecurityGroupId"`
//	Ipv6Addresses []InstanceIpv6Address `ec2:"ipv6AddressesSet,query=Ipv6Addresses"`
//	MinCount int `ec2:",required"`
//
// The tag's name is the model's locationName (the member's name when it has none): it is the
// XML element of a response. A request names the member by the model's queryName (query=…)
// when it has one, else by that name with its first letter capitalised, as botocore's ec2
// serializer does. "required" is the model's required list: a request without it is refused
// with MissingParameter. "newer" marks a member of EC2's current API that the model in Debian's
// botocore (1.29) lacks, but that current clients send on their own (the Go SDK fills in
// CreateNetworkAcl's ClientToken). The Go field's name is the model's member name; the
// conformance test holds every type here to the model.
type fieldInfo struct {
	index     int
	member    string // the model's member name (the Go field's)
	xmlName   string // in responses
	queryName string // in requests
	required  bool
	newer     bool
}

type structInfo struct {
	fields  []*fieldInfo
	byQuery map[string]*fieldInfo
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if info, ok := structInfos.Load(t); ok {
		return info.(*structInfo)
	}
	info := &structInfo{byQuery: make(map[string]*fieldInfo)}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := &fieldInfo{index: i, member: sf.Name, xmlName: sf.Name}
		name, opts, _ := strings.Cut(sf.Tag.Get("ec2"), ",")
		if name != "" {
			f.xmlName = name
		}
		f.queryName = strings.ToUpper(f.xmlName[:1]) + f.xmlName[1:]
		for opt := range strings.SplitSeq(opts, ",") {
			switch {
			case opt == "required":
				f.required = true
			case opt == "newer":
				f.newer = true
			case strings.HasPrefix(opt, "query="):
				f.queryName = strings.TrimPrefix(opt, "query=")
			case opt != "":
				panic("ec2query: unknown tag option " + opt + " on " + t.String() + "." + sf.Name)
			}
		}
		if _, dup := info.byQuery[f.queryName]; dup {
			panic("ec2query: two fields of " + t.String() + " are named " + f.queryName)
		}
		info.fields = append(info.fields, f)
		info.byQuery[f.queryName] = f
	}
	actual, _ := structInfos.LoadOrStore(t, info)
	return actual.(*structInfo)
}
