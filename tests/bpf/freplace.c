// SPDX-License-Identifier: GPL-2.0
/*
 * Test programs for freplace: an XDP program whose verdict comes from a
 * global function, and an extension that replaces that function.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int verdict(struct xdp_md *ctx)
{
	/* volatile: a constant here would be folded into the caller. */
	volatile int ret = XDP_PASS;

	if (!ctx)
		return XDP_ABORTED;
	return ret;
}

SEC("xdp")
int xdp_target(struct xdp_md *ctx)
{
	return verdict(ctx);
}

SEC("freplace/verdict")
int drop_verdict(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
