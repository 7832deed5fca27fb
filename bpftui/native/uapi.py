"""Numbers of the kernel's BPF UAPI (``include/uapi/linux/bpf.h``, ``if_link.h``).

Enumerations are tuples indexed by value holding the lower-case name that
bpftool prints (``BPF_PROG_TYPE_SCHED_CLS`` -> ``"sched_cls"``). Values are
stable ABI: the kernel only appends.
"""

from __future__ import annotations

PROG_TYPES: tuple[str, ...] = (
    "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint",
    "xdp", "perf_event", "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out",
    "lwt_xmit", "sock_ops", "sk_skb", "cgroup_device", "sk_msg",
    "raw_tracepoint", "cgroup_sock_addr", "lwt_seg6local", "lirc_mode2",
    "sk_reuseport", "flow_dissector", "cgroup_sysctl",
    "raw_tracepoint_writable", "cgroup_sockopt", "tracing", "struct_ops", "ext",
    "lsm", "sk_lookup", "syscall", "netfilter",
)  # fmt: skip

MAP_TYPES: tuple[str, ...] = (
    "unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash",
    "percpu_array", "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash",
    "lpm_trie", "array_of_maps", "hash_of_maps", "devmap", "sockmap", "cpumap",
    "xskmap", "sockhash", "cgroup_storage", "reuseport_sockarray",
    "percpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
    "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter",
    "user_ringbuf", "cgrp_storage", "arena", "insn_array",
)  # fmt: skip

LINK_TYPES: tuple[str, ...] = (
    "unspec", "raw_tracepoint", "tracing", "cgroup", "iter", "netns", "xdp",
    "perf_event", "kprobe_multi", "struct_ops", "netfilter", "tcx",
    "uprobe_multi", "netkit", "sockmap", "tracing_multi",
)  # fmt: skip

ATTACH_TYPES: tuple[str, ...] = (
    "cgroup_inet_ingress", "cgroup_inet_egress", "cgroup_inet_sock_create",
    "cgroup_sock_ops", "sk_skb_stream_parser", "sk_skb_stream_verdict",
    "cgroup_device", "sk_msg_verdict", "cgroup_inet4_bind", "cgroup_inet6_bind",
    "cgroup_inet4_connect", "cgroup_inet6_connect", "cgroup_inet4_post_bind",
    "cgroup_inet6_post_bind", "cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg",
    "lirc_mode2", "flow_dissector", "cgroup_sysctl", "cgroup_udp4_recvmsg",
    "cgroup_udp6_recvmsg", "cgroup_getsockopt", "cgroup_setsockopt",
    "trace_raw_tp", "trace_fentry", "trace_fexit", "modify_return", "lsm_mac",
    "trace_iter", "cgroup_inet4_getpeername", "cgroup_inet6_getpeername",
    "cgroup_inet4_getsockname", "cgroup_inet6_getsockname", "xdp_devmap",
    "cgroup_inet_sock_release", "xdp_cpumap", "sk_lookup", "xdp",
    "sk_skb_verdict", "sk_reuseport_select", "sk_reuseport_select_or_migrate",
    "perf_event", "trace_kprobe_multi", "lsm_cgroup", "struct_ops", "netfilter",
    "tcx_ingress", "tcx_egress", "trace_uprobe_multi", "cgroup_unix_connect",
    "cgroup_unix_sendmsg", "cgroup_unix_recvmsg", "cgroup_unix_getpeername",
    "cgroup_unix_getsockname", "netkit_primary", "netkit_peer",
    "trace_kprobe_session", "trace_uprobe_session", "trace_fsession",
)  # fmt: skip

PERF_EVENT_TYPES: tuple[str, ...] = (
    "unspec",
    "uprobe",
    "uretprobe",
    "kprobe",
    "kretprobe",
    "tracepoint",
    "event",
)

# enum bpf_prog_type
BPF_PROG_TYPE_SOCKET_FILTER = 1
BPF_PROG_TYPE_KPROBE = 2
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_TRACEPOINT = 5
BPF_PROG_TYPE_XDP = 6
BPF_PROG_TYPE_TRACING = 26
BPF_PROG_TYPE_EXT = 28

# enum bpf_attach_type
BPF_TRACE_FENTRY = 24
BPF_TRACE_FEXIT = 25
BPF_XDP = 37
BPF_PERF_EVENT = 41
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47

# enum bpf_link_type
BPF_LINK_TYPE_RAW_TRACEPOINT = 1
BPF_LINK_TYPE_TRACING = 2
BPF_LINK_TYPE_CGROUP = 3
BPF_LINK_TYPE_ITER = 4
BPF_LINK_TYPE_NETNS = 5
BPF_LINK_TYPE_XDP = 6
BPF_LINK_TYPE_PERF_EVENT = 7
BPF_LINK_TYPE_STRUCT_OPS = 9
BPF_LINK_TYPE_NETFILTER = 10
BPF_LINK_TYPE_TCX = 11
BPF_LINK_TYPE_NETKIT = 13

# enum bpf_perf_event_type
BPF_PERF_EVENT_UPROBE = 1
BPF_PERF_EVENT_URETPROBE = 2
BPF_PERF_EVENT_KPROBE = 3
BPF_PERF_EVENT_KRETPROBE = 4
BPF_PERF_EVENT_TRACEPOINT = 5

# enum bpf_map_type (only those whose values need special handling)
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
PERCPU_MAP_TYPES = frozenset(
    {
        BPF_MAP_TYPE_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_ARRAY,
        BPF_MAP_TYPE_LRU_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
    }
)

BPF_STATS_RUN_TIME = 0
BPF_F_REPLACE = 1 << 2

# include/uapi/linux/if_link.h
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4

# include/uapi/linux/btf.h
BTF_KIND_FUNC = 12
BTF_INT_SIGNED = 1 << 0
BTF_FUNC_GLOBAL = 1

# include/uapi/linux/perf_event.h
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

# BPF instructions used by feature probes: "r0 = imm; exit".
BPF_ALU64_MOV_K = 0xB7
BPF_JMP_EXIT = 0x95


def name_of(names: tuple[str, ...], value: int) -> str:
    """Return the name for ``value`` or ``"unknown(N)"`` for a newer kernel's."""
    if 0 <= value < len(names):
        return names[value]
    return f"unknown({value})"
