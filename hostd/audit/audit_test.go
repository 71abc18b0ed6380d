package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable clock for rotation tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

var key = testKey(1)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func record(account, event string, n int) *Record {
	return &Record{
		EventName:       event,
		AWSRegion:       "us-east-1",
		SourceIPAddress: "127.0.0.1",
		UserAgent:       "aws-cli/2.9.19",
		UserIdentity: UserIdentity{Type: "IAMUser", AccountID: account, UserName: "alice",
			ARN: "arn:aws:iam::" + account + ":user/alice", AccessKeyID: "AKIA0123456789ABCDEF"},
		RequestParameters: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		RequestID:         fmt.Sprintf("req-%d", n),
		ReadOnly:          strings.HasPrefix(event, "Describe"),
	}
}

func openTrail(t *testing.T, dir string, c *clock) *Trail {
	t.Helper()
	tr, err := Open(dir, key, Options{Now: c.Now})
	require.NoError(t, err)
	return tr
}

// buildTrail makes a trail of three rotated files of 5 records each and a current file of 5,
// with records 1 to 20, and leaves it open (so the last file is the current one).
func buildTrail(t *testing.T, dir string) *Trail {
	c := &clock{t: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)}
	tr := openTrail(t, dir, c)
	n := 0
	for file := range 4 {
		for range 5 {
			n++
			require.NoError(t, tr.Append(record("111122223333", "RunInstances", n)))
		}
		if file < 3 {
			c.advance(time.Hour) // the next append rotates
		}
	}
	return tr
}

func TestAppendRotateVerifyLookup(t *testing.T) {
	dir := t.TempDir()
	tr := buildTrail(t, dir)
	sum, err := Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, Summary{Files: 4, Digests: 3, Records: 20, LastHash: sum.LastHash, Current: sum.Current}, sum)
	assert.NotEmpty(t, sum.Current)

	require.NoError(t, tr.Close())
	sum, err = Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, 4, sum.Digests, "Close rotates the current file")
	assert.Empty(t, sum.Current)
	assert.ErrorIs(t, tr.Append(record("111122223333", "RunInstances", 99)), ErrClosed)
	assert.ErrorIs(t, tr.Close(), ErrClosed)

	// Reopened, the trail goes on from where it was.
	c := &clock{t: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)}
	tr = openTrail(t, dir, c)
	require.NoError(t, tr.Append(record("444455556666", "DescribeInstances", 21)))
	require.NoError(t, tr.Append(record("444455556666", "TerminateInstances", 22)))
	require.NoError(t, tr.Close())
	sum, err = Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, uint64(22), sum.Records)

	all, err := Lookup(dir, Filter{})
	require.NoError(t, err)
	require.Len(t, all, 22)
	for i, r := range all {
		assert.Equal(t, uint64(i+1), r.Sequence)
		assert.Equal(t, fmt.Sprintf("req-%d", i+1), r.RequestID)
		assert.Equal(t, "ec2.amazonaws.com", r.EventSource)
		assert.Equal(t, "AwsApiCall", r.EventType)
		assert.Len(t, r.EventID, 36)
		assert.NotEmpty(t, r.Signature)
	}
	b, err := Lookup(dir, Filter{AccountID: "444455556666"})
	require.NoError(t, err)
	assert.Len(t, b, 2)
	terminate, err := Lookup(dir, Filter{EventName: "TerminateInstances"})
	require.NoError(t, err)
	require.Len(t, terminate, 1)
	assert.Equal(t, "req-22", terminate[0].RequestID)
	window, err := Lookup(dir, Filter{Since: time.Date(2026, 3, 1, 11, 15, 0, 0, time.UTC), Until: time.Date(2026, 3, 1, 12, 15, 0, 0, time.UTC)})
	require.NoError(t, err)
	assert.Len(t, window, 10, "the second and third hours' records")
}

