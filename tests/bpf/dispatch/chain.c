// SPDX-License-Identifier: GPL-2.0
/*
 * Test programs for the dispatchers: each run stamps the program's mark into
 * a trace inside the packet and returns a chosen verdict, so a packet that
 * went through a chain carries the exact list of programs that saw it.
 *
 * The trace lives in the UDP payload of an Ethernet/IPv4/UDP frame (no IP
 * options): "BTRC", a count, then up to 16 marks. Packets without the magic
 * are left alone. mark and verdict are globals (.rodata), set per load; the
 * -DMARK=, -DXDP_VERDICT= and -DTC_VERDICT= defaults serve xdp-loader, which
 * cannot set globals.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifndef MARK
#define MARK 1
#endif
#ifndef XDP_VERDICT
#define XDP_VERDICT XDP_PASS
#endif
#ifndef TC_VERDICT
#define TC_VERDICT TC_ACT_PIPE
#endif

#define TRACE_OFFSET 42 /* Ethernet 14 + IPv4 20 + UDP 8 */
#define TRACE_MAX 16
#define TRACE_SIZE (4 + 1 + TRACE_MAX)

const volatile __u8 mark = MARK;
const volatile int xdp_verdict = XDP_VERDICT;
const volatile int tc_verdict = TC_VERDICT;

static __always_inline void stamp(void *data, void *data_end)
{
	__u8 *trace = data + TRACE_OFFSET;
	__u8 *slot;
	__u8 count;

	if ((void *)(trace + TRACE_SIZE) > data_end)
		return;
	if (trace[0] != 'B' || trace[1] != 'T' || trace[2] != 'R' || trace[3] != 'C')
		return;
	count = trace[4];
	if (count >= TRACE_MAX)
		return;
	/* A variable offset loses the checked range: check the slot again. */
	slot = trace + 5 + count;
	if ((void *)(slot + 1) > data_end)
		return;
	*slot = mark;
	trace[4] = count + 1;
}

SEC("xdp")
int chain_xdp(struct xdp_md *ctx)
{
	stamp((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return xdp_verdict;
}

SEC("tc")
int chain_tc(struct __sk_buff *skb)
{
	/* The trace may sit past the linear part of a GSO or paged skb. */
	bpf_skb_pull_data(skb, TRACE_OFFSET + TRACE_SIZE);
	stamp((void *)(long)skb->data, (void *)(long)skb->data_end);
	return tc_verdict;
}

char LICENSE[] SEC("license") = "GPL";
