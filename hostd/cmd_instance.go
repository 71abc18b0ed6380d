package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/guest"
)

func cmdInstance(g *globals, args []string) error {
	return runVerb(g, "instance", args, map[string]func(*globals, []string) error{
		"run": instanceRun, "exec": instanceExec, "describe": instanceDescribe, "terminate": instanceTerminate,
		"modify": instanceModify, "set-groups": instanceSetGroups,
		"stop": instanceStateVerb("stop"), "start": instanceStateVerb("start"),
	})
}

func instanceRun(g *globals, args []string) error {
	fs := newFlags("instance run")
	g.accountFlag(fs)
	// Values are read as text and converted here, so that a bad value gets InvalidParameterValue
	// (status 1) like any other bad input, and only a malformed command line gets status 2.
	memory := fs.String("memory", "", "memory limit of the guest's processes (SIZE)")
	cpus := fs.String("cpus", "", "CPU limit, in CPUs")
	pids := fs.String("pids", "", "most processes and threads")
	subnet := fs.String("subnet", "", "subnet of the instance's interface (none: loopback only)")
	privateIP := fs.String("private-ip", "", "the interface's address (default: the subnet's lowest free one)")
	ram := fs.String("ram", "", "size of /dev/guest-ram, from the daemon's pool (SIZE; default 16MiB, 0 for none)")
	pps := fs.String("pps", "", "packets per second the interface may send (0: no limit; default by --memory)")
	bandwidth := fs.String("bandwidth", "", "bits per second the interface may send, and receive (RATE: 100M, 2.5Gbit; 0: no limit; default by --memory)")
	conntrack := fs.String("conntrack", "", "tracked connections the interface may open (default by --memory)")
	var groups stringList
	fs.Var(&groups, "sg", "a security group of the interface (repeatable, at most 5; default: the VPC's default group)")
	var volumes volumeFlags
	fs.Var(&volumes, "volume", "VOL:/dev/NAME, a volume to attach (repeatable)")
	instanceType := fs.String("instance-type", "", "an EC2 type (t3.nano … m5.large): its memory and vCPUs where --memory and --cpus are not given")
	userData := fs.String("user-data", "", "a file whose bytes the metadata service serves the instance at /latest/user-data (at most 16KiB); a #! script is the workload when no CMD is given")
	tokens := fs.String("metadata-tokens", "", "required (default) or optional: whether metadata requests need an IMDSv2 token")
	hopLimit := fs.String("metadata-hop-limit", "", "IP TTL of a metadata token's answer, 1 to 64 (default 1: nothing routed behind the instance gets one)")
	endpoint := fs.String("metadata", "", "on (default) or off: the instance metadata service")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req := api.RunInstanceRequest{Command: fs.Args(), SubnetId: *subnet, PrivateIpAddress: *privateIP, Volumes: volumes, SecurityGroupIds: groups, InstanceType: *instanceType}
	if err := metadataFlags(&req, *userData, *tokens, *hopLimit, *endpoint); err != nil {
		return err
	}
	if *subnet != "" {
		if err := api.SubnetID.Check(*subnet); err != nil {
			return err
		}
	}
	if err := api.GroupID.Check(groups...); err != nil {
		return err
	}
	for _, v := range volumes {
		if err := api.VolumeID.Check(v.VolumeId); err != nil {
			return err
		}
	}
	var err error
	if *ram != "" {
		n, err := api.ParseSizeFlag("--ram", *ram)
		if err != nil {
			return err
		}
		req.RamBytes = &n
	}
	if *memory != "" {
		if req.Limits.MemoryBytes, err = api.ParseSizeFlag("--memory", *memory); err != nil {
			return err
		}
	}
	if *cpus != "" {
		if req.Limits.Cpus, err = strconv.ParseFloat(*cpus, 64); err != nil || req.Limits.Cpus <= 0 {
			return api.Errorf(api.CodeInvalidParameterValue, "--cpus %q is not a positive number", *cpus)
		}
	}
	if *pids != "" {
		if req.Limits.Pids, err = strconv.ParseInt(*pids, 10, 64); err != nil || req.Limits.Pids <= 0 {
			return api.Errorf(api.CodeInvalidParameterValue, "--pids %q is not a positive whole number", *pids)
		}
	}
	for _, a := range []struct {
		flag, value string
		into        **int64
	}{{"--pps", *pps, &req.Allowances.PacketsPerSecond}, {"--conntrack", *conntrack, &req.Allowances.TrackedConnections}} {
		if a.value == "" {
			continue
		}
		n, err := strconv.ParseInt(a.value, 10, 64)
		if err != nil || n < 0 {
			return api.Errorf(api.CodeInvalidParameterValue, "%s %q is not a whole number", a.flag, a.value)
		}
		*a.into = &n
	}
	if *bandwidth != "" {
		n, err := api.ParseRateFlag("--bandwidth", *bandwidth)
		if err != nil {
			return err
		}
		req.Allowances.BandwidthBits = &n
	}
	var out api.RunInstanceResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

// metadataFlags puts run's metadata flags into req.
func metadataFlags(req *api.RunInstanceRequest, userData, tokens, hopLimit, endpoint string) error {
	if userData != "" {
		// Read here, by the caller, with the caller's own rights.
		data, err := os.ReadFile(userData)
		if err != nil {
			return api.Errorf(api.CodeInvalidParameterValue, "--user-data: %v", err)
		}
		req.UserData = data
	}
	if tokens == "" && hopLimit == "" && endpoint == "" {
		return nil
	}
	opts := &api.InstanceMetadataOptions{HttpTokens: tokens}
	if hopLimit != "" {
		n, err := strconv.Atoi(hopLimit)
		if err != nil || n < 1 {
			return api.Errorf(api.CodeInvalidParameterValue, "--metadata-hop-limit %q: give a whole number from 1 to 64", hopLimit)
		}
		opts.HttpPutResponseHopLimit = n
	}
	switch endpoint {
	case "on":
		opts.HttpEndpoint = "enabled"
	case "off":
		opts.HttpEndpoint = "disabled"
	case "":
	default:
		return api.Errorf(api.CodeInvalidParameterValue, "--metadata takes on or off, not %q", endpoint)
	}
	req.MetadataOptions = opts
	return nil
}

func instanceExec(g *globals, args []string) error {
	fs := newFlags("instance exec")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usagef("usage: hostd instance exec ID -- CMD [ARG...]")
	}
	id, cmd := fs.Arg(0), fs.Args()[1:]
	if cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return api.Errorf(api.CodeMissingParameter, "a command is required: hostd instance exec ID -- CMD [ARG...]")
	}
	if err := api.InstanceID.Check(id); err != nil {
		return err
	}
	var target api.ExecTarget
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances/"+url.PathEscape(id)+"/exec", nil, &target); err != nil {
		// The instance's init owns its control socket and outlives the daemon: with the daemon
		// down, exec still reaches an instance under the state dir.
		socket, ok := controlSocketWithoutDaemon(err, id)
		if !ok {
			return err
		}
		target.ControlSocket = socket
	}
	code, err := guest.Exec(target.ControlSocket, cmd, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
	if err != nil {
		return api.Errorf(api.CodeInvalidParameterValue, "%v", err)
	}
	// The command's own status is the CLI's status, as with ssh or docker exec.
	os.Exit(code)
	return nil
}

