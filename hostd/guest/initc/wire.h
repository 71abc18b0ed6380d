// The init's wire protocol, shared by the C init (which parses) and the Go daemon and client
// (wire.go, which read these numbers through cgo, so there is one definition).
//
// Every SOCK_SEQPACKET message is one frame: a header of two native-endian uint32s (type,
// payload length) and exactly that many payload bytes. Strings in payloads end with a NUL.
#ifndef HOSTD_WIRE_H
#define HOSTD_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
	// Launch, on the sync socketpair. The daemon sends CONFIG; the init answers NETNS (the
	// workload's host pid, once its network namespace exists, if the config asked to wait for
	// GO), waits for GO, then answers RUNNING (the workload's host pid) or ERROR. The socket
	// then serves as the daemon's watch connection.
	MSG_CONFIG = 1,
	MSG_GO = 2,
	MSG_NETNS = 3,
	MSG_RUNNING = 4,
	MSG_ERROR = 5,
	// Watch, from a (restarted) daemon on the control socket: the init answers CONSOLE with
	// the read end of the workload's output pipe attached, and STATUS (int32 exit code) once the
	// workload has ended; the daemon records it and sends ACK, and the init exits.
	MSG_WATCH = 6,
	MSG_CONSOLE = 7,
	MSG_STATUS = 8,
	MSG_ACK = 9,
	// Exec, from a client on the control socket: EXEC (the arguments, each ending with a NUL,
	// with stdin, stdout and stderr attached) is answered PID (uint32) or ERROR, later EXIT
	// (int32). SIGNAL (uint32) is passed on to the command; the client closing the connection
	// kills it.
	MSG_EXEC = 10,
	MSG_PID = 11,
	MSG_EXIT = 12,
	MSG_SIGNAL = 13,
	// Devices, from the daemon: ATTACH (a device name, with a detached mount of its node
	// attached) and DETACH (a name) are answered OK or ERROR.
	MSG_ATTACH = 14,
	MSG_DETACH = 15,
	MSG_OK = 16,
};

// Fields of CONFIG's payload, each a native-endian uint32 tag, a uint32 length and the value.
enum {
	F_HOSTNAME = 1, // string
	F_ARG = 2,      // string, repeated: the workload's argv
	F_ENV = 3,      // string, repeated: the environment of everything the init starts
	F_UIDMAP = 4,   // string: the workload's user namespace's uid_map
	F_GIDMAP = 5,   // string: its gid_map
	F_SECCOMP = 6,  // struct sock_filter[]: the guest's filter (none: no filter)
	F_CAPS = 7,     // uint64: the guest's capabilities
	F_WAITGO = 8,   // empty: wait for GO before starting the workload
	F_OP = 9,       // repeated: one step of building the guest's root (struct op)
	F_DEVICE = 10,  // string, repeated: a device the plan puts in /dev, detachable later
	F_CGROUP = 11,  // string, repeated: a cgroup v1 tasks file the init moves itself in with
};

// A step of the root's plan: uint32 code, uint32 arg (mount flags, a mount_setattr attribute
// set, or a mode), uint32 opt, then four strings: src, dst, fstype, data (empty for none).
enum {
	OP_MOUNT = 1,   // mount(src, dst, fstype, arg, data)
	OP_SETATTR = 2, // mount_setattr(dst, AT_RECURSIVE, attr_set = arg)
	OP_MKDIR = 3,   // mkdir(dst, arg)
	OP_FILE = 4,    // an empty file dst, mode arg (a bind target)
	OP_SYMLINK = 5, // symlink(src, dst)
	OP_CHDIR = 6,   // chdir(dst)
	OP_PIVOT = 7,   // pivot_root(".", "."), then drop the old root
	OP_NETNS = 8,   // join the guest's network namespace, once the workload has made it
};
#define OP_OPTIONAL 1 // opt: a path that does not exist is no failure

#define WIRE_HEADER 8
#define WIRE_MAX_MESSAGE (256 * 1024)
#define WIRE_MAX_ARGS 1024
#define WIRE_MAX_ENV 64
#define WIRE_MAX_OPS 256
#define WIRE_MAX_DEVICES 32
#define WIRE_MAX_CGROUPS 16
#define WIRE_MAX_FILTER 4096 // BPF_MAXINSNS
#define WIRE_DEVICE_NAME_MAX 15

struct op {
	uint32_t code, arg, opt;
	const char *src, *dst, *fstype, *data; // NULL where the plan gave an empty string
};

struct config {
	const char *hostname, *uidmap, *gidmap;
	char *argv[WIRE_MAX_ARGS + 1];
	char *envp[WIRE_MAX_ENV + 1];
	int argc, envc;
	const void *filter; // unaligned sock_filter entries in the message
	size_t filter_len;  // entries
	uint64_t caps;
	int waitgo;
	struct op ops[WIRE_MAX_OPS];
	int nops;
	const char *devices[WIRE_MAX_DEVICES];
	int ndevices;
	const char *cgroups[WIRE_MAX_CGROUPS];
	int ncgroups;
};

// parse_config reads CONFIG's payload into cfg; strings point into buf. It returns NULL, or what
// is wrong with the message.
const char *parse_config(char *buf, size_t len, struct config *cfg);

// parse_args reads EXEC's payload into argv (NULL-terminated, at most WIRE_MAX_ARGS).
const char *parse_args(char *buf, size_t len, char **argv);

// parse_header checks that msg (n bytes, as received) is one whole frame and returns its type;
// *payload and *len are what follows the header.
const char *parse_header(char *msg, size_t n, uint32_t *type, char **payload, size_t *len);

// valid_device_name: [a-z][a-z0-9]{0,14}, as the daemon also requires.
int valid_device_name(const char *name);

#endif
