package sigv4

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
)

var fuzzCreds = aws.Credentials{AccessKeyID: "AKIAFUZZFUZZFUZZFUZZ", SecretAccessKey: "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"}

var fuzzTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// FuzzVerify feeds the verifier arbitrary Authorization headers, dates, query strings, paths
// and bodies, seeded with requests the SDK signed. Whatever comes in, it does not panic, it
// refuses with one of its EC2 codes, and a request it accepts stops verifying when its body
// changes.
func FuzzVerify(f *testing.F) {
	body := "Action=RunInstances&ImageId=ami-1&MinCount=1&MaxCount=1"
	r := newEC2Request(f, "http://ec2.test/a/b?Action=DescribeVpcs&X=1", body)
	signSDK(f, r, body, fuzzCreds, testRegion, fuzzTime)
	header := received(f, r)
	f.Add(header.Header.Get("Authorization"), header.Header.Get("X-Amz-Date"), header.RawQuery, header.Path, []byte(body))
	presigned := received(f, presignSDK(f, newEC2Request(f, describeURL, ""), "", fuzzCreds, fuzzTime, time.Hour))
	f.Add("", "", presigned.RawQuery, presigned.Path, []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=00", "20260301T120000Z", "a=%zz", "/../..//", []byte("x"))

	keys := func(id string) (Key, error) {
		if id != fuzzCreds.AccessKeyID {
			return Key{}, ErrUnknownKey
		}
		return Key{Secret: []byte(fuzzCreds.SecretAccessKey), Active: true, Identity: account.Identity{AccessKeyID: id}}, nil
	}
	v := New(Config{Region: testRegion, Service: "ec2", Keys: keys, Now: func() time.Time { return fuzzTime }})
	codes := []string{api.CodeAuthFailure, api.CodeRequestExpired, api.CodeIncompleteSignature,
		api.CodeMissingAuthenticationToken, api.CodeMalformedQueryString}

	f.Fuzz(func(t *testing.T, authorization, date, query, path string, body []byte) {
		r := &Request{Method: "POST", Path: path, RawQuery: query, Host: "ec2.test", Header: http.Header{}, Body: body}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		r.Header.Set("Content-Length", "0")
		id, err := v.Verify(r)
		if err != nil {
			e, ok := err.(*api.Error)
			if !ok || !slices.Contains(codes, e.Code) {
				t.Fatalf("refused with %v, not one of the verifier's codes", err)
			}
			return
		}
		if id.AccessKeyID != fuzzCreds.AccessKeyID {
			t.Fatalf("verified as %+v", id)
		}
		changed := cloneRequest(r)
		changed.Body = append(changed.Body, '!')
		if _, err := v.Verify(changed); err == nil {
			t.Fatal("a verified request still verifies with its body changed")
		}
	})
}
