package ec2query

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// The front end's own cost per call, without the network or the core: what the EC2 API adds to
// a native call (issue 13's benchmark compares whole calls; this is the part that is ours).

func BenchmarkDecodeRunInstances(b *testing.B) {
	form, err := url.ParseQuery("ImageId=ami-1&MinCount=1&MaxCount=1&InstanceType=t3.micro&SubnetId=subnet-1" +
		"&SecurityGroupId.1=sg-1&SecurityGroupId.2=sg-2&UserData=IyEvYmluL3NoCg%3D%3D&ClientToken=tok" +
		"&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var req RunInstancesRequest
		if err := Decode(form, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func describeInstances(n int) *DescribeInstancesResult {
	inst := sampleOf(reflect.TypeFor[Instance]()).Interface().(*Instance)
	out := &DescribeInstancesResult{}
	for i := range n {
		r := Reservation{ReservationId: fmt.Sprintf("r-%d", i), OwnerId: "111111111111", Instances: []Instance{*inst}}
		out.Reservations = append(out.Reservations, r)
	}
	return out
}

func BenchmarkEncodeDescribeInstances100(b *testing.B) {
	out := describeInstances(100)
	var doc []byte
	for b.Loop() {
		doc = EncodeResponse("DescribeInstances", "id", out)
	}
	b.ReportMetric(float64(len(doc)), "xml-bytes")
}

// BenchmarkRouterDescribeInstances100 is one whole call through the router (authentication
// stand-in, parsing, decoding, filters, the handler returning 100 instances, audit stand-in, XML).
func BenchmarkRouterDescribeInstances100(b *testing.B) {
	f := newRouterFixture()
	out := describeInstances(100)
	Register(f.router, "DescribeInstances", func(_ context.Context, _ *Call, req *DescribeInstancesRequest) (*DescribeInstancesResult, error) {
		if _, err := ParseFilters(req.Filters, []string{"instance-state-name", TagFilter}); err != nil {
			return nil, err
		}
		return out, nil
	}, nil)
	form := "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=instance-state-name&Filter.1.Value.1=running"
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyA+"/x")
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Body.String())
		}
	}
}
