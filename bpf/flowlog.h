/*
 * Flow records: what every packet the firewall judged did, aggregated per flow in the datapath,
 * for flow logs, the interfaces' traffic counters and the finding detectors. A record is keyed by
 * the sending and receiving interfaces, the 5-tuple and where the packet ended (delivered, or
 * rejected on the way out or in); its per-CPU counts are packets, bytes (IP length) and the first
 * and last time it was seen. Per-CPU, so a packet of a known flow costs one lookup and no atomics.
 *
 * The records alternate between two generations: the daemon switches config.flow_gen, waits for
 * the packets in flight (an RCU grace period), then reads and removes the old generation's
 * records, which no packet touches any more: no count is lost between read and removal.
 *
 * A generation holds config.flow_limit records at most. A packet that finds no record and no room
 * is counted in flow_skips by its pair of interfaces instead, so the daemon still counts its
 * traffic and writes SKIPDATA for both, rather than losing it silently.
 */
#ifndef HOSTD_FLOWLOG_H
#define HOSTD_FLOWLOG_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"

/* Where a packet the firewall judged ended. */
enum flow_stage {
	FLOW_DELIVERED    = 0, /* both interfaces' rules let it through */
	FLOW_REJECTED_OUT = 1, /* the sender's ACL or groups refused it: the receiver never saw it */
	FLOW_REJECTED_IN  = 2, /* the receiver's ACL or groups refused it */
};

enum { FLOW_RECORDS_MAX = 1 << 16 }; /* per generation, both together at most */

struct flow_record_key {
	__u32 sender;   /* host-end ifindex of the sending interface */
	__u32 receiver; /* and of the receiving one */
	__be32 src, dst;
	__be16 sport, dport; /* 0 for protocols without ports, and for later fragments */
	__u8 proto;
	__u8 stage;     /* enum flow_stage */
	__u8 gen;
	__u8 pad;
};

struct flow_counts {
	__u64 packets;
	__u64 bytes;
	__u64 first;    /* bpf_ktime_get_coarse_ns of the first packet on this CPU */
	__u64 last;     /* and of the last */
};

struct flow_skip_key {
	__u32 sender;
	__u32 receiver;
	__u8 stage;
	__u8 gen;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FLOW_RECORDS_MAX);
	__type(key, struct flow_record_key);
	__type(value, struct flow_counts);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_records SEC(".maps");

/* Records in flow_records, by generation (atomic). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_used SEC(".maps");

/* What could not be recorded, by pair of interfaces; first and last are unused. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, FLOW_RECORDS_MAX);
	__type(key, struct flow_skip_key);
	__type(value, struct flow_counts);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_skips SEC(".maps");

/* Packets neither recorded nor counted as skipped (flow_skips full too), by generation. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_lost SEC(".maps");

/* wire_size is what a packet stands for on the wire: its IP bytes, and one packet, or for a GSO
 * packet (a guest's TCP with segmentation offload) the segments it will be cut into, whose headers
 * are counted once. */
struct wire_size {
	__u32 packets;
	__u32 bytes;
};

static __always_inline struct wire_size wire_size(struct __sk_buff *skb, struct iphdr *ip)
{
	if (skb->gso_segs > 1)
		return (struct wire_size){.packets = skb->gso_segs, .bytes = skb->len - ETH_HLEN};
	return (struct wire_size){.packets = 1, .bytes = bpf_ntohs(ip->tot_len)};
}

static __always_inline void flow_add(struct flow_counts *c, struct wire_size size, __u64 now)
{
	if (!c->packets)
		c->first = now;
	c->packets += size.packets;
	c->bytes += size.bytes;
	c->last = now;
}

/* flow_skip counts a packet that found no room in flow_records. */
static __always_inline void flow_skip(struct flow_record_key *rk, struct wire_size size, __u64 now)
{
	struct flow_skip_key key = {.sender = rk->sender, .receiver = rk->receiver, .stage = rk->stage, .gen = rk->gen};
	struct flow_counts *c = bpf_map_lookup_elem(&flow_skips, &key);
	if (!c) {
		struct flow_counts zero = {};
		bpf_map_update_elem(&flow_skips, &key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&flow_skips, &key);
	}
	if (c) {
		flow_add(c, size, now);
		return;
	}
	__u32 gen = rk->gen;
	__u64 *lost = bpf_map_lookup_elem(&flow_lost, &gen);
	if (lost)
		*lost += size.packets;
}

/* flow_record counts a packet from sender to receiver that ended at stage. */
static __always_inline void flow_record(__u32 sender, __u32 receiver, struct iphdr *ip, void *end,
					struct wire_size size, __u32 stage, __u64 now)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg || cfg->flow_off)
		return;
	struct flow_record_key key = {.sender = sender, .receiver = receiver, .src = ip->saddr, .dst = ip->daddr,
				      .proto = ip->protocol, .stage = stage, .gen = cfg->flow_gen & 1};
	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) && !(ip->frag_off & bpf_htons(0x1FFF))) {
		struct udphdr *ports = (void *)ip + ip->ihl * 4; /* TCP's ports are where UDP's are */
		if ((void *)(ports + 1) <= end) {
			key.sport = ports->source;
			key.dport = ports->dest;
		}
	}
	struct flow_counts *c = bpf_map_lookup_elem(&flow_records, &key);
	if (!c) {
		__u32 gen = key.gen;
		__s64 *used = bpf_map_lookup_elem(&flow_used, &gen);
		if (used && *used < cfg->flow_limit) {
			struct flow_counts zero = {};
			if (bpf_map_update_elem(&flow_records, &key, &zero, BPF_NOEXIST) == 0)
				__sync_fetch_and_add(used, 1);
			c = bpf_map_lookup_elem(&flow_records, &key);
		}
	}
	if (c)
		flow_add(c, size, now);
	else
		flow_skip(&key, size, now);
}

#endif
