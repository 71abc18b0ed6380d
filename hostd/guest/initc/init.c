// An instance's PID 1. The daemon starts its own binary with "instance-init ID" in new mount and
// PID namespaces (both owned by the host's user namespace), inside the instance's cgroup; this
// constructor runs before the Go runtime starts and never returns to it. The init:
//
//   - stays host root, in no namespace the guest owns, non-dumpable, with oom_score_adj -1000:
//     guest root cannot ptrace it, read its memory, take its fds or signal it;
//   - forks the workload, which makes the guest's user namespace (the init writes its id maps)
//     and, as guest root, its network, UTS and IPC namespaces;
//   - builds the guest's root from the daemon's plan and pivots into it;
//   - lets the workload exec, and from then on reaps, serves exec requests by forking commands
//     that join the guest's namespaces, moves devices in and out of /dev for the daemon, and
//     when the workload ends kills what is left and hands its exit status to the daemon.
//
// It holds no host file: the workload's output is a pipe the daemon reads, and the status goes
// to the daemon over a socket. Policy (what the root shows, the capabilities, the seccomp
// filter, the id maps) is the daemon's; this code executes it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define MAX_CONNS 64
#define MAX_REQUEST (WIRE_HEADER + 64 * 1024)

enum conn_kind { C_FREE, C_NEW, C_EXEC, C_WATCH };

// A connection on the control socket (or the launching daemon's socketpair, the first watch).
// An exec connection whose client has gone keeps its slot, with no fd, until its command is
// reaped.
struct conn {
	enum conn_kind kind;
	int fd;
	pid_t pid;
};

static struct {
	pid_t workload;
	int stopped, status;
	int devfd;
	struct guest_ns ns;
	struct guest_entry entry;
	struct conn conns[MAX_CONNS];
} st;

static struct config cfg;

int write_file(const char *path, const char *data) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = strlen(data);
	ssize_t w = write(fd, data, n);
	int e = errno;
	close(fd);
	errno = e;
	return w == (ssize_t)n ? 0 : -1;
}

