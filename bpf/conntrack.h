/*
 * Conntrack: the flows the security groups let through, so that their answers come back whatever
 * the rules say, with EC2's timeouts; and the records of first fragments, for the fragments after
 * them. firewall/oracle.go states the semantics; the differential test holds this code to it.
 *
 * Every entry is charged to the interface that opened it (the sender of a flow's first packet,
 * of a first fragment) against that interface's allowance, and to the fabric against ct_limit;
 * whoever removes an entry (a packet finding it expired or reset, the daemon's collector through
 * ct_collect) releases both charges, in ct_remove. A guest that floods fills its own share only.
 */
#ifndef HOSTD_CONNTRACK_H
#define HOSTD_CONNTRACK_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"

/* The largest ct_limit the daemon sets. The daemon reserves each interface's allowance in it at
 * launch, so the counts, not eviction, bound the table: an established flow is never pushed out
 * by new ones, and no interface's flood takes another's room. Not preallocated: an entry's memory
 * (about 128 bytes) is taken when a flow opens, not for the whole table at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 21);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

/* The entries in conntrack, all interfaces together (atomic). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct_count SEC(".maps");

#define NSEC 1000000000ULL
/* EC2's conntrack timeouts. */
#define TCP_ESTABLISHED_TIMEOUT (432000 * NSEC)
#define TCP_OPENING_TIMEOUT     (120 * NSEC)
#define TCP_CLOSING_TIMEOUT     (10 * NSEC) /* once both sides sent a FIN */
#define UDP_TIMEOUT             (30 * NSEC)
#define UDP_STREAM_TIMEOUT      (180 * NSEC)
#define ICMP_TIMEOUT            (30 * NSEC)
#define FRAGMENT_TIMEOUT        (30 * NSEC) /* Linux's ipfrag_time: a datagram not whole by then never will be */

/* What the firewall needs of a packet. */
struct flow {
	__u8 proto;
	__u8 syn, ack, fin, rst; /* TCP's flags */
	__u8 icmp_error; /* destination unreachable or time exceeded: never a flow of its own */
	__u8 related;  /* an ICMP error whose embedded packet was read into inner */
	__u8 inner_lo; /* the embedded packet's sender is inner's first end */
	__be32 src, dst;
	__be16 sport, dport;
	__u16 port;    /* what rules match: the destination port, or ICMP type << 8 | code */
	struct ct_key inner;
	__be32 inner_src, inner_dst;
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
			expires = now; /* a SYN with a reset: opened and closed at once */
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

static __always_inline void count_add(__s64 *count, __s64 n)
{
	if (count)
		__sync_fetch_and_add(count, n);
}

static __always_inline __s64 *fabric_count(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ct_count, &zero);
}

/* ct_remove deletes key's entry, e, and releases its charges, unless someone else removed it
 * first. */
static __always_inline int ct_remove(struct ct_key *key, struct ct_entry *e)
{
	__u32 owner = e->owner;
	if (bpf_map_delete_elem(&conntrack, key) != 0)
		return 0;
	struct iface_usage *used = bpf_map_lookup_elem(&usage, &owner);
	if (used)
		count_add(&used->tracked, -1);
	count_add(fabric_count(), -1);
	return 1;
}

/* ct_insert adds an entry opened by me, charging it; it returns 0, or why it was refused. An
 * entry already there (another CPU was quicker) is left as it is. */
static __always_inline __u32 ct_insert(struct ct_key *key, struct ct_entry *e, struct iface *me, struct config *cfg)
{
	struct iface_usage *used = bpf_map_lookup_elem(&usage, &me->ifindex);
	if (!used || used->tracked >= me->ct_allowance)
		return DROP_CT_ALLOWANCE;
	__s64 *count = fabric_count();
	if (!count || !cfg || *count >= cfg->ct_limit)
		return DROP_CT_FULL;
	e->owner = me->ifindex;
	if (bpf_map_update_elem(&conntrack, key, e, BPF_NOEXIST) == 0) {
		count_add(&used->tracked, 1);
		count_add(count, 1);
	}
	return 0;
}

