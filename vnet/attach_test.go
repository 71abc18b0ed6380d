package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/hostdtest"
)

// Both ways of attaching (TCX, and clsact where the kernel lacks TCX) put the same programs on a
// real interface: a frame a guest sends with a forged MAC is dropped and counted. The first pass
// attaches the way the daemon would on this kernel, the second with clsact whatever the kernel.
func TestAttachBothWays(t *testing.T) {
	for _, clsact := range []bool{false, true} {
		t.Run(fmt.Sprintf("forced-clsact=%v", clsact), func(t *testing.T) {
			hostdtest.RequireRoot(t)
			fabricName := fmt.Sprintf("att%d%v", os.Getpid(), clsact)
			// Registered first: a load that fails half way leaves pins too.
			var dp *Datapath
			t.Cleanup(func() {
				if dp != nil {
					dp.Close()
				}
				assert.NoError(t, DeleteDatapath(fabricName))
				assert.NoError(t, DeleteFabric(fabricName))
			})
			f, err := OpenFabric(fabricName)
			require.NoError(t, err)
			dp, err = LoadDatapath(fabricName)
			require.NoError(t, err)
			dp.ForceClsact = clsact
			// A stand-in guest: a process in a network namespace of its own.
			standIn := exec.Command("unshare", "--net", "sleep", "60")
			require.NoError(t, standIn.Start())
			t.Cleanup(func() { _ = standIn.Process.Kill(); _ = standIn.Wait() })
			// Until unshare has run, the stand-in is in this test's namespace, and its "eth0" would
			// be made here. (A sleep was enough natively, not under emulation.)
			ours, err := os.Readlink("/proc/self/ns/net")
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", standIn.Process.Pid))
				return err == nil && theirs != ours
			}, 30*time.Second, time.Millisecond, "the stand-in never got a network namespace of its own")

			ifindex, err := f.AddInterface(InterfaceConfig{
				HostName: "vattachtest", GuestPid: standIn.Process.Pid, MAC: guestMAC,
				Addr: netip.MustParsePrefix("10.0.0.5/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
			})
			require.NoError(t, err)
			require.NoError(t, dp.SetInterface(ifindex, guest()))
			require.NoError(t, f.Attach(dp, "vattachtest", ifindex))
			if clsact || !dp.TCX {
				t.Log("attached with clsact")
				assert.Empty(t, dp.AttachedInterfaces(), "clsact pins no links")
			} else {
				t.Log("attached with TCX")
				assert.Equal(t, []string{"vattachtest"}, dp.AttachedInterfaces())
			}

			send := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", standIn.Process.Pid), hostdtest.Binary(t),
				"probe", "send", "--proto", "udp", "--src-mac", "02:66:66:66:66:66", "--dst-ip", "10.0.0.6", "--count", "3")
			out, err := send.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, uint64(3), dp.Drops(ifindex)["spoof-mac"])

			dp.Detach("vattachtest")
			require.NoError(t, f.DeleteInterface("vattachtest"))
			names, err := f.HostInterfaces()
			require.NoError(t, err)
			assert.Empty(t, names)
			dp.DeleteInterface(ifindex, 7, net.IP(guestIP))
		})
	}
}
