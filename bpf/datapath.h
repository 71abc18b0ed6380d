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

/*
 * One instance interface, keyed by the ifindex of its host end in the fabric namespace: its
 * configuration, which vnet writes. What the datapath counts of it is in the usage map, under the
 * same key; the daemon never writes there, so that its updates never lose a count.
 */
struct iface {
	__u32 ifindex;  /* its own key: the owner of the flows it opens */
	__u32 vpc;      /* the VPC's number: lookups never cross VPCs, even with the same CIDR */
	__be32 ip;      /* the interface's private IPv4 address */
	__be32 net;     /* its subnet, network address */
	__be32 mask;    /* its subnet, mask */
	__u8 mac[6];    /* the guest's MAC */
	__u16 flags;    /* enum iface_flag */
	__u32 subnet;   /* the subnet's number: its network ACL is subnet_acls[subnet] */
	__u32 policy;   /* the rule set compiled from the union of its security groups (a handle) */
	__u32 identity; /* its combination of groups: what rules naming one of them match */
	__u32 ct_allowance; /* conntrack entries it may open: its share of the table */
	/* allowance.h: what it may send, and the state of those buckets (written by the datapath;
	 * a rewrite by vnet resets them, which grants at most one burst) */
	__u32 pps_ns;      /* nanoseconds each packet it sends costs (1e9 / pps); 0: no limit */
	__u64 bw_out_ps;   /* picoseconds each byte it sends costs (8e12 / bits per second); 0: no limit */
	__u64 pps_due;     /* when its packet bucket is next empty (GCRA's theoretical arrival time) */
	__u64 bw_out_due;  /* likewise, its outbound bytes */
};

struct iface_usage {
	__s64 tracked;  /* conntrack entries it opened that are in the table (atomic) */
};

/* Where a (VPC, IP) lives. */
struct endpoint_key {
	__u32 vpc;
	__be32 ip;
};

enum { MAX_GROUPS = 5 }; /* security groups per interface, as in EC2 */

struct endpoint {
	__u32 ifindex;  /* host end in the fabric: bpf_redirect_peer delivers to its guest end */
	__u8 mac[6];
	__u16 pad;
	__u32 subnet;   /* as in its iface entry */
	__u32 policy;   /* as in its iface entry */
	__u32 identity; /* as in its iface entry */
	__be32 router;  /* its subnet's router address (.1): a router may report errors about its flows */
	__u32 groups[MAX_GROUPS]; /* the numbers of its groups, sorted (0 ends the list): what its identity stands for */
	/* allowance.h: what it may receive, as iface's pps_ns and bw_out_ps for what it sends */
	__u64 bw_in_ps;
	__u64 bw_in_due;
};

/*
 * Compiled rules (vnet/compile.go compiles them). A rule set is never changed in place: a new one
 * is written and interfaces and subnets are switched to it with one map update each, so that no
 * packet sees a half-applied change. (The one addition in place, the rows of a new identity, is
 * written before any endpoint carries that identity.)
 *
 * A packet's peer (its destination outbound, its source inbound) is found in two ways, and the
 * rules of both are unioned: by address, one longest-prefix lookup in rule_classes gives the class
 * of the most specific CIDR of the set containing it (a class holds the rules of every CIDR that
 * contains it); by identity, the combination of groups the peer's interface is in (an identity
 * holds the rules naming any of its groups). rule_ports then gives, for (set, peer, protocol,
 * block of 256 ports), the verdict of each port of the block (a TCP or UDP destination port, or
 * ICMP type << 8 | code); block BLOCK_ALL gives the verdict of a protocol's other ports, and
 * protocol PROTO_ANY that of protocols with no row of their own. A row is written only where it
 * differs from the row looked up after it, and a missing PROTO_ANY row denies: at most three hash
 * lookups, however many rules there are.
 *
 * A rule set is known by its handle: its number, and whether it admits everything one way
 * (SET_ALLOWS_IN, SET_ALLOWS_OUT: a group's "all traffic to 0.0.0.0/0", the default ACL), in which
 * case that way needs no lookup at all.
 */
