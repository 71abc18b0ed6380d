// Command hostd is both the daemon (`hostd serve`) and its client (`hostd RESOURCE VERB`).
package main

import (
	"fmt"
	"os"

	"github.com/hostd/hostd/hostd/guest"
)

func main() {
	// An instance's PID 1 is this same binary, started by the daemon with this argument.
	if len(os.Args) > 1 && os.Args[1] == guest.InitArg {
		guest.RunInit()
	}
	// Run by the daemon through nsenter inside an instance's mount namespace.
	if len(os.Args) > 1 && os.Args[1] == guest.DeviceHelperArg {
		if err := guest.RunDeviceHelper(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(os.Args[1:]))
}
