//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/*
 * hostd's datapath: attached at the host end of every instance's veth, in the fabric namespace.
 *
 * from_guest (TCX ingress) sees every frame a guest sends. It drops what the guest may not send
 * (another source MAC or IP, ARP for addresses not its own, DHCP server replies, broadcast,
 * VLAN, IPv6), answers ARP itself (every subnet address resolves to the router's MAC, as in a
 * VPC), applies the network ACLs and security groups (sg_nacl.h, with conntrack.h), and forwards
 * IPv4 to the interface that owns the destination in the same VPC with bpf_redirect_peer,
 * straight into that guest. No bridge, no kernel route, no flooding: a guest receives only what
 * is addressed to it, whatever mode its interface is in.
 *
 * to_guest (TCX egress) guards anything else on its way to the guest: only frames addressed to
 * its MAC (and IP) pass.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "fabric.h"
#include "sg_nacl.h"
#include "allowance.h"
#include "flowlog.h"

char LICENSE[] SEC("license") = "GPL";

/* Put the enums shared with Go in the BTF, so that bpf2go gives Go the same numbers. */
const enum drop_reason *unused_drop_reason __attribute__((unused));
const enum iface_flag *unused_iface_flag __attribute__((unused));
const enum rule_set_bits *unused_rule_set_bits __attribute__((unused));
const enum rule_peer_bits *unused_rule_peer_bits __attribute__((unused));
const enum rule_protocol *unused_rule_protocol __attribute__((unused));
const enum rule_block *unused_rule_block __attribute__((unused));
const enum ct_kind *unused_ct_kind __attribute__((unused));
const enum flow_stage *unused_flow_stage __attribute__((unused));

/* The VPC router's MAC: the answer to every ARP, the source of every forwarded frame. */
static const __u8 router_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

/* issue 14: the link-local services (DNS, instance metadata) and their program, from_services. */
#include "services.h"
const enum svc_const *unused_svc_const __attribute__((unused));

struct arp_eth {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__be32 spa;
	__u8 tha[6];
	__be32 tpa;
} __attribute__((packed));

#define ARP_REQUEST 1
#define ARP_REPLY 2
#define DHCP_SERVER_PORT 67

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 6);
}

/* handle_arp answers a guest's ARP request for an address of its subnet with the router's MAC,
 * by turning the request into the reply and sending it back out. Nothing of ARP goes further. */
static __always_inline int handle_arp(struct __sk_buff *skb, struct iface *me, int checks)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct arp_eth *arp = (void *)(eth + 1);

	if ((void *)(arp + 1) > end)
		return drop(skb->ifindex, DROP_MALFORMED);
	if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) || arp->hlen != 6 || arp->plen != 4)
		return drop(skb->ifindex, DROP_MALFORMED);
	/* An ARP probe (sender 0.0.0.0) asks, it claims nothing: absorb it quietly. */
	if (arp->spa == 0)
		return TC_ACT_SHOT;
	/* Replies, gratuitous ARP and requests must all be sent as the interface itself. */
	if (checks && (!mac_eq(arp->sha, me->mac) || arp->spa != me->ip))
		return drop(skb->ifindex, DROP_SPOOF_ARP);
	if (arp->op != bpf_htons(ARP_REQUEST) || (arp->tpa & me->mask) != me->net || arp->tpa == arp->spa)
		return TC_ACT_SHOT; /* nothing to answer, and nobody else to tell */

	__be32 target = arp->tpa;
	arp->op = bpf_htons(ARP_REPLY);
	mac_copy(arp->tha, arp->sha);
	arp->tpa = arp->spa;
	mac_copy(arp->sha, router_mac);
	arp->spa = target;
	mac_copy(eth->h_dest, eth->h_source);
	mac_copy(eth->h_source, router_mac);
	return bpf_redirect(skb->ifindex, 0);
}

