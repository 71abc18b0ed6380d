package daemon

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

// Launches racing for the last places of a quota: exactly as many succeed as there are places;
// the others are refused and take nothing.
func TestQuotaHoldsUnderConcurrentLaunches(t *testing.T) {
	d, _ := openTestDaemon(t, "quota")
	a, err := d.CreateAccount(api.Operator, api.CreateAccountRequest{AccountName: "racers", MaxInstances: 3, MaxRamBytes: 64 << 20})
	require.NoError(t, err)
	c := api.Caller{AccountID: a.AccountId, UserName: "racer"}
	none := int64(0)
	var mu sync.Mutex
	var launched []string
	codes := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			out, err := d.RunInstance(c, api.RunInstanceRequest{Command: []string{"sleep", "1000"}, RamBytes: &none})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[api.AsError(err).Code]++
				return
			}
			launched = append(launched, out.InstanceId)
		})
	}
	wg.Wait()
	t.Cleanup(func() { _, _ = d.TerminateInstances(api.Operator, launched) })
	assert.Len(t, launched, 3)
	assert.Equal(t, map[string]int{api.CodeInstanceLimitExceeded: 5}, codes)
	assert.Equal(t, usage{instances: 3}, d.usage(a.AccountId), "no claim is left behind")
	assert.Empty(t, d.pending)
}

// Every route the verbs table names is a route of the API, so that no call is left without its
// action (and refused on the network as the operator's) by a typo.
func TestEveryVerbIsARoute(t *testing.T) {
	d := &Daemon{}
	mux := d.routes()
	d.tenantRoutes(mux)
	for pattern, v := range verbs {
		method, path, _ := strings.Cut(pattern, " ")
		r := httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "x-0123"), nil)
		_, got := mux.Handler(r)
		assert.Equal(t, pattern, got, "the verb %s", v.action)
		assert.NotEmpty(t, v.action)
	}
}
