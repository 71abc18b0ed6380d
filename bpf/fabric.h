/*
 * What the datapath knows of the fabric: its interfaces and what it counts of each, where each
 * (VPC, address) lives, its settings, and the drop counters. Shared by the programs (datapath.c) and the firewall
 * (conntrack.h, sg_nacl.h).
 */
#ifndef HOSTD_FABRIC_H
#define HOSTD_FABRIC_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ifaces SEC(".maps");

/* What the datapath counts of each interface, by the same key as ifaces. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct iface_usage);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} usage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct drop_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

/* drop counts a frame dropped on ifindex for reason and returns the verdict that drops it. */
static __always_inline int drop(__u32 ifindex, __u32 reason)
{
	struct drop_key key = {.ifindex = ifindex, .reason = reason};
	__u64 one = 1, *count = bpf_map_lookup_elem(&drops, &key);
	if (count)
		*count += 1; /* per-CPU: no atomics needed */
	else
		bpf_map_update_elem(&drops, &key, &one, BPF_NOEXIST);
	return TC_ACT_SHOT;
}

/* datapath_now is the datapath's clock, in nanoseconds: CLOCK_MONOTONIC_COARSE (a tick's
 * precision is plenty for timeouts of seconds, and it costs no clock read) plus the tests' skew. */
static __always_inline __u64 datapath_now(struct config *cfg)
{
	return bpf_ktime_get_coarse_ns() + (cfg ? cfg->clock_skew : 0);
}

#endif