SEC("tc")
int from_guest(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct iface *me = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!me)
		return drop(ifindex, DROP_UNKNOWN_IFACE);
	int checks = !(me->flags & IFACE_CHECKS_OFF);
	/* The kernel takes one 802.1Q or 802.1ad tag off into the skb's metadata before this program
	 * runs; a second tag is still in the frame, and its ethertype is dropped below. */
	if (checks && skb->vlan_present)
		return drop(ifindex, DROP_VLAN);

	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return drop(ifindex, DROP_MALFORMED);
	if (checks && !mac_eq(eth->h_source, me->mac))
		return drop(ifindex, DROP_SPOOF_MAC);

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_ARP):
		return handle_arp(skb, me, checks);
	case bpf_htons(ETH_P_IP):
		break;
	case bpf_htons(ETH_P_8021Q):
	case bpf_htons(ETH_P_8021AD):
		return drop(ifindex, DROP_VLAN);
	case bpf_htons(ETH_P_IPV6):
		return drop(ifindex, DROP_IPV6);
	default:
		return drop(ifindex, DROP_ETHERTYPE);
	}

	if (eth->h_dest[0] & 1) /* group bit: broadcast or multicast */
		return drop(ifindex, DROP_BROADCAST);

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return drop(ifindex, DROP_MALFORMED);
	if (ip->version != 4 || ip->ihl < 5 || (void *)ip + ip->ihl * 4 > end)
		return drop(ifindex, DROP_MALFORMED);
	if (checks && (me->flags & IFACE_SRC_DST_CHECK) && ip->saddr != me->ip)
		return drop(ifindex, DROP_SPOOF_IP);

	/* Only a first fragment carries the UDP header; later ones go by the addresses alone. */
	if (checks && ip->protocol == IPPROTO_UDP && !(ip->frag_off & bpf_htons(IP_OFFSET))) {
		struct udphdr *udp = (void *)ip + ip->ihl * 4;
		if ((void *)(udp + 1) > end)
			return drop(ifindex, DROP_MALFORMED);
		if (udp->source == bpf_htons(DHCP_SERVER_PORT))
			return drop(ifindex, DROP_DHCP_SERVER);
	}

	/* issue 14: a packet to a link-local service goes there, tagged with this interface. */
	int verdict;
	if (service_from_guest(skb, me, ip, end, &verdict))
		return verdict;

	/* allowance.h: what it sends, within its allowances */
	__u64 now = bpf_ktime_get_coarse_ns();
	struct wire_size size = wire_size(skb, ip);
	__u32 reason = allowance_out(me, size.packets, size.bytes, now);
	if (reason)
		return drop(ifindex, reason);

	struct endpoint_key key = {.vpc = me->vpc, .ip = ip->daddr};
	struct endpoint *dst = bpf_map_lookup_elem(&endpoints, &key);
	if (!dst)
		return drop(ifindex, DROP_NO_ROUTE);
	__u32 at = ifindex;
	reason = firewall(me, dst, ip, end, &at);
	/* flowlog.h: the firewall's verdict, recorded */
	flow_record(ifindex, dst->ifindex, ip, end, size, !reason ? FLOW_DELIVERED : at == ifindex ? FLOW_REJECTED_OUT : FLOW_REJECTED_IN, now);
	if (reason)
		return drop(at, reason);
	/* allowance.h: what it receives, within its allowance */
	reason = allowance_in(dst, size.bytes, now);
	if (reason)
		return drop(dst->ifindex, reason);

	mac_copy(eth->h_dest, dst->mac);
	mac_copy(eth->h_source, router_mac);
	return bpf_redirect_peer(dst->ifindex, 0);
}

SEC("tc")
int to_guest(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct iface *me = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!me)
		return drop(ifindex, DROP_UNKNOWN_IFACE);

	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return drop(ifindex, DROP_MALFORMED);
	if (!mac_eq(eth->h_dest, me->mac))
		return drop(ifindex, DROP_NOT_FOR_GUEST);

	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		struct arp_eth *arp = (void *)(eth + 1);
		if ((void *)(arp + 1) > end)
			return drop(ifindex, DROP_MALFORMED);
		return arp->tpa == me->ip ? TC_ACT_OK : drop(ifindex, DROP_NOT_FOR_GUEST);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return drop(ifindex, DROP_MALFORMED);
		if ((me->flags & IFACE_SRC_DST_CHECK) && ip->daddr != me->ip)
			return drop(ifindex, DROP_NOT_FOR_GUEST);
		return TC_ACT_OK;
	}
	return drop(ifindex, DROP_NOT_FOR_GUEST);
}

/* ct_collect removes one conntrack entry for the daemon's collector, releasing its charges, if it
 * has expired by args->now. It returns 1 if it removed it: the datapath's counts are kept by the
 * datapath's own code, never written from user space. */
SEC("syscall")
int ct_collect(struct ct_collect_args *args)
{
	struct ct_key key = args->key;
	struct ct_entry *e = bpf_map_lookup_elem(&conntrack, &key);
	if (!e || args->now < e->expires)
		return 0;
	return ct_remove(&key, e);
}
