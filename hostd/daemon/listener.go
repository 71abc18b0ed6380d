package daemon

import (
	"context"
	"net/http"

	"github.com/hostd/hostd/hostd/account"
	"github.com/hostd/hostd/hostd/api"
)

// The two listeners and who their calls act for: the unix socket's caller is the operator
// (api.Operator, for the account it names in api.AccountHeader); the network listener's is the
// user whose access key signed the request.

type callerKey struct{}

func withCaller(ctx context.Context, c api.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf is who makes the call r: its listener put it in the context. A request that reached
// a handler without one is a bug, and acts for nobody.
func callerOf(r *http.Request) api.Caller {
	c, _ := r.Context().Value(callerKey{}).(api.Caller)
	return c
}

// operatorHandler serves the unix socket: every call is the operator's.
func (d *Daemon) operatorHandler() http.Handler {
	mux := d.routes()
	d.tenantRoutes(mux)
	return jsonErrors(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		mux.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	}))
}
