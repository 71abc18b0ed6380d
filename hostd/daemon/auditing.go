package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/audit"
	"github.com/hostd/hostd/hostd/ec2query"
	"github.com/hostd/hostd/hostd/keyfile"
)

// The audit trail: every call on either listener, allowed or refused (a bad signature
// included), is one CloudTrail-shaped record in <state-dir>/audit/, durable before its answer
// is sent (hostd/audit's group commit shares one fsync among the calls that arrive together).
//
// Who made a call (userIdentity): a signed call's IAM user (type IAMUser, its account, ARN and
// access key id); the operator on the unix socket is the host's root (type Root, account
// 000000000000, ARN arn:aws:iam::000000000000:root, user name "operator"), with the account it
// acted for as recipientAccountId; a request that never proved who sent it is type Unknown,
// with the access key id it claimed, if any.

// AuditDir is where the trail is kept.
func AuditDir(stateDir string) string { return filepath.Join(stateDir, "audit") }

// AuditKeyFile holds the seed of the Ed25519 key that signs the trail (mode 0600).
func AuditKeyFile(stateDir string) string { return filepath.Join(stateDir, "keys", "audit.key") }

// AuditKey returns the trail's signing key, made on first use.
func AuditKey(stateDir string) (ed25519.PrivateKey, error) {
	seed, err := keyfile.LoadOrCreate(AuditKeyFile(stateDir))
	if err != nil {
		return nil, fmt.Errorf("the audit trail's signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (d *Daemon) openAudit() error {
	key, err := AuditKey(d.cfg.StateDir)
	if err != nil {
		return err
	}
	d.trail, err = audit.Open(AuditDir(d.cfg.StateDir), key, audit.Options{
		Logf: func(format string, args ...any) { d.log.Warn("audit trail: " + fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return fmt.Errorf("opening the audit trail (check it with `hostd audit verify`): %w", err)
	}
	return nil
}

// callRecord is what the listener's layers learn of a call as it goes through them, for its
// audit record.
type callRecord struct {
	verb       verb
	body       []byte
	caller     *api.Caller
	claimedKey string // the access key id a request claimed, when it was not verified
	pathID     string // the id in the call's path, once the mux has matched it
}

type callRecordKey struct{}

func recordOf(r *http.Request) *callRecord {
	rec, _ := r.Context().Value(callRecordKey{}).(*callRecord)
	if rec == nil {
		return &callRecord{} // a layer outside audited: nothing is kept
	}
	return rec
}

// audited reads a call's body (at most maxBody bytes), runs it through next with the answer held
// back, appends the call's record to the trail, and only then sends the answer. A record that
// cannot be kept turns the answer into InternalError: no client holds the answer of a call the
// trail does not have.
func (d *Daemon) audited(mux *http.ServeMux, maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &callRecord{}
		if _, pattern := mux.Handler(r); pattern != "" {
			rec.verb = verbOf(pattern)
		} else {
			rec.verb = verb{action: "InvalidAction"}
		}
		requestID := ec2query.NewRequestID()
		held := newHeldResponse()
		held.Header().Set("X-Amzn-Requestid", requestID)
		body, err := readBody(w, r, maxBody)
		if err != nil {
			writeError(held, api.AsError(err))
		} else {
			rec.body = body
			r.Body = http.NoBody
			if len(body) > 0 {
				r.Body = readCloser{bytes.NewReader(body)}
			}
			next.ServeHTTP(held, r.WithContext(context.WithValue(r.Context(), callRecordKey{}, rec)))
		}
		if err := d.trail.Append(d.auditRecord(r, rec, requestID, held)); err != nil {
			d.log.Error("appending to the audit trail; the call's answer is withheld", "action", rec.verb.action, "err", err)
			held = newHeldResponse()
			writeError(held, api.Errorf(api.CodeInternalError, "the call could not be recorded in the audit trail (request %s)", requestID))
		}
		held.sendTo(w)
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// readBody reads a request's whole body, refusing one over max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max)); err != nil {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "the request body could not be read, or is over %d bytes: %v", max, err)
	}
	return buf.Bytes(), nil
}

// auditRecord is the trail's record of a call and its answer.
func (d *Daemon) auditRecord(r *http.Request, rec *callRecord, requestID string, held *heldResponse) *audit.Record {
	out := &audit.Record{
		EventName: rec.verb.name(rec.body), AWSRegion: d.cfg.Region, SourceIPAddress: sourceIP(r),
		UserAgent: truncate(r.UserAgent(), 256), RequestID: requestID, ReadOnly: rec.verb.readOnly,
		RequestParameters: requestParameters(r, rec),
	}
	switch c := rec.caller; {
	case c == nil:
		out.UserIdentity = audit.UserIdentity{Type: "Unknown", AccessKeyID: rec.claimedKey}
	case c.Operator:
		out.UserIdentity = audit.UserIdentity{Type: "Root", AccountID: api.OperatorAccount, ARN: "arn:aws:iam::" + api.OperatorAccount + ":root", UserName: "operator"}
		out.RecipientAccountID = c.AccountID
	default:
		out.UserIdentity = audit.UserIdentity{Type: "IAMUser", AccountID: c.AccountID, ARN: "arn:aws:iam::" + c.AccountID + ":user/" + c.UserName, AccessKeyID: c.AccessKeyID, UserName: c.UserName}
		out.RecipientAccountID = c.AccountID
	}
	if held.status != http.StatusOK {
		var doc api.ErrorDocument
		if json.Unmarshal(held.body.Bytes(), &doc) == nil && doc.Error != nil {
			out.ErrorCode, out.ErrorMessage = doc.Error.Code, truncate(doc.Error.Message, 1024)
		} else {
			out.ErrorCode = http.StatusText(held.status)
		}
	} else if !rec.verb.readOnly && json.Valid(held.body.Bytes()) {
		// What a call made (its ids); describes' answers are not kept, as in CloudTrail.
		out.ResponseElements = bytes.Clone(held.body.Bytes())
	}
	return out
}

// requestParameters are the call's parameters: its JSON body, with the path's id and the
// query's ids. Secrets are hidden by the trail itself (audit.Record's redaction).
func requestParameters(r *http.Request, rec *callRecord) json.RawMessage {
	body := rec.body
	params := map[string]any{}
	if len(body) > 0 {
		var v any
		if json.Unmarshal(body, &v) != nil {
			params["unreadableBody"] = truncate(string(body), 256)
		} else if obj, ok := v.(map[string]any); ok {
			params = obj
		} else {
			params["body"] = v
		}
	}
	if rec.pathID != "" {
		params["id"] = rec.pathID
	}
	for k, v := range r.URL.Query() {
		if len(k) <= 64 {
			params[k] = v
		}
	}
	if len(params) == 0 {
		return nil
	}
	out, _ := json.Marshal(params)
	return out
}

func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return "unix-socket" // the operator's socket has no address
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// heldResponse keeps an answer until the call's record is durable.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newHeldResponse() *heldResponse {
	return &heldResponse{header: http.Header{}, status: http.StatusOK}
}

func (h *heldResponse) Header() http.Header         { return h.header }
func (h *heldResponse) Write(b []byte) (int, error) { return h.body.Write(b) }
func (h *heldResponse) WriteHeader(status int)      { h.status = status }

func (h *heldResponse) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body.Bytes())
}