int send_msg(int fd, uint32_t type, const void *payload, size_t len, int attach) {
	uint32_t hdr[2] = {type, (uint32_t)len};
	struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};
	if (attach >= 0) {
		memset(&cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf.b;
		mh.msg_controllen = sizeof cbuf.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &attach, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int send_u32(int fd, uint32_t type, uint32_t v) { return send_msg(fd, type, &v, sizeof v, -1); }

static void send_error(int fd, const char *msg) { (void)send_msg(fd, MSG_ERROR, msg, strlen(msg), -1); }

// recv_msg receives one message and up to maxfds fds (close-on-exec). It returns the message's
// size, 0 at the end of the stream, or -1; a message or fd list that did not fit is an error
// (EMSGSIZE), with the fds that came closed.
static ssize_t recv_msg(int fd, char *buf, size_t size, int *fds, int maxfds, int *nfds, int flags) {
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cbuf;
	struct iovec iov = {buf, size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof cbuf.b};
	*nfds = 0;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (*nfds < maxfds)
				fds[(*nfds)++] = got;
			else
				close(got);
		}
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || *nfds > maxfds) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

static void close_all(int *fds, int n) {
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

// failure words a failed call for the daemon.
static const char *failure(char *err, size_t errlen, const char *what) {
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return err;
}

// host_pid is the host's pid of our child pid: /proc here is still the host's, and a pidfd's
// fdinfo gives the pid as the procfs reading it sees it.
static pid_t host_pid(pid_t pid) {
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -1;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	close(pfd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strstr(buf, "\nPid:\t");
	return p == NULL ? -1 : (pid_t)strtol(p + 6, NULL, 10);
}

static int open_ns(pid_t hostpid, const char *name) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/%s", hostpid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

// workload_says reads the workload's next word: want, or 'e' and what failed.
static const char *workload_says(int sync, char want, char *err, size_t errlen) {
	char msg[256];
	ssize_t n = read(sync, msg, sizeof msg - 1);
	if (n == 1 && msg[0] == want)
		return NULL;
	if (n > 1 && msg[0] == 'e') {
		msg[n] = '\0';
		snprintf(err, errlen, "%s", msg + 1);
		return err;
	}
	return "the workload's setup ended unexpectedly";
}

// exec_failure words a child's report of a failed exec ('x' and the errno) or setup ('e' and a
// message).
static const char *exec_failure(const char *msg, ssize_t n, const char *cmd, char *err, size_t errlen) {
	int e;
	if (n == 1 + (ssize_t)sizeof e && msg[0] == 'x') {
		memcpy(&e, msg + 1, sizeof e);
		if (e == ENOENT)
			snprintf(err, errlen, "%s: command not found in the instance", cmd);
		else
			snprintf(err, errlen, "starting %s: %s", cmd, strerror(e));
	} else if (n > 1 && msg[0] == 'e')
		snprintf(err, errlen, "starting %s: %.*s", cmd, (int)(n - 1), msg + 1);
	else
		snprintf(err, errlen, "starting %s failed", cmd);
	return err;
}

// The workload's socket and host pid, while the root is built.
static int launch_sync = -1;
static pid_t launch_hostpid;

// join_netns waits for the workload's namespaces, keeps them for exec, tells the daemon (which
// then plumbs the network, if it asked to wait), and joins the network namespace: the sysfs the
// plan mounts next shows the guest's interfaces.
static const char *join_netns(char *err, size_t errlen) {
	const char *perr = workload_says(launch_sync, 'n', err, errlen);
	if (perr != NULL)
		return perr;
	st.ns = (struct guest_ns){open_ns(launch_hostpid, "user"), open_ns(launch_hostpid, "net"),
				  open_ns(launch_hostpid, "uts"), open_ns(launch_hostpid, "ipc")};
	if (st.ns.user < 0 || st.ns.net < 0 || st.ns.uts < 0 || st.ns.ipc < 0)
		return failure(err, errlen, "opening the guest's namespaces");
	if (cfg.waitgo && send_u32(FD_SYNC, MSG_NETNS, (uint32_t)launch_hostpid) < 0)
		return failure(err, errlen, "reporting to the daemon");
	if (setns(st.ns.net, CLONE_NEWNET) < 0)
		return failure(err, errlen, "joining the guest's network namespace");
	return NULL;
}

static const char *launch(char *err, size_t errlen) {
	// The config, parsed in place: its strings stay in this mapping, of which only the pages the
	// message filled are ever resident.
	char *buf = mmap(NULL, WIRE_MAX_MESSAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return failure(err, errlen, "config buffer");
	int nfds;
	ssize_t n = recv_msg(FD_SYNC, buf, WIRE_MAX_MESSAGE, NULL, 0, &nfds, 0);
	if (n <= 0)
		return failure(err, errlen, "reading the config");
	uint32_t type;
	char *payload;
	size_t len;
	const char *perr = parse_header(buf, (size_t)n, &type, &payload, &len);
	if (perr == NULL && type != MSG_CONFIG)
		perr = "expected a config";
	if (perr == NULL)
		perr = parse_config(payload, len, &cfg);
	if (perr != NULL)
		return perr;
	st.entry = (struct guest_entry){cfg.caps, cfg.filter, cfg.filter_len, cfg.envp};

	// Into the instance's cgroups (v1; on v2 it was born there), before anything is forked.
	for (int i = 0; i < cfg.ncgroups; i++)
		if (write_file(cfg.cgroups[i], "0") < 0)
			return failure(err, errlen, "joining the instance's cgroups");

	// The init itself: no host group, never the OOM killer's choice, its cgroup namespace rooted
	// at the instance's group. -1000 needs CAP_SYS_RESOURCE, which
	// some sandboxes withhold even from root: there the init keeps the daemon's score, and its
	// size (about 1 MiB against any guest process's) is what keeps it from being chosen.
	if (setgroups(0, NULL) < 0)
		return failure(err, errlen, "dropping supplementary groups");
	if (write_file("/proc/self/oom_score_adj", "-1000") < 0 && errno != EACCES)
		return failure(err, errlen, "oom_score_adj");
	if (unshare(CLONE_NEWCGROUP) < 0)
		return failure(err, errlen, "cgroup namespace");

	int ws[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ws) < 0)
		return failure(err, errlen, "socketpair");
	st.workload = fork();
	if (st.workload < 0)
		return failure(err, errlen, "fork");
	if (st.workload == 0) {
		close(ws[0]);
		run_workload(&cfg, ws[1]);
	}
	close(ws[1]);
	close(FD_CONSOLE_W); // the workload's alone from here

	if ((perr = workload_says(ws[0], 'u', err, errlen)) != NULL)
		return perr;
	pid_t hostpid = host_pid(st.workload);
	char path[64];
	const char *maps[][2] = {{"setgroups", "deny"}, {"uid_map", cfg.uidmap}, {"gid_map", cfg.gidmap}};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/proc/%d/%s", hostpid, maps[i][0]);
		if (hostpid <= 0 || write_file(path, maps[i][1]) < 0)
			return failure(err, errlen, "writing the guest's id maps");
	}
	if (write(ws[0], "m", 1) != 1)
		return "the workload is gone";
	// The root is built while the workload makes its namespaces; the plan joins the network
	// namespace (join_netns) where it needs it, before sysfs.
	launch_sync = ws[0];
	launch_hostpid = hostpid;
	st.ns = (struct guest_ns){-1, -1, -1, -1};
	if ((perr = run_plan(&cfg, join_netns, err, errlen)) != NULL)
		return perr;
	if (st.ns.net < 0 && (perr = join_netns(err, errlen)) != NULL)
		return perr;
	st.devfd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st.devfd < 0)
		return failure(err, errlen, "/dev");
	for (int i = 0; i < cfg.ndevices; i++)
		if ((perr = remember_device(cfg.devices[i])) != NULL)
			return perr;
	if (cfg.waitgo) {
		char go[WIRE_HEADER]; // not in buf: the config's strings are there
		n = recv_msg(FD_SYNC, go, sizeof go, NULL, 0, &nfds, 0);
		if (n != WIRE_HEADER || parse_header(go, (size_t)n, &type, &payload, &len) != NULL || type != MSG_GO)
			return "the daemon did not say go";
	}
	if (write(ws[0], "g", 1) != 1)
		return "the workload is gone";
	char msg[256];
	n = read(ws[0], msg, sizeof msg); // nothing: the exec closed the workload's end
	if (n != 0)
		return exec_failure(msg, n, cfg.argv[0], err, errlen);
	close(ws[0]);
	if (send_u32(FD_SYNC, MSG_RUNNING, (uint32_t)hostpid) < 0)
		return failure(err, errlen, "reporting to the daemon");
	return NULL;
}

static struct conn *add_conn(int fd, enum conn_kind kind) {
	for (int i = 0; i < MAX_CONNS; i++)
		if (st.conns[i].kind == C_FREE) {
			st.conns[i] = (struct conn){kind, fd, 0};
			return &st.conns[i];
		}
	close(fd);
	return NULL;
}

static void drop_conn(struct conn *c) {
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->pid == 0)
		c->kind = C_FREE;
}

