package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Verdicts of the filter, as seccomp return values.
const (
	Allow = unix.SECCOMP_RET_ALLOW
	// Refuse fails the syscall with EPERM.
	Refuse = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	// Absent fails it with ENOSYS, as an older kernel would.
	Absent = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// Filter is the profile assembled for this build's architecture: struct sock_filter entries in
// the machine's byte order, ready for seccomp(SECCOMP_SET_MODE_FILTER). Any other ABI on the
// same machine (32-bit x86 and x32 on amd64) is refused, since its numbers differ.
func Filter() ([]byte, error) {
	prog, err := program()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8*len(raw))
	for _, ins := range raw {
		out = binary.NativeEndian.AppendUint16(out, ins.Op)
		out = append(out, ins.Jt, ins.Jf)
		out = binary.NativeEndian.AppendUint32(out, ins.K)
	}
	return out, nil
}

// program is the profile as BPF instructions:
//
//	another ABI                      → EPERM
//	a syscall newer than the profile → ENOSYS
//	clone3                           → ENOSYS
//	each conditional syscall         → ALLOW if one of its ways passes, else EPERM
//	each allowed syscall             → ALLOW
//	anything else                    → EPERM
//
// A plain list of comparisons: the kernel caches the verdict of every syscall whose verdict does
// not depend on its arguments, so only clone, personality and socket run the program at all.
func program() ([]bpf.Instruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	newest, ok := info.SyscallNames[newestKnown]
	if !ok {
		return nil, fmt.Errorf("no %s on %s", newestKnown, info.Name)
	}
	// x32's numbers carry bit 30, so they are all "newer" than the profile.
	p := []bpf.Instruction{
		loadArch,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: Refuse},
		loadNr,
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(newest), SkipFalse: 1},
		bpf.RetConstant{Val: Absent},
	}
	p = append(p, anyOf(numbers(info, enosys), Absent)...)
	for _, name := range present(info, conditionalNames()) {
		p = append(p, conditionalBlock(uint32(info.SyscallNames[name]), name)...)
	}
	p = append(p, anyOf(numbers(info, allowed), Allow)...)
	return append(p, bpf.RetConstant{Val: Refuse}), nil
}

var (
	loadNr   = bpf.LoadAbsolute{Off: 0, Size: 4} // seccomp_data.nr
	loadArch = bpf.LoadAbsolute{Off: 4, Size: 4} // seccomp_data.arch
)

// anyOf returns verdict if the syscall number (in the accumulator) is one of nrs, and goes on
// after its instructions otherwise. Chunks of 254 keep every jump short.
func anyOf(nrs []uint32, verdict uint32) []bpf.Instruction {
	var p []bpf.Instruction
	for len(nrs) > 0 {
		n := min(len(nrs), 254)
		for i, nr := range nrs[:n] {
			p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: uint8(n - i)})
		}
		p = append(p, bpf.Jump{Skip: 1}, bpf.RetConstant{Val: verdict})
		nrs = nrs[n:]
	}
	return p
}

// conditionalBlock tests one syscall against each of its ways to pass: ALLOW at the first that
// passes, EPERM if none does; another syscall goes on after the block. It leaves the syscall
// number in the accumulator for what follows.
func conditionalBlock(nr uint32, name string) []bpf.Instruction {
	var body []bpf.Instruction
	for _, r := range conditional {
		if r.Name == name {
			body = append(body, alternative(r.When)...)
		}
	}
	body = append(body, bpf.RetConstant{Val: Refuse}, loadNr)
	// The next block starts at the final load: a syscall that is not this one skips to it.
	head := []bpf.Instruction{loadNr, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: uint8(len(body) - 1)}}
	return append(head, body...)
}

// alternative is one way to pass: every condition holds, then ALLOW; a failed condition skips
// past the ALLOW to what follows. Each condition takes four instructions: the argument's high
// and low halves, each loaded and tested.
func alternative(conds []condition) []bpf.Instruction {
	size := 4*len(conds) + 1
	var p []bpf.Instruction
	fail := func() uint8 { return uint8(size - len(p) - 1) } // from the jump about to be appended
	for _, c := range conds {
		hiOff, loOff := argOffsets(c.Arg)
		var v uint64
		switch {
		case c.Equal != nil:
			v = *c.Equal
			p = append(p, bpf.LoadAbsolute{Off: hiOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v >> 32), SkipFalse: fail()})
			p = append(p, bpf.LoadAbsolute{Off: loOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipFalse: fail()})
		case c.NotEqual != nil:
			v = *c.NotEqual
			// High halves that differ settle it: skip the low half's test.
			p = append(p, bpf.LoadAbsolute{Off: hiOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v >> 32), SkipFalse: 2})
			p = append(p, bpf.LoadAbsolute{Off: loOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipTrue: fail()})
		case c.NoBitsOf != nil:
			v = *c.NoBitsOf
			p = append(p, bpf.LoadAbsolute{Off: hiOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(v >> 32), SkipTrue: fail()})
			p = append(p, bpf.LoadAbsolute{Off: loOff, Size: 4})
			p = append(p, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(v), SkipTrue: fail()})
		}
	}
	return append(p, bpf.RetConstant{Val: Allow})
}

// argOffsets are where argument i's high and low 32 bits sit in struct seccomp_data.
func argOffsets(i uint32) (hi, lo uint32) {
	off := 16 + 8*i
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little-endian
		return off + 4, off
	}
	return off, off + 4
}

func conditionalNames() []string {
	var names []string
	for _, r := range conditional {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

func numbers(info *arch.Info, names []string) []uint32 {
	var out []uint32
	for _, n := range present(info, names) {
		out = append(out, uint32(info.SyscallNames[n]))
	}
	return out
}

// present keeps the names info has.
func present(info *arch.Info, names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := info.SyscallNames[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Refused lists, for this build's architecture, every syscall the profile refuses whatever its
// arguments, by name, in number order: what a test tries one by one.
func Refused() []string {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil
	}
	newest := info.SyscallNames[newestKnown]
	var out []string
	for nr, name := range info.SyscallNumbers {
		if nr <= newest && !slices.Contains(allowed, name) && !slices.ContainsFunc(conditional, func(r rule) bool { return r.Name == name }) {
			out = append(out, name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return info.SyscallNames[out[i]] < info.SyscallNames[out[j]] })
	return out
}

// Number is the syscall number of name on this build's architecture.
func Number(name string) (int, bool) {
	info, err := arch.GetInfo("")
	if err != nil {
		return 0, false
	}
	nr, ok := info.SyscallNames[name]
	return nr, ok
}
