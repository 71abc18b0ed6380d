package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hostd/hostd/hostd/keyfile"
)

// Digest covers one rotated log file; it is a single signed line of JSON in FILE.digest.
type Digest struct {
	DigestVersion           string    `json:"digestVersion"`
	LogFile                 string    `json:"logFile"`
	LogFileSHA256           string    `json:"logFileSHA256"`
	FirstSequence           uint64    `json:"firstSequence"`
	LastSequence            uint64    `json:"lastSequence"`
	FirstRecordHash         string    `json:"firstRecordHash"`
	LastRecordHash          string    `json:"lastRecordHash"`
	StartTime               time.Time `json:"digestStartTime"`
	EndTime                 time.Time `json:"digestEndTime"`
	PreviousDigestFile      string    `json:"previousDigestFile"`
	PreviousDigestSignature string    `json:"previousDigestSignature"`
	PublicKeyFingerprint    string    `json:"digestPublicKeyFingerprint"`
	Signature               string    `json:"signature,omitempty"`
}

const (
	logSuffix    = ".jsonl"
	digestSuffix = ".digest"
	// maxBatch bounds how many appends share one write and fsync.
	maxBatch = 256
)

// ErrClosed is returned by Append once the trail is closed.
var ErrClosed = errors.New("the audit trail is closed")

// Options tune a trail; the zero value is what the daemon wants.
type Options struct {
	// Now is the clock for event times and rotation; nil means time.Now.
	Now func() time.Time
	// Logf reports what Open repaired (a torn last record after a crash); nil discards it.
	Logf func(format string, args ...any)
	// tick is how often an idle trail checks whether the hour has turned (a minute; tests
	// make it shorter).
	tick time.Duration
}

// Trail is an open audit trail. Append is safe for concurrent use.
type Trail struct {
	dir  string
	key  ed25519.PrivateKey
	opts Options
	// noSync leaves out the fsync; only the benchmark that measures what fsync costs sets it.
	noSync bool

	mu     sync.RWMutex // held for reading while sending to reqs, for writing to close
	closed bool
	reqs   chan *request
	done   chan struct{}

	// The rest belongs to the committer goroutine once Open returns.
	file       *os.File
	fileName   string
	fileHour   time.Time // the hour the current file belongs to
	fileFirst  *Record
	fileFirstH string
	fileLast   *Record
	seq        uint64 // the last record's
	lastHash   string // the last record line's
	prevDigest Digest // the newest digest, signed
	failed     error  // a write or fsync failed: nothing more is appended
	buf        []byte // the lines of a batch
}

type request struct {
	record *Record
	rotate bool // rotate now, instead of appending (Close)
	done   chan error
}

