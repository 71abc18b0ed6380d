package audit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends per second with 1 and 8 concurrent writers (group
// commit shares one write and one fsync among those waiting), and the same appends without
// the fsync, which is what durability costs. The trail is on the test's temporary directory:
// run it where the state dir lives (ext4 here).
func BenchmarkAppend(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("fsync=%v/writers=%d", fsync, writers), func(b *testing.B) {
				tr, err := Open(b.TempDir(), key, Options{})
				if err != nil {
					b.Fatal(err)
				}
				tr.noSync = !fsync // read by the committer only after a request this goroutine sends

				r := record("111122223333", "AuthorizeSecurityGroupIngress", 1)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := range writers {
					wg.Go(func() {
						for i := w; i < b.N; i += writers {
							if err := tr.Append(r); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
				b.StopTimer()
				if err := tr.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
