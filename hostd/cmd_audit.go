package main

import (
	"crypto/ed25519"
	"errors"
	"os"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/daemon"
)

// `hostd audit verify|lookup` read the trail in the state dir directly (as root, beside a
// running daemon or not), with the daemon's own key: no daemon call is needed to check it.

func cmdAudit(g *globals, args []string) error {
	return runVerb(g, "audit", args, map[string]func(*globals, []string) error{
		"verify": auditVerify, "lookup": auditLookup,
	})
}

// CodeAuditTrailInvalid is the error of a trail that does not check out.
const codeAuditTrailInvalid = "AuditTrailInvalid"

func auditVerify(g *globals, args []string) error {
	fs := newFlags("audit verify")
	stateDir := fs.String("state-dir", defaultStateDir(), "the daemon's state dir")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	key, err := existingAuditKey(*stateDir)
	if err != nil {
		return err
	}
	sum, err := audit.Verify(daemon.AuditDir(*stateDir), key.Public().(ed25519.PublicKey))
	var problem *audit.Problem
	if errors.As(err, &problem) {
		return &api.Error{Code: codeAuditTrailInvalid, Message: problem.Error()}
	}
	if err != nil {
		return err
	}
	return g.print(struct {
		Valid                   bool
		LogFiles, Digests       int
		Records                 uint64
		LastRecordHash, Current string
		PublicKeyFingerprint    string
	}{true, sum.Files, sum.Digests, sum.Records, sum.LastHash, sum.Current, audit.Fingerprint(key.Public().(ed25519.PublicKey))})
}

// existingAuditKey reads the trail's key without making one: a missing key is an error here.
func existingAuditKey(stateDir string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(daemon.AuditKeyFile(stateDir)); err != nil {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "no audit key in %s (%v): is --state-dir (or HOSTD_STATE_DIR) the daemon's, and are you root?", stateDir, err)
	}
	return daemon.AuditKey(stateDir)
}

func auditLookup(g *globals, args []string) error {
	fs := newFlags("audit lookup")
	stateDir := fs.String("state-dir", defaultStateDir(), "the daemon's state dir")
	var f audit.Filter
	fs.StringVar(&f.AccountID, "account", "", "the caller's account id")
	fs.StringVar(&f.EventName, "event-name", "", "the call, e.g. RunInstances")
	since := fs.String("since", "", "events at or after TIME (RFC 3339, or a duration ago such as 15m)")
	until := fs.String("until", "", "events at or before TIME (RFC 3339, or a duration ago)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var err error
	if f.Since, err = parseWhen("--since", *since); err != nil {
		return err
	}
	if f.Until, err = parseWhen("--until", *until); err != nil {
		return err
	}
	if _, err := os.Stat(daemon.AuditDir(*stateDir)); err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "no audit trail in %s (%v): is --state-dir (or HOSTD_STATE_DIR) the daemon's, and are you root?", *stateDir, err)
	}
	events, err := audit.Lookup(daemon.AuditDir(*stateDir), f)
	if err != nil {
		return err
	}
	if events == nil {
		events = []audit.Record{}
	}
	return g.print(struct{ Events []audit.Record }{events})
}

// parseWhen reads a time as RFC 3339, or as a duration before now.
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, api.Errorf(api.CodeInvalidParameterValue, "%s %q: give a time in RFC 3339 (2026-12-02T22:00:00Z) or a duration ago (15m, 2h)", flag, s)
}
