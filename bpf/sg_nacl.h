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

/* Subnet numbers are below 65536 (vnet refuses others): an array, read without hashing. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* subnet number */
	__type(value, __u32); /* handle of its network ACL's rule set; 0: none, which denies */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subnet_acls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_class_key);
	__type(value, __u32); /* class number | CLASS_ALLOWS_ALL */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_port_key);
	__type(value, struct rule_port_bits);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_ports SEC(".maps");

#define IP_MF     0x2000
#define IP_OFFSET 0x1FFF

/* has_ports tells whether the rules of f's protocol name ports (ICMP: type and code). */
static __always_inline int has_ports(struct flow *f)
{
	return f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_ICMP;
}

/* port_allowed tells whether the rules of peer in set (a key's set: number | direction) admit f:
 * its port's block row, else its protocol's BLOCK_ALL row, else the PROTO_ANY row, else no. */
static __always_inline int port_allowed(__u32 set, __u32 peer, struct flow *f)
{
	struct rule_port_key key = {.set = set, .peer = peer, .proto = f->proto, .block = BLOCK_ALL};
	struct rule_port_bits *row = 0;
	if (has_ports(f)) {
		key.block = f->port >> 8;
		row = bpf_map_lookup_elem(&rule_ports, &key);
		key.block = BLOCK_ALL;
	}
	if (!row)
		row = bpf_map_lookup_elem(&rule_ports, &key);
	if (!row) {
		key.proto = PROTO_ANY;
		row = bpf_map_lookup_elem(&rule_ports, &key);
	}
	if (!row)
		return 0;
	__u8 low = f->port & 0xff;
	return (row->allow[low >> 6] >> (low & 63)) & 1;
}

/* class_allows tells whether the rules of addr's class in set (number | direction) admit f. */
static __always_inline int class_allows(__u32 set, __be32 addr, struct flow *f)
{
	struct rule_class_key key = {.prefixlen = 64, .set = set, .addr = addr};
	__u32 *class = bpf_map_lookup_elem(&rule_classes, &key);
	if (!class)
		return 0;
	return (*class & CLASS_ALLOWS_ALL) || port_allowed(set, *class & CLASS_NUMBER, f);
}

/* set_key is the key's set of a rule set's handle, one way. */
static __always_inline __u32 set_key(__u32 handle, int egress)
{
	return (handle & SET_NUMBER) | (egress ? SET_EGRESS : 0);
}

static __always_inline int allows_all(__u32 handle, int egress)
{
	return handle & (egress ? SET_ALLOWS_OUT : SET_ALLOWS_IN);
}

/* acl_allows applies a subnet's ACL to f: outbound the peer is the destination, inbound the
 * source. No ACL, or no entry matching, denies. */
static __always_inline int acl_allows(__u32 subnet, int egress, struct flow *f)
{
	__u32 *acl = bpf_map_lookup_elem(&subnet_acls, &subnet);
	if (!acl || !*acl)
		return 0;
	if (allows_all(*acl, egress))
		return 1;
	return class_allows(set_key(*acl, egress), egress ? f->dst : f->src, f);
}

/* sg_allows tells whether a rule of a policy (the union of an interface's groups) admits f, from
 * or to a peer with address addr and identity. */
static __always_inline int sg_allows(__u32 policy, int egress, __be32 addr, __u32 identity, struct flow *f)
{
	if (allows_all(policy, egress))
		return 1;
	__u32 set = set_key(policy, egress);
	if (class_allows(set, addr, f))
		return 1;
	return identity && port_allowed(set, PEER_IDENTITY | identity, f);
}

/* denied is why a packet no rule allows is dropped: a TCP packet that opens no connection and
 * belongs to none is invalid before it is unwanted. */
static __always_inline __u32 denied(struct flow *f, __u32 reason)
{
	return opens(f) ? reason : DROP_CT_INVALID;
}

/* identity_of returns the identity of whoever owns addr, the source of a packet me sent: me,
 * unless its source/dest check is off and it sent as someone else. */
static __always_inline __u32 identity_of(struct iface *me, __be32 addr)
{
	if (addr == me->ip)
		return me->identity;
	struct endpoint_key key = {.vpc = me->vpc, .ip = addr};
	struct endpoint *owner = bpf_map_lookup_elem(&endpoints, &key);
	return owner ? owner->identity : 0;
}

/* judge returns 0 to deliver f, else the drop reason; *at is the interface to count it on (the
 * sender's, until the packet is past the sender's checks). */
