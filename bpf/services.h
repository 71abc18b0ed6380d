/*
 * The link-local services every guest is given (issue 14): the VPC's resolver (AmazonProvidedDNS,
 * at the VPC's base address plus two and at 169.254.169.253, port 53) and the instance metadata
 * service (169.254.169.254, port 80). They run in the daemon, on sockets in the fabric's services
 * namespace, reached through one veth whose host end is in the fabric.
 *
 * The services must know for certain which interface asked, whatever source a guest forges (with
 * its source/dest check off it may send from any address). So service_from_guest rewrites every
 * packet to a service: its source becomes the interface's tag, 100.64.0.0/10 plus the ifindex of
 * its host end, which only the datapath writes; its destination the service's own address. The
 * daemon reads the asker from the tag alone. What the packet carried is kept in svc_flows, by
 * (interface, the guest's port, protocol), and from_services, on the services' veth, puts it back
 * on the answer and delivers it to that interface, and no other.
 *
 * An interface may send the services SVC_LINKLOCAL_PPS packets a second, DNS and metadata
 * together, as EC2 holds each interface to 1024 packets a second to its link-local services (its
 * "linklocal_allowance_exceeded"): one guest's flood never crowds out its neighbours.
 *
 * datapath.c includes this file after its router_mac, the source of every frame it delivers.
 */
#ifndef HOSTD_SERVICES_H
#define HOSTD_SERVICES_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"

/* Numbers shared with Go (host byte order for addresses). */
enum svc_const {
	SVC_TAG_NET       = 0x64400000, /* 100.64.0.0/10: the interfaces' tags */
	SVC_TAG_BITS      = 22,         /* a tag holds an ifindex below 1 << 22 */
	SVC_DNS_ADDR      = 0xa9fea9fd, /* 169.254.169.253 */
	SVC_METADATA_ADDR = 0xa9fea9fe, /* 169.254.169.254 */
	SVC_DNS_PORT      = 53,
	SVC_METADATA_PORT = 80,
	SVC_LINKLOCAL_PPS = 1024,       /* EC2's allowance to the link-local services, per interface */
};

/* An interface's view of the services, keyed by the ifindex of its host end. */
struct svc_iface {
	__be32 resolver; /* its VPC's base address plus two */
	__u32 pad;
};

/* What the datapath counts of an interface's packets to the services: the current second and how
 * many it saw in it. Only the datapath writes here. */
struct svc_rate {
	__u64 second; /* datapath_now() / 1e9 */
	__u64 packets;
};

/* A packet to a service, as the guest sent it: kept until its answers come back. */
struct svc_flow_key {
	__u32 ifindex;
	__be16 port;  /* the guest's port */
	__u8 proto;
	__u8 pad;
};

struct svc_flow {
	__be32 guest;   /* the source the guest sent from: the answer goes back to it */
	__be32 service; /* the address it asked: the answer comes from it */
};

/* The services' veth, written by the daemon. */
struct svc_config {
	__u32 ifindex;       /* its host end, in the fabric */
	__u8 mac[6];         /* its services end's MAC */
	__u16 pad;
	__u32 linklocal_pps; /* the services' allowance per interface (SVC_LINKLOCAL_PPS; tests raise it) */
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct svc_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct svc_rate);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_rates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_flow_key);
	__type(value, struct svc_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct svc_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_settings SEC(".maps");

#define SVC_IP_CSUM (ETH_HLEN + offsetof(struct iphdr, check))
#define SVC_IP_SRC (ETH_HLEN + offsetof(struct iphdr, saddr))
#define SVC_IP_DST (ETH_HLEN + offsetof(struct iphdr, daddr))

struct svc_ports {
	__be16 source;
	__be16 dest;
};

/* svc_rewrite replaces a packet's addresses and fixes the IP and TCP or UDP checksums. l4 is the
 * offset of its TCP or UDP header. */
static __always_inline int svc_rewrite(struct __sk_buff *skb, __u32 l4, __u8 proto, __be32 old_src, __be32 new_src,
				       __be32 old_dst, __be32 new_dst)
{
	__u32 check = l4 + (proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check));
	__u64 flags = BPF_F_PSEUDO_HDR | sizeof(__be32) | (proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	if (bpf_l4_csum_replace(skb, check, old_src, new_src, flags) ||
	    bpf_l4_csum_replace(skb, check, old_dst, new_dst, flags) ||
	    bpf_l3_csum_replace(skb, SVC_IP_CSUM, old_src, new_src, sizeof(__be32)) ||
	    bpf_l3_csum_replace(skb, SVC_IP_CSUM, old_dst, new_dst, sizeof(__be32)) ||
	    bpf_skb_store_bytes(skb, SVC_IP_SRC, &new_src, sizeof(new_src), 0) ||
	    bpf_skb_store_bytes(skb, SVC_IP_DST, &new_dst, sizeof(new_dst), 0))
		return -1;
	return 0;
}

/* svc_deliver gives the rewritten frame its MACs and sends it into the peer of ifindex. */
static __always_inline int svc_deliver(struct __sk_buff *skb, const __u8 *dst_mac, const __u8 *src_mac, __u32 ifindex)
{
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), dst_mac, 6, 0) ||
	    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), src_mac, 6, 0))
		return TC_ACT_SHOT;
	return bpf_redirect_peer(ifindex, 0);
}

/* svc_l4 finds the ports of an unfragmented TCP or UDP packet, or NULL. */
static __always_inline struct svc_ports *svc_l4(struct iphdr *ip, void *end)
{
	if ((ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return NULL;
	struct svc_ports *ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 1) > end)
		return NULL;
	return ports;
}