// Open opens the trail in dir (made if missing), signing with key. A log file left without
// its digest by a crash is repaired (a torn last record, never acknowledged, is cut off),
// checked, and rotated before anything new is appended; a file that does not check out is
// not signed over: Open fails and the operator must look (audit verify).
func Open(dir string, key ed25519.PrivateKey, opts Options) (*Trail, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.tick == 0 {
		opts.tick = time.Minute
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	t := &Trail{dir: dir, key: key, opts: opts, lastHash: genesisHash,
		reqs: make(chan *request, maxBatch), done: make(chan struct{})}
	if err := t.recover(); err != nil {
		return nil, err
	}
	go t.commit()
	return t, nil
}

// recover finds where the trail ends: the newest digest, and a newer log file without one,
// which a crash left behind and which is now repaired and rotated.
func (t *Trail) recover() error {
	logs, digests, err := listTrail(t.dir)
	if err != nil {
		return err
	}
	pub := t.key.Public().(ed25519.PublicKey)
	if n := len(digests); n > 0 {
		if err := verifyLine(pub, bytes.TrimSuffix(digests[n-1].data, []byte("\n")), &t.prevDigest); err != nil {
			return fmt.Errorf("the newest audit digest %s does not check out (%v): run `hostd audit verify`", digests[n-1].name, err)
		}
		t.seq, t.lastHash = t.prevDigest.LastSequence, t.prevDigest.LastRecordHash
	}
	if len(logs) == 0 || logs[len(logs)-1] == t.prevDigest.LogFile {
		return nil
	}
	name := logs[len(logs)-1]
	path := filepath.Join(t.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if end := bytes.LastIndexByte(data, '\n') + 1; end < len(data) {
		t.opts.Logf("audit: %s ends with %d bytes of a record whose write a crash interrupted; it was never acknowledged and is cut off", name, len(data)-end)
		if err := os.Truncate(path, int64(end)); err != nil {
			return err
		}
		data = data[:end]
	}
	if len(data) == 0 {
		return os.Remove(path)
	}
	for i, line := range bytes.Split(data[:len(data)-1], []byte("\n")) {
		var r Record
		if err := verifyLine(pub, line, &r); err != nil || r.Sequence != t.seq+1 || r.PreviousHash != t.lastHash {
			return fmt.Errorf("audit log %s, line %d, does not continue the trail (%v): it is not signed over; run `hostd audit verify`", name, i+1, err)
		}
		if i == 0 {
			t.fileFirst, t.fileFirstH = &r, lineHash(line)
		}
		t.fileLast, t.seq, t.lastHash = &r, r.Sequence, lineHash(line)
	}
	t.fileName = name
	return t.writeDigest(data)
}

// Append writes the record to the trail and returns once it is durable. It fills in the event
// time (if zero), id (if empty), version, source and type, and hides secret parameters.
func (t *Trail) Append(r *Record) error {
	if r.EventName == "" {
		return errors.New("audit: a record needs an event name")
	}
	rec := *r
	var err error
	if rec.RequestParameters, err = redact(r.RequestParameters); err != nil {
		return fmt.Errorf("audit: requestParameters is not JSON: %w", err)
	}
	if rec.ResponseElements, err = redact(r.ResponseElements); err != nil {
		return fmt.Errorf("audit: responseElements is not JSON: %w", err)
	}
	if rec.EventTime.IsZero() {
		rec.EventTime = t.opts.Now()
	}
	rec.EventTime = rec.EventTime.UTC().Truncate(time.Second)
	if rec.EventID == "" {
		rec.EventID = newEventID()
	}
	rec.EventVersion, rec.EventSource, rec.EventType = eventVersion, eventSource, eventType
	return t.send(&request{record: &rec})
}

func (t *Trail) send(req *request) error {
	req.done = make(chan error, 1)
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return ErrClosed
	}
	t.reqs <- req
	t.mu.RUnlock()
	return <-req.done
}

// Close appends what is pending, rotates the current log file and stops the trail.
func (t *Trail) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	req := &request{rotate: true, done: make(chan error, 1)}
	t.reqs <- req
	t.closed = true
	close(t.reqs)
	t.mu.Unlock()
	err := <-req.done
	<-t.done
	return err
}

// commit is the one goroutine that writes: it takes every request waiting, appends their
// records with one write and one fsync, and answers them all.
func (t *Trail) commit() {
	defer close(t.done)
	ticker := time.NewTicker(t.opts.tick)
	defer ticker.Stop()
	reqs := make([]*request, 0, maxBatch)
	for {
		select {
		case req, ok := <-t.reqs:
			if !ok {
				return
			}
			reqs = append(reqs[:0], req)
		more:
			for len(reqs) < maxBatch {
				select {
				case next, ok := <-t.reqs:
					if !ok {
						break more
					}
					reqs = append(reqs, next)
				default:
					break more
				}
			}
			t.handle(reqs)
		case <-ticker.C:
			if t.file != nil && t.rotationDue() {
				t.fail(t.closeFile())
			}
		}
	}
}

// handle answers the requests in their order; each run of appends shares one write.
func (t *Trail) handle(reqs []*request) {
	for len(reqs) > 0 {
		if reqs[0].rotate {
			if t.file != nil {
				t.fail(t.closeFile())
			}
			reqs[0].done <- t.failed
			reqs = reqs[1:]
			continue
		}
		n := 1
		for n < len(reqs) && !reqs[n].rotate {
			n++
		}
		t.answer(reqs[:n], t.write(reqs[:n]))
		reqs = reqs[n:]
	}
}

func (t *Trail) answer(batch []*request, err error) {
	for _, req := range batch {
		req.done <- err
	}
}

// fail records the first error that leaves the trail in doubt; from then on every Append
// fails, because what is on disk is no longer known.
func (t *Trail) fail(err error) {
	if err != nil && t.failed == nil {
		t.failed = fmt.Errorf("audit trail failed, nothing more can be recorded: %w", err)
	}
}

