package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hostd/hostd/hostd/api"
)

// Exit statuses: 1 for a failed command, 2 for a command line that makes no sense.
const (
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage: hostd [--socket PATH | --endpoint URL [--profile P] [--region R]] [-o json|table] RESOURCE VERB [flags]

  hostd serve [--state-dir DIR] [--socket PATH] [--fabric NAME] [--ram-pool SIZE] [--scrub on|off] [--conntrack-max N]
              [--scrub-workers N] [--scrub-rate SIZE] [--disk-store PATH] [--disk-size SIZE] [--wipe fast|overwrite]
              [--listen ADDR [--tls-cert FILE --tls-key FILE] [--region R]]
  hostd teardown [--state-dir DIR] [--socket PATH] [--fabric NAME]
  hostd vpc create --cidr CIDR [--name N] | describe [ID...] | delete ID
  hostd subnet create --vpc ID --cidr CIDR | describe [ID...] | delete ID
  hostd instance run [--subnet ID [--sg ID]... [--private-ip IP] [--pps N] [--bandwidth RATE] [--conntrack N]] [--instance-type T] [--memory SIZE]
                     [--cpus N] [--pids N] [--ram SIZE] [--volume VOL:/dev/NAME]... [--user-data FILE]
                     [--metadata-tokens required|optional] [--metadata-hop-limit N] [--metadata on|off]
                     [-- CMD [ARG...]]   (CMD, or user data that is a #! script)
  hostd instance stop|start ID...
  hostd instance exec ID -- CMD [ARG...]
  hostd instance describe [ID...]
  hostd instance modify ID --source-dest-check=true|false
  hostd instance set-groups ID --sg ID...
  hostd sg create --vpc ID --name N [--description D] | describe [ID...] | delete ID
  hostd sg authorize|revoke --group ID (--ingress|--egress) RULE
  hostd sg revoke --group ID (--ingress|--egress) --rule-id sgr-ID...
  hostd sg modify --group ID --rule-id sgr-ID RULE
  hostd sg rules [GROUP...]
  hostd nacl create --vpc ID | describe [ID...] | associate --nacl ID --subnet ID
  hostd nacl entry --nacl ID --rule-number N (--ingress|--egress) --action allow|deny RULE
  hostd nacl delete-entry --nacl ID --rule-number N (--ingress|--egress)
  hostd nacl replace-entry --nacl ID --rule-number N (--ingress|--egress) --action allow|deny RULE
  hostd nacl delete ID
  hostd instance terminate ID...
  hostd volume create --size SIZE | describe [ID...] | delete ID
  hostd volume attach VOL --instance ID [--device /dev/NAME] | detach VOL
  hostd tag create --resource ID... --tag KEY=VALUE... | delete --resource ID... [--tag KEY[=VALUE]]... | describe [ID...]
  hostd pool describe
  hostd audit verify | lookup [--account ID] [--event-name NAME] [--since TIME] [--until TIME]
  hostd account create --name N [--max-instances N] [--max-ram SIZE] [--max-disk SIZE] | describe [ID...] | delete ID
  hostd user create|delete --account ID --name N | describe [--account ID] [--name N]
  hostd user put-policy --account ID --name N --policy-name P --policy-document file://PATH|JSON
  hostd user delete-policy --account ID --name N --policy-name P
  hostd access-key create --account ID --user N | describe [--account ID] [--user N]
  hostd access-key update AKIA... --status Active|Inactive | delete AKIA...
  hostd flow-log create --resource VPC|SUBNET|ENI --traffic-type ACCEPT|REJECT|ALL [--interval 60s] --destination FILE
  hostd flow-log describe [ID...] | delete ID
  hostd finding list [--since TIME|DURATION] [--type TYPE]
  hostd probe send|sniff|listen|connect|ping|serve|bulk|rr|connrate ...   (network probes, for use inside instances)

RULE is --ip-permissions JSON (EC2's IpPermissions list) or
  --protocol tcp|udp|icmp|icmpv6|all|NUMBER [--port N|N-M|TYPE[:CODE]] (--cidr CIDR | --source-group ID)
  (a group's rule also takes --description D)

The verbs that make things (vpc, subnet, sg and nacl create, instance run, volume create) take
--account ID: what they make belongs to that account (the operator's own, 000000000000, if not given).

HOSTD_SOCKET and HOSTD_STATE_DIR override the defaults of --socket and --state-dir.`

// globals are the flags before RESOURCE.
type globals struct {
	socket string
	output string
	// endpoint is a daemon's network listener (--endpoint URL), reached with signed requests
	// by signer, made from the credentials of --profile and the region of --region.
	endpoint, profile, region string
	signed                    *api.Client
	// account is what `--account ID` names on the verbs that make things: the account that owns
	// what they make (the operator's calls only).
	account string
}

// accountFlag adds --account to a verb that makes something.
func (g *globals) accountFlag(fs *flag.FlagSet) {
	fs.StringVar(&g.account, "account", "", "the account that owns what is made (the operator's own when not given)")
}

func defaultSocket() string   { return envOr("HOSTD_SOCKET", "/run/hostd/hostd.sock") }
func defaultStateDir() string { return envOr("HOSTD_STATE_DIR", "/var/lib/hostd") }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// usageError is a command line that cannot be run; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// newFlags returns a flag set that reports errors instead of printing and exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usagef("%s", usage)
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

func run(args []string) int {
	g := globals{}
	fs := newFlags("hostd")
	fs.StringVar(&g.socket, "socket", defaultSocket(), "daemon socket")
	fs.StringVar(&g.output, "o", "json", "output: json or table")
	fs.StringVar(&g.endpoint, "endpoint", "", "a daemon's network listener (http[s]://HOST:PORT), reached with signed requests")
	fs.StringVar(&g.profile, "profile", "", "the profile of ~/.aws/credentials to sign with (default: AWS_PROFILE, or default)")
	fs.StringVar(&g.region, "region", "", "the region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, or us-east-1)")
	err := parseFlags(fs, args)
	if err == nil && g.output != "json" && g.output != "table" {
		err = usagef("-o takes json or table, not %q", g.output)
	}
	if err == nil && g.endpoint != "" {
		g.signed, err = endpointClient(&g)
	}
	if err == nil {
		err = dispatch(&g, fs.Args())
	}
	return report(err)
}

func dispatch(g *globals, args []string) error {
	if len(args) == 0 {
		return usagef("%s", usage)
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:])
	case "teardown":
		return cmdTeardown(args[1:])
	case "instance":
		return cmdInstance(g, args[1:])
	case "vpc":
		return cmdVpc(g, args[1:])
	case "subnet":
		return cmdSubnet(g, args[1:])
	case "sg":
		return cmdSg(g, args[1:])
	case "nacl":
		return cmdNacl(g, args[1:])
	case "probe":
		return cmdProbe(args[1:])
	case "volume":
		return cmdVolume(g, args[1:])
	case "account":
		return cmdAccount(g, args[1:])
	case "user":
		return cmdUser(g, args[1:])
	case "access-key":
		return cmdAccessKey(g, args[1:])
	case "audit":
		return cmdAudit(g, args[1:])
	case "tag":
		return cmdTag(g, args[1:])
	case "flow-log":
		return cmdFlowLog(g, args[1:])
	case "finding":
		return runVerb(g, "finding", args[1:], map[string]func(*globals, []string) error{"list": findingList})
	case "pool":
		return runVerb(g, "pool", args[1:], map[string]func(*globals, []string) error{"describe": poolDescribe})
	case "help", "-h", "--help":
		fmt.Println(usage)
		return nil
	}
	return usagef("unknown resource %q\n%s", args[0], usage)
}

// report prints err as EC2's error document on stderr and returns the exit status.
func report(err error) int {
	if err == nil {
		return 0
	}
	status := exitFailure
	var ue *usageError
	apiErr := api.AsError(err)
	if errors.As(err, &ue) {
		status = exitUsage
		apiErr = &api.Error{Code: api.CodeUsage, Message: ue.msg}
	}
	data, _ := json.Marshal(api.ErrorDocument{Error: apiErr})
	fmt.Fprintln(os.Stderr, string(data))
	return status
}

// print writes a result document as indented JSON (as the AWS CLI does) or as a table.
func (g *globals) print(v any) error {
	if g.output == "table" {
		return tableFor(v).write(os.Stdout, tableWidth)
	}
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(data))
	return err
}
