package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/state"
	"github.com/hostd/hostd/memscrub"
	"golang.org/x/sys/unix"
)

var (
	devicePattern = regexp.MustCompile(`^/dev/[a-z][a-z0-9]{0,14}$`)
	// Names of the guest's own /dev, which a volume may not take.
	reservedDevices = map[string]bool{"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true,
		"/dev/urandom": true, "/dev/tty": true, "/dev/ptmx": true, "/dev/pts": true, "/dev/shm": true, "/dev/fd": true,
		"/dev/stdin": true, "/dev/stdout": true, "/dev/stderr": true, guest.GuestRAMPath: true}
)

// DefaultDiskStore is the disk store's file when serve names none.
func DefaultDiskStore(stateDir string) string { return filepath.Join(stateDir, "disk.img") }

// openDiskStore opens the store and the volume records, and detaches the volumes of instances
// that no longer run.
func (d *Daemon) openDiskStore() error {
	saved, err := d.store.Extents()
	if err != nil {
		return err
	}
	d.disk, err = memscrub.OpenDiskStore(memscrub.DiskConfig{
		Path: d.cfg.DiskStore, Size: d.cfg.DiskSize, Scrub: d.cfg.Scrub, Wipe: d.cfg.Wipe, Journal: d.store, Log: d.log,
		Wiped: observeSeconds(d.metrics.wipe),
	}, saved)
	if err != nil {
		return fmt.Errorf("opening the disk store %s: %w", d.cfg.DiskStore, err)
	}
	vols, err := d.store.Volumes()
	if err != nil {
		return err
	}
	for _, v := range vols {
		if _, ok := d.disk.Extent(v.ID); !ok {
			// Its deletion was under way when the daemon stopped; the store finished the wipe.
			d.log.Warn("removing a volume whose deletion was interrupted", "volume", v.ID)
			if err := d.store.DeleteVolume(v.ID); err != nil {
				return err
			}
			continue
		}
		d.volumes[v.ID] = v
		if v.InstanceID != "" && !d.holds(v.InstanceID, true) {
			d.detachVolumeLocked(v)
		}
	}
	d.restoreDeviceAllowlists()
	return nil
}

// restoreDeviceAllowlists tells each adopted instance's cgroup which block devices it admits: its
// attached volumes' loop devices. A loaded cgroup does not know (on cgroup v2 the list lives only
// in an eBPF program that each change replaces whole), and refuses changes until told.
func (d *Daemon) restoreDeviceAllowlists() {
	d.mu.Lock()
	defer d.mu.Unlock()
	devs := map[string][]cgroup.Device{}
	for _, v := range d.volumes {
		if v.InstanceID != "" && v.Loop != "" {
			devs[v.InstanceID] = append(devs[v.InstanceID], cgroup.Device{Major: int64(v.LoopMajor), Minor: int64(v.LoopMinor)})
		}
	}
	for id, in := range d.instances {
		if in.group == nil {
			continue
		}
		if err := in.group.SetBlockDevices(devs[id]); err != nil {
			d.log.Error("restoring an adopted instance's device allowlist: its volumes cannot be attached or detached until a restart restores it", "instance", id, "err", err)
		}
	}
}

