package initc

/*
#include "wire.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Message types (wire.h says who sends which, and when).
const (
	MsgConfig  = C.MSG_CONFIG
	MsgGo      = C.MSG_GO
	MsgNetns   = C.MSG_NETNS
	MsgRunning = C.MSG_RUNNING
	MsgError   = C.MSG_ERROR
	MsgWatch   = C.MSG_WATCH
	MsgConsole = C.MSG_CONSOLE
	MsgStatus  = C.MSG_STATUS
	MsgAck     = C.MSG_ACK
	MsgExec    = C.MSG_EXEC
	MsgPid     = C.MSG_PID
	MsgExit    = C.MSG_EXIT
	MsgSignal  = C.MSG_SIGNAL
	MsgAttach  = C.MSG_ATTACH
	MsgDetach  = C.MSG_DETACH
	MsgOK      = C.MSG_OK
)

// Steps of a root's plan.
const (
	OpMount   = C.OP_MOUNT
	OpSetattr = C.OP_SETATTR
	OpMkdir   = C.OP_MKDIR
	OpFile    = C.OP_FILE
	OpSymlink = C.OP_SYMLINK
	OpChdir   = C.OP_CHDIR
	OpPivot   = C.OP_PIVOT
	OpNetns   = C.OP_NETNS
)

// Limits the init enforces.
const (
	header     = C.WIRE_HEADER
	maxMessage = C.WIRE_MAX_MESSAGE
	// MaxRequest is the largest payload of a request on the control socket (an exec's
	// arguments).
	MaxRequest  = 64 << 10
	maxArgs     = C.WIRE_MAX_ARGS
	maxEnv      = C.WIRE_MAX_ENV
	maxOps      = C.WIRE_MAX_OPS
	maxDevices  = C.WIRE_MAX_DEVICES
	maxCgroups  = C.WIRE_MAX_CGROUPS
	maxFilter   = C.WIRE_MAX_FILTER
	fieldHeader = 8
)

// devicePattern is the init's rule for names in /dev (valid_device_name).
var devicePattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,14}$`)

// Message is one frame, with the files that came with it.
type Message struct {
	Type    uint32
	Payload []byte
	Files   []*os.File
}

// Close closes the message's files.
func (m Message) Close() {
	for _, f := range m.Files {
		f.Close()
	}
}

// Frame is a message's bytes: its header and payload.
func Frame(typ uint32, payload []byte) []byte {
	out := binary.NativeEndian.AppendUint32(make([]byte, 0, header+len(payload)), typ)
	out = binary.NativeEndian.AppendUint32(out, uint32(len(payload)))
	return append(out, payload...)
}

// ParseFrame reads one whole frame, as the init does.
func ParseFrame(b []byte) (typ uint32, payload []byte, err error) {
	if len(b) < header {
		return 0, nil, errors.New("message shorter than its header")
	}
	if int(binary.NativeEndian.Uint32(b[4:])) != len(b)-header {
		return 0, nil, errors.New("message length does not match its header")
	}
	return binary.NativeEndian.Uint32(b), b[header:], nil
}

// Send writes one message on conn, with files attached.
func Send(conn *net.UnixConn, typ uint32, payload []byte, files ...*os.File) error {
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	_, _, err := conn.WriteMsgUnix(Frame(typ, payload), oob, nil)
	return err
}

// Receive reads one message from conn; io.EOF when the other end has gone.
func Receive(conn *net.UnixConn) (Message, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	var m Message
	if oobn > 0 {
		m.Files, _ = receivedFiles(oob[:oobn])
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		err = errors.New("message too large")
	}
	if err == nil {
		m.Type, m.Payload, err = ParseFrame(buf[:n])
	}
	if err != nil {
		m.Close()
		return Message{}, err
	}
	return m, nil
}

func receivedFiles(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			// Non-blocking, so that the file is Go's poller's (the console pipe is read with
			// splice through it); the flag is the open file's, which only this side reads.
			_ = unix.SetNonblock(fd, true)
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files, nil
}

// Uint32 is a uint32 payload (PID, NETNS, RUNNING, SIGNAL).
func Uint32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// ParseUint32 reads a uint32 payload.
func ParseUint32(p []byte) (uint32, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("a 4-byte payload has %d bytes", len(p))
	}
	return binary.NativeEndian.Uint32(p), nil
}

// ParseInt32 reads an int32 payload (STATUS, EXIT).
func ParseInt32(p []byte) (int32, error) {
	v, err := ParseUint32(p)
	return int32(v), err
}

// Args is EXEC's payload: each argument and a NUL.
func Args(args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "" {
		return nil, errors.New("a command is required")
	}
	if len(args) > maxArgs {
		return nil, fmt.Errorf("more than %d arguments", maxArgs)
	}
	var out []byte
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, errors.New("an argument holds a NUL byte")
		}
		out = append(append(out, a...), 0)
	}
	if len(out) > MaxRequest {
		return nil, fmt.Errorf("the command line is %d bytes; at most %d pass", len(out), MaxRequest)
	}
	return out, nil
}

// Op is a step of the plan the init follows to build a guest's root.
type Op struct {
	Code uint32
	// Arg is mount flags (OpMount), a mount_setattr attribute set (OpSetattr) or a mode
	// (OpMkdir, OpFile).
	Arg uint32
	// Optional steps may find their paths missing without failing.
	Optional               bool
	Src, Dst, FSType, Data string
}

// Config is everything the init needs to launch an instance.
type Config struct {
	Hostname       string
	Args, Env      []string
	UIDMap, GIDMap string
	// Seccomp is the guest's filter (struct sock_filter entries); none for no filter.
	Seccomp []byte
	Caps    uint64
	// WaitGo makes the init wait for GO (the daemon plumbing the network) before the workload
	// starts.
	WaitGo  bool
	Plan    []Op
	Devices []string
	// Cgroups are cgroup v1 tasks files the init writes "0" to, to move itself into the
	// instance's groups before it does anything else.
	Cgroups []string
}

// Encode is the config as CONFIG's payload; it refuses what the init would.
func (c *Config) Encode() ([]byte, error) {
	var out []byte
	var bad error
	field := func(tag uint32, v []byte) {
		out = binary.NativeEndian.AppendUint32(out, tag)
		out = binary.NativeEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	cstr := func(s string) []byte {
		if strings.IndexByte(s, 0) >= 0 && bad == nil {
			bad = fmt.Errorf("%q holds a NUL byte", s)
		}
		return append([]byte(s), 0)
	}
	switch {
	case len(c.Args) == 0 || c.Args[0] == "":
		return nil, errors.New("a command is required")
	case len(c.Args) > maxArgs, len(c.Env) > maxEnv, len(c.Plan) > maxOps, len(c.Devices) > maxDevices, len(c.Cgroups) > maxCgroups:
		return nil, errors.New("too many arguments, variables, plan steps or devices")
	case len(c.Seccomp)%8 != 0 || len(c.Seccomp)/8 > maxFilter:
		return nil, errors.New("the seccomp filter is not a whole number of instructions, or too long")
	}
	field(C.F_HOSTNAME, cstr(c.Hostname))
	field(C.F_UIDMAP, cstr(c.UIDMap))
	field(C.F_GIDMAP, cstr(c.GIDMap))
	for _, a := range c.Args {
		field(C.F_ARG, cstr(a))
	}
	for _, e := range c.Env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("environment entry %q has no '='", e)
		}
		field(C.F_ENV, cstr(e))
	}
	if len(c.Seccomp) > 0 {
		field(C.F_SECCOMP, c.Seccomp)
	}
	field(C.F_CAPS, binary.NativeEndian.AppendUint64(nil, c.Caps))
	if c.WaitGo {
		field(C.F_WAITGO, nil)
	}
	for _, op := range c.Plan {
		v := binary.NativeEndian.AppendUint32(nil, op.Code)
		v = binary.NativeEndian.AppendUint32(v, op.Arg)
		opt := uint32(0)
		if op.Optional {
			opt = C.OP_OPTIONAL
		}
		v = binary.NativeEndian.AppendUint32(v, opt)
		for _, s := range []string{op.Src, op.Dst, op.FSType, op.Data} {
			v = append(v, cstr(s)...)
		}
		field(C.F_OP, v)
	}
	for _, d := range c.Devices {
		if !devicePattern.MatchString(d) {
			return nil, fmt.Errorf("device name %q: use [a-z][a-z0-9]{0,14}", d)
		}
		field(C.F_DEVICE, cstr(d))
	}
	for _, g := range c.Cgroups {
		if !strings.HasPrefix(g, "/") {
			return nil, fmt.Errorf("cgroup file %q is not an absolute path", g)
		}
		field(C.F_CGROUP, cstr(g))
	}
	if bad != nil {
		return nil, bad
	}
	if len(out) > maxMessage-header {
		return nil, fmt.Errorf("the launch config is %d bytes; at most %d pass (a shorter command line?)", len(out), maxMessage-header)
	}
	return out, nil
}
