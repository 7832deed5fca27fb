// SPDX-License-Identifier: GPL-2.0
/* Test programs of the durability tests (tests/kernel/test_crash.py and
 * others using tests/_nodebed.py). Their names are found nowhere else, and
 * each test run sets its own bt_run through globaldata, so the kernel's
 * program table tells exactly which programs one run left behind, even
 * while another run of the same tests goes on beside it. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} bt_crash_hits SEC(".maps");

/* The run that loaded the program; read back from .rodata by the tests. */
const volatile __u32 bt_run = 0;

static __always_inline void hit(__u32 key)
{
	__u64 *value;

	/* Reading bt_run keeps it, and .rodata, in every program. */
	if (bt_run == 0)
		key = 2;
	value = bpf_map_lookup_elem(&bt_crash_hits, &key);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("xdp")
int bt_crash_xdp(struct xdp_md *ctx)
{
	hit(0);
	return XDP_PASS;
}

SEC("tc")
int bt_crash_tc(struct __sk_buff *skb)
{
	hit(1);
	return TC_ACT_OK;
}

SEC("tc")
int bt_crash_tc2(struct __sk_buff *skb)
{
	hit(1);
	return TC_ACT_OK;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int bt_crash_tp(void *ctx)
{
	hit(2);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
