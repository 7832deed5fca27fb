"""ctypes mirrors of the C structures bpftui hands to libbpf and the kernel.

Every class keeps the header's name, field names and field order, so that a
reader can hold it next to the header. Unnamed padding fields of a header
(``__u32 :32;``) get a name starting with ``_unnamed`` here, because ctypes
needs one. The ``*_opts`` structures mirror the libbpf headers of the library
bpftui runs against (Debian 12: libbpf 1.1.2); libbpf reads ``sz`` to learn how
much of the structure the caller knows, so a newer libbpf accepts them too.

The kernel's info structures (``bpf_prog_info`` ...) may be shorter or longer
than the running kernel's: the kernel copies the common prefix and checks that
any tail it does not know is zero, so an unused tail is harmless.

``tests/unit/test_native_structs.py`` compares every size with the C compiler's.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import TypeVar

BPF_TAG_SIZE = 8
BPF_OBJ_NAME_LEN = 16


# ------------------------------------------------------------ libbpf options


class bpf_object_open_opts(ctypes.Structure):
    """``struct bpf_object_open_opts`` from ``<bpf/libbpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("object_name", c_char_p),
        ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p),
        ("_unnamed_attach_prog_fd", c_uint32),  # ``__u32 :32``, a removed field
        ("kconfig", c_char_p),
        ("btf_custom_path", c_char_p),
        ("kernel_log_buf", c_void_p),
        ("kernel_log_size", c_size_t),
        ("kernel_log_level", c_uint32),
    )


class bpf_kprobe_opts(ctypes.Structure):
    """``struct bpf_kprobe_opts`` from ``<bpf/libbpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("bpf_cookie", c_uint64),
        ("offset", c_size_t),
        ("retprobe", c_bool),
    )


class bpf_uprobe_opts(ctypes.Structure):
    """``struct bpf_uprobe_opts`` from ``<bpf/libbpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("ref_ctr_offset", c_size_t),
        ("bpf_cookie", c_uint64),
        ("retprobe", c_bool),
        ("func_name", c_char_p),
    )


class _link_create_perf_event(ctypes.Structure):
    _fields_ = (("bpf_cookie", c_uint64),)


class _link_create_kprobe_multi(ctypes.Structure):
    _fields_ = (
        ("flags", c_uint32),
        ("cnt", c_uint32),
        ("syms", c_void_p),
        ("addrs", c_void_p),
        ("cookies", c_void_p),
    )


class _link_create_tracing(ctypes.Structure):
    _fields_ = (("cookie", c_uint64),)


class _link_create_union(ctypes.Union):
    _fields_ = (
        ("perf_event", _link_create_perf_event),
        ("kprobe_multi", _link_create_kprobe_multi),
        ("tracing", _link_create_tracing),
    )


class bpf_link_create_opts(ctypes.Structure):
    """``struct bpf_link_create_opts`` from ``<bpf/bpf.h>`` (libbpf 1.1)."""

    _anonymous_ = ("_unnamed_union",)
    _fields_ = (
        ("sz", c_size_t),
        ("flags", c_uint32),
        ("iter_info", c_void_p),
        ("iter_info_len", c_uint32),
        ("target_btf_id", c_uint32),
        ("_unnamed_union", _link_create_union),
    )


class bpf_link_update_opts(ctypes.Structure):
    """``struct bpf_link_update_opts`` from ``<bpf/bpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("flags", c_uint32),
        ("old_prog_fd", c_uint32),
    )


class bpf_test_run_opts(ctypes.Structure):
    """``struct bpf_test_run_opts`` from ``<bpf/bpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    )


