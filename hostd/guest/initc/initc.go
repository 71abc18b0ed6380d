// Package initc is an instance's PID 1, written in C (init.c) and run from a constructor before
// the Go runtime starts, as runc's nsexec is; and the Go side of its wire protocol (wire.go).
// Any binary that links it (hostd does, through package guest) becomes the init when started
// as "hostd instance-init ID".
package initc

/*
#cgo CFLAGS: -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration
#include "wire.h"
*/
import "C"
