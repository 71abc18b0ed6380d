package daemon

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/hostd/hostd/hostd/api"
)

// Defaults and bounds of instance limits. The defaults keep one runaway guest from taking the
// host down; the bounds reject what the kernel would refuse or what cannot run at all.
const (
	DefaultMemoryBytes = 256 << 20
	MinMemoryBytes     = 8 << 20
	DefaultPids        = 1024
	MinPids            = 8
	MaxPids            = 4194304
)

// validateRun checks a launch request and returns its limits with defaults filled in, and the
// size of its RAM region.
func (d *Daemon) validateRun(req *api.RunInstanceRequest) (api.Limits, int64, error) {
	l, err := validateLimits(req)
	if err == nil {
		err = validateMetadata(req)
	}
	if err != nil {
		return l, 0, err
	}
	ram := int64(DefaultGuestRAM)
	if req.RamBytes != nil {
		ram = *req.RamBytes
	}
	switch {
	case ram < 0 || ram%4096 != 0:
		return l, 0, api.Errorf(api.CodeInvalidParameterValue, "--ram %s: give a whole number of 4KiB pages, or 0 for none", api.FormatSize(ram))
	case ram > d.cfg.RAMPoolBytes:
		return l, 0, api.Errorf(api.CodeInvalidParameterValue, "--ram %s is more than the whole RAM pool (%s)", api.FormatSize(ram), api.FormatSize(d.cfg.RAMPoolBytes))
	}
	return l, ram, nil
}

// MaxUserData is EC2's limit on user data, before base64.
const MaxUserData = 16 << 10

func validateLimits(req *api.RunInstanceRequest) (api.Limits, error) {
	l := req.Limits
	if len(req.UserData) > MaxUserData {
		return l, api.Errorf(api.CodeInvalidParameterValue, "User data is limited to %d bytes; this is %d", MaxUserData, len(req.UserData))
	}
	if req.InstanceType != "" {
		t, err := api.LookupInstanceType(req.InstanceType)
		if err != nil {
			return l, err
		}
		if l.MemoryBytes == 0 {
			l.MemoryBytes = t.MemoryBytes
		}
		if l.Cpus == 0 {
			l.Cpus = float64(min(t.VCpus, runtime.NumCPU()))
		}
	}
	if len(req.Command) == 0 || req.Command[0] == "" {
		return l, api.Errorf(api.CodeMissingParameter, "a command is required: hostd instance run [flags] -- CMD [ARG...]")
	}
	switch {
	case l.MemoryBytes == 0:
		l.MemoryBytes = DefaultMemoryBytes
	case l.MemoryBytes < MinMemoryBytes:
		return l, api.Errorf(api.CodeInvalidParameterValue, "--memory %s is below the minimum of %s", api.FormatSize(l.MemoryBytes), api.FormatSize(MinMemoryBytes))
	case l.MemoryBytes > hostMemory():
		return l, api.Errorf(api.CodeInvalidParameterValue, "--memory %s is more than the host has (%s)", api.FormatSize(l.MemoryBytes), api.FormatSize(hostMemory()))
	}
	if l.Cpus < 0 || l.Cpus > float64(runtime.NumCPU()) || (l.Cpus > 0 && l.Cpus < 0.01) {
		return l, api.Errorf(api.CodeInvalidParameterValue, "--cpus %g is out of range: give 0.01 to %d (the host's CPUs), or leave it out for no limit", l.Cpus, runtime.NumCPU())
	}
	switch {
	case l.Pids == 0:
		l.Pids = DefaultPids
	case l.Pids < MinPids || l.Pids > MaxPids:
		return l, api.Errorf(api.CodeInvalidParameterValue, "--pids %d is out of range: give %d to %d", l.Pids, MinPids, MaxPids)
	}
	return l, nil
}

func hostMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 1 << 62
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// allowances are an interface's allowances: those asked for, the defaults by memory for the
// rest. A value asked for out of range is refused (a default larger than a small table is not:
// the table's limit binds first, and new flows past it are ct-full, not the allowance's).
func (d *Daemon) allowances(asked api.Allowances, memoryBytes int64) (pps, bandwidth, conntrack int64, err error) {
	pps, bandwidth, conntrack = api.DefaultAllowances(asked, memoryBytes)
	limit, err := d.dp.ConntrackLimit()
	if err != nil {
		return 0, 0, 0, err
	}
	switch {
	case pps < 0 || pps > 1e9:
		return 0, 0, 0, api.Errorf(api.CodeInvalidParameterValue, "--pps %d is out of range: give 1 to 1000000000 packets per second, or 0 for no limit", pps)
	case bandwidth < 0 || bandwidth > 8e12:
		return 0, 0, 0, api.Errorf(api.CodeInvalidParameterValue, "--bandwidth %d is out of range: give up to 8Tbit bits per second, or 0 for no limit", bandwidth)
	case asked.TrackedConnections != nil && (conntrack < 1 || conntrack > int64(limit)):
		return 0, 0, 0, api.Errorf(api.CodeInvalidParameterValue, "--conntrack %d is out of range: give 1 to %d (the daemon's --conntrack-max)", conntrack, limit)
	}
	return pps, bandwidth, conntrack, nil
}