/* svc_allowed counts a packet of ifindex to a service against its allowance for this second. */
static __always_inline int svc_allowed(__u32 ifindex, __u32 pps)
{
	__u64 second = datapath_now(bpf_map_lookup_elem(&settings, &(__u32){0})) / 1000000000ULL;
	struct svc_rate *r = bpf_map_lookup_elem(&svc_rates, &ifindex);
	if (!r) {
		struct svc_rate fresh = {.second = second, .packets = 1};
		bpf_map_update_elem(&svc_rates, &ifindex, &fresh, BPF_NOEXIST);
		return 1;
	}
	if (r->second != second) { /* a new second: racing CPUs may each restart it, which only forgives */
		r->second = second;
		r->packets = 0;
	}
	return __sync_fetch_and_add(&r->packets, 1) < pps;
}

/*
 * service_from_guest steers a guest's packet to a service, rewritten to carry the interface's tag
 * (see above), and returns 1 with the verdict in *verdict; 0 if the packet is not for a service.
 * (A verdict of its own rather than a special one: the verifier must see that a packet rewritten
 * here never goes on through the caller.)
 */
static __always_inline int service_from_guest(struct __sk_buff *skb, struct iface *me, struct iphdr *ip, void *end,
					      int *verdict)
{
	/* The ports first: every packet a guest sends passes here, and most go to neither port. */
	struct svc_ports *ports = svc_l4(ip, end);
	if (!ports)
		return 0;
	__be32 dst = ip->daddr;
	int dns;
	if (ports->dest == bpf_htons(SVC_DNS_PORT)) {
		dns = 1;
		if (dst != bpf_htonl(SVC_DNS_ADDR)) {
			__u32 ifindex = me->ifindex;
			struct svc_iface *si = bpf_map_lookup_elem(&svc_ifaces, &ifindex);
			if (!si || !si->resolver || dst != si->resolver)
				return 0;
		}
	} else if (ports->dest == bpf_htons(SVC_METADATA_PORT) && ip->protocol == IPPROTO_TCP &&
		   dst == bpf_htonl(SVC_METADATA_ADDR)) {
		dns = 0;
	} else {
		return 0;
	}

	struct svc_config *cfg = bpf_map_lookup_elem(&svc_settings, &(__u32){0});
	if (!cfg || !cfg->ifindex || me->ifindex >> SVC_TAG_BITS) {
		*verdict = drop(me->ifindex, DROP_NO_ROUTE);
		return 1;
	}
	if (!svc_allowed(me->ifindex, cfg->linklocal_pps)) {
		*verdict = drop(me->ifindex, DROP_LINKLOCAL_ALLOWANCE);
		return 1;
	}

	struct svc_flow_key key = {.ifindex = me->ifindex, .port = ports->source, .proto = ip->protocol};
	struct svc_flow flow = {.guest = ip->saddr, .service = dst};
	if (bpf_map_update_elem(&svc_flows, &key, &flow, BPF_ANY)) {
		*verdict = drop(me->ifindex, DROP_NO_ROUTE);
		return 1;
	}
	__be32 tag = bpf_htonl(SVC_TAG_NET | me->ifindex);
	__be32 service = dns ? bpf_htonl(SVC_DNS_ADDR) : dst;
	if (svc_rewrite(skb, ETH_HLEN + ip->ihl * 4, ip->protocol, ip->saddr, tag, dst, service)) {
		*verdict = drop(me->ifindex, DROP_MALFORMED);
		return 1;
	}
	*verdict = svc_deliver(skb, cfg->mac, router_mac, cfg->ifindex);
	return 1;
}

/*
 * from_services (TCX ingress on the services' veth, in the fabric) takes the services' answers
 * back to the interface whose tag they are addressed to, as the packet it answers was sent: from
 * the address the guest asked, to the address it asked from. Anything else the services'
 * namespace sends (ICMP, packets to no known flow) goes nowhere: while no daemon listens, a
 * guest's DNS query waits for its retry rather than failing on a port unreachable.
 */
SEC("tc")
int from_services(struct __sk_buff *skb)
{
	__u32 here = skb->ifindex;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return drop(here, DROP_ETHERTYPE);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5 || (void *)ip + ip->ihl * 4 > end)
		return drop(here, DROP_MALFORMED);
	struct svc_ports *ports = svc_l4(ip, end);
	__u32 tag = bpf_ntohl(ip->daddr);
	if (!ports || (tag & ~((1U << SVC_TAG_BITS) - 1)) != SVC_TAG_NET)
		return drop(here, DROP_NO_ROUTE);
	__u32 ifindex = tag & ((1U << SVC_TAG_BITS) - 1);
	struct iface *guest = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!guest)
		return drop(here, DROP_NO_ROUTE);
	struct svc_flow_key key = {.ifindex = ifindex, .port = ports->dest, .proto = ip->protocol};
	struct svc_flow *flow = bpf_map_lookup_elem(&svc_flows, &key);
	if (!flow)
		return drop(here, DROP_NO_ROUTE);
	__be32 service = flow->service, to = flow->guest;
	__u8 mac[6];
	__builtin_memcpy(mac, guest->mac, 6);
	if (svc_rewrite(skb, ETH_HLEN + ip->ihl * 4, ip->protocol, ip->saddr, service, ip->daddr, to))
		return drop(here, DROP_MALFORMED);
	return svc_deliver(skb, mac, router_mac, ifindex);
}

#endif
