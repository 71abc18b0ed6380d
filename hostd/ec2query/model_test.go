package ec2query

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// The model is botocore's, from Debian's python3-botocore (.ci/run installs it). It is read at
// test time and never copied into the repository.
const modelPath = "/usr/lib/python3/dist-packages/botocore/data/ec2/2016-11-15/service-2.json"

type model struct {
	Metadata   map[string]any     `json:"metadata"`
	Operations map[string]modelOp `json:"operations"`
	Shapes     map[string]*shape  `json:"shapes"`
}

type modelOp struct {
	Input  *shapeRef `json:"input"`
	Output *shapeRef `json:"output"`
}

type shapeRef struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	QueryName    string `json:"queryName"`
}

type shape struct {
	Type     string               `json:"type"`
	Members  map[string]*shapeRef `json:"members"`
	Required []string             `json:"required"`
	Member   *shapeRef            `json:"member"`
	Min      *float64             `json:"min"`
	Max      *float64             `json:"max"`
}

// needTool stops a test that needs a Debian package: under CI=true it fails, since .ci/run
// installs it; elsewhere it skips with what to install.
func loadModel(t *testing.T) *model {
	t.Helper()
	hostdtest.RequireTool(t, modelPath, "python3-botocore")
	b, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestCatalogMatchesModel holds every request and output type to botocore's model: the names,
// the wire names (locationName, queryName), the required members, the types, and, for requests,
// that every member of the model is a field (so that a key EC2 knows is never UnknownParameter).
func TestCatalogMatchesModel(t *testing.T) {
	m := loadModel(t)
	if len(Catalog) != 50 {
		t.Errorf("the catalog has %d actions; the issue lists 50", len(Catalog))
	}
	for _, a := range Catalog {
		op, ok := m.Operations[a.Name]
		if !ok {
			t.Errorf("%s: not an operation of the model", a.Name)
			continue
		}
		if op.Input.Shape != a.Request.Name() {
			t.Errorf("%s: request type %s, model input %s", a.Name, a.Request.Name(), op.Input.Shape)
		}
		c := &shapeChecker{t: t, m: m, seen: map[string]bool{}}
		c.check(a.Request, op.Input.Shape, true, a.Name)
		switch {
		case op.Output == nil && a.Output != noOutputType:
			t.Errorf("%s: the model has no output, the catalog says %s", a.Name, a.Output)
		case op.Output != nil:
			if op.Output.Shape != a.Output.Name() {
				t.Errorf("%s: output type %s, model output %s", a.Name, a.Output.Name(), op.Output.Shape)
			}
			c.check(a.Output, op.Output.Shape, false, a.Name)
		}
		in := m.Shapes[op.Input.Shape]
		if mr, ok := in.Members["MaxResults"]; ok {
			if a.Pages == nil {
				t.Errorf("%s: the model has MaxResults; the catalog gives no page limits", a.Name)
			} else if s := m.Shapes[mr.Shape]; s.Min != nil && (int(*s.Min) != a.Pages.Min || int(*s.Max) != a.Pages.Max) {
				t.Errorf("%s: MaxResults %v..%v in the model, %d..%d in the catalog", a.Name, *s.Min, *s.Max, a.Pages.Min, a.Pages.Max)
			}
		} else if a.Pages != nil {
			t.Errorf("%s: page limits, but the model has no MaxResults", a.Name)
		}
	}
}

type shapeChecker struct {
	t    *testing.T
	m    *model
	seen map[string]bool
}

func (c *shapeChecker) check(goType reflect.Type, shapeName string, input bool, path string) {
	c.t.Helper()
	key := goType.String() + "/" + shapeName + "/" + map[bool]string{true: "in", false: "out"}[input]
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	s := c.m.Shapes[shapeName]
	if s == nil || s.Type != "structure" {
		c.t.Errorf("%s: %s is not a structure of the model", path, shapeName)
		return
	}
	if goType.Name() != shapeName {
		c.t.Errorf("%s: Go type %s for the model's %s: name it as the model does", path, goType.Name(), shapeName)
	}
	info := structInfoOf(goType)
	for _, f := range info.fields {
		ref := s.Members[f.member]
		p := path + "." + f.member
		if f.newer {
			if ref != nil {
				c.t.Errorf("%s: marked newer, but the model has it: drop the mark", p)
			}
			continue
		}
		if ref == nil {
			c.t.Errorf("%s: %s has no member %s", p, shapeName, f.member)
			continue
		}
		wantXML := ref.LocationName
		if wantXML == "" {
			wantXML = f.member
		}
		if f.xmlName != wantXML {
			c.t.Errorf("%s: named %q; the model's locationName is %q", p, f.xmlName, wantXML)
		}
		wantQuery := ref.QueryName
		if wantQuery == "" {
			wantQuery = string(wantXML[0]&^0x20) + wantXML[1:]
			if wantXML[0] < 'a' {
				wantQuery = wantXML
			}
		}
		if f.queryName != wantQuery {
			c.t.Errorf("%s: requested as %q; botocore sends %q", p, f.queryName, wantQuery)
		}
		required := slices.Contains(s.Required, f.member)
		if input && f.required != required {
			c.t.Errorf("%s: required is %v; the model says %v", p, f.required, required)
		}
		if !input && f.required {
			c.t.Errorf("%s: an output member marked required", p)
		}
		c.checkType(goType.Field(f.index).Type, ref.Shape, input, p)
	}
	if input {
		for name := range s.Members {
			if _, ok := goType.FieldByName(name); !ok {
				c.t.Errorf("%s: the model's member %s is missing: add it (Unsupported if hostd does without)", path, name)
			}
		}
	}
}

func (c *shapeChecker) checkType(t reflect.Type, shapeName string, input bool, path string) {
	c.t.Helper()
	if t == unsupportedType { // in a shape shared with outputs, it is never written
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := c.m.Shapes[shapeName]
	ok := false
	switch s.Type {
	case "string":
		ok = t.Kind() == reflect.String
	case "integer", "long":
		ok = t.Kind() == reflect.Int
	case "boolean":
		ok = t.Kind() == reflect.Bool
	case "double", "float":
		ok = t.Kind() == reflect.Float64
	case "timestamp":
		ok = t == timeType
	case "blob":
		ok = t == bytesType
	case "list":
		ok = t.Kind() == reflect.Slice && t != bytesType
		if ok {
			if s.Member.LocationName != "" && s.Member.LocationName != "item" && !input {
				c.t.Errorf("%s: the model's list items are <%s>; the encoder writes <item>", path, s.Member.LocationName)
			}
			c.checkType(t.Elem(), s.Member.Shape, input, path+"[]")
		}
	case "structure":
		ok = t.Kind() == reflect.Struct && t != timeType
		if ok {
			c.check(t, shapeName, input, path)
		}
	}
	if !ok {
		c.t.Errorf("%s: Go %s for the model's %s %s", path, t, s.Type, shapeName)
	}
}