class bpf_prog_load_opts(ctypes.Structure):
    """``struct bpf_prog_load_opts`` from ``<bpf/bpf.h>`` (libbpf 1.1)."""

    _fields_ = (
        ("sz", c_size_t),
        ("attempts", c_int),
        ("expected_attach_type", c_uint32),
        ("prog_btf_fd", c_uint32),
        ("prog_flags", c_uint32),
        ("prog_ifindex", c_uint32),
        ("kern_version", c_uint32),
        ("attach_btf_id", c_uint32),
        ("attach_prog_fd", c_uint32),
        ("attach_btf_obj_fd", c_uint32),
        ("fd_array", c_void_p),
        ("func_info", c_void_p),
        ("func_info_cnt", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("line_info", c_void_p),
        ("line_info_cnt", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("log_level", c_uint32),
        ("log_size", c_uint32),
        ("log_buf", c_void_p),
    )


class bpf_insn(ctypes.Structure):
    """``struct bpf_insn`` from ``<linux/bpf.h>``."""

    _fields_ = (
        ("code", c_uint8),
        ("dst_reg", c_uint8, 4),
        ("src_reg", c_uint8, 4),
        ("off", ctypes.c_int16),
        ("imm", c_int32),
    )


# ------------------------------------------------------ kernel info records


class bpf_prog_info(ctypes.Structure):
    """``struct bpf_prog_info`` from ``<linux/bpf.h>`` (linux-libc-dev 6.1)."""

    _fields_ = (
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", c_uint8 * BPF_TAG_SIZE),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        ("gpl_compatible", c_uint32, 1),
        ("_unnamed_pad0", c_uint32, 31),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
        ("attach_btf_obj_id", c_uint32),
        ("attach_btf_id", c_uint32),
        ("_unnamed_pad1", c_uint32),
    )


class bpf_map_info(ctypes.Structure):
    """``struct bpf_map_info`` from ``<linux/bpf.h>`` (linux-libc-dev 6.1)."""

    _fields_ = (
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("btf_id", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("map_extra", c_uint64),
    )


# struct bpf_link_info: the system header (Linux 6.1) lacks the perf_event,
# tcx, netkit ... members that name a link's attach point on newer kernels, so
# this one mirrors the UAPI header as carried by libbpf v1.7.0
# (include/uapi/linux/bpf.h, Linux 7.0). Older kernels leave those zero.


class _link_raw_tracepoint(ctypes.Structure):
    _fields_ = (
        ("tp_name", c_uint64),
        ("tp_name_len", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("cookie", c_uint64),
    )


class _link_tracing(ctypes.Structure):
    _fields_ = (
        ("attach_type", c_uint32),
        ("target_obj_id", c_uint32),
        ("target_btf_id", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("cookie", c_uint64),
    )


class _link_cgroup(ctypes.Structure):
    _fields_ = (("cgroup_id", c_uint64), ("attach_type", c_uint32))


class _link_iter_map(ctypes.Structure):
    _fields_ = (("map_id", c_uint32),)


class _link_iter_union0(ctypes.Union):
    _fields_ = (("map", _link_iter_map),)


class _link_iter_cgroup(ctypes.Structure):
    _fields_ = (("cgroup_id", c_uint64), ("order", c_uint32))


class _link_iter_task(ctypes.Structure):
    _fields_ = (("tid", c_uint32), ("pid", c_uint32))


class _link_iter_union1(ctypes.Union):
    _fields_ = (("cgroup", _link_iter_cgroup), ("task", _link_iter_task))


class _link_iter(ctypes.Structure):
    _anonymous_ = ("_unnamed_union0", "_unnamed_union1")
    _fields_ = (
        ("target_name", c_uint64),
        ("target_name_len", c_uint32),
        ("_unnamed_union0", _link_iter_union0),
        ("_unnamed_union1", _link_iter_union1),
    )


class _link_netns(ctypes.Structure):
    _fields_ = (("netns_ino", c_uint32), ("attach_type", c_uint32))


class _link_xdp(ctypes.Structure):
    _fields_ = (("ifindex", c_uint32),)


class _link_struct_ops(ctypes.Structure):
    _fields_ = (("map_id", c_uint32),)


class _link_netfilter(ctypes.Structure):
    _fields_ = (
        ("pf", c_uint32),
        ("hooknum", c_uint32),
        ("priority", c_int32),
        ("flags", c_uint32),
    )


class _link_kprobe_multi(ctypes.Structure):
    _fields_ = (
        ("addrs", c_uint64),
        ("count", c_uint32),
        ("flags", c_uint32),
        ("missed", c_uint64),
        ("cookies", c_uint64),
    )


class _link_uprobe_multi(ctypes.Structure):
    _fields_ = (
        ("path", c_uint64),
        ("offsets", c_uint64),
        ("ref_ctr_offsets", c_uint64),
        ("cookies", c_uint64),
        ("path_size", c_uint32),
        ("count", c_uint32),
        ("flags", c_uint32),
        ("pid", c_uint32),
    )


class _link_perf_uprobe(ctypes.Structure):
    _fields_ = (
        ("file_name", c_uint64),
        ("name_len", c_uint32),
        ("offset", c_uint32),
        ("cookie", c_uint64),
        ("ref_ctr_offset", c_uint64),
    )


class _link_perf_kprobe(ctypes.Structure):
    _fields_ = (
        ("func_name", c_uint64),
        ("name_len", c_uint32),
        ("offset", c_uint32),
        ("addr", c_uint64),
        ("missed", c_uint64),
        ("cookie", c_uint64),
    )


class _link_perf_tracepoint(ctypes.Structure):
    _fields_ = (
        ("tp_name", c_uint64),
        ("name_len", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("cookie", c_uint64),
    )


class _link_perf_event_event(ctypes.Structure):
    _fields_ = (
        ("config", c_uint64),
        ("type", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("cookie", c_uint64),
    )


class _link_perf_union(ctypes.Union):
    _fields_ = (
        ("uprobe", _link_perf_uprobe),
        ("kprobe", _link_perf_kprobe),
        ("tracepoint", _link_perf_tracepoint),
        ("event", _link_perf_event_event),
    )


class _link_perf_event(ctypes.Structure):
    _anonymous_ = ("_unnamed_union",)
    _fields_ = (
        ("type", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("_unnamed_union", _link_perf_union),
    )


class _link_ifindex_attach(ctypes.Structure):
    _fields_ = (("ifindex", c_uint32), ("attach_type", c_uint32))


class _link_sockmap(ctypes.Structure):
    _fields_ = (("map_id", c_uint32), ("attach_type", c_uint32))


class _link_tracing_multi(ctypes.Structure):
    _fields_ = (
        ("attach_type", c_uint32),
        ("count", c_uint32),
        ("btf_obj_id", c_uint32),
        ("_unnamed_pad0", c_uint32),
        ("ids", c_uint64),
        ("addrs", c_uint64),
        ("cookies", c_uint64),
    )


class _link_info_union(ctypes.Union):
    _fields_ = (
        ("raw_tracepoint", _link_raw_tracepoint),
        ("tracing", _link_tracing),
        ("cgroup", _link_cgroup),
        ("iter", _link_iter),
        ("netns", _link_netns),
        ("xdp", _link_xdp),
        ("struct_ops", _link_struct_ops),
        ("netfilter", _link_netfilter),
        ("kprobe_multi", _link_kprobe_multi),
        ("uprobe_multi", _link_uprobe_multi),
        ("tracing_multi", _link_tracing_multi),
        ("perf_event", _link_perf_event),
        ("tcx", _link_ifindex_attach),
        ("netkit", _link_ifindex_attach),
        ("sockmap", _link_sockmap),
    )


class bpf_link_info(ctypes.Structure):
    """``struct bpf_link_info`` from ``include/uapi/linux/bpf.h`` (libbpf v1.7.0)."""

    _anonymous_ = ("_unnamed_union",)
    _fields_ = (
        ("type", c_uint32),
        ("id", c_uint32),
        ("prog_id", c_uint32),
        ("_unnamed_union", _link_info_union),
    )


# ------------------------------------------------------------- perf events


class _perf_sample(ctypes.Union):
    _fields_ = (("sample_period", c_uint64), ("sample_freq", c_uint64))


class _perf_wakeup(ctypes.Union):
    _fields_ = (("wakeup_events", c_uint32), ("wakeup_watermark", c_uint32))


class _perf_config1(ctypes.Union):
    _fields_ = (
        ("bp_addr", c_uint64),
        ("kprobe_func", c_uint64),
        ("uprobe_path", c_uint64),
        ("config1", c_uint64),
    )


class _perf_config2(ctypes.Union):
    _fields_ = (
        ("bp_len", c_uint64),
        ("kprobe_addr", c_uint64),
        ("probe_offset", c_uint64),
        ("config2", c_uint64),
    )


class perf_event_attr(ctypes.Structure):
    """``struct perf_event_attr`` from ``<linux/perf_event.h>`` (Linux 6.1)."""

    _anonymous_ = ("_unnamed_sample", "_unnamed_wakeup", "_unnamed_c1", "_unnamed_c2")
    _fields_ = (
        ("type", c_uint32),
        ("size", c_uint32),
        ("config", c_uint64),
        ("_unnamed_sample", _perf_sample),
        ("sample_type", c_uint64),
        ("read_format", c_uint64),
        ("disabled", c_uint64, 1),
        ("inherit", c_uint64, 1),
        ("pinned", c_uint64, 1),
        ("exclusive", c_uint64, 1),
        ("exclude_user", c_uint64, 1),
        ("exclude_kernel", c_uint64, 1),
        ("exclude_hv", c_uint64, 1),
        ("exclude_idle", c_uint64, 1),
        ("mmap", c_uint64, 1),
        ("comm", c_uint64, 1),
        ("freq", c_uint64, 1),
        ("inherit_stat", c_uint64, 1),
        ("enable_on_exec", c_uint64, 1),
        ("task", c_uint64, 1),
        ("watermark", c_uint64, 1),
        ("precise_ip", c_uint64, 2),
        ("mmap_data", c_uint64, 1),
        ("sample_id_all", c_uint64, 1),
        ("exclude_host", c_uint64, 1),
        ("exclude_guest", c_uint64, 1),
        ("exclude_callchain_kernel", c_uint64, 1),
        ("exclude_callchain_user", c_uint64, 1),
        ("mmap2", c_uint64, 1),
        ("comm_exec", c_uint64, 1),
        ("use_clockid", c_uint64, 1),
        ("context_switch", c_uint64, 1),
        ("write_backward", c_uint64, 1),
        ("namespaces", c_uint64, 1),
        ("ksymbol", c_uint64, 1),
        ("bpf_event", c_uint64, 1),
        ("aux_output", c_uint64, 1),
        ("cgroup", c_uint64, 1),
        ("text_poke", c_uint64, 1),
        ("build_id", c_uint64, 1),
        ("inherit_thread", c_uint64, 1),
        ("remove_on_exec", c_uint64, 1),
        ("sigtrap", c_uint64, 1),
        ("__reserved_1", c_uint64, 26),
        ("_unnamed_wakeup", _perf_wakeup),
        ("bp_type", c_uint32),
        ("_unnamed_c1", _perf_config1),
        ("_unnamed_c2", _perf_config2),
        ("branch_sample_type", c_uint64),
        ("sample_regs_user", c_uint64),
        ("sample_stack_user", c_uint32),
        ("clockid", c_int32),
        ("sample_regs_intr", c_uint64),
        ("aux_watermark", c_uint32),
        ("sample_max_stack", c_uint16),
        ("__reserved_2", c_uint16),
        ("aux_sample_size", c_uint32),
        ("__reserved_3", c_uint32),
        ("sig_data", c_uint64),
    )


_Opts = TypeVar("_Opts", bound=ctypes.Structure)


def opts(struct_type: type[_Opts], **values: object) -> _Opts:
    """Return a zeroed ``*_opts`` structure with ``sz`` set and ``values`` filled.

    libbpf's ``LIBBPF_OPTS`` macro does the same in C: the size tells libbpf
    which fields the caller knows about.
    """
    struct = struct_type()
    struct.sz = ctypes.sizeof(struct_type)
    for name, value in values.items():
        setattr(struct, name, value)
    return struct
