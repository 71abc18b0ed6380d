package daemon

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/cgroup"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/state"
)

// RunInstance launches a new instance and returns once its workload runs. If anything fails,
// nothing of the instance is left: no record, cgroup, id range, files or process.
func (d *Daemon) RunInstance(c api.Caller, req api.RunInstanceRequest) (api.RunInstanceResponse, error) {
	return d.launch(c, req, launchOf{})
}

// launchOf is what a launch records of the RunInstances call it is part of.
type launchOf struct {
	reservation, clientToken string
	index                    int
}

func (d *Daemon) launch(c api.Caller, req api.RunInstanceRequest, of launchOf) (api.RunInstanceResponse, error) {
	start := time.Now()
	if len(req.Command) == 0 && len(req.UserData) > 0 {
		req.Command = workloadOf(req.UserData)
	}
	limits, ramBytes, err := d.validateRun(&req)
	if err != nil {
		return api.RunInstanceResponse{}, err
	}
	quota, err := d.claimQuota(c.AccountID, usage{instances: 1, ramBytes: ramBytes})
	if err != nil {
		return api.RunInstanceResponse{}, err
	}
	id := newID("i-")
	slot, err := d.ids.Allocate(id)
	if errors.Is(err, guest.ErrNoIDRange) {
		err = api.Errorf(api.CodeInsufficientCapacity, "no host uid range is free for another instance; terminate some first")
	}
	if err != nil {
		quota.release()
		return api.RunInstanceResponse{}, err
	}
	ids := d.ids.Range(slot)
	// Recorded once the workload runs, not before: a daemon killed mid-launch leaves nothing the
	// next one's start does not find by its name and remove (cgroup, id range, instance files,
	// the RAM region's and volumes' claims, the interface), and a launch pays one fsync less.
	rec := &state.Instance{
		ID: id, Phase: state.Launching, Command: req.Command, Limits: limits,
		IDSlot: slot, HostID: ids.HostID, IDCount: ids.Size, LaunchTime: time.Now().UTC(), OwnerID: c.AccountID,
		InstanceType: req.InstanceType, UserData: req.UserData,
		ReservationID: of.reservation, ClientToken: of.clientToken, LaunchIndex: of.index,
	}
	if req.MetadataOptions != nil {
		rec.MetadataOptions = *req.MetadataOptions
	}
	rec.MetadataOptions = metadataOptions(rec.MetadataOptions)
	in := &instance{rec: rec}
	var eni *state.ENI
	undo := func(err error) (api.RunInstanceResponse, error) {
		quota.release()
		d.releaseRAM(rec)
		d.detachVolumes(id)
		if eni != nil {
			_, v := d.subnetAndVpc(eni)
			d.unplumb(eni, v)
			d.releaseENI(id)
		}
		d.release(in)
		var le *guest.LaunchError
		if errors.As(err, &le) {
			return api.RunInstanceResponse{}, api.Errorf(api.CodeInvalidParameterValue, "%s", le.Reason)
		}
		return api.RunInstanceResponse{}, err
	}
	// What is checked and reserved first is what a refusal undoes without a trace (an address, a
	// volume); the RAM region comes last, since giving one back leaves it to be scrubbed.
	spec := guest.Spec{ID: id, Args: req.Command, IDs: ids}
	if req.SubnetId != "" {
		if eni, err = d.reserveENI(c, id, req, limits.MemoryBytes); err != nil {
			return undo(err)
		}
		spec.BeforeStart = func(pid int) error { return d.plumb(eni, pid) }
	} else if req.PrivateIpAddress != "" || len(req.SecurityGroupIds) > 0 || req.Allowances != (api.Allowances{}) {
		return undo(api.Errorf(api.CodeInvalidParameterValue, "--private-ip, --sg, --pps, --bandwidth and --conntrack need --subnet"))
	}
	spec.Files = d.nameFiles(id, eni)
	var blockDevices []cgroup.Device
	if spec.Devices, blockDevices, err = d.attachVolumes(c, rec, req.Volumes); err != nil {
		return undo(err)
	}
	if err := d.boot(in, spec, blockDevices, ramBytes); err != nil {
		return undo(err)
	}
	d.metrics.launch.Observe(time.Since(start).Seconds())
	// The instance is in the records now, which count it against the account's quota.
	quota.release()
	d.log.Info("instance running", "instance", id, "pid", rec.Pid, "host_uid", rec.HostID, "command", rec.Command)
	out := api.RunInstanceResponse{InstanceId: id, State: api.StateRunning}
	if eni != nil {
		out.PrivateIpAddress, out.MacAddress = eni.IP, eni.MAC
	}
	return out, nil
}