// CreateVolume makes a volume of size bytes from a free extent of the store.
func (d *Daemon) CreateVolume(c api.Caller, req api.CreateVolumeRequest) (api.Volume, error) {
	if req.Size <= 0 || req.Size%memscrub.Alignment != 0 {
		return api.Volume{}, api.Errorf(api.CodeInvalidParameterValue, "--size %s: give a positive whole number of MiB", api.FormatSize(req.Size))
	}
	quota, err := d.claimQuota(c.AccountID, usage{diskBytes: req.Size})
	if err != nil {
		return api.Volume{}, err
	}
	defer quota.release() // unless the volume is recorded, and counts itself
	id := newID("vol-")
	if _, err := d.disk.Create(id, req.Size); err != nil {
		if errors.Is(err, memscrub.ErrNoSpace) {
			return api.Volume{}, api.Errorf(api.CodeInsufficientVolume, "%v; delete volumes or give serve a larger --disk-size", err)
		}
		return api.Volume{}, api.Errorf(api.CodeInvalidParameterValue, "%v", err)
	}
	v := &state.Volume{ID: id, Size: req.Size, CreatedAt: time.Now().UTC(), OwnerID: c.AccountID}
	if err := d.store.PutVolume(v); err != nil {
		_ = d.disk.Delete(id)
		return api.Volume{}, err
	}
	d.mu.Lock()
	d.volumes[id] = v
	quota.doneLocked()
	d.mu.Unlock()
	d.log.Info("volume created", "volume", id, "bytes", req.Size)
	ext, _ := d.disk.Extent(id)
	return api.Volume{VolumeId: id, Size: req.Size, StoreOffset: ext.Offset}, nil
}

// DescribeVolumes lists the given volumes, or all the caller sees.
func (d *Daemon) DescribeVolumes(c api.Caller, ids []string) (api.DescribeVolumesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	vols, err := pick(c, d.volumes, ids, d.lookupVolumeLocked)
	out := api.DescribeVolumesResponse{Volumes: []api.Volume{}}
	for _, v := range vols {
		ext, _ := d.disk.Extent(v.ID)
		av := api.Volume{VolumeId: v.ID, Size: v.Size, CreateTime: v.CreatedAt, State: "available", StoreOffset: ext.Offset, OwnerId: v.Owner()}
		if v.InstanceID != "" {
			av.State = "in-use"
			av.Attachments = []api.VolumeAttachment{{InstanceId: v.InstanceID, Device: v.Device, State: "attached"}}
			if v.Detaching {
				av.Attachments[0].State = "detaching"
			}
		}
		out.Volumes = append(out.Volumes, av)
	}
	return out, err
}

// DeleteVolume wipes a volume's extent and frees it.
func (d *Daemon) DeleteVolume(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	v, err := d.lookupVolumeLocked(c, id)
	if err == nil && v.Detaching {
		err = api.Errorf(api.CodeVolumeInUse, "volume %s is still detaching from %s: a descriptor of its device is still held; it frees itself once that is closed", id, v.InstanceID)
	}
	if err == nil && v.InstanceID != "" {
		err = api.Errorf(api.CodeVolumeInUse, "volume %s is attached to %s; terminate the instance first", id, v.InstanceID)
	}
	if err == nil {
		delete(d.volumes, id) // nobody can attach it while it is wiped
	}
	d.mu.Unlock()
	if err != nil {
		return api.ReturnResponse{}, err
	}
	if err := d.disk.Delete(id); err != nil {
		return api.ReturnResponse{}, err
	}
	if err := d.store.DeleteVolume(id); err != nil {
		return api.ReturnResponse{}, err
	}
	d.log.Info("volume deleted", "volume", id)
	return api.ReturnResponse{Return: true}, nil
}

// running returns a running instance's cgroup and record; else IncorrectInstanceState, saying
// why it had to be running.
func (d *Daemon) running(c api.Caller, instanceID, why string) (cgroup.Group, *state.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.lookupLocked(c, instanceID)
	if err != nil {
		return nil, nil, err
	}
	if in.rec.Phase != state.Running || in.terminating || in.proc == nil {
		return nil, nil, api.Errorf(api.CodeIncorrectInstanceState, "instance %s is %s; %s", instanceID, in.rec.Phase, why)
	}
	return in.group, in.rec, nil
}

const attachWhy = "volumes attach to running instances (or at launch)"

