// Package seccomp is the syscall profile of every process in an instance: an allowlist at least
// as strict as Docker's default profile for a container with Docker's default capabilities
// (moby's profiles/seccomp/default.json), assembled into the classic BPF program the instance's
// init installs in each process it starts. The daemon assembles it; the init only loads the bytes.
//
// What it refuses and why, in short: everything not listed returns EPERM. That keeps guests away
// from kernel interfaces that are not namespaced or that charge no cgroup (keyrings, io_uring,
// bpf, perf events, userfaultfd, modules, kexec, swap, accounting, the clock), from making or
// joining namespaces (unshare, setns, clone and clone3 with namespace flags), from the mount
// table, and from file handles that bypass path permissions (name_to_handle_at,
// open_by_handle_at).
package seccomp

import "golang.org/x/sys/unix"

// allowed are the syscalls a guest may make with any arguments: Docker's default list, less
// io_uring (its submissions bypass this very filter, and Docker refuses it too since 25.0) and
// name_to_handle_at (a handle names a file independently of the paths the guest may walk). Names
// the build's architecture does not have (the 32-bit ones, say) are skipped.
var allowed = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
	"chdir", "chmod", "chown", "clock_adjtime", "clock_getres", "clock_gettime",
	"clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
	"fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
	"fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
	"fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "futimesat", "getcpu",
	"getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups",
	"getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
	"getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage",
	"getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
	"getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
	"ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link",
	"linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr",
	"lstat", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
	"mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
	"munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
	"pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
	"pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
	"removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
	"rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity",
	"sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
	"semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid",
	"setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority", "setregid",
	"setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid",
	"setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
	"socketpair", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
	"timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname",
	"unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4",
	"waitid", "write", "writev",
	// Docker allows these from kernel 4.8, whose ptrace checks the caller's seccomp filter too:
	// guest processes may debug one another, never anything outside (the init is host root).
	"process_vm_readv", "process_vm_writev", "ptrace",
	// Allowed by Docker's default capabilities: CAP_SYS_CHROOT.
	"chroot",
	// The x86 ones Docker allows on amd64.
	"arch_prctl", "modify_ldt",
}

// condition is a test of one syscall argument.
type condition struct {
	Arg uint32
	// Exactly one of the tests: the argument equals Equal, differs from NotEqual, or has none of
	// the bits of NoBitsOf.
	Equal, NotEqual, NoBitsOf *uint64
}

// rule allows a syscall when all its conditions hold.
type rule struct {
	Name string
	When []condition
}

// conditional are syscalls allowed only with certain arguments, as Docker allows them: each
// entry is one way to pass.
var conditional = []rule{
	// No new namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET); threads
	// and plain forks pass.
	{"clone", []condition{{Arg: 0, NoBitsOf: ptr(namespaceFlags)}}},
	// Docker's values: PER_LINUX, PER_LINUX32, each with UNAME26, and the query (0xffffffff).
	// Not ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and the like, which weaken the guest's own
	// defences against exploits.
	{"personality", []condition{{Arg: 0, Equal: ptr(0)}}},
	{"personality", []condition{{Arg: 0, Equal: ptr(8)}}},
	{"personality", []condition{{Arg: 0, Equal: ptr(0x20000)}}},
	{"personality", []condition{{Arg: 0, Equal: ptr(0x20008)}}},
	{"personality", []condition{{Arg: 0, Equal: ptr(0xffffffff)}}},
	// Any socket but AF_VSOCK, which reaches the hypervisor's host, not a namespace.
	{"socket", []condition{{Arg: 0, NotEqual: ptr(unix.AF_VSOCK)}}},
}

const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// enosys are refused with ENOSYS rather than EPERM, so that a libc falls back to an older call
// the filter can inspect: clone3 passes its flags in memory, out of a filter's reach, and glibc
// falls back to clone, whose flags are tested above.
var enosys = []string{"clone3"}

// newestKnown is the newest syscall this profile has decided on (Linux 6.1's). Newer syscalls
// (numbered after it) get ENOSYS, as if the kernel were older than them, so that a libc that
// probes for one falls back to the older call instead of failing with EPERM. runc does the same.
const newestKnown = "set_mempolicy_home_node"

func ptr(v uint64) *uint64 { return &v }
