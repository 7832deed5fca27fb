// SPDX-License-Identifier: GPL-2.0
/*
 * Test programs for the dispatchers: each run stamps the program's mark into
 * a trace inside the packet and returns a chosen verdict, so a packet that
 * went through a chain carries the exact list of programs that saw it.
 *
 * The trace lives in the UDP payload of an Ethernet/IPv4/UDP frame (no IP
 * options): "BTRC", a count, up to 16 marks, a 4-byte sequence number, then
 * one override byte per mark (mark & 15): 0 keeps the program's verdict,
 * v + 2 makes it return v (so TC_ACT_UNSPEC, -1, is 1). One dispatcher can
 * so be test-run with every verdict. Packets without the magic are passed
 * on untouched. mark and the verdicts are globals (.rodata), set per load;
 * the -DMARK=, -DXDP_VERDICT= and -DTC_VERDICT= defaults serve xdp-loader,
 * which cannot set globals.
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
#define OVERRIDES (4 + 1 + TRACE_MAX + 4)
#define TRACE_SIZE (OVERRIDES + 16)

const volatile __u8 mark = MARK;
const volatile int xdp_verdict = XDP_VERDICT;
const volatile int tc_verdict = TC_VERDICT;

/* Stamp the mark into the packet's trace; return the verdict to give. */
static __always_inline int stamp(void *data, void *data_end, int verdict)
{
	__u8 *trace = data + TRACE_OFFSET;
	__u8 *slot;
	__u8 count;

	if ((void *)(trace + TRACE_SIZE) > data_end)
		return verdict;
	if (trace[0] != 'B' || trace[1] != 'T' || trace[2] != 'R' || trace[3] != 'C')
		return verdict;
	count = trace[4];
	if (count < TRACE_MAX) {
		/* A variable offset loses the checked range: check the slot again. */
		slot = trace + 5 + count;
		if ((void *)(slot + 1) > data_end)
			return verdict;
		*slot = mark;
		trace[4] = count + 1;
	}
	slot = trace + OVERRIDES + (mark & 15);
	if ((void *)(slot + 1) > data_end || *slot == 0)
		return verdict;
	return (int)*slot - 2;
}

SEC("xdp")
int chain_xdp(struct xdp_md *ctx)
{
	return stamp((void *)(long)ctx->data, (void *)(long)ctx->data_end, xdp_verdict);
}

SEC("tc")
int chain_tc(struct __sk_buff *skb)
{
	/* The trace may sit past the linear part of a GSO or paged skb. */
	bpf_skb_pull_data(skb, TRACE_OFFSET + TRACE_SIZE);
	return stamp((void *)(long)skb->data, (void *)(long)skb->data_end, tc_verdict);
}

char LICENSE[] SEC("license") = "GPL";