// AttachVolume attaches a volume to a running instance: a loop device over its extent, admitted
// by the instance's device allowlist, shown at the device path inside.
func (d *Daemon) AttachVolume(c api.Caller, id string, req api.AttachVolumeRequest) (api.VolumeAttachment, error) {
	if req.InstanceId == "" {
		return api.VolumeAttachment{}, api.Errorf(api.CodeMissingParameter, "--instance is required")
	}
	if req.Device == "" {
		req.Device = "/dev/xvdf"
	}
	group, rec, err := d.running(c, req.InstanceId, attachWhy)
	if err != nil {
		return api.VolumeAttachment{}, err
	}
	if err := d.reserveVolumes(c, rec, []api.VolumeMapping{{VolumeId: id, Device: req.Device}}); err != nil {
		return api.VolumeAttachment{}, err
	}
	loop, err := d.attachLoop(rec, id)
	if err == nil {
		dev := cgroup.Device{Major: int64(loop.Major), Minor: int64(loop.Minor)}
		if err = group.AllowBlockDevice(dev); err == nil {
			if err = d.launcher.AttachDevice(rec.ID, loop.Path, req.Device); err != nil {
				_ = group.DenyBlockDevice(dev)
			}
		}
	}
	if err != nil {
		d.detachVolumes(rec.ID, id)
		return api.VolumeAttachment{}, err
	}
	d.log.Info("volume attached", "volume", id, "instance", rec.ID, "device", req.Device, "loop", loop.Path)
	return api.VolumeAttachment{InstanceId: rec.ID, Device: req.Device, State: "attached"}, nil
}

// DetachVolume takes a volume from the running instance it is attached to. It succeeds only
// once the loop device is unbound: a refusal (VolumeInUse) leaves everything as it was.
func (d *Daemon) DetachVolume(c api.Caller, id string) (api.ReturnResponse, error) {
	d.mu.Lock()
	v, err := d.lookupVolumeLocked(c, id)
	if err == nil && v.InstanceID == "" {
		err = api.Errorf(api.CodeIncorrectState, "volume %s is not attached", id)
	}
	var instanceID, device string
	var dev cgroup.Device
	var loop *memscrub.LoopDevice
	if err == nil {
		instanceID, device, dev, loop = v.InstanceID, v.Device, cgroup.Device{Major: int64(v.LoopMajor), Minor: int64(v.LoopMinor)}, d.loopOf(v)
	}
	d.mu.Unlock()
	if err != nil {
		return api.ReturnResponse{}, err
	}
	group, rec, err := d.running(c, instanceID, attachWhy)
	if err != nil {
		return api.ReturnResponse{}, err
	}
	// The allowlist is checked at open only, and a loop device still open outlives its unbind:
	// a guest keeping it would keep this extent after it is wiped and given to someone else. So:
	// no new opens, then refuse while any process of the instance holds it, as EC2 leaves a busy
	// volume busy.
	if err := group.DenyBlockDevice(dev); err != nil {
		return api.ReturnResponse{}, err
	}
	if holder := deviceHolder(group, dev); holder != 0 {
		_ = group.AllowBlockDevice(dev)
		return api.ReturnResponse{}, api.Errorf(api.CodeVolumeInUse, "process %d of %s still has %s open or mapped; close it (unmount, stop the process) and detach again", holder, instanceID, device)
	}
	if err := d.launcher.DetachDevice(instanceID, device); err != nil {
		_ = group.AllowBlockDevice(dev)
		return api.ReturnResponse{}, err
	}
	// A descriptor in no process (passed over a unix socket and not received) escapes the check
	// above; the device then stays bound, and everything is put back as it was (unless the
	// holder lets go before the pending unbind is cancelled: then the detach is done).
	err = loop.Detach()
	if err != nil && loop.Keep() != nil {
		if bound, berr := loop.Bound(); berr == nil && !bound {
			err = nil
		}
	}
	if err != nil {
		if uerr := errors.Join(group.AllowBlockDevice(dev), d.launcher.AttachDevice(instanceID, loop.Path, device)); uerr != nil {
			d.log.Error("undoing a refused detach", "volume", id, "instance", instanceID, "err", uerr)
		}
		if errors.Is(err, memscrub.ErrStillBound) {
			return api.ReturnResponse{}, api.Errorf(api.CodeVolumeInUse, "a descriptor of %s is still held inside %s (passed over a unix socket, say); close it and detach again", device, instanceID)
		}
		return api.ReturnResponse{}, err
	}
	d.mu.Lock()
	d.volumeDetachedLocked(v)
	d.mu.Unlock()
	d.log.Info("volume detached", "volume", id, "instance", rec.ID)
	return api.ReturnResponse{Return: true}, nil
}

