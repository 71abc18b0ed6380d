package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Filter selects records, as CloudTrail's LookupEvents does; empty fields select everything.
type Filter struct {
	AccountID string    // the caller's account (userIdentity.accountId)
	EventName string    // e.g. RunInstances
	Since     time.Time // events at or after
	Until     time.Time // events at or before
}

func (f Filter) matches(r *Record) bool {
	return (f.AccountID == "" || r.UserIdentity.AccountID == f.AccountID) &&
		(f.EventName == "" || r.EventName == f.EventName) &&
		(f.Since.IsZero() || !r.EventTime.Before(f.Since)) &&
		(f.Until.IsZero() || !r.EventTime.After(f.Until))
}

// Lookup returns the records of the trail in dir that match the filter, oldest first. It
// reads the trail as it is, while the daemon appends to it; it does not verify it (Verify
// does).
func Lookup(dir string, f Filter) ([]Record, error) {
	logs, _, err := listTrail(dir)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, name := range logs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if out, err = appendMatching(out, name, data, f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendMatching appends the records of one log file that match the filter.
func appendMatching(out []Record, name string, data []byte, f Filter) ([]Record, error) {
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines[:len(lines)-1] { // not what follows the last newline
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, &Problem{File: name, Line: i + 1, What: "the line is not a record: " + err.Error()}
		}
		if f.matches(&r) {
			out = append(out, r)
		}
	}
	return out, nil
}
