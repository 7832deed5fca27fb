// SPDX-License-Identifier: GPL-2.0
/*
 * Test program with globals in .rodata, .data and .bss: the verdict and a
 * marker come from globaldata, so a test can see that they were written.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 verdict = XDP_PASS;
const volatile __u8 tag[8] = { 0 };
__u64 marker = 0x1122334455667788ULL;
__u64 seen = 0;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	seen = marker + tag[0];
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