static __always_inline __u32 judge(struct iface *me, struct endpoint *dst, struct flow *f, struct config *cfg, __u64 now, __u32 *at)
{
	__u32 sender = *at;
	int crossing = me->subnet != dst->subnet;

	if (crossing && !acl_allows(me->subnet, 1, f))
		return DROP_NACL_OUT;
	struct ct_key key;
	int from_lo = ct_key_of(&key, me->vpc, f->proto, f->src, f->dst, f->sport, f->dport);
	/* An ICMP error belongs to no flow of its own: it is related to one, or judged by the rules. */
	int tracked = f->icmp_error ? ct_related(f, dst->router, now) : ct_lookup(&key, from_lo, f, now);
	if (!tracked && !sg_allows(me->policy, 1, f->dst, dst->identity, f))
		return denied(f, DROP_SG_EGRESS);
	*at = dst->ifindex;
	if (crossing && !acl_allows(dst->subnet, 0, f))
		return DROP_NACL_IN;
	if (tracked)
		return 0;
	if (!sg_allows(dst->policy, 0, f->src, identity_of(me, f->src), f))
		return denied(f, DROP_SG_INGRESS);
	__u32 refused = ct_track(&key, from_lo, f, me, cfg, now);
	if (refused == DROP_CT_ALLOWANCE)
		*at = sender; /* the sender's allowance, on the sender's counter */
	return refused;
}

/* read_embedded reads the packet an ICMP error quotes (its IP header and 8 bytes more) into f's
 * inner key, if the quote is whole and consistent (IPv4, header length 5 to 15 words, a total
 * length covering header and 8 bytes, no later fragment, inside what the error's own header
 * claims) and of a protocol flows are tracked for: TCP, UDP or ICMP. Otherwise f relates to
 * nothing. */
static __always_inline void read_embedded(struct iphdr *ip, struct iphdr *inner, void *end, struct flow *f)
{
	if ((void *)(inner + 1) > end || inner->version != 4 || inner->ihl < 5)
		return;
	__u32 hlen = inner->ihl * 4;
	if ((inner->frag_off & bpf_htons(IP_OFFSET)) || bpf_ntohs(inner->tot_len) < hlen + 8)
		return;
	if (bpf_ntohs(ip->tot_len) < ip->ihl * 4 + sizeof(struct icmphdr) + hlen + 8)
		return;
	struct udphdr *ports = (void *)inner + hlen; /* TCP's ports are where UDP's are */
	if ((void *)(ports + 1) > end)
		return;
	__be16 sport = 0, dport = 0;
	switch (inner->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		sport = ports->source;
		dport = ports->dest;
		break;
	case IPPROTO_ICMP: /* keyed by addresses alone */
		break;
	default:
		return;
	}
	f->inner_lo = ct_key_of(&f->inner, 0 /* set by the caller */, inner->protocol, inner->saddr, inner->daddr, sport, dport);
	f->inner_src = inner->saddr;
	f->inner_dst = inner->daddr;
	f->related = 1;
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
		if (icmp->type == ICMP_DEST_UNREACH || icmp->type == ICMP_TIME_EXCEEDED) {
			f->icmp_error = 1;
			read_embedded(ip, (void *)(icmp + 1), end, f);
		}
		return 0;
	}
	}
	return 0;
}

/* firewall returns 0 to deliver the packet from me to dst, else the drop reason, counted on *at. */
static __always_inline __u32 firewall(struct iface *me, struct endpoint *dst, struct iphdr *ip, void *end, __u32 *at)
{
	__u32 zero = 0, sender = *at;
	struct config *cfg = bpf_map_lookup_elem(&settings, &zero);
	__u64 now = datapath_now(cfg);
	struct ct_key fragment;
	fragment_key(&fragment, me->vpc, ip->protocol, ip->saddr, ip->daddr, ip->id);

	/* A later fragment goes where its first went. */
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return ct_find(&fragment, now) ? 0 : DROP_FRAG;
	struct flow f = {.proto = ip->protocol, .src = ip->saddr, .dst = ip->daddr};
	__u32 reason = read_ports(ip, end, &f);
	if (reason)
		return reason;
	f.inner.vpc = me->vpc;
	reason = judge(me, dst, &f, cfg, now, at);
	if (reason == 0 && (ip->frag_off & bpf_htons(IP_MF))) {
		reason = fragment_record(&fragment, me, cfg, now);
		if (reason == DROP_CT_ALLOWANCE)
			*at = sender;
	}
	return reason;
}

#endif
