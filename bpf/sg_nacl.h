/*
 * Security groups (stateful, allow-only) and network ACLs (stateless, ordered) in the datapath,
 * with EC2's semantics as firewall/oracle.go states them; the differential test holds this code
 * to that oracle.
 *
 * Order, for a packet from one interface (me) to another (dst):
 *   later fragment      -> the verdict its first fragment got
 *   leaving a subnet    -> the sender's subnet ACL, outbound
 *   tracked flow?       -> if so, no security group is asked
 *   not tracked         -> the sender's groups, outbound
 *   entering a subnet   -> the receiver's subnet ACL, inbound
 *   not tracked         -> the receiver's groups, inbound; then the flow is tracked
 */
#ifndef HOSTD_SG_NACL_H
#define HOSTD_SG_NACL_H

#include <linux/bpf.h>
/* linux/icmp.h includes linux/if.h for one interface name, and that pulls in the C library's
 * socket headers, which do not build for BPF: skip it, and give icmp.h the one size it wants. */
#define _LINUX_IF_H
#define IFNAMSIZ 16
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"
#include "conntrack.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* subnet number */
	__type(value, __u32); /* rule set of its network ACL */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subnet_acls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_addr_key);
	__type(value, __u32); /* address class */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_lengths_key);
	__type(value, struct prefix_lengths);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_lengths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_proto_key);
	__type(value, struct rule_proto);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_protos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_bucket_key);
	__type(value, struct rule_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_buckets SEC(".maps");

#define IP_MF     0x2000
#define IP_OFFSET 0x1FFF

static __always_inline __u32 rule_verdict(__u32 set, __u32 peer, struct flow *f)
{
	struct rule_proto_key key = {.set = set, .peer = peer, .proto = f->proto};
	struct rule_proto *p = bpf_map_lookup_elem(&rule_protos, &key);
	if (!p) {
		key.proto = PROTO_ANY;
		p = bpf_map_lookup_elem(&rule_protos, &key);
		return p ? p->verdict : VERDICT_DENY;
	}
	if (p->buckets) {
		struct rule_bucket_key bkey = {.set = set, .peer = peer, .proto = f->proto, .block = f->port >> 8};
		struct rule_bucket *b = bpf_map_lookup_elem(&rule_buckets, &bkey);
		if (b) {
			__u8 low = f->port & 0xff;
			return (b->allow[low >> 6] >> (low & 63)) & 1;
		}
	}
	return p->verdict;
}

/* addr_class returns the class of the most specific CIDR of the set that contains addr. */
static __always_inline __u32 *addr_class(__u32 set, __u32 dir, __be32 addr)
{
	struct rule_lengths_key lkey = {.set = set, .dir = dir};
	struct prefix_lengths *lengths = bpf_map_lookup_elem(&rule_lengths, &lkey);
	if (!lengths)
		return 0;
	struct rule_addr_key key = {.set = set, .dir = dir};
	for (int i = 0; i < MAX_PREFIX_LENGTHS; i++) {
		if (i >= lengths->count)
			break;
		__u8 len = lengths->len[i];
		key.len = len;
		key.addr = len ? addr & bpf_htonl(~0U << (32 - len)) : 0;
		__u32 *class = bpf_map_lookup_elem(&rule_addrs, &key);
		if (class)
			return class;
	}
	return 0;
}

/* acl_allows applies a subnet's ACL to f: outbound the peer is the destination, inbound the
 * source. No ACL, or no entry matching, denies. */
static __always_inline int acl_allows(__u32 subnet, __u32 dir, struct flow *f)
{
	__u32 *set = bpf_map_lookup_elem(&subnet_acls, &subnet);
	if (!set)
		return 0;
	__u32 *class = addr_class(*set, dir, dir ? f->dst : f->src);
	if (!class)
		return 0;
	return rule_verdict(*set, dir | *class, f) == VERDICT_ALLOW;
}

/* sg_allows tells whether a rule of a policy (the union of an interface's groups) admits f, from
 * or to a peer with address addr in the groups listed. */
static __always_inline int sg_allows(__u32 policy, __u32 dir, __be32 addr, __u32 *groups, struct flow *f)
{
	__u32 *class = addr_class(policy, dir, addr);
	if (class && rule_verdict(policy, dir | *class, f) == VERDICT_ALLOW)
		return 1;
	if (!groups)
		return 0;
#pragma unroll
	for (int i = 0; i < MAX_GROUPS; i++) {
		if (!groups[i])
			return 0;
		if (rule_verdict(policy, dir | PEER_GROUP | groups[i], f) == VERDICT_ALLOW)
			return 1;
	}
	return 0;
}

/* denied is why a packet no rule allows is dropped: a TCP packet that opens no connection and
 * belongs to none is invalid before it is unwanted. */
static __always_inline __u32 denied(struct flow *f, __u32 reason)
{
	return opens(f) ? reason : DROP_CT_INVALID;
}

/* judge returns 0 to deliver f, else the drop reason; *at is the interface to count it on. */
static __always_inline __u32 judge(struct iface *me, struct endpoint *dst, struct flow *f, __u32 *at)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&settings, &zero);
	__u64 now = datapath_now(cfg);
	int crossing = me->subnet != dst->subnet;

	if (crossing && !acl_allows(me->subnet, PEER_EGRESS, f))
		return DROP_NACL_OUT;
	struct ct_key key = {
		.vpc = me->vpc, .src = f->src, .dst = f->dst, .sport = f->sport, .dport = f->dport, .proto = f->proto,
	};
	int tracked = ct_lookup(&key, f, now);
	if (!tracked && !sg_allows(me->policy, PEER_EGRESS, f->dst, dst->groups, f))
		return denied(f, DROP_SG_EGRESS);
	*at = dst->ifindex;
	if (crossing && !acl_allows(dst->subnet, 0, f))
		return DROP_NACL_IN;
	if (tracked)
		return 0;
	/* The source's groups are those of whoever owns the source address. */
	struct endpoint_key src_key = {.vpc = me->vpc, .ip = f->src};
	struct endpoint *src = bpf_map_lookup_elem(&endpoints, &src_key);
	if (!sg_allows(dst->policy, 0, f->src, src ? src->groups : 0, f))
		return denied(f, DROP_SG_INGRESS);
	if (!ct_track(&key, f, cfg, now))
		return DROP_CT_FULL;
	return 0;
}