enum rule_set_bits {
	SET_ALLOWS_IN  = 0x80000000, /* in a handle: every packet in is allowed */
	SET_ALLOWS_OUT = 0x40000000, /* in a handle: every packet out is allowed */
	SET_EGRESS     = 0x20000000, /* in a key: the set's outbound half; without it, inbound */
	SET_NUMBER     = 0x0fffffff, /* the set's number, in a handle and in every key */
};

enum rule_peer_bits {
	PEER_IDENTITY    = 0x80000000, /* in a rule_ports key: the peer is an identity; without it, a class */
	CLASS_ALLOWS_ALL = 0x40000000, /* in a rule_classes value: the class admits every packet */
	CLASS_NUMBER     = 0x0fffffff,
};

/* rule_port_key.proto beyond IP's: protocols the set names no rule for. */
enum rule_protocol {
	PROTO_ANY = 256,
};

/* rule_port_key.block beyond a port's high byte: the protocol's ports without a block row. */
enum rule_block {
	BLOCK_ALL = 256,
};

struct rule_class_key {
	__u32 prefixlen; /* 32 (the set) + the CIDR's length */
	__u32 set;       /* number | SET_EGRESS */
	__be32 addr;     /* the CIDR's network address */
};

struct rule_port_key {
	__u32 set;       /* number | SET_EGRESS */
	__u32 peer;      /* a class number, or PEER_IDENTITY | an identity */
	__u16 proto;     /* an IP protocol, or PROTO_ANY */
	__u16 block;     /* port >> 8, or BLOCK_ALL */
};

struct rule_port_bits {
	__u64 allow[4];  /* bit (port & 255): 1 allows; a BLOCK_ALL row has every bit alike */
};

/*
 * Conntrack holds two kinds of entries. A flow (CT_FLOW) is keyed the same whichever way its
 * packets go: its two ends, the lower first. A first fragment's record (CT_FRAGMENT), which lets
 * the fragments after it through, is keyed as it was sent: (source, destination, IP id, 0). Each
 * entry is charged to the interface that opened it, against its allowance, and to the fabric's
 * table, against ct_limit.
 */
enum ct_kind {
	CT_FLOW     = 0,
	CT_FRAGMENT = 1,
};

struct ct_key {
	__u32 vpc;
	__be32 addr[2];
	__be16 port[2];
	__u8 proto;
	__u8 kind;     /* enum ct_kind */
	__u16 pad;
};

enum ct_flag {
	CT_REPLIED      = 0x1,
	CT_ESTABLISHED  = 0x2,
	CT_FIN_FWD      = 0x4,  /* the initiator sent a FIN */
	CT_FIN_REV      = 0x8,  /* the responder sent a FIN */
	CT_INITIATOR_LO = 0x10, /* the initiator is the key's first end */
};

struct ct_entry {
	__u64 expires; /* in datapath_now() nanoseconds */
	__u32 flags;   /* enum ct_flag */
	__u32 owner;   /* the iface that opened it: its usage counts it */
};

/* What the daemon's collector gives ct_collect for one entry. */
struct ct_collect_args {
	struct ct_key key;
	__u32 pad;
	__u64 now;     /* the datapath's clock as the collector read it; ~0 removes it whatever its expiry */
};

/* The datapath's settings, one entry. */
struct config {
	__u64 clock_skew;    /* added to the clock: tests move time forward to expire flows */
	__u32 ct_limit;      /* conntrack entries at most, all interfaces together; past it, ct-full */
	__u32 flow_gen;      /* flowlog.h: the generation flow records are counted in (0 or 1) */
	__u32 flow_limit;    /* flowlog.h: flow records at most per generation; past it, skipped */
	__u32 flow_off;      /* flowlog.h: 1 records nothing (the benchmarks' baseline) */
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
	DROP_CT_ALLOWANCE,     /* a new flow or first fragment past its interface's conntrack allowance */
	DROP_LINKLOCAL_ALLOWANCE, /* a DNS packet past its interface's allowance to the resolver (services.h) */
	DROP_PPS_ALLOWANCE,    /* sent past its interface's packets-per-second allowance */
	DROP_BW_OUT_ALLOWANCE, /* sent past its interface's bandwidth allowance */
	DROP_BW_IN_ALLOWANCE,  /* toward an interface past its bandwidth allowance */
	DROP_REASON_MAX,
};

struct drop_key {
	__u32 ifindex;
	__u32 reason;        /* enum drop_reason */
};

#endif