// write appends the batch's records to the current log file (rotating first if the hour has
// turned, opening a file if none is open) with one write and one fsync.
func (t *Trail) write(batch []*request) error {
	if t.failed != nil {
		return t.failed
	}
	if t.file != nil && t.rotationDue() {
		if err := t.closeFile(); err != nil {
			t.fail(err)
			return t.failed
		}
	}
	if t.file == nil {
		if err := t.openFile(); err != nil {
			t.fail(err)
			return t.failed
		}
	}
	buf := t.buf[:0]
	seq, last := t.seq, t.lastHash
	var first, lastRec *Record
	firstHash := ""
	for _, req := range batch {
		seq++
		req.record.Sequence, req.record.PreviousHash = seq, last
		line, err := signLine(t.key, req.record)
		if err != nil {
			return err // a record that does not marshal; nothing written
		}
		last = lineHash(line)
		if first == nil {
			first, firstHash = req.record, last
		}
		lastRec = req.record
		buf = append(append(buf, line...), '\n')
	}
	t.buf = buf
	if _, err := t.file.Write(buf); err != nil {
		t.fail(err)
		return t.failed
	}
	if !t.noSync {
		if err := t.file.Sync(); err != nil {
			t.fail(err)
			return t.failed
		}
	}
	if t.fileFirst == nil {
		t.fileFirst, t.fileFirstH = first, firstHash
	}
	t.fileLast, t.seq, t.lastHash = lastRec, seq, last
	return nil
}

func (t *Trail) rotationDue() bool {
	return !t.opts.Now().UTC().Truncate(time.Hour).Equal(t.fileHour)
}

// openFile starts a log file, named by its first sequence number (so names sort in trail
// order) and the time it was opened.
func (t *Trail) openFile() error {
	now := t.opts.Now().UTC()
	name := fmt.Sprintf("%016d-%s%s", t.seq+1, now.Format("20060102T150405Z"), logSuffix)
	f, err := os.OpenFile(filepath.Join(t.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := keyfile.SyncDir(t.dir); err != nil {
		f.Close()
		return err
	}
	t.file, t.fileName, t.fileHour = f, name, now.Truncate(time.Hour)
	t.fileFirst, t.fileLast = nil, nil
	return nil
}

// closeFile closes the current log file and writes its digest.
func (t *Trail) closeFile() error {
	if err := t.file.Close(); err != nil {
		return err
	}
	t.file = nil
	data, err := os.ReadFile(filepath.Join(t.dir, t.fileName))
	if err != nil {
		return err
	}
	return t.writeDigest(data)
}

// writeDigest signs the digest of the current log file, whose content is data, chained to the
// previous digest, and makes it durable.
func (t *Trail) writeDigest(data []byte) error {
	sum := sha256.Sum256(data)
	pub := t.key.Public().(ed25519.PublicKey)
	d := Digest{
		DigestVersion:           "1",
		LogFile:                 t.fileName,
		LogFileSHA256:           hex.EncodeToString(sum[:]),
		FirstSequence:           t.fileFirst.Sequence,
		LastSequence:            t.fileLast.Sequence,
		FirstRecordHash:         t.fileFirstH,
		LastRecordHash:          t.lastHash,
		StartTime:               t.fileFirst.EventTime,
		EndTime:                 t.fileLast.EventTime,
		PreviousDigestSignature: t.prevDigest.Signature,
		PublicKeyFingerprint:    Fingerprint(pub),
	}
	if t.prevDigest.LogFile != "" {
		d.PreviousDigestFile = digestName(t.prevDigest.LogFile)
	}
	line, err := signLine(t.key, &d)
	if err != nil {
		return err
	}
	path := filepath.Join(t.dir, digestName(t.fileName))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(line, '\n'), 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = keyfile.SyncDir(t.dir)
	}
	if err != nil {
		return err
	}
	if err := verifyLine(pub, line, &t.prevDigest); err != nil {
		return err
	}
	t.fileName, t.fileFirst, t.fileLast = "", nil, nil
	return nil
}

// Fingerprint names a public key: the hex SHA-256 of its bytes.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

func digestName(logFile string) string { return strings.TrimSuffix(logFile, logSuffix) + digestSuffix }

type trailFile struct {
	name string
	data []byte
}

// listTrail returns the trail's log file names and its digests (with their contents), each in
// trail order.
func listTrail(dir string) (logs []string, digests []trailFile, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case isTrailName(name, logSuffix):
			logs = append(logs, name)
		case isTrailName(name, digestSuffix):
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, nil, err
			}
			digests = append(digests, trailFile{name, data})
		}
	}
	slices.Sort(logs) // ReadDir sorts already; this says the order matters
	return logs, digests, nil
}

// isTrailName tells whether name is NNNNNNNNNNNNNNNN-YYYYMMDDTHHMMSSZ plus suffix.
func isTrailName(name, suffix string) bool {
	base, ok := strings.CutSuffix(name, suffix)
	seq, stamp, ok2 := strings.Cut(base, "-")
	if !ok || !ok2 || len(seq) != 16 {
		return false
	}
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return false
	}
	_, err := time.Parse("20060102T150405Z", stamp)
	return err == nil
}