// What a record is written as: CloudTrail's fields at the top level, one JSON object a line.
func TestRecordShape(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, &clock{t: time.Date(2026, 3, 1, 10, 15, 30, 123456789, time.UTC)})
	r := record("111122223333", "CreateVpc", 1)
	r.ResponseElements = json.RawMessage(`{"vpc":{"vpcId":"vpc-0123456789abcdef0"}}`)
	r.ErrorCode, r.ErrorMessage = "", ""
	require.NoError(t, tr.Append(r))
	require.NoError(t, tr.Close())
	logs, _, err := listTrail(dir)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, logs[0]))
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(data, &fields))
	for _, name := range []string{"eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
		"userAgent", "userIdentity", "requestParameters", "responseElements", "requestID", "eventID", "readOnly", "eventType",
		"sequence", "previousRecordHash", "signature"} {
		assert.Contains(t, fields, name)
	}
	assert.Equal(t, "2026-03-01T10:15:30Z", fields["eventTime"])
	assert.Equal(t, map[string]any{"type": "IAMUser", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:user/alice",
		"accessKeyId": "AKIA0123456789ABCDEF", "userName": "alice"}, fields["userIdentity"])
	assert.Equal(t, genesisHash, fields["previousRecordHash"])

	info, err := os.Stat(filepath.Join(dir, logs[0]))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

