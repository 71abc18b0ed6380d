// Declarations shared by the init's C files.
#ifndef HOSTD_INIT_H
#define HOSTD_INIT_H

#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

// The fds the daemon passes the init (after stdin, stdout and stderr, all /dev/null).
enum {
	FD_SYNC = 3,      // SOCK_SEQPACKET socketpair with the launching daemon
	FD_CONTROL = 4,   // listening SOCK_SEQPACKET socket: exec, watch, devices
	FD_CONSOLE_R = 5, // the workload's output pipe: kept only to hand to a restarted daemon
	FD_CONSOLE_W = 6, // its write end: the workload's stdout and stderr
};

// The guest's namespaces the workload made, kept open by the init for exec'd commands.
struct guest_ns {
	int user, net, uts, ipc;
};

// What a process entering the guest needs once it runs as guest root: its capabilities, its
// seccomp filter, its environment.
struct guest_entry {
	uint64_t caps;
	const void *filter;
	size_t filter_len;
	char **envp;
};

// enter.c: the workload (forked before the guest's root exists) and exec'd commands.
void run_workload(const struct config *cfg, int sync) __attribute__((noreturn));
void run_command(const struct guest_ns *ns, const struct guest_entry *e, const int stdio[3], char **argv,
		 int errpipe) __attribute__((noreturn));

// rootfs.c: the guest's root, and devices in its /dev.
// run_plan follows the plan; at OP_NETNS it calls join_netns, which returns NULL or what failed.
const char *run_plan(const struct config *cfg, const char *(*join_netns)(char *err, size_t errlen), char *err,
		     size_t errlen);
const char *remember_device(const char *name);
const char *attach_device(int devfd, const char *name, int treefd);
const char *detach_device(int devfd, const char *name);

// Small helpers (init.c).
int write_file(const char *path, const char *data);
int send_msg(int fd, uint32_t type, const void *payload, size_t len, int attach);
int send_u32(int fd, uint32_t type, uint32_t v);

#endif
