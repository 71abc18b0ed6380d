package daemon

import (
	"bytes"
	"slices"

	"github.com/hostd/hostd/hostd/api"
)

// UserDataScript is where a user-data script is written inside the guest, by the guest itself,
// before it runs: on its private /run, which the daemon never opens.
const UserDataScript = "/run/user-data"

// workloadOf is the command of an instance launched from user data, as EC2 runs it: a "#!"
// script runs once, then the instance stays up (an EC2 instance does not stop when its user
// data ends); anything else is only kept, and the instance idles. The script reaches the guest
// as an argument: the guest's own shell writes it to /run and runs it.
func workloadOf(userData []byte) []string {
	const idle = "while :; do sleep 3600; done" // not "sleep infinity": busybox's sleep may lack it
	if !bytes.HasPrefix(userData, []byte("#!")) {
		return []string{"/bin/sh", "-c", idle}
	}
	run := `printf '%s' "$1" > ` + UserDataScript + ` && chmod 700 ` + UserDataScript + ` && ` + UserDataScript + `; ` + idle
	return []string{"/bin/sh", "-c", run, "user-data", string(userData)}
}

// RunInstances launches MaxCount instances alike as one reservation, keeping at least MinCount
// of them or none. With a ClientToken, the same call again (the same token) answers the
// reservation the first made, and makes nothing.
func (d *Daemon) RunInstances(c api.Caller, req api.RunInstancesRequest) (api.Reservation, error) {
	if req.MinCount < 1 || req.MaxCount < req.MinCount {
		return api.Reservation{}, api.Errorf(api.CodeInvalidParameterValue, "MinCount %d and MaxCount %d: give 1 <= MinCount <= MaxCount", req.MinCount, req.MaxCount)
	}
	if err := api.CheckTags(req.Tags); err != nil {
		return api.Reservation{}, err
	}
	if len(req.Command) == 0 {
		req.Command = workloadOf(req.UserData)
	}
	d.mu.Lock()
	if req.ClientToken != "" {
		if res, ok := d.reservationOfTokenLocked(c, req.ClientToken); ok {
			d.mu.Unlock()
			return d.describeReservation(c, res)
		}
		token := c.AccountID + "/" + req.ClientToken // tokens are the account's own, as in EC2
		if d.tokens[token] {
			d.mu.Unlock()
			return api.Reservation{}, api.Errorf("IdempotentParameterMismatch", "a RunInstances call with client token %q is still under way", req.ClientToken)
		}
		d.tokens[token] = true
		defer func() {
			d.mu.Lock()
			delete(d.tokens, token)
			d.mu.Unlock()
		}()
	}
	d.mu.Unlock()

	res := newID("r-")
	var ids []string
	var launchErr error
	for i := range req.MaxCount {
		out, err := d.launch(c, req.RunInstanceRequest, launchOf{reservation: res, clientToken: req.ClientToken, index: i})
		if err != nil {
			launchErr = err
			break
		}
		ids = append(ids, out.InstanceId)
	}
	if len(ids) < req.MinCount {
		if len(ids) > 0 {
			if _, err := d.TerminateInstances(c, ids); err != nil {
				d.log.Error("undoing a reservation that could not be made whole", "reservation", res, "err", err)
			}
		}
		return api.Reservation{}, launchErr
	}
	if len(req.Tags) > 0 {
		if _, err := d.CreateTags(c, api.CreateTagsRequest{Resources: ids, Tags: req.Tags}); err != nil {
			d.log.Error("tagging the instances of a reservation", "reservation", res, "err", err)
		}
	}
	return d.describeReservation(c, res)
}

func (d *Daemon) reservationOfTokenLocked(c api.Caller, token string) (string, bool) {
	for _, in := range d.instances {
		if in.rec.ClientToken == token && in.Owner() == c.AccountID {
			return in.rec.ReservationID, true
		}
	}
	return "", false
}

// describeReservation describes the instances of a reservation, by launch index.
func (d *Daemon) describeReservation(c api.Caller, res string) (api.Reservation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := api.Reservation{ReservationId: res, OwnerId: c.AccountID, Instances: []api.Instance{}}
	for _, in := range d.instances {
		if in.rec.ReservationID == res {
			out.Instances = append(out.Instances, d.describeLocked(in.rec))
		}
	}
	slices.SortFunc(out.Instances, func(a, b api.Instance) int { return a.AmiLaunchIndex - b.AmiLaunchIndex })
	return out, nil
}
