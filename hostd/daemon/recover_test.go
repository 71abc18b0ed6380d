package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/hostdtest"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/memscrub"
)

// A daemon that died in the middle of a launch left a record in the launching phase, a cgroup
// with a process in it, a claimed id range and instance files; another left a cgroup with no
// record at all. The next daemon removes all of it at start.
func TestOpenCleansUpInterruptedLaunch(t *testing.T) {
	hostdtest.RequireRoot(t)
	dir := t.TempDir()
	cfg := Config{
		StateDir: filepath.Join(dir, "state"),
		Socket:   filepath.Join(dir, "hostd.sock"),
		Fabric:   fmt.Sprintf("rec%d", os.Getpid()),
		InitPath: "/nonexistent",
		Log:      slog.New(slog.DiscardHandler),
	}
	require.NoError(t, os.MkdirAll(cfg.StateDir, 0o700))
	t.Cleanup(func() { require.NoError(t, Teardown(cfg)) })

	// What the crashed daemon left.
	const halfMade, unknown = "i-00000000000000001", "i-00000000000000002"
	ids := &guest.IDAllocator{Dir: guest.DefaultIDDir, Owner: cfg.StateDir}
	slot, err := ids.Allocate(halfMade)
	require.NoError(t, err)
	store, err := state.Open(filepath.Join(cfg.StateDir, "hostd.db"))
	require.NoError(t, err)
	require.NoError(t, store.PutInstance(&state.Instance{ID: halfMade, Phase: state.Launching, IDSlot: slot, LaunchTime: time.Now()}))
	require.NoError(t, store.Close())
	sleeper := exec.Command("sleep", "1000")
	require.NoError(t, sleeper.Start())
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	for _, id := range []string{halfMade, unknown} {
		g, err := cgroup.New("hostd/"+cfg.Fabric+"/"+id, cgroup.Limits{})
		require.NoError(t, err)
		if id == halfMade {
			require.NoError(t, g.Add(sleeper.Process.Pid))
		}
		require.NoError(t, os.MkdirAll(filepath.Join(cfg.StateDir, "instances", id), 0o700))
	}

	d, err := Open(cfg)
	require.NoError(t, err)
	defer d.Close()

	recs, err := d.store.Instances()
	require.NoError(t, err)
	assert.Empty(t, recs, "the half-made instance's record survived")
	for _, id := range []string{halfMade, unknown} {
		assert.NoDirExists(t, filepath.Join(cgroup.Root, "memory", "hostd", cfg.Fabric, id))
		assert.NoDirExists(t, filepath.Join(cfg.StateDir, "instances", id))
	}
	held, err := ids.Held()
	require.NoError(t, err)
	assert.Empty(t, held, "the id range stayed claimed")
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process in the orphaned cgroup was not killed")
	}
}

// A daemon that died while deleting a volume left the volume's record and its extent marked
// wiping. The next daemon finishes the wipe and drops the volume, so that no record points at
// bytes another volume may get.
func TestOpenFinishesAnInterruptedVolumeDeletion(t *testing.T) {
	hostdtest.RequireRoot(t)
	dir, err := os.MkdirTemp("", "v") // short: sockets live under the state dir
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{
		StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "hostd.sock"),
		Fabric: fmt.Sprintf("vrec%d", os.Getpid()), InitPath: "/nonexistent", Log: slog.New(slog.DiscardHandler),
		DiskSize: 16 << 20, Scrub: true,
	}
	require.NoError(t, os.MkdirAll(cfg.StateDir, 0o700))
	t.Cleanup(func() { require.NoError(t, Teardown(cfg)) })
	store, err := state.Open(filepath.Join(cfg.StateDir, "hostd.db"))
	require.NoError(t, err)
	const id = "vol-00000000000000001"
	require.NoError(t, store.PutVolume(&state.Volume{ID: id, Size: 8 << 20, CreatedAt: time.Now()}))
	require.NoError(t, store.SaveExtent(&memscrub.ExtentRecord{Extent: memscrub.Extent{Offset: 0, Size: 8 << 20}, ID: id, State: memscrub.Wiping}))
	require.NoError(t, store.Close())
	disk := DefaultDiskStore(cfg.StateDir)
	require.NoError(t, os.WriteFile(disk, []byte("secret of the deleted volume"), 0o600))

	d, err := Open(cfg)
	require.NoError(t, err)
	defer d.Close()
	vols, err := d.DescribeVolumes(api.Operator, nil)
	require.NoError(t, err)
	assert.Empty(t, vols.Volumes, "the half-deleted volume survived")
	data, err := os.ReadFile(disk)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "secret", "the interrupted wipe was not finished")
	assert.Zero(t, d.disk.Stats().AllocatedBytes)
}
