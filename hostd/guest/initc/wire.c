// Parsing of the init's messages. Every length is checked against what was received before
// anything is read; every string must end inside its field; anything else is refused whole.
#include <string.h>

#include "wire.h"

static uint32_t u32_at(const char *p) {
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

const char *parse_header(char *msg, size_t n, uint32_t *type, char **payload, size_t *len) {
	if (n < WIRE_HEADER)
		return "message shorter than its header";
	if (u32_at(msg + 4) != n - WIRE_HEADER)
		return "message length does not match its header";
	*type = u32_at(msg);
	*payload = msg + WIRE_HEADER;
	*len = n - WIRE_HEADER;
	return NULL;
}

// is_string tells whether v[0..len) is one NUL-terminated string with no other NUL.
static int is_string(const char *v, size_t len) {
	return len > 0 && v[len - 1] == '\0' && strlen(v) == len - 1;
}

int valid_device_name(const char *name) {
	size_t n = strlen(name);
	if (n == 0 || n > WIRE_DEVICE_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

// parse_op reads one F_OP value: three uint32s and exactly four strings.
static const char *parse_op(char *v, size_t len, struct op *op) {
	if (len < 12)
		return "plan step too short";
	op->code = u32_at(v);
	op->arg = u32_at(v + 4);
	op->opt = u32_at(v + 8);
	if (op->code < OP_MOUNT || op->code > OP_NETNS || op->opt > OP_OPTIONAL)
		return "unknown plan step";
	const char **strs[4] = {&op->src, &op->dst, &op->fstype, &op->data};
	size_t off = 12;
	for (int i = 0; i < 4; i++) {
		char *end = off < len ? memchr(v + off, '\0', len - off) : NULL;
		if (end == NULL)
			return "plan step's strings are not terminated";
		*strs[i] = end == v + off ? NULL : v + off;
		off = (size_t)(end - v) + 1;
	}
	if (off != len)
		return "plan step has trailing bytes";
	if (op->code != OP_PIVOT && op->code != OP_NETNS && op->dst == NULL)
		return "plan step without a target";
	if (op->code == OP_SYMLINK && op->src == NULL)
		return "symlink step without a target";
	return NULL;
}

const char *parse_config(char *buf, size_t len, struct config *cfg) {
	memset(cfg, 0, sizeof *cfg);
	size_t off = 0;
	while (off < len) {
		if (len - off < 8)
			return "truncated field header";
		uint32_t tag = u32_at(buf + off), flen = u32_at(buf + off + 4);
		off += 8;
		if (flen > len - off)
			return "field longer than the message";
		char *v = buf + off;
		off += flen;
		int str = is_string(v, flen);
		switch (tag) {
		case F_HOSTNAME:
		case F_UIDMAP:
		case F_GIDMAP: {
			const char **dst = tag == F_HOSTNAME ? &cfg->hostname : tag == F_UIDMAP ? &cfg->uidmap : &cfg->gidmap;
			if (!str || *dst != NULL)
				return "bad hostname or id map";
			*dst = v;
			break;
		}
		case F_ARG:
			if (!str || cfg->argc >= WIRE_MAX_ARGS)
				return "bad or too many arguments";
			cfg->argv[cfg->argc++] = v;
			break;
		case F_ENV:
			if (!str || cfg->envc >= WIRE_MAX_ENV || strchr(v, '=') == NULL)
				return "bad or too many environment variables";
			cfg->envp[cfg->envc++] = v;
			break;
		case F_SECCOMP:
			if (cfg->filter != NULL || flen == 0 || flen % 8 != 0 || flen / 8 > WIRE_MAX_FILTER)
				return "bad seccomp filter";
			cfg->filter = v;
			cfg->filter_len = flen / 8;
			break;
		case F_CAPS:
			if (flen != 8)
				return "bad capabilities";
			memcpy(&cfg->caps, v, 8);
			break;
		case F_WAITGO:
			if (flen != 0)
				return "bad wait flag";
			cfg->waitgo = 1;
			break;
		case F_OP: {
			if (cfg->nops >= WIRE_MAX_OPS)
				return "too many plan steps";
			const char *err = parse_op(v, flen, &cfg->ops[cfg->nops]);
			if (err != NULL)
				return err;
			cfg->nops++;
			break;
		}
		case F_DEVICE:
			if (!str || cfg->ndevices >= WIRE_MAX_DEVICES || !valid_device_name(v))
				return "bad or too many devices";
			cfg->devices[cfg->ndevices++] = v;
			break;
		case F_CGROUP:
			if (!str || cfg->ncgroups >= WIRE_MAX_CGROUPS || v[0] != '/')
				return "bad or too many cgroups";
			cfg->cgroups[cfg->ncgroups++] = v;
			break;
		default:
			return "unknown config field";
		}
	}
	if (cfg->argc == 0 || cfg->argv[0][0] == '\0' || cfg->hostname == NULL || cfg->uidmap == NULL || cfg->gidmap == NULL)
		return "config lacks a command, a hostname or an id map";
	return NULL;
}

const char *parse_args(char *buf, size_t len, char **argv) {
	if (len == 0 || buf[len - 1] != '\0' || buf[0] == '\0')
		return "a command is required";
	int n = 0;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
		if (n >= WIRE_MAX_ARGS)
			return "too many arguments";
		argv[n++] = buf + off;
	}
	argv[n] = NULL;
	return NULL;
}
