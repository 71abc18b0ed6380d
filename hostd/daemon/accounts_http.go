package daemon

import (
	"net/http"

	"github.com/hostd/hostd/hostd/api"
)

// tenantRoutes adds the operator's account, user and access-key calls to mux. The network
// listener refuses them before they get here (actions.go); the operations check again.
func (d *Daemon) tenantRoutes(mux *http.ServeMux) {
	pathID := func(r *http.Request) string { return r.PathValue("id") }
	ids := func(r *http.Request) []string { return r.URL.Query()["AccountId"] }
	user := func(r *http.Request) api.UserRequest {
		return api.UserRequest{AccountId: r.URL.Query().Get("AccountId"), UserName: r.URL.Query().Get("UserName")}
	}
	mux.HandleFunc("POST /v1/accounts", withBody(d, d.CreateAccount))
	mux.HandleFunc("GET /v1/accounts", noBody(d, ids, d.DescribeAccounts))
	mux.HandleFunc("DELETE /v1/accounts/{id}", noBody(d, pathID, d.DeleteAccount))
	mux.HandleFunc("POST /v1/users", withBody(d, d.CreateUser))
	mux.HandleFunc("GET /v1/users", noBody(d, user, d.DescribeUsers))
	mux.HandleFunc("POST /v1/users/delete", withBody(d, d.DeleteUser))
	mux.HandleFunc("POST /v1/users/policies", withBody(d, d.PutUserPolicy))
	mux.HandleFunc("POST /v1/users/policies/delete", withBody(d, d.DeleteUserPolicy))
	mux.HandleFunc("POST /v1/access-keys", withBody(d, d.CreateAccessKey))
	mux.HandleFunc("GET /v1/access-keys", noBody(d, user, d.DescribeAccessKeys))
	mux.HandleFunc("POST /v1/access-keys/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		withBody(d, func(c api.Caller, req api.UpdateAccessKeyRequest) (api.ReturnResponse, error) {
			return d.UpdateAccessKey(c, pathID(r), req)
		})(w, r)
	})
	mux.HandleFunc("DELETE /v1/access-keys/{id}", noBody(d, pathID, d.DeleteAccessKey))
}
