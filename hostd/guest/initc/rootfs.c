// The guest's root, built by the init as host root in a mount namespace the host's user namespace
// owns: nothing in it is locked to the guest, and guest root, whose capabilities stop at its own
// user namespace, can neither mount nor unmount anything in it. The init follows the daemon's
// plan step by step and reports the first failure; what to show and hide is the daemon's business.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static const char *op_name(uint32_t code) {
	static const char *names[] = {"?", "mount", "setattr", "mkdir", "file", "symlink", "chdir", "pivot", "netns"};
	return code < sizeof names / sizeof names[0] ? names[code] : "?";
}

static int run_op(const struct op *o) {
	switch (o->code) {
	case OP_MOUNT:
		return mount(o->src, o->dst, o->fstype, o->arg, o->data);
	case OP_SETATTR: {
		struct mount_attr attr = {.attr_set = o->arg};
		return (int)syscall(SYS_mount_setattr, AT_FDCWD, o->dst, AT_RECURSIVE, &attr, sizeof attr);
	}
	case OP_MKDIR:
		return mkdir(o->dst, o->arg);
	case OP_FILE: {
		int fd = open(o->dst, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, o->arg);
		return fd < 0 ? -1 : close(fd);
	}
	case OP_SYMLINK:
		return symlink(o->src, o->dst);
	case OP_CHDIR:
		return chdir(o->dst);
	case OP_PIVOT:
		// pivot_root(".", ".") stacks the old root on the new one; detaching it leaves the new.
		if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0)
			return -1;
		return chdir("/");
	}
	errno = EINVAL;
	return -1;
}

const char *run_plan(const struct config *cfg, const char *(*join_netns)(char *err, size_t errlen), char *err,
		     size_t errlen) {
	for (int i = 0; i < cfg->nops; i++) {
		const struct op *o = &cfg->ops[i];
		if (o->code == OP_NETNS) {
			const char *e = join_netns(err, errlen);
			if (e != NULL)
				return e;
			continue;
		}
		if (run_op(o) < 0 && !((o->opt & OP_OPTIONAL) && errno == ENOENT)) {
			snprintf(err, errlen, "building the guest's root: %s %s: %s", op_name(o->code), o->dst ? o->dst : ".",
				 strerror(errno));
			return err;
		}
	}
	return NULL;
}

// The devices the daemon may detach: those the plan put in /dev, and those attached since.
static char devices[WIRE_MAX_DEVICES][WIRE_DEVICE_NAME_MAX + 1];

static int device_slot(const char *name) {
	for (int i = 0; i < WIRE_MAX_DEVICES; i++)
		if (strcmp(devices[i], name) == 0)
			return i;
	return -1;
}

const char *remember_device(const char *name) {
	int i = device_slot("");
	if (i < 0)
		return "too many devices";
	strcpy(devices[i], name);
	return NULL;
}

// attach_device moves the detached mount treefd (a clone of the host's device node, made by the
// daemon) onto a new empty file /dev/NAME. /dev is a tmpfs of host root's that the guest cannot
// write, so nothing the guest made is on the way.
const char *attach_device(int devfd, const char *name, int treefd) {
	if (!valid_device_name(name))
		return "bad device name";
	if (device_slot(name) >= 0)
		return "the device exists";
	int fd = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return strerror(errno);
	close(fd);
	if (syscall(SYS_move_mount, treefd, "", devfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		const char *e = strerror(errno);
		unlinkat(devfd, name, 0);
		return e;
	}
	return remember_device(name);
}

const char *detach_device(int devfd, const char *name) {
	int i = valid_device_name(name) ? device_slot(name) : -1;
	if (i < 0)
		return "no such device";
	char path[sizeof "/dev/" + WIRE_DEVICE_NAME_MAX];
	snprintf(path, sizeof path, "/dev/%s", name);
	if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
		return strerror(errno);
	if (unlinkat(devfd, name, 0) < 0 && errno != ENOENT)
		return strerror(errno);
	devices[i][0] = '\0';
	return NULL;
}
