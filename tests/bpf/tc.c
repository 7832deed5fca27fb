// SPDX-License-Identifier: GPL-2.0
/* Test programs: a TC classifier that passes and one that drops. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} tc_count SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *value = bpf_map_lookup_elem(&tc_count, &key);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	count(0);
	return TC_ACT_OK;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	count(1);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
