/*
 * The datapath's types and constants, shared with its Go side: bpf2go generates a Go type for
 * each struct and enum listed in gen.go, so that C and Go never keep a number twice.
 */
#ifndef HOSTD_DATAPATH_H
#define HOSTD_DATAPATH_H

#include <linux/types.h>

/* iface.flags */
enum iface_flag {
	IFACE_SRC_DST_CHECK = 0x1, /* source/destination check (EC2's, on by default) */
	IFACE_CHECKS_OFF    = 0x2, /* test-only: lift every from-guest check, for negative controls */
};

/* One instance interface, keyed by the ifindex of its host end in the fabric namespace. */
struct iface {
	__u32 vpc;     /* the VPC's number: lookups never cross VPCs, even with the same CIDR */
	__be32 ip;     /* the interface's private IPv4 address */
	__be32 net;    /* its subnet, network address */
	__be32 mask;   /* its subnet, mask */
	__u8 mac[6];   /* the guest's MAC */
	__u16 flags;   /* enum iface_flag */
	__u32 subnet;  /* the subnet's number: its network ACL is subnet_acls[subnet] */
	__u32 policy;  /* the rule set compiled from the union of its security groups */
};

/* Where a (VPC, IP) lives. */
struct endpoint_key {
	__u32 vpc;
	__be32 ip;
};

enum { MAX_GROUPS = 5 }; /* security groups per interface, as in EC2 */

struct endpoint {
	__u32 ifindex; /* host end in the fabric: bpf_redirect_peer delivers to its guest end */
	__u8 mac[6];
	__u16 pad;
	__u32 subnet;  /* as in its iface entry */
	__u32 policy;  /* as in its iface entry */
	__u32 groups[MAX_GROUPS]; /* numbers of the groups it is in (0 ends the list): what rules naming a group match */
};

/*
 * Compiled rules (vnet/compile.go compiles them; a rule set is never changed in place: a new one
 * is written and interfaces are switched to it with one map update each, so that no packet sees
 * a half-applied rule set).
 *
 * rule_addrs, a hash, maps (rule set, direction, CIDR) to the CIDR's class; rule_lengths lists
 * the prefix lengths a set's CIDRs have, longest first, so that probing the address masked to
 * each in turn finds the most specific CIDR containing it: as many lookups as there are distinct
 * lengths (at most 33), however many rules there are. Rules of less specific CIDRs are copied
 * into the classes they contain. A peer is such a class, or a group (PEER_GROUP). rule_protos, a hash,
 * gives for (rule set, peer, protocol) a verdict, and whether some ports differ from it; then
 * rule_buckets, a hash, holds the verdict of each port of one block of 256 (the port being a TCP
 * or UDP destination port, or ICMP type << 8 | code). Protocol PROTO_ANY stands for protocols
 * the set names no rule for. Hash lookups cost the same however many rules there are.
 */
enum rule_peer {
	PEER_EGRESS = 0x80000000, /* the rule set's outbound half; without it, inbound */
	PEER_GROUP  = 0x40000000, /* the peer is a group, by number; without it, an address class */
};

/* A rule_proto_key protocol beyond IP's: protocols the set names no rule for. */
enum rule_protocol {
	PROTO_ANY = 256,
};

struct rule_addr_key {
	__u32 set;
	__u32 dir;       /* 0 or PEER_EGRESS */
	__be32 addr;     /* the CIDR's network address */
	__u8 len;        /* its prefix length */
	__u8 pad[3];
};

struct rule_lengths_key {
	__u32 set;
	__u32 dir;
};

enum { MAX_PREFIX_LENGTHS = 33 };

struct prefix_lengths {
	__u8 count;
	__u8 len[MAX_PREFIX_LENGTHS]; /* longest first */
	__u16 pad;
};

struct rule_proto_key {
	__u32 set;
	__u32 peer;      /* direction | PEER_GROUP | group number, or direction | address class */
	__u16 proto;     /* an IP protocol, or PROTO_ANY */
	__u16 pad;
};

enum verdict {
	VERDICT_DENY  = 0,
	VERDICT_ALLOW = 1,
};

struct rule_proto {
	__u8 verdict;    /* enum verdict: for ports without a bucket, or protocols without ports */
	__u8 buckets;    /* rule_buckets holds blocks of this protocol's ports */
	__u16 pad;
};

struct rule_bucket_key {
	__u32 set;
	__u32 peer;
	__u16 proto;
	__u8 block;      /* port >> 8 */
	__u8 pad;
};

struct rule_bucket {
	__u64 allow[4];  /* bit (port & 255): 1 allows */
};

/* A tracked flow, keyed as its first packet went: (VPC, protocol, initiator, responder). */
struct ct_key {
	__u32 vpc;
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum ct_flag {
	CT_REPLIED     = 0x1,
	CT_ESTABLISHED = 0x2,
	CT_FIN_FWD     = 0x4, /* the initiator sent a FIN */
	CT_FIN_REV     = 0x8, /* the responder sent a FIN */
};

struct ct_entry {
	__u64 expires; /* in datapath_now() nanoseconds */
	__u32 flags;   /* enum ct_flag */
	__u32 pad;
};

/* Entries in ct_count: [CT_COUNT_DATAPATH] counts what the datapath added and removed
 * (atomically), [CT_COUNT_COLLECTED] what the daemon's collector removed (it alone writes it).
 * The table holds the difference. */
enum ct_count_index {
	CT_COUNT_DATAPATH  = 0,
	CT_COUNT_COLLECTED = 1,
};

/* A first fragment's verdict, for the fragments after it. */
struct frag_key {
	__u32 vpc;
	__be32 src;
	__be32 dst;
	__u16 id;
	__u8 proto;
	__u8 pad;
};

/* The datapath's settings, one entry. */
struct config {
	__u64 clock_skew;    /* added to the clock: tests move time forward to expire flows */
	__u32 ct_limit;      /* tracked flows at most; a new flow past it is dropped (ct-full) */
	__u32 pad;
};

/* Why a frame was dropped. vnet names each (DropReasons). */
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
	DROP_SG_INGRESS,       /* no security group rule of the receiver admits it */
	DROP_SG_EGRESS,        /* no security group rule of the sender lets it out */
	DROP_NACL_IN,          /* the receiver's subnet ACL denies it in */
	DROP_NACL_OUT,         /* the sender's subnet ACL denies it out */
	DROP_CT_INVALID,       /* TCP that opens no connection and belongs to no tracked one */
	DROP_CT_FULL,          /* a new flow while the conntrack table is full */
	DROP_FRAG,             /* a later fragment whose first was dropped or never seen */
	DROP_REASON_MAX,
};

struct drop_key {
	__u32 ifindex;
	__u32 reason;        /* enum drop_reason */
};

#endif