static struct conn *watcher(void) {
	for (int i = 0; i < MAX_CONNS; i++)
		if (st.conns[i].kind == C_WATCH)
			return &st.conns[i];
	return NULL;
}

static void send_status(struct conn *w) {
	int32_t code = st.status;
	if (send_msg(w->fd, MSG_STATUS, &code, sizeof code, -1) < 0)
		drop_conn(w);
}

// stop ends the instance once its workload has: everything else in the PID namespace is killed
// and reaped, exec clients see their connections end, and the daemon gets the status. The init
// stays, holding only the status, until a daemon has recorded it.
static void stop(int code) {
	st.stopped = 1;
	st.status = code;
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	for (int i = 0; i < MAX_CONNS; i++)
		if (st.conns[i].kind == C_EXEC) {
			st.conns[i].pid = 0;
			drop_conn(&st.conns[i]);
		}
	struct conn *w = watcher();
	if (w != NULL)
		send_status(w);
}

static int exit_code(int ws) { return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws); }

static void reap(void) {
	int ws;
	pid_t pid;
	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		if (pid == st.workload) {
			stop(exit_code(ws));
			return;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &st.conns[i];
			if (c->kind == C_EXEC && c->pid == pid) {
				int32_t code = exit_code(ws);
				if (c->fd >= 0)
					(void)send_msg(c->fd, MSG_EXIT, &code, sizeof code, -1);
				c->pid = 0;
				drop_conn(c);
			}
		}
		// Anything else was an orphan the guest left to PID 1.
	}
}

