// Command hostd is both the daemon (`hostd serve`) and its client (`hostd RESOURCE VERB`).
package main

import (
	"os"

	"github.com/hostd/hostd/hostd/guest"
)

func main() {
	// An instance's PID 1 is this same binary, started by the daemon with this argument.
	if len(os.Args) > 1 && os.Args[1] == guest.InitArg {
		guest.RunInit()
	}
	os.Exit(run(os.Args[1:]))
}