// Secrets never reach the trail, wherever in the parameters or response they are.
func TestSecretsHidden(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, &clock{t: time.Now()})
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	r := record("111122223333", "CreateAccessKey", 1)
	r.RequestParameters = json.RawMessage(`{"userName":"alice","Password":"` + secret + `","nested":[{"x-amz-security-token":"` + secret + `"}],"UserData":"` + secret + `"}`)
	r.ResponseElements = json.RawMessage(`{"accessKey":{"accessKeyId":"AKIA0123456789ABCDEF","secretAccessKey":"` + secret + `","status":"Active"}}`)
	require.NoError(t, tr.Append(r))
	require.NoError(t, tr.Close())

	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if !info.IsDir() {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.NotContains(t, string(data), secret, path)
		}
		return nil
	})
	require.NoError(t, err)
	got, err := Lookup(dir, Filter{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"userName":"alice","Password":"HIDDEN_DUE_TO_SECURITY_REASONS","nested":[{"x-amz-security-token":"HIDDEN_DUE_TO_SECURITY_REASONS"}],"UserData":"HIDDEN_DUE_TO_SECURITY_REASONS"}`,
		string(got[0].RequestParameters))
	assert.JSONEq(t, `{"accessKey":{"accessKeyId":"AKIA0123456789ABCDEF","secretAccessKey":"HIDDEN_DUE_TO_SECURITY_REASONS","status":"Active"}}`,
		string(got[0].ResponseElements))

	assert.Error(t, openTrail(t, t.TempDir(), &clock{t: time.Now()}).Append(&Record{EventName: "X", RequestParameters: json.RawMessage(`{`)}))
	assert.Error(t, openTrail(t, t.TempDir(), &clock{t: time.Now()}).Append(&Record{}))
}

// Concurrent appenders: every record is there once, in one unbroken sequence.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, &clock{t: time.Now()})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				assert.NoError(t, tr.Append(record("111122223333", "DescribeVpcs", w*1000+i)))
			}
		})
	}
	wg.Wait()
	require.NoError(t, tr.Close())
	sum, err := Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, uint64(800), sum.Records)
	all, err := Lookup(dir, Filter{})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range all {
		seen[r.RequestID] = true
	}
	assert.Len(t, seen, 800)
}

// copyDir copies the trail, so that each tampering starts from the same one.
func copyDir(t *testing.T, from string) string {
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), data, 0o600))
	}
	return to
}

// editLines rewrites the lines of the index-th log file (0-based; -1 is the last).
func editLines(t *testing.T, dir string, index int, edit func(lines []string) []string) string {
	logs, _, err := listTrail(dir)
	require.NoError(t, err)
	if index < 0 {
		index += len(logs)
	}
	path := filepath.Join(dir, logs[index])
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(edit(lines), "\n")+"\n"), 0o600))
	return logs[index]
}

// removeFile removes the log file logName, or its digest.
func removeFile(t *testing.T, dir, logName, suffix string) {
	require.NoError(t, os.Remove(filepath.Join(dir, strings.TrimSuffix(logName, logSuffix)+suffix)))
}

// Every tampering the issue lists is found, and named where it happened: the file, the line,
// the record. The trail has files 0 to 2 rotated (records 1-5, 6-10, 11-15) and file 3 current
// (16-20).
func TestVerifyNamesTheSpot(t *testing.T) {
	original := t.TempDir()
	buildTrail(t, original)
	_, err := Verify(original, pub(key))
	require.NoError(t, err)
	logs, _, err := listTrail(original)
	require.NoError(t, err)

	for _, tc := range []struct {
		what   string
		tamper func(dir string)
		want   Problem
	}{
		{"a byte edited in a rotated file", func(dir string) {
			editLines(t, dir, 1, func(l []string) []string { l[2] = strings.Replace(l[2], "req-8", "req-9", 1); return l })
		}, Problem{File: logs[1], Line: 3, What: "changed or added by hand"}},
		{"a byte edited in the current file", func(dir string) {
			editLines(t, dir, -1, func(l []string) []string { l[1] = strings.Replace(l[1], "127.0.0.1", "127.0.0.2", 1); return l })
		}, Problem{File: logs[3], Line: 2, What: "changed or added by hand"}},
		{"a line deleted", func(dir string) {
			editLines(t, dir, 1, func(l []string) []string { return append(l[:1], l[2:]...) })
		}, Problem{File: logs[1], Line: 2, Sequence: 8, What: "record 7, which came before it, was removed"}},
		{"a line deleted in the current file", func(dir string) {
			editLines(t, dir, -1, func(l []string) []string { return append(l[:3], l[4:]...) })
		}, Problem{File: logs[3], Line: 4, Sequence: 20, What: "record 19, which came before it, was removed"}},
		{"two lines swapped", func(dir string) {
			editLines(t, dir, 2, func(l []string) []string { l[1], l[2] = l[2], l[1]; return l })
		}, Problem{File: logs[2], Line: 2, Sequence: 13, What: "record 12 belongs here but is at " + logs[2] + " line 3: records reordered"}},
		{"a line appended by hand", func(dir string) {
			editLines(t, dir, -1, func(l []string) []string {
				forged := strings.Replace(l[4], `"sequence":20`, `"sequence":21`, 1)
				return append(l, forged)
			})
		}, Problem{File: logs[3], Line: 6, What: "changed or added by hand"}},
		{"a copy of a real line appended", func(dir string) {
			editLines(t, dir, -1, func(l []string) []string { return append(l, l[0]) })
		}, Problem{File: logs[3], Line: 6, Sequence: 16, What: "record 16 appears again here, where record 21 belongs"}},
		{"the last line of a rotated file cut", func(dir string) {
			editLines(t, dir, 0, func(l []string) []string { return l[:4] })
		}, Problem{File: logs[0], Sequence: 5, What: "record 5 was removed from the end of the file"}},
		{"a digest removed", func(dir string) { removeFile(t, dir, logs[1], digestSuffix) },
			Problem{File: digestName(logs[1]), What: "the digest of " + logs[1] + " is missing"}},
		{"a log file removed, its digest kept", func(dir string) { removeFile(t, dir, logs[1], logSuffix) },
			Problem{File: logs[1], What: "the log file is missing"}},
		{"a log file and its digest removed", func(dir string) {
			removeFile(t, dir, logs[1], logSuffix)
			removeFile(t, dir, logs[1], digestSuffix)
		}, Problem{File: logs[2], Line: 1, Sequence: 11, What: "records 6 to 10, which came before it, were removed"}},
		{"a digest edited", func(dir string) {
			path := filepath.Join(dir, digestName(logs[0]))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, bytes.Replace(data, []byte(`"lastSequence":5`), []byte(`"lastSequence":4`), 1), 0o600))
		}, Problem{File: digestName(logs[0]), What: "the digest was changed or forged"}},
		{"a blank line added to a rotated file", func(dir string) {
			logs, _, _ := listTrail(dir)
			path := filepath.Join(dir, logs[0])
			data, _ := os.ReadFile(path)
			require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o600))
		}, Problem{File: logs[0], Line: 6, What: "changed or added by hand"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			dir := copyDir(t, original)
			tc.tamper(dir)
			_, err := Verify(dir, pub(key))
			var p *Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, tc.want.File, p.File, err.Error())
			assert.Equal(t, tc.want.Line, p.Line, err.Error())
			assert.Equal(t, tc.want.Sequence, p.Sequence, err.Error())
			assert.Contains(t, p.What, tc.want.What)
		})
	}

	// Another daemon's key does not verify the trail.
	_, err = Verify(original, pub(testKey(2)))
	var p *Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, Problem{File: logs[0], Line: 1, What: p.What}, *p)
}

// An idle trail rotates when the hour turns, without waiting for the next append.
func TestIdleRotation(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 3, 1, 10, 59, 0, 0, time.UTC)}
	tr, err := Open(dir, key, Options{Now: c.Now, tick: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, tr.Append(record("111122223333", "RunInstances", 1)))
	c.advance(time.Minute)
	require.Eventually(t, func() bool {
		sum, err := Verify(dir, pub(key))
		return err == nil && sum.Digests == 1 && sum.Current == ""
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, tr.Close())
}

// A crash in the middle of a write leaves a torn last line: Verify does not count it (it was
// never acknowledged), and Open cuts it off, signs the file's digest, and goes on.
func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	tr := buildTrail(t, dir)
	tr.mu.Lock() // abandon it, as a killed daemon does: no rotation, no digest
	logs, _, err := listTrail(dir)
	require.NoError(t, err)
	current := filepath.Join(dir, logs[3])
	f, err := os.OpenFile(current, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"eventVersion":"1.09","eventTime":"2026-03-01T13:`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	sum, err := Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, uint64(20), sum.Records)

	var logged []string
	tr2, err := Open(dir, key, Options{Logf: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }})
	require.NoError(t, err)
	require.Len(t, logged, 1)
	assert.Contains(t, logged[0], "cut off")
	require.NoError(t, tr2.Append(record("111122223333", "RunInstances", 21)))
	require.NoError(t, tr2.Close())
	sum, err = Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Equal(t, Summary{Files: 5, Digests: 5, Records: 21, LastHash: sum.LastHash}, sum)
}

// Open does not sign a digest over a file that was tampered with while the daemon was down.
func TestOpenRefusesTamperedCurrentFile(t *testing.T) {
	dir := t.TempDir()
	tr := buildTrail(t, dir)
	tr.mu.Lock() // killed
	editLines(t, dir, -1, func(l []string) []string { l[2] = strings.Replace(l[2], "req-18", "req-81", 1); return l })
	_, err := Open(dir, key, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
	assert.Contains(t, err.Error(), "audit verify")
	_, digests, err := listTrail(dir)
	require.NoError(t, err)
	assert.Len(t, digests, 3, "no digest signed over the tampered file")
}

// A write that fails leaves the trail failed: later appends fail too, rather than write after
// a gap nobody can account for.
func TestFailedWriteStopsTheTrail(t *testing.T) {
	dir := t.TempDir()
	tr := openTrail(t, dir, &clock{t: time.Now()})
	require.NoError(t, tr.Append(record("111122223333", "RunInstances", 1)))
	tr.file.Close() // the committer is idle; its next write fails
	err := tr.Append(record("111122223333", "RunInstances", 2))
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrClosed), err.Error())
	assert.ErrorContains(t, tr.Append(record("111122223333", "RunInstances", 3)), "nothing more can be recorded")
}
