package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/iam"
	"github.com/hostd/hostd/hostd/sigv4"
)

// The two listeners and who their calls act for. The unix socket's caller is the operator
// (api.Operator, for the account it names in api.AccountHeader). The network listener (serve
// --listen) takes only requests signed with an access key (SigV4, either form); their caller is
// the key's user. Each call goes through the same layers on both:
//
//	audited (body read, bounded; answer held until the record is durable)
//	→ verified (network: SigV4 → the caller) or operator (unix socket)
//	→ jsonErrors (unknown paths and methods) → the mux
//	→ authorize (in withBody/noBody, once the route is known: IAM for a tenant's user)
//	→ the core operation.

// DefaultRegion is the region of the network listener's signatures when serve names none.
const DefaultRegion = "us-east-1"

// Bounds of the network listener, so that no client (signed or not) can hold the daemon's memory
// or its connections: slowloris, huge headers or bodies.
const (
	maxBody           = 1 << 20
	maxHeaderBytes    = 64 << 10
	maxConnections    = 512
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 10 * time.Minute // a terminate waits for everything of its instances to go
	idleTimeout       = 60 * time.Second
)

type callerKey struct{}

func withCaller(ctx context.Context, c api.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf is who makes the call r: its listener put it in the context. A request that reached
// a handler without one acts for nobody and sees nothing.
func callerOf(r *http.Request) api.Caller {
	c, _ := r.Context().Value(callerKey{}).(api.Caller)
	return c
}

// operatorHandler serves the unix socket: every call is the operator's.
func (d *Daemon) operatorHandler() http.Handler {
	mux := d.routes()
	d.tenantRoutes(mux)
	return d.audited(mux, maxBody, d.metrics.countCalls(patternOf(mux), jsonErrors(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := api.Operator
		if id := r.Header.Get(api.AccountHeader); id != "" {
			if !account.ValidAccountID(id) {
				writeError(w, api.Errorf(api.CodeInvalidParameterValue, "--account %q is not an account id (12 digits)", id))
				return
			}
			if !d.accountExists(id) {
				writeError(w, api.AsError(accountNotFound(id)))
				return
			}
			c.AccountID = id
		}
		recordOf(r).caller = &c
		mux.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	}))))
}

// networkHandler serves the network listener: signed calls of tenants' users. The account, user
// and access-key routes are there only to be refused as the operator's.
func (d *Daemon) networkHandler() http.Handler {
	mux := d.routes()
	d.tenantRoutes(mux)
	native := d.audited(mux, maxBody, d.metrics.countCalls(patternOf(mux), d.verified(jsonErrors(mux, mux))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// EC2's Query API (POST / and GET /?Action=) has its own router, with the same hooks.
		if r.URL.Path == "/" && d.ec2Front != nil {
			d.ec2Front.ServeHTTP(w, r)
			return
		}
		native.ServeHTTP(w, r)
	})
}

// verified checks a request's signature; the caller is the signing key's user.
func (d *Daemon) verified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordOf(r)
		req := sigv4.FromHTTP(r, rec.body)
		id, err := d.verifier.Verify(req)
		if err != nil {
			rec.claimedKey = sigv4.ClaimedAccessKeyID(req)
			d.reply(w, r, nil, err)
			return
		}
		c := api.Caller{AccountID: id.AccountID, UserName: id.UserName, AccessKeyID: id.AccessKeyID}
		rec.caller = &c
		next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	})
}

// authorize decides whether r's caller may make it, once the mux has matched its route: the
// operator makes every call; a tenant's user only what its policies allow on the resources the
// call names (their ARNs in its own account), and never the operator's own calls. A refusal is
// UnauthorizedOperation, before anything is read or changed.
func (d *Daemon) authorize(r *http.Request) error {
	rec := recordOf(r)
	rec.pathID = r.PathValue("id")
	c := callerOf(r)
	if c.Operator {
		return nil
	}
	v := verbOf(r.Pattern)
	if v.operator || c.AccountID == "" {
		return api.Errorf(api.CodeUnauthorizedOperation, "%s is the operator's: it is answered on the daemon's unix socket only", v.action)
	}
	var arns []string
	if v.resources != nil {
		for _, res := range v.resources(r, rec.body) {
			arns = append(arns, iam.ResourceARN(d.cfg.Region, c.AccountID, res.kind, res.id))
		}
	}
	return iam.Evaluate(d.policiesOf(c), "ec2:"+v.name(rec.body), arns).Err()
}

// listenNetwork opens the network listener (with TLS when a certificate is given) and serves it
// until ctx is done; the returned channel is closed once its last call has been answered.
func (d *Daemon) listenNetwork(ctx context.Context) (<-chan struct{}, error) {
	var tlsConfig *tls.Config
	if d.cfg.TLSCert != "" || d.cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(d.cfg.TLSCert, d.cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert and --tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", d.cfg.Listen, err)
	}
	ln = netutil.LimitListener(ln, maxConnections)
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler: d.networkHandler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
	}
	done := make(chan struct{})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("the network listener stopped", "err", err)
		}
	}()
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	d.log.Info("network listener serving signed calls", "listen", ln.Addr().String(), "tls", tlsConfig != nil, "region", d.cfg.Region)
	return done, nil
}

func closedChannel() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
