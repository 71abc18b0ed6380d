/* Shared between the datapath and its Go side (bpf2go generates Go types from these). */
#ifndef HOSTD_DATAPATH_H
#define HOSTD_DATAPATH_H

#include <linux/types.h>

/* iface.flags */
#define IFACE_SRC_DST_CHECK 0x1 /* source/destination check (EC2's, on by default) */
#define IFACE_CHECKS_OFF    0x2 /* test-only: lift every from-guest check, for negative controls */

/* One instance interface, keyed by the ifindex of its host end in the fabric namespace. */
struct iface {
	__u32 vpc;     /* the VPC's number: lookups never cross VPCs, even with the same CIDR */
	__be32 ip;     /* the interface's private IPv4 address */
	__be32 net;    /* its subnet, network address */
	__be32 mask;   /* its subnet, mask */
	__u8 mac[6];   /* the guest's MAC */
	__u16 flags;
};

/* Where a (VPC, IP) lives. */
struct endpoint_key {
	__u32 vpc;
	__be32 ip;
};

struct endpoint {
	__u32 ifindex; /* host end in the fabric: bpf_redirect_peer delivers to its guest end */
	__u8 mac[6];
	__u16 pad;
};

/* Why a frame was dropped. Keep in step with vnet's reason names. */
enum drop_reason {
	DROP_MALFORMED = 1,    /* truncated or inconsistent headers */
	DROP_SPOOF_MAC,        /* source MAC is not the interface's */
	DROP_SPOOF_IP,         /* source IPv4 is not the interface's (source/dest check) */
	DROP_SPOOF_ARP,        /* ARP whose sender MAC or IP is not the interface's */
	DROP_DHCP_SERVER,      /* a DHCP server reply from a guest */
	DROP_BROADCAST,        /* broadcast or multicast: no broadcast domain is shared */
	DROP_NO_ROUTE,         /* no interface has that address in the VPC */
	DROP_VLAN,             /* VLAN-tagged frame */
	DROP_IPV6,             /* IPv6 is not offered yet */
	DROP_ETHERTYPE,        /* anything else */
	DROP_NOT_FOR_GUEST,    /* toward a guest, but not addressed to it */
	DROP_UNKNOWN_IFACE,    /* the program runs on an interface it has no entry for */
	DROP_REASON_MAX,
};

struct drop_key {
	__u32 ifindex;
	__u32 reason;
};

#endif