/* ct_key_of fills in the key of the flow a packet from (src, sport) to (dst, dport) belongs to,
 * and returns whether its sender is the key's first end. */
static __always_inline int ct_key_of(struct ct_key *key, __u32 vpc, __u8 proto, __be32 src, __be32 dst, __be16 sport, __be16 dport)
{
	int lo = src < dst || (src == dst && sport <= dport);
	*key = (struct ct_key){.vpc = vpc, .proto = proto, .kind = CT_FLOW};
	if (lo) {
		key->addr[0] = src, key->addr[1] = dst;
		key->port[0] = sport, key->port[1] = dport;
	} else {
		key->addr[0] = dst, key->addr[1] = src;
		key->port[0] = dport, key->port[1] = sport;
	}
	return lo;
}

/* ct_find looks key up; an expired entry is removed on the way. */
static __always_inline struct ct_entry *ct_find(struct ct_key *key, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, key);
	if (e && now >= e->expires) {
		ct_remove(key, e);
		return 0;
	}
	return e;
}

/* ct_lookup tells whether f (whose sender is the key's first end if from_lo) belongs to a tracked
 * flow, and refreshes that flow; a reset ends it. */
static __always_inline int ct_lookup(struct ct_key *key, int from_lo, struct flow *f, __u64 now)
{
	struct ct_entry *e = ct_find(key, now);
	if (!e)
		return 0;
	if (f->proto == IPPROTO_TCP && f->rst)
		ct_remove(key, e); /* gone, and its place in the table with it */
	else
		ct_refresh(e, f, from_lo != !!(e->flags & CT_INITIATOR_LO), now);
	return 1;
}

/* ct_related tells whether f is an ICMP error about a packet of a tracked flow, sent back to
 * that packet's sender (f's destination) by its receiver or the router of the sender's subnet,
 * and about a packet the flow's initiator sent. It refreshes nothing. */
static __always_inline int ct_related(struct flow *f, __be32 router, __u64 now)
{
	if (!f->related || f->dst != f->inner_src || (f->src != f->inner_dst && f->src != router))
		return 0;
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &f->inner);
	return e && now < e->expires && f->inner_lo == !!(e->flags & CT_INITIATOR_LO);
}

/* ct_track starts tracking a new flow me opened that the rules allowed; it returns 0, or why
 * the flow was refused. A TCP packet other than a SYN opens nothing: it passes (a rule allowed
 * it) untracked. */
static __always_inline __u32 ct_track(struct ct_key *key, int from_lo, struct flow *f, struct iface *me, struct config *cfg, __u64 now)
{
	if (!opens(f) || f->icmp_error)
		return 0;
	struct ct_entry e = {.flags = from_lo ? CT_INITIATOR_LO : 0};
	ct_refresh(&e, f, 0, now);
	return ct_insert(key, &e, me, cfg);
}

/* fragment_key is the key of the record of a first fragment with the given IP header fields. */
static __always_inline void fragment_key(struct ct_key *key, __u32 vpc, __u8 proto, __be32 src, __be32 dst, __be16 id)
{
	*key = (struct ct_key){.vpc = vpc, .addr = {src, dst}, .port = {id, 0}, .proto = proto, .kind = CT_FRAGMENT};
}

/* fragment_record notes that a first fragment me sent was delivered; 0, or why it was refused. A
 * record already there (the same datagram sent again) is refreshed. */
static __always_inline __u32 fragment_record(struct ct_key *key, struct iface *me, struct config *cfg, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, key);
	if (e) {
		e->expires = now + FRAGMENT_TIMEOUT;
		return 0;
	}
	struct ct_entry fresh = {.expires = now + FRAGMENT_TIMEOUT};
	return ct_insert(key, &fresh, me, cfg);
}

#endif
