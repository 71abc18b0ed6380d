/*
 * Conntrack: the flows the security groups let through, so that their answers come back whatever
 * the rules say, with EC2's timeouts; and the verdicts of first fragments, for the fragments after
 * them. firewall/oracle.go states the semantics; the differential test holds this code to it.
 */
#ifndef HOSTD_CONNTRACK_H
#define HOSTD_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"

/* Twice the largest ct_limit the daemon sets: the count, not eviction, bounds the table, so an
 * established flow is never pushed out by new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

/* Entries in conntrack, by enum ct_count_index. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct frag_key);
	__type(value, __u32); /* 0 delivered, else the drop reason */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

#define NSEC 1000000000ULL
/* EC2's conntrack timeouts. */
#define TCP_ESTABLISHED_TIMEOUT (432000 * NSEC)
#define TCP_OPENING_TIMEOUT     (120 * NSEC)
#define TCP_CLOSING_TIMEOUT     (10 * NSEC) /* once both sides sent a FIN */
#define UDP_TIMEOUT             (30 * NSEC)
#define UDP_STREAM_TIMEOUT      (180 * NSEC)
#define ICMP_TIMEOUT            (30 * NSEC)

/* What the firewall needs of a packet. */
struct flow {
	__u8 proto;
	__u8 syn, ack, fin, rst; /* TCP's flags */
	__u8 icmp_error; /* destination unreachable or time exceeded: opens no flow */
	__u8 related; /* an ICMP error whose embedded packet was read into inner */
	__be32 src, dst;
	__be16 sport, dport;
	__u16 port;   /* what rules match: the destination port, or ICMP type << 8 | code */
	struct ct_key inner;
};

/* opens tells whether f may open a flow: anything but TCP other than a bare SYN. */
static __always_inline int opens(struct flow *f)
{
	return f->proto != IPPROTO_TCP || (f->syn && !f->ack);
}

/* ct_refresh notes what f says of its flow and pushes the flow's expiry out. The entry is written
 * only when something changes (a flag, an expiry brought in, or pushed out by a second or more),
 * so that the packets of a busy flow do not all dirty its cache line on every CPU. */
static __always_inline void ct_refresh(struct ct_entry *e, struct flow *f, int reply, __u64 now)
{
	__u32 flags = e->flags;
	__u64 expires;
	if (reply)
		flags |= CT_REPLIED;
	switch (f->proto) {
	case IPPROTO_TCP:
		if (reply && f->syn && f->ack)
			flags |= CT_ESTABLISHED;
		if (f->fin)
			flags |= reply ? CT_FIN_REV : CT_FIN_FWD;
		if (f->rst)
			expires = now; /* gone: expired from the next packet on */
		else if ((flags & (CT_FIN_FWD | CT_FIN_REV)) == (CT_FIN_FWD | CT_FIN_REV))
			expires = now + TCP_CLOSING_TIMEOUT;
		else
			expires = now + ((flags & CT_ESTABLISHED) ? TCP_ESTABLISHED_TIMEOUT : TCP_OPENING_TIMEOUT);
		break;
	case IPPROTO_UDP:
		expires = now + ((flags & CT_REPLIED) ? UDP_STREAM_TIMEOUT : UDP_TIMEOUT);
		break;
	default:
		expires = now + ICMP_TIMEOUT;
	}
	if (flags != e->flags)
		e->flags = flags;
	if (expires < e->expires || expires - e->expires >= NSEC)
		e->expires = expires;
}

static __always_inline void ct_count_add(__s64 n)
{
	__u32 key = CT_COUNT_DATAPATH;
	__u64 *count = bpf_map_lookup_elem(&ct_count, &key);
	if (count)
		__sync_fetch_and_add(count, n);
}

/* ct_key_of fills in the key of the flow a packet from (src, sport) to (dst, dport) belongs to,
 * and returns whether its sender is the key's first end. */
static __always_inline int ct_key_of(struct ct_key *key, __u32 vpc, __u8 proto, __be32 src, __be32 dst, __be16 sport, __be16 dport)
{
	int lo = src < dst || (src == dst && sport <= dport);
	*key = (struct ct_key){.vpc = vpc, .proto = proto};
	if (lo) {
		key->addr[0] = src, key->addr[1] = dst;
		key->port[0] = sport, key->port[1] = dport;
	} else {
		key->addr[0] = dst, key->addr[1] = src;
		key->port[0] = dport, key->port[1] = sport;
	}
	return lo;
}

/* ct_find looks key up; an expired entry is removed on the way (and no longer counted). */
static __always_inline struct ct_entry *ct_find(struct ct_key *key, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, key);
	if (e && now >= e->expires) {
		if (bpf_map_delete_elem(&conntrack, key) == 0)
			ct_count_add(-1);
		return 0;
	}
	return e;
}

/* ct_lookup tells whether f (whose sender is the key's first end if from_lo) belongs to a tracked
 * flow, and refreshes that flow. An ICMP error about a tracked flow is related to it (and
 * refreshes nothing). */
static __always_inline int ct_lookup(struct ct_key *key, int from_lo, struct flow *f, __u64 now)
{
	if (f->related) {
		struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &f->inner);
		return e && now < e->expires;
	}
	struct ct_entry *e = ct_find(key, now);
	if (!e)
		return 0;
	ct_refresh(e, f, from_lo != !!(e->flags & CT_INITIATOR_LO), now);
	return 1;
}

/* ct_track starts tracking a new flow the rules allowed; it fails when the table is full. A TCP
 * packet other than a SYN, or an ICMP error, opens nothing: it passes (a rule allowed it)
 * untracked. */
static __always_inline int ct_track(struct ct_key *key, int from_lo, struct flow *f, struct config *cfg, __u64 now)
{
	if (!opens(f) || f->icmp_error)
		return 1;
	__u32 dkey = CT_COUNT_DATAPATH, ckey = CT_COUNT_COLLECTED;
	__u64 *count = bpf_map_lookup_elem(&ct_count, &dkey);
	__u64 *collected = bpf_map_lookup_elem(&ct_count, &ckey);
	if (!count || !collected || !cfg || *count - *collected >= cfg->ct_limit)
		return 0;
	struct ct_entry e = {.flags = from_lo ? CT_INITIATOR_LO : 0};
	ct_refresh(&e, f, 0, now);
	if (bpf_map_update_elem(&conntrack, key, &e, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(count, 1);
	else /* an expired entry left by a lookup that does not remove (an ICMP error's): replace it */
		bpf_map_update_elem(&conntrack, key, &e, BPF_EXIST);
	return 1;
}

#endif