// controlSocketWithoutDaemon finds id's control socket in the state dir when err says the daemon
// cannot be reached. id has been checked: it is safe as a file name.
func controlSocketWithoutDaemon(err error, id string) (string, bool) {
	if api.AsError(err).Code != api.CodeDaemonUnavailable {
		return "", false
	}
	l := guest.Launcher{RunDir: filepath.Join(defaultStateDir(), "instances")}
	socket := l.ControlSocket(id)
	if _, statErr := os.Stat(socket); statErr != nil {
		return "", false
	}
	return socket, true
}

func instanceDescribe(g *globals, args []string) error {
	return describeVerb(g, "instance describe", "/v1/instances", api.InstanceID, args, &api.DescribeInstancesResponse{})
}

func instanceModify(g *globals, args []string) error {
	fs := newFlags("instance modify")
	check := fs.String("source-dest-check", "", "true or false")
	// The id comes first, as in `hostd instance modify ID --source-dest-check=false`.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: hostd instance modify ID --source-dest-check=true|false")
	}
	ids := args[:1]
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if err := api.InstanceID.Check(ids[0]); err != nil {
		return err
	}
	var req api.ModifyInstanceRequest
	if *check != "" {
		v, err := strconv.ParseBool(*check)
		if err != nil {
			return api.Errorf(api.CodeInvalidParameterValue, "--source-dest-check takes true or false, not %q", *check)
		}
		req.SourceDestCheck = &v
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances/"+url.PathEscape(ids[0])+"/modify", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

// instanceStateVerb stops or starts instances.
func instanceStateVerb(verb string) func(*globals, []string) error {
	return func(g *globals, args []string) error {
		fs := newFlags("instance " + verb)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usagef("usage: hostd instance %s ID...", verb)
		}
		if err := api.InstanceID.Check(fs.Args()...); err != nil {
			return err
		}
		var out any = &api.StopInstancesResponse{}
		if verb == "start" {
			out = &api.StartInstancesResponse{}
		}
		req := api.TerminateInstancesRequest{InstanceIds: fs.Args()}
		if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances/"+verb, req, out); err != nil {
			return err
		}
		return g.print(out)
	}
}

func instanceTerminate(g *globals, args []string) error {
	fs := newFlags("instance terminate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("usage: hostd instance terminate ID...")
	}
	if err := api.InstanceID.Check(fs.Args()...); err != nil {
		return err
	}
	var out api.TerminateInstancesResponse
	req := api.TerminateInstancesRequest{InstanceIds: fs.Args()}
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/instances/terminate", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func client(g *globals) *api.Client {
	if g.signed != nil {
		return g.signed
	}
	c := api.NewClient(g.socket)
	c.Account = g.account
	return c
}

func poolDescribe(g *globals, args []string) error {
	fs := newFlags("pool describe")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var out api.PoolDescription
	if err := client(g).Call(context.Background(), http.MethodGet, "/v1/pool", nil, &out); err != nil {
		return err
	}
	return g.print(out)
}
