package sigv4

import (
	"testing"
	"time"
)

// BenchmarkVerify measures the verification of a typical EC2 Query request (a form-encoded
// RunInstances, signed by the SDK in its Authorization header): with the signing key cached,
// as for a key's steady stream of requests, and derived afresh each time, as for a key's first
// request of the day.
func BenchmarkVerify(b *testing.B) {
	keys := newKeyring()
	creds := keys.add("bench", "")
	at := time.Now()
	v := newTestVerifier(keys, func() time.Time { return at })
	body := "Action=RunInstances&ImageId=ami-12345678&InstanceType=t3.micro&MinCount=1&MaxCount=1" +
		"&SecurityGroupId.1=sg-0123456789abcdef0&SubnetId=subnet-0123456789abcdef0&Version=2016-11-15"
	r := newEC2Request(b, "http://127.0.0.1:8787/", body)
	signSDK(b, r, body, creds, testRegion, at)
	req := received(b, r)
	if _, err := v.Verify(req); err != nil {
		b.Fatal(err)
	}
	b.Run("cached-signing-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("derived-signing-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.cache.entries = nil
			if _, err := v.Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