// boot starts an instance's workload: its RAM region, its cgroup, its init; and records it
// running. On failure what it made is the caller's to undo (the region is in rec, the cgroup in
// in.group).
func (d *Daemon) boot(in *instance, spec guest.Spec, blockDevices []cgroup.Device, ramBytes int64) error {
	rec := in.rec
	var err error
	if ramBytes > 0 {
		if spec.RAMPath, err = d.takeRAM(rec, ramBytes); err != nil {
			return err
		}
	}
	l := rec.Limits
	in.group, err = cgroup.New(d.cgroupPath(rec.ID), cgroup.Limits{MemoryBytes: l.MemoryBytes, Cpus: l.Cpus, Pids: l.Pids, BlockDevices: blockDevices})
	if err != nil {
		return fmt.Errorf("creating the instance's cgroup: %w", err)
	}
	spec.Group = in.group
	proc, err := d.launcher.Launch(spec)
	if err != nil {
		return err
	}
	rec.Phase, rec.Pid, rec.PidStart = state.Running, proc.Pid, proc.StartTime
	if err := d.store.PutInstance(rec); err != nil {
		proc.Kill()
		<-proc.Exited()
		proc.Close()
		return err
	}
	d.mu.Lock()
	in.proc = proc
	d.instances[rec.ID] = in
	go d.watch(in, proc) // before a terminate may clear in.proc
	d.mu.Unlock()
	return nil
}

// watch copies an instance's console into its log and waits for its workload to end. The exit
// code is recorded before the init may exit (it waits for the ack), so that a daemon killed
// meanwhile gets it again from the init; the instance is stopped once the init is gone.
func (d *Daemon) watch(in *instance, proc *guest.Process) {
	console := make(chan struct{})
	go func() {
		defer close(console)
		if err := guest.CopyConsole(d.launcher.ConsoleLog(in.rec.ID), proc.Console()); err != nil && !errors.Is(err, os.ErrClosed) {
			d.log.Error("copying an instance's console", "instance", in.rec.ID, "err", err)
		}
	}()
	if code, err := proc.WaitStatus(); err == nil {
		// Every guest process is gone by now (the init killed the rest), so the output has ended:
		// its last line goes into the log before the instance is stopped.
		select {
		case <-console:
		case <-time.After(5 * time.Second):
		}
		d.mu.Lock()
		in.rec.ExitCode = &code
		err := d.store.PutInstance(in.rec)
		d.mu.Unlock()
		if err == nil {
			err = proc.Ack()
		}
		if err != nil {
			d.log.Error("recording an instance's exit status", "instance", in.rec.ID, "err", err)
		}
	}
	<-proc.Exited()
	proc.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if in.terminating || in.stopping || in.rec.Phase != state.Running {
		return
	}
	d.stopLocked(in, "the workload exited")
}

