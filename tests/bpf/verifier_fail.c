// SPDX-License-Identifier: GPL-2.0
/* Test program the verifier must refuse: it reads past the packet end. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_out_of_bounds(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;

	/* No check against ctx->data_end: the verifier rejects this load. */
	return data[64] == 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