// deviceHolder returns a process of group that has block device dev open or mapped (host pid),
// or 0. A mapping outlives the descriptor it was made with, and keeps the device open.
func deviceHolder(group cgroup.Group, dev cgroup.Device) int {
	pids, _ := group.Pids()
	want := unix.Mkdev(uint32(dev.Major), uint32(dev.Minor))
	for _, pid := range pids {
		for _, dir := range []string{"fd", "map_files"} {
			links, _ := filepath.Glob(fmt.Sprintf("/proc/%d/%s/*", pid, dir))
			for _, l := range links {
				var st unix.Stat_t
				if unix.Stat(l, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == want {
					return pid
				}
			}
		}
	}
	return 0
}

// loopOf is the loop device a volume's record names.
func (d *Daemon) loopOf(v *state.Volume) *memscrub.LoopDevice {
	ext, _ := d.disk.Extent(v.ID)
	return &memscrub.LoopDevice{Path: v.Loop, Major: v.LoopMajor, Minor: v.LoopMinor, Backing: d.disk.Path(), Offset: ext.Offset}
}

// attachVolumes gives a launching instance its volumes: each becomes a loop device over its
// extent, owned by the guest's root, for the init to show at its device path; the returned
// devices are what the instance's device allowlist must admit.
func (d *Daemon) attachVolumes(c api.Caller, rec *state.Instance, maps []api.VolumeMapping) ([]guest.DeviceNode, []cgroup.Device, error) {
	if err := d.reserveVolumes(c, rec, maps); err != nil {
		return nil, nil, err
	}
	var nodes []guest.DeviceNode
	var devs []cgroup.Device
	for _, m := range maps {
		loop, err := d.attachLoop(rec, m.VolumeId)
		if err != nil {
			d.detachVolumes(rec.ID)
			return nil, nil, err
		}
		nodes = append(nodes, guest.DeviceNode{HostPath: loop.Path, GuestPath: m.Device})
		devs = append(devs, cgroup.Device{Major: int64(loop.Major), Minor: int64(loop.Minor)})
	}
	return nodes, devs, nil
}

// attachLoop makes a reserved volume's loop device, gives its node to the guest's root, and
// records it.
func (d *Daemon) attachLoop(rec *state.Instance, volumeID string) (*memscrub.LoopDevice, error) {
	d.mu.Lock()
	v := d.volumes[volumeID]
	d.mu.Unlock()
	ext, _ := d.disk.Extent(v.ID)
	loop, err := memscrub.AttachLoop(d.disk.Path(), ext)
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", v.ID, err)
	}
	var st unix.Stat_t
	gid := 0
	if unix.Stat(loop.Path, &st) == nil {
		gid = int(st.Gid)
	}
	d.mu.Lock()
	v.Loop, v.LoopMajor, v.LoopMinor, v.LoopGID = loop.Path, loop.Major, loop.Minor, gid
	err = d.store.PutVolume(v)
	d.mu.Unlock()
	if err == nil {
		err = os.Chown(loop.Path, int(rec.HostID), int(rec.HostID))
	}
	if err != nil {
		return nil, fmt.Errorf("attaching %s: %w", v.ID, err)
	}
	return loop, nil
}