// stopLocked records that in's workload has ended and frees its cgroup; the instance keeps its
// record and id range until it is terminated.
func (d *Daemon) stopLocked(in *instance, reason string) {
	rec := in.rec
	rec.Phase, rec.EndTime, rec.Reason = state.Stopped, time.Now().UTC(), reason
	if in.group != nil {
		// Nothing should be left once PID 1 is gone, but the cgroup is the authority.
		if err := in.group.Kill(); err != nil {
			d.log.Error("emptying the cgroup of a stopped instance", "instance", rec.ID, "err", err)
		}
		if err := in.group.Delete(); err != nil {
			d.log.Error("removing the cgroup of a stopped instance", "instance", rec.ID, "err", err)
		}
	}
	in.group, in.proc = nil, nil
	_ = os.Remove(d.launcher.ControlSocket(rec.ID))
	d.releaseRAM(rec)
	d.detachVolumesLocked(rec.ID)
	// Its namespace took the veth with it; what the datapath knew of it goes too. The address
	// stays reserved until the instance is terminated, as in EC2.
	if e, ok := d.enis[rec.ID]; ok {
		d.unplumb(e, d.vpcs[e.VpcID])
	}
	rec.Pid, rec.PidStart = 0, 0
	if err := d.store.PutInstance(rec); err != nil {
		d.log.Error("recording a stopped instance", "instance", rec.ID, "err", err)
	}
	if rec.ExitCode != nil {
		d.log.Info("instance stopped", "instance", rec.ID, "reason", reason, "exit_code", *rec.ExitCode)
	} else {
		d.log.Info("instance stopped", "instance", rec.ID, "reason", reason)
	}
}

