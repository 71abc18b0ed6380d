/*
 * The firewall: security groups (stateful, allow-only) and network ACLs (stateless, ordered),
 * with EC2's semantics as firewall/oracle.go states them; the differential test holds this code
 * to that oracle. Included by datapath.c only.
 *
 * Order, for a packet from one interface (me) to another (dst):
 *   later fragment      -> the verdict its first fragment got
 *   leaving a subnet    -> the sender's subnet ACL, outbound
 *   tracked flow?       -> if so, no security group is asked
 *   not tracked         -> the sender's groups, outbound
 *   entering a subnet   -> the receiver's subnet ACL, inbound
 *   not tracked         -> the receiver's groups, inbound; then the flow is tracked
 */

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

/* Twice the largest ct_limit the daemon sets: the count, not eviction, bounds the table, so an
 * established flow is never pushed out by new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 18);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

/* Entries in conntrack: [0] counts what the datapath added and removed (atomically), [1] what
 * the daemon's collector removed (it alone writes it). The table holds [0] - [1]. */
#define CT_COUNT_DATAPATH  0
#define CT_COUNT_COLLECTED 1
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings SEC(".maps");

#define NSEC 1000000000ULL
/* EC2's conntrack timeouts. */
#define TCP_ESTABLISHED_TIMEOUT (432000 * NSEC)
#define TCP_OPENING_TIMEOUT     (120 * NSEC)
#define TCP_CLOSING_TIMEOUT     (10 * NSEC) /* once both sides sent a FIN */
#define UDP_TIMEOUT             (30 * NSEC)
#define UDP_STREAM_TIMEOUT      (180 * NSEC)
#define ICMP_TIMEOUT            (30 * NSEC)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define ICMP_DEST_UNREACH_ 3
#define ICMP_TIME_EXCEEDED_ 11

/* What the firewall needs of a packet. */
struct flow {
	__u8 proto;
	__u8 tcp_flags;
	__u8 related; /* an ICMP error whose embedded packet was read into inner */
	__be32 src, dst;
	__be16 sport, dport;
	__u16 port;   /* what rules match: the destination port, or ICMP type << 8 | code */
	struct ct_key inner;
};

static __always_inline __u64 datapath_now(struct config *cfg)
{
	return bpf_ktime_get_ns() + (cfg ? cfg->clock_skew : 0);
}

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
		if (reply && (f->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			flags |= CT_ESTABLISHED;
		if (f->tcp_flags & TCP_FIN)
			flags |= reply ? CT_FIN_REV : CT_FIN_FWD;
		if (f->tcp_flags & TCP_RST)
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

static __always_inline void ct_reverse(struct ct_key *rev, struct ct_key *fwd)
{
	*rev = *fwd;
	rev->src = fwd->dst;
	rev->dst = fwd->src;
	rev->sport = fwd->dport;
	rev->dport = fwd->sport;
}

/* ct_lookup tells whether f belongs to a tracked flow, either way, and refreshes that flow. An
 * ICMP error about a tracked flow is related to it (and refreshes nothing). */
static __always_inline int ct_lookup(struct ct_key *fwd, struct flow *f, __u64 now)
{
	struct ct_key rev;
	if (f->related) {
		ct_reverse(&rev, &f->inner);
		struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &f->inner);
		if (e && now < e->expires)
			return 1;
		e = bpf_map_lookup_elem(&conntrack, &rev);
		return e && now < e->expires;
	}
	struct ct_entry *e = ct_find(fwd, now);
	if (e) {
		ct_refresh(e, f, 0, now);
		return 1;
	}
	ct_reverse(&rev, fwd);
	e = ct_find(&rev, now);
	if (e) {
		ct_refresh(e, f, 1, now);
		return 1;
	}
	return 0;
}

/* ct_track starts tracking a new flow the rules allowed; it fails when the table is full. A TCP
 * packet other than a SYN opens nothing: it passes (a rule allowed it) untracked. */
static __always_inline int ct_track(struct ct_key *fwd, struct flow *f, struct config *cfg, __u64 now)
{
	if (f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return 1;
	__u32 key = CT_COUNT_DATAPATH, ckey = CT_COUNT_COLLECTED;
	__u64 *count = bpf_map_lookup_elem(&ct_count, &key);
	__u64 *collected = bpf_map_lookup_elem(&ct_count, &ckey);
	if (!count || !collected || !cfg || *count - *collected >= cfg->ct_limit)
		return 0;
	struct ct_entry e = {};
	ct_refresh(&e, f, 0, now);
	if (bpf_map_update_elem(&conntrack, fwd, &e, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(count, 1);
	else /* an expired entry left by a lookup that does not remove (an ICMP error's): replace it */
		bpf_map_update_elem(&conntrack, fwd, &e, BPF_EXIST);
	return 1;
}

/* denied is why a packet no rule allows is dropped: a TCP packet that opens no connection and
 * belongs to none is invalid before it is unwanted. */
static __always_inline __u32 denied(struct flow *f, __u32 reason)
{
	if (f->proto == IPPROTO_TCP && (f->tcp_flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
		return DROP_CT_INVALID;
	return reason;
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
		__u8 *tcp = l4;
		if ((void *)(tcp + 14) > end)
			return DROP_MALFORMED;
		f->sport = *(__be16 *)tcp;
		f->dport = *(__be16 *)(tcp + 2);
		f->tcp_flags = tcp[13];
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
		__u8 *icmp = l4;
		if ((void *)(icmp + 8) > end)
			return DROP_MALFORMED;
		f->port = (__u16)icmp[0] << 8 | icmp[1];
		if (icmp[0] != ICMP_DEST_UNREACH_ && icmp[0] != ICMP_TIME_EXCEEDED_)
			return 0;
		/* An error carries the IP header and first 8 bytes of the packet it reports on. */
		struct iphdr *inner = (void *)(icmp + 8);
		if ((void *)(inner + 1) > end || inner->ihl != 5)
			return 0; /* nothing to relate it to: judged as any ICMP */
		__u8 *ports = (void *)(inner + 1);
		if ((void *)(ports + 4) > end)
			return 0;
		f->inner.vpc = 0; /* set by the caller */
		f->inner.src = inner->saddr;
		f->inner.dst = inner->daddr;
		f->inner.proto = inner->protocol;
		if (inner->protocol == IPPROTO_TCP || inner->protocol == IPPROTO_UDP) {
			f->inner.sport = *(__be16 *)ports;
			f->inner.dport = *(__be16 *)(ports + 2);
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
