// Entering the guest: the workload, forked by the init before the guest's root exists, makes the
// guest's user, network, UTS and IPC namespaces, drops to the guest's capabilities, no_new_privs
// and seccomp filter, and waits for the root; each exec'd command joins the namespaces and drops
// the same way. Both then exec. Until that
// exec they are non-dumpable children of a host-root process, whose memory belongs to the host's
// user namespace: guest root cannot ptrace them, read their memory or take their fds.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

extern char **environ;

// fail tells the init what went wrong ('e' and a message) and ends the child.
static void fail(int report, const char *what) __attribute__((noreturn));
static void fail(int report, const char *what) {
	char msg[256];
	int n = snprintf(msg, sizeof msg, "e%s: %s", what, strerror(errno));
	(void)!write(report, msg, n < 0 ? 1 : (size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n);
	_exit(1);
}

// step exchanges one byte with the init: the workload says where it is, the init says go on.
static void tell(int sync, char c) {
	if (write(sync, &c, 1) != 1)
		_exit(1);
}

static void await(int sync, char want) {
	char c;
	if (read(sync, &c, 1) != 1 || c != want)
		_exit(1); // the init is gone, or failed: it reports why itself
}

static int loopback_up(void) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return r;
}

// leave_host drops the host's supplementary groups (host root's group 0 would otherwise follow
// the process into the guest and open root-group files) and resets the OOM score to 0 while
// still privileged, which also makes 0 the floor the guest cannot go below.
static void leave_host(int report) {
	if (setgroups(0, NULL) < 0)
		fail(report, "dropping supplementary groups");
	if (write_file("/proc/self/oom_score_adj", "0") < 0)
		fail(report, "resetting oom_score_adj");
}

// become_guest_root takes uid and gid 0 of the user namespace just made or joined.
static void become_guest_root(int report) {
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		fail(report, "becoming the guest's root");
}

// restrict keeps only the guest's capabilities (bounding, permitted, effective, inheritable; no
// ambient) and sets no_new_privs, so that no exec in the guest gains anything.
static const char *restrict_caps(uint64_t keep) {
	for (int cap = 0; cap < 64; cap++)
		if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return "dropping capabilities";
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		uint32_t v = (uint32_t)(keep >> (32 * i));
		data[i].effective = data[i].permitted = data[i].inheritable = v;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return "setting capabilities";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return "setting no_new_privs";
	return NULL;
}

// lock_down makes the caller guest root's as the guest may have it: its capabilities,
// no_new_privs, and the seccomp filter. What it does after that the filter must allow.
static void lock_down(const struct guest_entry *e, int report) {
	const char *err = restrict_caps(e->caps);
	if (err != NULL)
		fail(report, err);
	if (e->filter_len > 0) {
		struct sock_filter *f = malloc(e->filter_len * sizeof *f); // the message's copy is unaligned
		if (f == NULL)
			fail(report, "seccomp filter");
		memcpy(f, e->filter, e->filter_len * sizeof *f);
		struct sock_fprog prog = {.len = (unsigned short)e->filter_len, .filter = f};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			fail(report, "installing the seccomp filter");
	}
}

// start is the end of every way into the guest: its own session, /, default signal handling,
// no fd but stdin, stdout and stderr across the exec, and the exec. A failed exec is reported as
// 'x' and the errno, for the init to word.
static void start(char **argv, char **envp, int report) __attribute__((noreturn));
static void start(char **argv, char **envp, int report) {
	if (setsid() < 0)
		fail(report, "new session");
	if (chdir("/") < 0)
		fail(report, "chdir /");
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 4096; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	environ = envp;
	execvp(argv[0], argv);
	char msg[1 + sizeof(int)];
	msg[0] = 'x';
	memcpy(msg + 1, &errno, sizeof(int));
	(void)!write(report, msg, sizeof msg);
	_exit(127);
}

void run_workload(const struct config *cfg, int sync) {
	leave_host(sync);
	if (unshare(CLONE_NEWUSER) < 0)
		fail(sync, "user namespace");
	tell(sync, 'u');
	await(sync, 'm'); // the init has written our uid and gid maps
	become_guest_root(sync);
	// Owned by the guest's user namespace: guest root administers its own network, hostname
	// and IPC, and nothing else.
	if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
		fail(sync, "network, UTS and IPC namespaces");
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		fail(sync, "hostname");
	if (loopback_up() < 0)
		fail(sync, "loopback");
	// The datapath has no IPv6 yet; "all" is this network namespace's, and sets "default" too.
	if (write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1") < 0 && errno != ENOENT)
		fail(sync, "disabling IPv6");
	tell(sync, 'n');
	// Locked down while the init finishes the root: nothing here needs more from now on.
	struct guest_entry e = {cfg->caps, cfg->filter, cfg->filter_len, (char **)cfg->envp};
	lock_down(&e, sync);
	await(sync, 'g'); // the guest's root is built and the network plumbed
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		fail(sync, "/dev/null");
	if (dup2(devnull, 0) < 0 || dup2(FD_CONSOLE_W, 1) < 0 || dup2(FD_CONSOLE_W, 2) < 0)
		fail(sync, "stdio");
	start((char **)cfg->argv, (char **)cfg->envp, sync);
}

void run_command(const struct guest_ns *ns, const struct guest_entry *e, const int stdio[3], char **argv, int report) {
	leave_host(report);
	// The user namespace first: joining the others needs CAP_SYS_ADMIN in their owner, which
	// the guest's user namespace gives.
	if (setns(ns->user, CLONE_NEWUSER) < 0 || setns(ns->net, CLONE_NEWNET) < 0 || setns(ns->uts, CLONE_NEWUTS) < 0 ||
	    setns(ns->ipc, CLONE_NEWIPC) < 0)
		fail(report, "joining the guest's namespaces");
	become_guest_root(report);
	lock_down(e, report);
	for (int i = 0; i < 3; i++)
		if (dup2(stdio[i], i) < 0)
			fail(report, "stdio");
	start(argv, e->envp, report);
}
