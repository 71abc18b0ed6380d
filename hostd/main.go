// Command hostd is both the daemon (`hostd serve`) and its client (`hostd RESOURCE VERB`). Started
// as `hostd instance-init ID` it is an instance's init instead, in C, before Go starts (package
// initc, which package guest links in).
package main

import "os"

func main() { os.Exit(run(os.Args[1:])) }