static void handle_exec(struct conn *c, char *payload, size_t len, int *fds, int nfds) {
	char *argv[WIRE_MAX_ARGS + 1];
	char err[512];
	const char *e = NULL;
	if (st.stopped)
		e = "the instance has stopped";
	else if (nfds != 3)
		e = "an exec request carries a command and exactly three file descriptors";
	else
		e = parse_args(payload, len, argv);
	int ep[2] = {-1, -1};
	if (e == NULL && pipe2(ep, O_CLOEXEC) < 0)
		e = failure(err, sizeof err, "pipe");
	pid_t pid = e == NULL ? fork() : -1;
	if (e == NULL && pid < 0)
		e = failure(err, sizeof err, "fork");
	if (pid == 0) {
		close(ep[0]);
		run_command(&st.ns, &st.entry, fds, argv, ep[1]);
	}
	close_all(fds, nfds);
	if (ep[1] >= 0)
		close(ep[1]);
	if (e == NULL) {
		char msg[256];
		ssize_t n;
		while ((n = read(ep[0], msg, sizeof msg)) < 0 && errno == EINTR)
			;
		if (n != 0) { // the command never ran: reap it here, not in the loop
			e = exec_failure(msg, n, argv[0], err, sizeof err);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	if (ep[0] >= 0)
		close(ep[0]);
	if (e != NULL) {
		send_error(c->fd, e);
		drop_conn(c);
		return;
	}
	c->kind = C_EXEC;
	c->pid = pid;
	if (send_u32(c->fd, MSG_PID, (uint32_t)pid) < 0)
		drop_conn(c); // the client is gone: its command is killed on the way out
	if (c->fd < 0)
		kill(pid, SIGKILL);
}

// watch makes c the daemon's watch connection (there is one; a new daemon's replaces the old
// one's) and hands it the workload's output, and the status if the workload has ended.
static void watch(struct conn *c) {
	struct conn *old = watcher();
	if (old != NULL)
		drop_conn(old);
	c->kind = C_WATCH;
	if (send_msg(c->fd, MSG_CONSOLE, NULL, 0, FD_CONSOLE_R) < 0)
		drop_conn(c);
	else if (st.stopped)
		send_status(c);
}

// device answers one ATTACH or DETACH, and ends the connection.
static void device(struct conn *c, uint32_t type, char *name, size_t len, int *fds, int nfds) {
	const char *e;
	if (len == 0 || name[len - 1] != '\0' || strlen(name) != len - 1 || nfds != (type == MSG_ATTACH))
		e = "a device request carries a name (and, to attach, a mount)";
	else if (st.stopped)
		e = "the instance has stopped";
	else if (type == MSG_ATTACH)
		e = attach_device(st.devfd, name, fds[0]);
	else
		e = detach_device(st.devfd, name);
	close_all(fds, nfds);
	if (e == NULL)
		(void)send_msg(c->fd, MSG_OK, NULL, 0, -1);
	else
		send_error(c->fd, e);
	drop_conn(c);
}

static void handle(struct conn *c) {
	static char buf[MAX_REQUEST];
	int fds[4], nfds;
	ssize_t n = recv_msg(c->fd, buf, sizeof buf, fds, 4, &nfds, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	uint32_t type = 0;
	char *payload = NULL;
	size_t len = 0;
	const char *e = n > 0 ? parse_header(buf, (size_t)n, &type, &payload, &len) : n < 0 ? "message too large or malformed" : NULL;
	if (n > 0 && e == NULL) {
		if (c->kind == C_NEW && type == MSG_EXEC) {
			handle_exec(c, payload, len, fds, nfds);
			return;
		}
		if (c->kind == C_NEW && (type == MSG_ATTACH || type == MSG_DETACH)) {
			device(c, type, payload, len, fds, nfds);
			return;
		}
		if (c->kind == C_NEW && type == MSG_WATCH && len == 0 && nfds == 0) {
			watch(c);
			return;
		}
		if (c->kind == C_EXEC && type == MSG_SIGNAL && len == sizeof(uint32_t) && nfds == 0) {
			uint32_t sig;
			memcpy(&sig, payload, sizeof sig);
			if (sig >= 1 && sig <= 64 && c->pid > 0)
				kill(c->pid, (int)sig);
			return;
		}
		if (c->kind == C_WATCH && type == MSG_ACK && st.stopped && len == 0 && nfds == 0)
			_exit(0); // the daemon has recorded the status
		e = "unexpected message";
	}
	// The end of the stream, or anything unexpected: either way this connection is done, and a
	// command whose client has gone is killed.
	if (e != NULL)
		send_error(c->fd, e);
	close_all(fds, nfds);
	if (c->kind == C_EXEC && c->pid > 0)
		kill(c->pid, SIGKILL);
	drop_conn(c);
}

static void serve(void) __attribute__((noreturn));
static void serve(void) {
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	add_conn(FD_SYNC, C_WATCH); // the launching daemon's socket is the first watch
	reap();                     // the workload may be gone already
	for (;;) {
		struct pollfd pfd[2 + MAX_CONNS];
		struct conn *of[2 + MAX_CONNS];
		int n = 0;
		pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
		pfd[n++] = (struct pollfd){FD_CONTROL, POLLIN, 0};
		for (int i = 0; i < MAX_CONNS; i++)
			if (st.conns[i].kind != C_FREE && st.conns[i].fd >= 0) {
				of[n] = &st.conns[i];
				pfd[n++] = (struct pollfd){st.conns[i].fd, POLLIN, 0};
			}
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
			reap();
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(FD_CONTROL, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				add_conn(fd, C_NEW);
		}
		for (int i = 2; i < n; i++)
			if (pfd[i].revents && of[i]->fd == pfd[i].fd)
				handle(of[i]);
	}
}

static void init_main(void) __attribute__((noreturn));
static void init_main(void) {
	// First, before anything is forked: children inherit it until they exec.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (int fd = FD_SYNC; fd <= FD_CONSOLE_W; fd++)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		_exit(1);
	char err[512];
	const char *e = launch(err, sizeof err);
	if (e != NULL) {
		send_error(FD_SYNC, e);
		if (st.workload > 0)
			kill(st.workload, SIGKILL);
		_exit(1);
	}
	serve();
}

// glibc passes constructors the program's arguments, in static binaries too.
__attribute__((constructor)) static void instance_init(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc >= 2 && strcmp(argv[1], "instance-init") == 0)
		init_main();
}
