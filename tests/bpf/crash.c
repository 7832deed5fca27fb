// SPDX-License-Identifier: GPL-2.0
/* Test programs of the crash and concurrency tests (tests/kernel/test_crash.py,
 * test_concurrent.py). Their names are found nowhere else, so the kernel's
 * program table tells exactly which programs these tests left behind. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} bt_crash_hits SEC(".maps");

static __always_inline void hit(__u32 key)
{
	__u64 *value = bpf_map_lookup_elem(&bt_crash_hits, &key);

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
