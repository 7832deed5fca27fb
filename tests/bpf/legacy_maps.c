// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for inspection only: a map in the legacy "maps" section, which
 * libbpf 1.0 no longer loads but older bytecode images still carry.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def legacy_hash SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 128,
};

SEC("socket")
int socket_prog(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
