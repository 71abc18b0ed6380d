/*
 * Allowances, as ENA's: what an interface may send (packets per second, bits per second) and
 * receive (bits per second), policed in the datapath. Each is a GCRA bucket, a token bucket kept as
 * one number: the time at which the bucket would be empty again ("due"). A packet is let through
 * while due is at most ALLOWANCE_BURST ahead of now, and pushes due out by what it costs; past that
 * it is dropped and counted on the interface (pps_allowance_exceeded, bw_out_allowance_exceeded,
 * bw_in_allowance_exceeded). The buckets live in the iface and endpoint entries the programs read
 * anyway, so an allowance costs no lookup; CPUs race on them without atomics, which can only let a
 * packet more through now and then.
 *
 * Policing, not pacing: EDT pacing (bpf_skb_set_tstamp) needs an fq qdisc on the way out, and
 * packets between instances go by bpf_redirect_peer straight into the receiver's namespace,
 * through no qdisc at all.
 */
#ifndef HOSTD_ALLOWANCE_H
#define HOSTD_ALLOWANCE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"

/* How far ahead of now a bucket may run: the burst it admits (20 ms at the allowance's rate, and
 * at least one packet, whatever its size). Coarse time moves in ticks of up to 4 ms. */
#define ALLOWANCE_BURST (20 * 1000 * 1000ULL)

/* within takes cost from the bucket due; it tells whether the packet is within the allowance. */
static __always_inline int within(__u64 *due, __u64 cost, __u64 now)
{
	__u64 t = *due;
	if (t < now)
		t = now;
	else if (t - now > ALLOWANCE_BURST)
		return 0;
	*due = t + cost;
	return 1;
}

/* allowance_out polices what me sends, packets of bytes in all: 0, or why it is dropped. */
static __always_inline __u32 allowance_out(struct iface *me, __u32 packets, __u32 bytes, __u64 now)
{
	if (me->pps_ns && !within(&me->pps_due, (__u64)me->pps_ns * packets, now))
		return DROP_PPS_ALLOWANCE;
	if (me->bw_out_ps && !within(&me->bw_out_due, (__u64)bytes * me->bw_out_ps / 1000, now))
		return DROP_BW_OUT_ALLOWANCE;
	return 0;
}

/* allowance_in polices a packet of bytes toward dst: 0, or why it is dropped. */
static __always_inline __u32 allowance_in(struct endpoint *dst, __u32 bytes, __u64 now)
{
	if (dst->bw_in_ps && !within(&dst->bw_in_due, (__u64)bytes * dst->bw_in_ps / 1000, now))
		return DROP_BW_IN_ALLOWANCE;
	return 0;
}

#endif
