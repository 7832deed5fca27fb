// SPDX-License-Identifier: GPL-2.0
/* Test programs: a uprobe and a uretprobe counting calls. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} uprobe_count SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *value = bpf_map_lookup_elem(&uprobe_count, &key);

	if (value)
		__sync_fetch_and_add(value, 1);
}

SEC("uprobe")
int uprobe_counter(void *ctx)
{
	count(0);
	return 0;
}

SEC("uretprobe")
int uretprobe_counter(void *ctx)
{
	count(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
