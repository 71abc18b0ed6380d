package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const crashChildEnv = "HOSTD_AUDIT_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
	}
	os.Exit(m.Run())
}

// crashChild appends from 8 goroutines until it is killed, and reports on stdout, one line
// each, the request id of every record whose Append has returned.
func crashChild(dir string) {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	tr, err := Open(dir, key, Options{Logf: logf})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	pad := strings.Repeat("x", 3000) // long records: kills land in the middle of writes
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%d-%d-%d", os.Getpid(), w, i)
				r := &Record{EventName: "RunInstances", RequestID: id,
					RequestParameters: json.RawMessage(`{"pad":"` + pad[:rand.IntN(len(pad))] + `"}`)}
				if err := tr.Append(r); err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				fmt.Println(id)
			}
		})
	}
	wg.Wait()
}

// A daemon killed (SIGKILL) during a burst of appends loses no record whose Append returned,
// and its trail verifies, before and after it is opened again. Three rounds on one trail: each
// child opens what the killed one before it left.
func TestSIGKILLLosesNoAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(out)
		killAfter := 300 + rand.IntN(500)
		n := 0
		for lines.Scan() {
			line := lines.Text()
			require.False(t, strings.HasPrefix(line, "ERR"), line)
			acked[line] = true
			if n++; n == killAfter {
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			}
		}
		err = cmd.Wait()
		require.Error(t, err)
		require.Equal(t, "signal: killed", err.Error())
		require.GreaterOrEqual(t, n, killAfter, "round %d: the child died before it was killed", round)

		// As the killed child left it, with perhaps a torn last record.
		sum, err := Verify(dir, pub(key))
		require.NoError(t, err, "round %d", round)
		t.Logf("round %d: killed after %d acknowledgements; the trail holds %d records", round, n, sum.Records)
	}

	tr, err := Open(dir, key, Options{Logf: t.Logf})
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	sum, err := Verify(dir, pub(key))
	require.NoError(t, err)
	assert.Empty(t, sum.Current)
	all, err := Lookup(dir, Filter{})
	require.NoError(t, err)
	present := map[string]bool{}
	for _, r := range all {
		present[r.RequestID] = true
	}
	for id := range acked {
		if !present[id] {
			t.Errorf("record %s was acknowledged but is not in the trail", id)
		}
	}
	assert.GreaterOrEqual(t, len(present), len(acked))
	t.Logf("%d records acknowledged, %d in the trail (the rest were written but not yet acknowledged)", len(acked), len(present))
}
