package daemon

import (
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/guest"
	"github.com/hostd/hostd/hostd/state"
)

// Stopping and starting: a stopped instance keeps its id, its id range, its interface and its
// address; its workload is ended, its RAM region goes back to the pool to be scrubbed, and its
// volumes are detached. Starting runs the same workload again, with a fresh region.

// instancesLocked finds every instance ids names, or the error of the first it cannot.
func (d *Daemon) instancesLocked(c api.Caller, ids []string) ([]*instance, error) {
	if len(ids) == 0 {
		return nil, api.Errorf(api.CodeMissingParameter, "name at least one instance id")
	}
	out := make([]*instance, 0, len(ids))
	for _, id := range ids {
		in, err := d.lookupLocked(c, id)
		if err != nil {
			return nil, err
		}
		if in.rec.Phase == state.Terminated || in.terminating {
			return nil, api.Errorf(api.CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be stopped or started: it is terminated", id)
		}
		out = append(out, in)
	}
	return out, nil
}

// StopInstances ends the workloads of running instances and returns once each is stopped.
// Stopped ones stay stopped.
func (d *Daemon) StopInstances(c api.Caller, ids []string) (api.StopInstancesResponse, error) {
	d.mu.Lock()
	targets, err := d.instancesLocked(c, ids)
	if err != nil {
		d.mu.Unlock()
		return api.StopInstancesResponse{}, err
	}
	out := api.StopInstancesResponse{StoppingInstances: []api.InstanceStateChange{}}
	var pending []*instance
	for _, in := range targets {
		out.StoppingInstances = append(out.StoppingInstances, api.InstanceStateChange{InstanceId: in.rec.ID, PreviousState: string(in.rec.Phase), CurrentState: api.StateStopped})
		if in.rec.Phase == state.Running && !in.stopping {
			in.stopping = true
			pending = append(pending, in)
		}
	}
	d.mu.Unlock()
	for _, in := range pending {
		if in.group != nil {
			if err := in.group.Kill(); err != nil {
				d.log.Error("killing the processes of a stopping instance", "instance", in.rec.ID, "err", err)
			}
		}
		if in.proc != nil {
			in.proc.Kill()
			<-in.proc.Exited()
		}
		d.mu.Lock()
		if in.rec.Phase == state.Running {
			d.stopLocked(in, "stopped by the user (StopInstances)")
		}
		in.stopping = false
		d.mu.Unlock()
	}
	return out, nil
}

// StartInstances runs the workloads of stopped instances again, each with a fresh RAM region of
// its size, and returns once they run. Running ones are left as they are.
func (d *Daemon) StartInstances(c api.Caller, ids []string) (api.StartInstancesResponse, error) {
	d.mu.Lock()
	targets, err := d.instancesLocked(c, ids)
	d.mu.Unlock()
	if err != nil {
		return api.StartInstancesResponse{}, err
	}
	out := api.StartInstancesResponse{StartingInstances: []api.InstanceStateChange{}}
	for _, in := range targets {
		d.mu.Lock()
		prev := string(in.rec.Phase)
		ready := in.rec.Phase == state.Stopped && !in.stopping && in.proc == nil
		if ready {
			in.stopping = true // no second start or stop meanwhile
		}
		d.mu.Unlock()
		if ready {
			err := d.start(in)
			d.mu.Lock()
			in.stopping = false
			d.mu.Unlock()
			if err != nil {
				return out, err
			}
		}
		out.StartingInstances = append(out.StartingInstances, api.InstanceStateChange{InstanceId: in.rec.ID, PreviousState: prev, CurrentState: api.StateRunning})
	}
	return out, nil
}

func (d *Daemon) start(in *instance) error {
	rec := in.rec
	spec := guest.Spec{ID: rec.ID, Args: rec.Command, IDs: d.ids.Range(rec.IDSlot)}
	d.mu.Lock()
	eni := d.enis[rec.ID]
	d.mu.Unlock()
	if eni != nil {
		spec.BeforeStart = func(pid int) error { return d.plumb(eni, pid) }
	}
	rec.ExitCode, rec.Reason, rec.EndTime = nil, "", time.Time{}
	if err := d.boot(in, spec, nil, rec.RAMBytes); err != nil {
		d.releaseRAM(rec)
		if in.group != nil {
			if derr := in.group.Delete(); derr != nil {
				d.log.Error("removing the cgroup of a start that failed", "instance", rec.ID, "err", derr)
			}
			in.group = nil
		}
		rec.Phase, rec.Reason = state.Stopped, "the start failed: "+err.Error()
		if perr := d.store.PutInstance(rec); perr != nil {
			d.log.Error("recording a start that failed", "instance", rec.ID, "err", perr)
		}
		return err
	}
	d.log.Info("instance started", "instance", rec.ID, "pid", rec.Pid)
	return nil
}

// InstanceUserData is the user data an instance was launched with.
func (d *Daemon) InstanceUserData(c api.Caller, id string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := d.lookupLocked(c, id)
	if err != nil {
		return nil, err
	}
	return in.rec.UserData, nil
}