/* read_ports fills in the ports (or ICMP type and code) of a first fragment or whole packet.
 * It returns a drop reason for a header cut short, else 0. */
static __always_inline __u32 read_ports(struct iphdr *ip, void *end, struct flow *f)
{
	void *l4 = (void *)ip + ip->ihl * 4;
	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > end)
			return DROP_MALFORMED;
		f->sport = tcp->source;
		f->dport = tcp->dest;
		f->syn = tcp->syn;
		f->ack = tcp->ack;
		f->fin = tcp->fin;
		f->rst = tcp->rst;
		f->port = bpf_ntohs(f->dport);
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > end)
			return DROP_MALFORMED;
		f->sport = udp->source;
		f->dport = udp->dest;
		f->port = bpf_ntohs(f->dport);
		return 0;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *icmp = l4;
		if ((void *)(icmp + 1) > end)
			return DROP_MALFORMED;
		f->port = (__u16)icmp->type << 8 | icmp->code;
		if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED)
			return 0;
		/* An error carries the IP header and first 8 bytes of the packet it reports on. */
		struct iphdr *inner = (void *)(icmp + 1);
		if ((void *)(inner + 1) > end || inner->ihl != 5)
			return 0; /* nothing to relate it to: judged as any ICMP */
		struct udphdr *ports = (void *)(inner + 1); /* TCP's ports are where UDP's are */
		if ((void *)(ports + 1) > end)
			return 0;
		f->inner.vpc = 0; /* set by the caller */
		f->inner.src = inner->saddr;
		f->inner.dst = inner->daddr;
		f->inner.proto = inner->protocol;
		if (inner->protocol == IPPROTO_TCP || inner->protocol == IPPROTO_UDP) {
			f->inner.sport = ports->source;
			f->inner.dport = ports->dest;
		}
		f->related = 1;
		return 0;
	}
	}
	return 0;
}

/* firewall returns 0 to deliver the packet from me to dst, else the drop reason, counted on *at. */
static __always_inline __u32 firewall(struct iface *me, struct endpoint *dst, struct iphdr *ip, void *end, __u32 *at)
{
	struct flow f = {.proto = ip->protocol, .src = ip->saddr, .dst = ip->daddr};
	struct frag_key fk = {.vpc = me->vpc, .src = ip->saddr, .dst = ip->daddr, .id = ip->id, .proto = ip->protocol};

	if (ip->frag_off & bpf_htons(IP_OFFSET)) {
		__u32 *v = bpf_map_lookup_elem(&frags, &fk);
		return v && *v == 0 ? 0 : DROP_FRAG;
	}
	__u32 reason = read_ports(ip, end, &f);
	if (reason)
		return reason;
	f.inner.vpc = me->vpc;
	reason = judge(me, dst, &f, at);
	if (ip->frag_off & bpf_htons(IP_MF))
		bpf_map_update_elem(&frags, &fk, &reason, BPF_ANY);
	return reason;
}

#endif
