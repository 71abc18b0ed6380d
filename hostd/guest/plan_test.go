package guest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleMountinfo = `23 1 254:0 / / rw,relatime - ext4 /dev/vda rw
24 23 0:5 / /proc rw - proc proc rw
25 23 0:6 / /dev rw - devtmpfs udev rw
26 25 0:7 / /dev/shm rw - tmpfs tmpfs rw
27 23 0:8 / /sys rw - sysfs sysfs rw
28 27 0:9 / /sys/fs/bpf rw - bpf bpf rw
29 23 254:1 / /boot rw - ext4 /dev/vda1 rw
30 23 0:10 / /run/netns/hostd-x rw - nsfs nsfs rw
31 23 0:11 / /var/lib/hostd/ram rw - tmpfs hostd-ram rw
32 23 0:12 / /var/tmp/other-daemon/state/ram rw - tmpfs hostd-ram rw
33 23 0:13 / /srv/my\040data rw - tmpfs tmpfs rw
34 33 0:14 / /srv/my\040data/inner rw - tmpfs tmpfs rw
35 23 0:15 / /var/lib/hostd/disk rw - tmpfs tmpfs rw
36 35 0:16 / /var/lib/hostd/disk/deeper rw - tmpfs tmpfs rw
37 23 0:17 / /mnt/ns-pin rw - nsfs nsfs rw
38 23 0:18 / /tmp/x rw - tmpfs tmpfs rw
39 29 254:2 / /boot/efi rw - vfat /dev/vda2 rw
40 29 254:3 / /boot/efi rw - vfat /dev/vda3 rw
`

// What the guest keeps of the host's mounts: not the ones it gets fresh (/proc, /sys, /dev, /run,
// /tmp), not the daemon's state dir nor any RAM pool, no namespace or bpf pins, nothing below
// those; each kept one once, in mount order, with escaped paths read back.
func TestKeptMounts(t *testing.T) {
	mounts, err := parseMountinfo(bufio.NewScanner(strings.NewReader(sampleMountinfo)))
	require.NoError(t, err)
	assert.Equal(t, "/srv/my data", mounts[10].Path)
	assert.Equal(t, []string{"/boot", "/srv/my data", "/srv/my data/inner", "/boot/efi"}, keptMounts(mounts, []string{"/var/lib/hostd"}))
}

func TestParseMountinfoRefusesGarbage(t *testing.T) {
	_, err := parseMountinfo(bufio.NewScanner(strings.NewReader("23 1 254:0 / /\n")))
	assert.Error(t, err)
}

// A guest file lands where the host's own links lead (read host side), and where that is the
// guest's fresh /run, the init makes its directories and the file first.
func TestGuestFilesFollowHostLinks(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "real"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "real", "resolv.conf"), nil, 0o644))
	require.NoError(t, os.Symlink("real/resolv.conf", filepath.Join(dir, "hop")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "hop"), filepath.Join(dir, "resolv.conf")))
	assert.Equal(t, filepath.Join(dir, "real", "resolv.conf"), hostTarget(filepath.Join(dir, "resolv.conf")))
	assert.Equal(t, "/run/nowhere/x", hostTarget("/run/nowhere/x"))

	require.NoError(t, os.Symlink("/run/systemd/resolve/stub-resolv.conf", filepath.Join(dir, "stub")))
	p := &plan{}
	p.guestFiles(Spec{Files: map[string][]byte{filepath.Join(dir, "stub"): nil}}, "/state/files/i-1")
	var dsts []string
	for _, op := range p.ops {
		dsts = append(dsts, op.Dst)
	}
	assert.Equal(t, []string{"run/systemd", "run/systemd/resolve", "run/systemd/resolve/stub-resolv.conf",
		"run/systemd/resolve/stub-resolv.conf", "run/systemd/resolve/stub-resolv.conf"}, dsts)
}