// TerminateInstances ends the given instances and returns once every process, cgroup, file and
// id range of theirs is gone. Unknown ids fail the whole call before anything is touched.
func (d *Daemon) TerminateInstances(c api.Caller, ids []string) (api.TerminateInstancesResponse, error) {
	if len(ids) == 0 {
		return api.TerminateInstancesResponse{}, api.Errorf(api.CodeMissingParameter, "name at least one instance id to terminate")
	}
	d.mu.Lock()
	targets := make([]*instance, 0, len(ids))
	for _, id := range ids {
		in, err := d.lookupLocked(c, id)
		if err != nil {
			d.mu.Unlock()
			return api.TerminateInstancesResponse{}, err
		}
		targets = append(targets, in)
	}
	out := api.TerminateInstancesResponse{TerminatingInstances: []api.InstanceStateChange{}}
	var pending []*instance
	for _, in := range targets {
		change := api.InstanceStateChange{InstanceId: in.rec.ID, PreviousState: string(in.rec.Phase), CurrentState: api.StateTerminated}
		out.TerminatingInstances = append(out.TerminatingInstances, change)
		if in.rec.Phase != state.Terminated && !in.terminating {
			in.terminating = true
			pending = append(pending, in)
		}
	}
	d.mu.Unlock()

	// Killing and waiting happen outside the lock so that other calls go on meanwhile.
	var firstErr error
	for _, in := range pending {
		if err := d.terminate(in); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

func (d *Daemon) terminate(in *instance) error {
	proc := in.proc
	if in.group != nil {
		if err := in.group.Kill(); err != nil {
			d.mu.Lock()
			in.terminating = false // so that terminating again tries again
			d.mu.Unlock()
			return fmt.Errorf("killing the processes of %s: %w", in.rec.ID, err)
		}
	}
	if proc != nil {
		proc.Kill()
		<-proc.Exited()
	}
	d.releaseRAM(in.rec)
	d.detachVolumes(in.rec.ID)
	d.mu.Lock()
	e := d.enis[in.rec.ID]
	var v *state.VPC
	if e != nil {
		v = d.vpcs[e.VpcID]
	}
	d.mu.Unlock()
	if e != nil {
		d.unplumb(e, v)
		d.releaseENI(in.rec.ID)
	}
	d.release(in)
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := in.rec
	rec.Phase, rec.Pid, rec.PidStart = state.Terminated, 0, 0
	if rec.EndTime.IsZero() {
		rec.EndTime = time.Now().UTC()
	}
	if rec.Reason == "" {
		rec.Reason = "terminated by the user"
	}
	in.proc, in.group = nil, nil
	d.log.Info("instance terminated", "instance", rec.ID)
	return d.store.PutInstance(rec)
}

// release frees what an instance holds on the host besides its processes: cgroup, files, id range.
func (d *Daemon) release(in *instance) {
	if in.group != nil {
		if err := in.group.Delete(); err != nil {
			d.log.Error("removing a cgroup", "instance", in.rec.ID, "err", err)
		}
	}
	if err := errors.Join(os.RemoveAll(d.launcher.InstanceDir(in.rec.ID)), d.launcher.RemoveFiles(in.rec.ID)); err != nil {
		d.log.Error("removing instance files", "instance", in.rec.ID, "err", err)
	}
	d.ids.Release(in.rec.IDSlot)
}

// DescribeInstances lists the given instances, or all the caller sees.
func (d *Daemon) DescribeInstances(c api.Caller, ids []string) (api.DescribeInstancesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneTombstonesLocked()
	out := api.DescribeInstancesResponse{Instances: []api.Instance{}}
	if len(ids) == 0 {
		for _, in := range d.instances {
			if !c.Sees(in.Owner()) {
				continue
			}
			out.Instances = append(out.Instances, d.describeLocked(in.rec))
		}
		slices.SortFunc(out.Instances, func(a, b api.Instance) int { return a.LaunchTime.Compare(b.LaunchTime) })
		return out, nil
	}
	for _, id := range ids {
		in, err := d.lookupLocked(c, id)
		if err != nil {
			return api.DescribeInstancesResponse{}, err
		}
		out.Instances = append(out.Instances, d.describeLocked(in.rec))
	}
	return out, nil
}

func describe(rec *state.Instance) api.Instance {
	out := api.Instance{
		InstanceId: rec.ID, State: string(rec.Phase), LaunchTime: rec.LaunchTime, Command: rec.Command,
		Hostname: rec.ID, Limits: rec.Limits, Pid: rec.Pid, ExitCode: rec.ExitCode, StateReason: rec.Reason,
		OwnerId:      rec.Owner(),
		InstanceType: rec.InstanceType, ReservationId: rec.ReservationID, ClientToken: rec.ClientToken, AmiLaunchIndex: rec.LaunchIndex,
	}
	if rec.Phase != state.Terminated {
		out.UserNamespace = &api.IDRange{HostId: rec.HostID, Size: rec.IDCount}
	}
	if rec.Phase != state.Terminated {
		opts := metadataOptions(rec.MetadataOptions)
		out.MetadataOptions = &opts
	}
	if rec.RAMRegion != "" && rec.Phase == state.Running {
		out.RamRegion = &api.RamRegion{RegionId: rec.RAMRegion, SizeBytes: rec.RAMBytes}
	}
	return out
}

// describeLocked is describe with the instance's network.
func (d *Daemon) describeLocked(rec *state.Instance) api.Instance {
	out := describe(rec)
	d.describeNetworkLocked(&out)
	return out
}

// ExecTarget returns where to reach a running instance's init.
func (d *Daemon) ExecTarget(c api.Caller, id string) (api.ExecTarget, error) {
	if _, _, err := d.running(c, id, "commands run only in a running instance"); err != nil {
		return api.ExecTarget{}, err
	}
	return api.ExecTarget{ControlSocket: d.launcher.ControlSocket(id)}, nil
}

func (d *Daemon) lookupLocked(c api.Caller, id string) (*instance, error) {
	return lookupID(c, d.instances, id, api.InstanceID)
}

func (d *Daemon) pruneTombstonesLocked() {
	for id, in := range d.instances {
		if in.rec.Phase == state.Terminated && time.Since(in.rec.EndTime) > tombstoneTTL {
			if err := d.store.DeleteInstance(id); err == nil {
				delete(d.instances, id)
			}
		}
	}
}