// reserveVolumes checks the mappings and marks each volume as the instance's, all or none.
func (d *Daemon) reserveVolumes(c api.Caller, rec *state.Instance, maps []api.VolumeMapping) error {
	instanceID := rec.ID
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	for _, m := range maps {
		v, err := d.lookupVolumeLocked(c, m.VolumeId)
		if err != nil {
			return err
		}
		if v.Owner() != rec.Owner() {
			// Only the operator sees both: a volume attaches to an instance of its own account.
			return api.Errorf(api.CodeInvalidParameterValue, "%s belongs to account %s and %s to account %s; a volume attaches only to an instance of its own account", v.ID, v.Owner(), instanceID, rec.Owner())
		}
		switch {
		case v.Detaching:
			return api.Errorf(api.CodeVolumeInUse, "volume %s is still detaching from %s", v.ID, v.InstanceID)
		case v.InstanceID != "":
			return api.Errorf(api.CodeVolumeInUse, "volume %s is attached to %s", v.ID, v.InstanceID)
		case !devicePattern.MatchString(m.Device) || reservedDevices[m.Device]:
			return api.Errorf(api.CodeInvalidParameterValue, "device %q: give a free name such as /dev/xvdb", m.Device)
		case seen[m.Device] || seen[m.VolumeId]:
			return api.Errorf(api.CodeInvalidParameterValue, "%s %s is given twice", m.VolumeId, m.Device)
		}
		for _, other := range d.volumes {
			if other.InstanceID == instanceID && other.Device == m.Device {
				return api.Errorf(api.CodeInvalidParameterValue, "%s already has %s at %s", instanceID, other.ID, m.Device)
			}
		}
		seen[m.Device], seen[m.VolumeId] = true, true
	}
	for _, m := range maps {
		v := d.volumes[m.VolumeId]
		v.InstanceID, v.Device = instanceID, m.Device
		if err := d.store.PutVolume(v); err != nil {
			return err
		}
	}
	return nil
}

// detachVolumes ends the loop devices of an instance's volumes (only those named, if any) and
// makes them available again.
func (d *Daemon) detachVolumes(instanceID string, only ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.detachVolumesLocked(instanceID, only...)
}

func (d *Daemon) detachVolumesLocked(instanceID string, only ...string) {
	for _, v := range d.volumes {
		if v.InstanceID == instanceID && (len(only) == 0 || slices.Contains(only, v.ID)) {
			d.detachVolumeLocked(v)
		}
	}
}

// detachVolumeLocked ends the loop device of a volume whose instance has ended (or whose launch
// failed). A device still bound once the instance's processes are gone (the kernel frees
// descriptors in flight in unix sockets asynchronously) leaves the volume detaching: never
// deleted, wiped or attached until the device is free, which housekeeping checks.
func (d *Daemon) detachVolumeLocked(v *state.Volume) {
	if v.Loop != "" {
		if err := d.loopOf(v).Detach(); err != nil {
			if !v.Detaching {
				d.log.Warn("volume quarantined: its loop device is still bound; it stays detaching until the device is free", "volume", v.ID, "instance", v.InstanceID, "loop", v.Loop, "err", err)
				v.Detaching = true
				if err := d.store.PutVolume(v); err != nil {
					d.log.Error("recording a detaching volume", "volume", v.ID, "err", err)
				}
			}
			return
		}
	}
	d.log.Info("volume detached", "volume", v.ID, "instance", v.InstanceID)
	d.volumeDetachedLocked(v)
}

// volumeDetachedLocked records a volume whose loop device is unbound as available.
func (d *Daemon) volumeDetachedLocked(v *state.Volume) {
	if v.Loop != "" {
		_ = os.Chown(v.Loop, 0, v.LoopGID)
	}
	v.InstanceID, v.Device, v.Loop, v.LoopMajor, v.LoopMinor, v.LoopGID, v.Detaching = "", "", "", 0, 0, 0, false
	if err := d.store.PutVolume(v); err != nil {
		d.log.Error("recording a detached volume", "volume", v.ID, "err", err)
	}
}

// volumeHousekeeping retries the detach of quarantined volumes until their devices are free.
func (d *Daemon) volumeHousekeeping(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.mu.Lock()
		for _, v := range d.volumes {
			if v.Detaching && !d.holds(v.InstanceID, true) {
				d.detachVolumeLocked(v)
			}
		}
		d.mu.Unlock()
	}
}

func (d *Daemon) lookupVolumeLocked(c api.Caller, id string) (*state.Volume, error) {
	return lookupID(c, d.volumes, id, api.VolumeID)
}
