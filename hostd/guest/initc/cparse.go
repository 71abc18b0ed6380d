package initc

/*
#include <stdlib.h>
#include <string.h>
#include "wire.h"
*/
import "C"

import "unsafe"

// The init's C parsers, callable from tests (cgo cannot be used in _test.go files): the fuzzers
// and the refusal tests run the very code the init runs.

// parsed is what the C parser made of a config.
type parsed struct {
	Err                     string
	Hostname                string
	Args, Env, Ops, Devices int
	Cgroups, FilterLen      int
	WaitGo                  bool
	Caps                    uint64
}

func parseConfigC(b []byte) parsed {
	buf := C.malloc(C.size_t(len(b) + 1))
	defer C.free(buf)
	C.memcpy(buf, unsafe.Pointer(unsafe.SliceData(append(b, 0))), C.size_t(len(b)))
	cfg := (*C.struct_config)(C.malloc(C.sizeof_struct_config))
	defer C.free(unsafe.Pointer(cfg))
	if e := C.parse_config((*C.char)(buf), C.size_t(len(b)), cfg); e != nil {
		return parsed{Err: C.GoString(e)}
	}
	return parsed{
		Hostname: C.GoString(cfg.hostname), Args: int(cfg.argc), Env: int(cfg.envc), Ops: int(cfg.nops),
		Devices: int(cfg.ndevices), Cgroups: int(cfg.ncgroups), FilterLen: int(cfg.filter_len), WaitGo: cfg.waitgo != 0, Caps: uint64(cfg.caps),
	}
}

func parseArgsC(b []byte) ([]string, string) {
	buf := C.malloc(C.size_t(len(b) + 1))
	defer C.free(buf)
	C.memcpy(buf, unsafe.Pointer(unsafe.SliceData(append(b, 0))), C.size_t(len(b)))
	argv := (**C.char)(C.malloc(C.size_t(unsafe.Sizeof(uintptr(0))) * (C.WIRE_MAX_ARGS + 1)))
	defer C.free(unsafe.Pointer(argv))
	if e := C.parse_args((*C.char)(buf), C.size_t(len(b)), argv); e != nil {
		return nil, C.GoString(e)
	}
	var out []string
	for _, p := range unsafe.Slice(argv, C.WIRE_MAX_ARGS+1) {
		if p == nil {
			break
		}
		out = append(out, C.GoString(p))
	}
	return out, ""
}
