package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Problem is the first place where a trail does not check out.
type Problem struct {
	File     string // the log or digest file
	Line     int    // from 1; 0 for a problem with a file as a whole
	Sequence uint64 // the record concerned, where known
	What     string
}

func (p *Problem) Error() string {
	where := p.File
	if p.Line > 0 {
		where += fmt.Sprintf(", line %d", p.Line)
	}
	if p.Sequence > 0 {
		where += fmt.Sprintf(" (record %d)", p.Sequence)
	}
	return "audit trail does not verify: " + where + ": " + p.What
}

// Summary is what Verify saw of a trail that checks out.
type Summary struct {
	Files, Digests int
	Records        uint64 // the last record's sequence number: the trail holds records 1 to Records
	LastHash       string
	Current        string // the log file not yet rotated, if any
}

// Verify checks the trail in dir with the daemon's public key: every record signed, in
// sequence, each carrying the hash of the one before; every rotated log file covered by a
// signed digest that matches it, each digest chained to the one before. The log file that is
// not yet rotated is checked by its records alone, and a last line still being written (or
// torn by a crash: never acknowledged) is not counted. It returns the first Problem found.
func Verify(dir string, pub ed25519.PublicKey) (Summary, error) {
	var sum Summary
	logs, digests, err := listTrail(dir)
	if err != nil {
		return sum, err
	}
	digestOf := map[string][]byte{}
	for _, d := range digests {
		base := strings.TrimSuffix(d.name, digestSuffix)
		digestOf[base] = bytes.TrimSuffix(d.data, []byte("\n"))
		if _, err := os.Stat(filepath.Join(dir, base+logSuffix)); err != nil {
			return sum, &Problem{File: base + logSuffix, What: "the log file is missing; its digest " + d.name + " is there"}
		}
	}
	v := verifier{dir: dir, pub: pub, logs: logs, lastHash: genesisHash}
	for i, name := range logs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return sum, err
		}
		current := i == len(logs)-1
		first, err := v.records(i, data, current)
		if err != nil {
			return sum, err
		}
		digest, ok := digestOf[strings.TrimSuffix(name, logSuffix)]
		if !ok {
			if current {
				sum.Current = name
				continue
			}
			return sum, &Problem{File: digestName(name), What: "the digest of " + name + " is missing"}
		}
		if err := v.digest(name, data, digest, first); err != nil {
			return sum, err
		}
		sum.Digests++
	}
	sum.Files, sum.Records, sum.LastHash = len(logs), v.seq, v.lastHash
	return sum, nil
}

// verifier walks a trail in order.
type verifier struct {
	dir        string
	pub        ed25519.PublicKey
	logs       []string
	seq        uint64 // the last record's
	lastHash   string
	prevDigest Digest
}

// records checks one log file's records and returns the sequence and hash of its first.
func (v *verifier) records(file int, data []byte, current bool) (first recordRef, err error) {
	name := v.logs[file]
	lines := bytes.Split(data, []byte("\n"))
	if tail := lines[len(lines)-1]; len(tail) > 0 && !current {
		return first, &Problem{File: name, Line: len(lines), What: "the file ends in the middle of a record, and it is not the current file: cut or changed"}
	}
	lines = lines[:len(lines)-1] // what follows the last newline: nothing, or a record still being written
	for i, line := range lines {
		problem := func(seq uint64, what string) error {
			return &Problem{File: name, Line: i + 1, Sequence: seq, What: what}
		}
		var r Record
		if err := verifyLine(v.pub, line, &r); err != nil {
			return first, problem(0, "the record was changed or added by hand: "+err.Error())
		}
		want := v.seq + 1
		switch {
		case r.Sequence > want:
			if at := v.find(want, file, i+1); at != "" {
				return first, problem(r.Sequence, fmt.Sprintf("record %d belongs here but is at %s: records reordered", want, at))
			}
			if r.Sequence == want+1 {
				return first, problem(r.Sequence, fmt.Sprintf("record %d, which came before it, was removed", want))
			}
			return first, problem(r.Sequence, fmt.Sprintf("records %d to %d, which came before it, were removed", want, r.Sequence-1))
		case r.Sequence < want:
			return first, problem(r.Sequence, fmt.Sprintf("record %d appears again here, where record %d belongs: a copy added, or records reordered", r.Sequence, want))
		case r.PreviousHash != v.lastHash:
			return first, problem(r.Sequence, "the record does not follow the one before it (its previous-record hash differs): the record before it was replaced")
		}
		v.seq, v.lastHash = r.Sequence, lineHash(line)
		if i == 0 {
			first = recordRef{r.Sequence, v.lastHash}
		}
	}
	return first, nil
}

type recordRef struct {
	seq  uint64
	hash string
}

// find looks for record seq from line `from` (0-based) of log file `file` on, and says where it
// is, or "" if nowhere.
func (v *verifier) find(seq uint64, file, from int) string {
	for f := file; f < len(v.logs); f++ {
		data, err := os.ReadFile(filepath.Join(v.dir, v.logs[f]))
		if err != nil {
			return ""
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			var r Record
			if (f > file || i >= from) && verifyLine(v.pub, line, &r) == nil && r.Sequence == seq {
				return fmt.Sprintf("%s line %d", v.logs[f], i+1)
			}
		}
	}
	return ""
}

// digest checks the digest of log file name against the file and the digest before it.
func (v *verifier) digest(name string, data, line []byte, first recordRef) error {
	dname := digestName(name)
	problem := func(what string) error { return &Problem{File: dname, What: what} }
	var d Digest
	if err := verifyLine(v.pub, line, &d); err != nil {
		if err == errBadSignature && d.PublicKeyFingerprint != Fingerprint(v.pub) {
			return problem(fmt.Sprintf("it is signed by another key (fingerprint %s), not the one given (%s)", d.PublicKeyFingerprint, Fingerprint(v.pub)))
		}
		return problem("the digest was changed or forged: " + err.Error())
	}
	sum := sha256.Sum256(data)
	prevFile := ""
	if v.prevDigest.LogFile != "" {
		prevFile = digestName(v.prevDigest.LogFile)
	}
	switch {
	case d.LogFile != name:
		return problem(fmt.Sprintf("it covers %s, not %s: files renamed", d.LogFile, name))
	case d.PreviousDigestFile != prevFile || d.PreviousDigestSignature != v.prevDigest.Signature:
		return problem(fmt.Sprintf("it does not follow the digest before it (%q): a digest replaced, or a log file and its digest removed", prevFile))
	case d.LastSequence == v.seq+1:
		return &Problem{File: name, Sequence: v.seq + 1, What: fmt.Sprintf("record %d was removed from the end of the file", v.seq+1)}
	case d.LastSequence > v.seq:
		return &Problem{File: name, Sequence: v.seq + 1, What: fmt.Sprintf("records %d to %d were removed from the end of the file", v.seq+1, d.LastSequence)}
	case d.FirstSequence != first.seq || d.FirstRecordHash != first.hash || d.LastSequence != v.seq || d.LastRecordHash != v.lastHash:
		return problem("its first and last records are not the file's")
	case d.LogFileSHA256 != hex.EncodeToString(sum[:]):
		return &Problem{File: name, What: "the file changed since its digest was signed (its SHA-256 differs), though every record in it checks out"}
	}
	v.prevDigest = d
	return nil
}
