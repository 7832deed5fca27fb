// SPDX-License-Identifier: GPL-2.0
/* Test program: counts getpid() calls, optionally of one process only. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Set through globaldata before load; 0 counts every process. */
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} getpid_count SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 key = 0;
	__u64 *count;

	if (target_tgid && tgid != target_tgid)
		return 0;
	count = bpf_map_lookup_elem(&getpid_count, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
