package audit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzVerify feeds the record checks of Verify and Lookup arbitrary log files, seeded with a
// genuine one. Whatever the bytes, they do not panic, and a file checks out only if its
// records are the genuine file's first ones, byte for byte: nothing else carries the daemon's
// signatures. (In memory: files on disk would bring their random names into the coverage that
// steers the fuzzer.)
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	tr, err := Open(dir, key, Options{Now: (&clock{t: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)}).Now})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		r := record("111122223333", "RunInstances", i)
		r.EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i) // every fuzzing process makes the same file
		if err := tr.Append(r); err != nil {
			f.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		f.Fatal(err)
	}
	logs, _, err := listTrail(dir)
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := os.ReadFile(filepath.Join(dir, logs[0]))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(genuine[:len(genuine)/2])
	f.Add([]byte("{}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		appendMatching(nil, logs[0], data, Filter{})
		v := verifier{pub: pub(key), logs: logs[:1], lastHash: genesisHash}
		if _, err := v.records(0, data, true); err != nil {
			return
		}
		lines := bytes.SplitAfter(data, []byte("\n"))
		verified := bytes.Join(lines[:v.seq], nil)
		if !bytes.HasPrefix(genuine, verified) || v.seq > 0 && !bytes.HasSuffix(verified, []byte("\n")) {
			t.Fatalf("%d records check out that are not the genuine file's: %q", v.seq, verified)
		}
	})
}
