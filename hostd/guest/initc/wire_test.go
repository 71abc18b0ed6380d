package initc

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleConfig() Config {
	return Config{
		Hostname: "i-0123456789abcdef0", Args: []string{"sh", "-c", "echo hi"}, Env: []string{"PATH=/bin", "HOME=/root"},
		UIDMap: "0 1073741824 65536\n", GIDMap: "0 1073741824 65536\n", Seccomp: make([]byte, 8*10), Caps: 0xa80425fb,
		WaitGo: true, Devices: []string{"xvdb"}, Cgroups: []string{"/sys/fs/cgroup/pids/hostd/x/i-0123456789abcdef0/tasks"},
		Plan: []Op{
			{Code: OpMount, Arg: 4096, Src: "/", Dst: "/x/root"},
			{Code: OpMount, Arg: 4096, Src: "/mnt", Dst: "mnt", Optional: true},
			{Code: OpSymlink, Src: "pts/ptmx", Dst: "dev/ptmx"},
			{Code: OpPivot},
		},
	}
}

// What Go encodes, the init's C parser reads back whole.
func TestConfigRoundTrip(t *testing.T) {
	c := sampleConfig()
	b, err := c.Encode()
	require.NoError(t, err)
	got := parseConfigC(b)
	assert.Equal(t, parsed{Hostname: c.Hostname, Args: 3, Env: 2, Ops: 4, Devices: 1, Cgroups: 1, FilterLen: 10, WaitGo: true, Caps: c.Caps}, got)
}

// field is one config field, written by hand.
func field(tag uint32, v []byte) []byte {
	out := binary.NativeEndian.AppendUint32(nil, tag)
	out = binary.NativeEndian.AppendUint32(out, uint32(len(v)))
	return append(out, v...)
}

// Malformed configs are refused whole, each with its reason.
func TestParseConfigRefuses(t *testing.T) {
	good, err := func() ([]byte, error) { c := sampleConfig(); return c.Encode() }()
	require.NoError(t, err)
	good = slices.Clip(good) // every case appends to its own copy
	op := func(code uint32, strs string) []byte {
		v := binary.NativeEndian.AppendUint32(nil, code)
		v = binary.NativeEndian.AppendUint32(v, 0)
		v = binary.NativeEndian.AppendUint32(v, 0)
		return append(v, strs...)
	}
	for name, b := range map[string][]byte{
		"truncated field header":  append(good, 1, 0, 0, 0),
		"field past the end":      append(field(1, []byte("h\x00")), binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, 2), 100)...),
		"unterminated string":     append(good, field(3, []byte("A=b"))...),
		"string with a NUL":       append(good, field(3, []byte("A=b\x00c\x00"))...),
		"env without =":           append(good, field(3, []byte("junk\x00"))...),
		"unknown tag":             append(good, field(99, nil)...),
		"second hostname":         append(good, field(1, []byte("h\x00"))...),
		"filter of 7 bytes":       append(good[:0:0], field(6, make([]byte, 7))...),
		"no command":              field(1, []byte("h\x00")),
		"empty command":           append(field(2, []byte("\x00")), good...),
		"op with three strings":   append(good, field(9, op(1, "a\x00b\x00c\x00"))...),
		"op with five strings":    append(good, field(9, op(1, "a\x00b\x00c\x00d\x00e\x00"))...),
		"op with no target":       append(good, field(9, op(1, "a\x00\x00\x00\x00"))...),
		"unknown op":              append(good, field(9, op(42, "a\x00b\x00\x00\x00"))...),
		"short op":                append(good, field(9, []byte{1, 0, 0})...),
		"device with a slash":     append(good, field(10, []byte("../sda\x00"))...),
		"device name too long":    append(good, field(10, []byte("abcdefghijklmnop\x00"))...),
		"capabilities of 4 bytes": append(good, field(7, []byte{1, 2, 3, 4})...),
		"wait flag with a value":  append(good, field(8, []byte{1})...),
		"relative cgroup file":    append(good, field(11, []byte("tasks\x00"))...),
	} {
		t.Run(name, func(t *testing.T) {
			assert.NotEmpty(t, parseConfigC(b).Err)
		})
	}
	var many []byte
	for range maxArgs + 1 {
		many = append(many, field(2, []byte("a\x00"))...)
	}
	assert.Contains(t, parseConfigC(many).Err, "too many")
}

func TestArgs(t *testing.T) {
	b, err := Args([]string{"sh", "-c", "", "x y"})
	require.NoError(t, err)
	args, e := parseArgsC(b)
	assert.Empty(t, e)
	assert.Equal(t, []string{"sh", "-c", "", "x y"}, args)
	for _, bad := range [][]byte{nil, []byte("\x00"), []byte("sh"), []byte("\x00sh\x00")} {
		_, e := parseArgsC(bad)
		assert.NotEmpty(t, e, "%q", bad)
	}
	_, err = Args([]string{"a\x00b"})
	assert.Error(t, err)
	_, err = Args([]string{strings.Repeat("x", MaxRequest)})
	assert.Error(t, err)
}

// Any bytes: a frame parses only if it is exactly one whole frame, and then re-encodes to itself.
func FuzzFrame(f *testing.F) {
	f.Add(Frame(MsgExec, []byte("sh\x00")))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, payload, err := ParseFrame(b)
		if err != nil {
			return
		}
		if !bytes.Equal(Frame(typ, payload), b) {
			t.Fatalf("%x re-encodes differently", b)
		}
	})
}

// Any bytes given to the init's config parser are refused or read without fault; a config Go
// encodes is always read whole.
func FuzzParseConfig(f *testing.F) {
	good, _ := func() ([]byte, error) { c := sampleConfig(); return c.Encode() }()
	f.Add(good, "sh", "A=b", "xvdb")
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, b []byte, arg, env, device string) {
		parseConfigC(b)
		parseArgsC(b)
		c := sampleConfig()
		c.Args = append(c.Args, arg)
		c.Env = append(c.Env, env)
		c.Devices = append(c.Devices, device)
		enc, err := c.Encode()
		if err != nil {
			return
		}
		if got := parseConfigC(enc); got.Err != "" {
			t.Fatalf("the init refused a config Go encoded: %s", got.Err)
		}
	})
}
