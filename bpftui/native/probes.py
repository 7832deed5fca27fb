"""What this kernel allows, each capability probed for real (``bpftui doctor``).

Every probe does the thing it names with the smallest possible program
(``r0 = N; exit``, assembled here, so no object file is needed): load it,
attach it, detach it. Network probes run in a throwaway network namespace on
a throwaway veth pair (:func:`bpftui.native.netns.run_in_new_netns`), so they
touch no real interface and leave nothing behind. A probe never raises: a
failure is a :class:`Feature` that is not available, with ``needs`` naming
what would provide it and ``detail`` what was observed.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bpftui.core.backend import Feature
from bpftui.core.errors import BpftuiError, KernelError
from bpftui.native import fs, netlink, perf, uapi
from bpftui.native.elf import symbol_file_offset
from bpftui.native.failure import check
from bpftui.native.info import owned
from bpftui.native.libbpf import INSTALL_HINT, libbpf
from bpftui.native.loading import LOCKDOWN_NEEDS, refused_detail
from bpftui.native.netns import run_in_new_netns
from bpftui.native.structs import (
    bpf_insn,
    bpf_link_create_opts,
    bpf_prog_load_opts,
    opts,
)

log = logging.getLogger(__name__)

BTF_VMLINUX = "/sys/kernel/btf/vmlinux"
TRACEPOINT_CANDIDATES = (
    ("syscalls", "sys_enter_getpid"),
    ("sched", "sched_process_exec"),
    ("raw_syscalls", "sys_enter"),
)
KERNEL_FUNCTION_CANDIDATES = ("do_unlinkat", "vfs_read", "do_sys_openat2", "ksys_read")
UPROBE_SYMBOL = "getpid"
PROBE_LOG_SIZE = 64 * 1024
TC_ACT_OK = 0
XDP_DROP = 1
XDP_PASS = 2

NEEDS = {
    "bpffs": "a kernel with CONFIG_BPF_SYSCALL and root to mount bpffs",
    "tracefs": "a kernel with CONFIG_TRACING (tracefs)",
    "btf": "a kernel built with CONFIG_DEBUG_INFO_BTF",
    "libbpf": INSTALL_HINT,
    "xdp-native": "a driver with native XDP (veth has it from Linux 4.19)",
    "xdp-generic": "a kernel with CONFIG_BPF_SYSCALL and XDP (Linux 4.12)",
    "tc-clsact": "a kernel with CONFIG_NET_CLS_ACT, CONFIG_NET_SCH_INGRESS, "
    "CONFIG_NET_CLS_BPF",
    "tcx": "Linux 6.6 or newer (TCX links)",
    "tracepoints": "a kernel with CONFIG_BPF_EVENTS and tracefs",
    "kprobes": "a kernel with CONFIG_KPROBES and CONFIG_BPF_EVENTS",
    "uprobes": "a kernel with CONFIG_UPROBE_EVENTS",
    "fentry": LOCKDOWN_NEEDS,
    "fexit": LOCKDOWN_NEEDS,
    "freplace": "Linux 5.10 or newer that allows BPF_PROG_TYPE_EXT (no lockdown)",
    "bpf-stats": "Linux 5.8 or newer (BPF_ENABLE_STATS)",
}


def probe_all() -> list[Feature]:
    """Probe every capability; takes well under a second on a normal host."""
    features = [_run("libbpf", _probe_libbpf)]
    if not features[0].available:
        return features + [
            _missing(name, "libbpf is missing") for name in NEEDS if name != "libbpf"
        ]
    features += [_run(name, probe) for name, probe in _SIMPLE_PROBES]
    features += _network_features()
    return features


def probe(name: str) -> Feature:
    """Probe one capability of :data:`_SIMPLE_PROBES` (``"freplace"``, ...).

    The dispatcher engine asks only whether freplace works; running every
    probe for that cost about a second per command here and 40 s in the
    emulated guest, most of it making scratch veth pairs.
    """
    probes = dict(_SIMPLE_PROBES)
    if name not in probes:
        raise ValueError(f"no probe named {name!r}")
    libbpf = _run("libbpf", _probe_libbpf)
    if not libbpf.available:
        return _missing(name, "libbpf is missing")
    return _run(name, probes[name])


class _Refused(Exception):
    """A probe's finding that the kernel refuses something; args[0] says what."""


def _run(name: str, probe: Callable[[], str]) -> Feature:
    """Run one probe: its return value is the detail, a raise means missing."""
    try:
        return Feature(name, True, detail=probe())
    except _Refused as refusal:
        return Feature(name, False, detail=str(refusal), needs=NEEDS[name])
    except BpftuiError as err:
        return Feature(name, False, detail=str(err.message), needs=NEEDS[name])
    except OSError as err:
        return Feature(name, False, detail=str(err), needs=NEEDS[name])


def _missing(name: str, detail: str) -> Feature:
    return Feature(name, False, detail=detail, needs=NEEDS[name])


# ------------------------------------------------------------ file systems


def _probe_bpffs() -> str:
    if fs.fstype_of(fs.BPFFS_ROOT) == "bpf":
        return f"mounted at {fs.BPFFS_ROOT}"
    _try_mount("bpf")
    return f"not mounted at {fs.BPFFS_ROOT}; mountable (bpftui mounts it when needed)"


def _probe_tracefs() -> str:
    for path in fs.TRACEFS_PATHS:
        if os.path.isdir(os.path.join(path, "events")):
            return f"mounted at {path}"
    _try_mount("tracefs")
    return "not mounted; mountable (bpftui mounts it when needed)"


def _try_mount(fstype: str) -> None:
    """Mount ``fstype`` on a scratch directory and unmount it again."""
    with tempfile.TemporaryDirectory(prefix="bpftui-probe-") as scratch:
        fs.mount(fstype, scratch, fstype)
        fs.umount(scratch)


def _probe_btf() -> str:
    size = os.stat(BTF_VMLINUX).st_size
    with open(BTF_VMLINUX, "rb") as stream:
        stream.read(4)
    return f"{BTF_VMLINUX} ({size // 1024} KiB)"


def _probe_libbpf() -> str:
    version = libbpf().version
    return f"{version} ({version.path})"


# -------------------------------------------------------------- programs


def _insns(ret: int) -> ctypes.Array[bpf_insn]:
    program = (bpf_insn * 2)()
    program[0].code = uapi.BPF_ALU64_MOV_K
    program[0].imm = ret
    program[1].code = uapi.BPF_JMP_EXIT
    return program


def load_probe_program(prog_type: int, ret: int = 0, **load_opts: int) -> int:
    """Load ``r0 = ret; exit`` as ``prog_type``; return its fd.

    Raises:
        KernelError: the kernel refused; ``hint`` holds the verifier's last line.
    """
    program = _insns(ret)
    log_buf = ctypes.create_string_buffer(PROBE_LOG_SIZE)
    # SAFETY: program, log_buf and the options are locals that outlive the
    # call; the kernel copies the instructions and writes at most log_size.
    options = opts(
        bpf_prog_load_opts,
        log_buf=ctypes.addressof(log_buf),
        log_size=PROBE_LOG_SIZE,
        log_level=1,
        **load_opts,
    )
    result = libbpf().bpf_prog_load(
        prog_type, b"bpftui_probe", b"GPL", program, 2, ctypes.byref(options)
    )
    lines = log_buf.value.decode("utf-8", "replace").strip().splitlines()
    kind = uapi.name_of(uapi.PROG_TYPES, prog_type)
    return check(result, f"{kind} program", "load", hint=lines[-1] if lines else None)


def _probe_tracepoints() -> str:
    with owned(load_probe_program(uapi.BPF_PROG_TYPE_TRACEPOINT)) as fd:
        for category, name in TRACEPOINT_CANDIDATES:
            try:
                event = perf.open_tracepoint(category, name)
            except BpftuiError:
                continue
            with owned(event):
                _attach_perf(fd, event)
            return f"attached to {category}/{name}"
    raise KernelError("tracepoint", "find a tracepoint to probe", errno.ENOENT)


def _attach_perf(prog_fd: int, event_fd: int) -> None:
    link = check(
        libbpf().bpf_link_create(prog_fd, event_fd, uapi.BPF_PERF_EVENT, None),
        "perf event",
        "attach",
    )
    os.close(link)


def _require_pmu(pmu: str) -> None:
    if not os.path.isdir(os.path.join(perf.PMU_DIR, pmu)):
        raise _Refused(f"the kernel has no {pmu} PMU in {perf.PMU_DIR}")


def _probe_kprobes() -> str:
    _require_pmu("kprobe")
    with owned(load_probe_program(uapi.BPF_PROG_TYPE_KPROBE)) as fd:
        last: BpftuiError | None = None
        for func in KERNEL_FUNCTION_CANDIDATES:
            try:
                with owned(perf.open_kprobe(func, 0, False)) as event:
                    _attach_perf(fd, event)
                return f"attached to {func}"
            except BpftuiError as err:
                last = err
        assert last is not None
        raise last


def _probe_uprobes() -> str:
    _require_pmu("uprobe")
    libc = _mapped_libc()
    offset = symbol_file_offset(libc, UPROBE_SYMBOL)
    # Attached to this process only, and detached at once.
    with (
        owned(load_probe_program(uapi.BPF_PROG_TYPE_KPROBE)) as fd,
        owned(perf.open_uprobe(libc, offset, False, os.getpid())) as event,
    ):
        _attach_perf(fd, event)
    return f"attached to {os.path.basename(libc)}:{UPROBE_SYMBOL}"


def _mapped_libc() -> str:
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            path = line.rstrip("\n").split(None, 5)[-1]
            if os.path.basename(path).startswith("libc.so"):
                return path
    raise KernelError("libc", "find in this process", errno.ENOENT)


def _vmlinux_function() -> tuple[str, int]:
    """Return a kernel function present in vmlinux BTF and its BTF id."""
    lib = libbpf()
    btf = check(lib.btf__load_vmlinux_btf(), "vmlinux BTF", "read")
    try:
        for func in KERNEL_FUNCTION_CANDIDATES:
            type_id = lib.btf__find_by_name_kind(btf, func.encode(), uapi.BTF_KIND_FUNC)
            if type_id > 0:
                return func, int(type_id)
    finally:
        lib.btf__free(btf)
    raise KernelError("vmlinux BTF", "find a function to probe", errno.ENOENT)


def _probe_tracing(attach_type: int, label: str) -> str:
    func, btf_id = _vmlinux_function()
    try:
        fd = load_probe_program(
            uapi.BPF_PROG_TYPE_TRACING,
            expected_attach_type=attach_type,
            attach_btf_id=btf_id,
        )
    except KernelError as err:
        what = f"BPF_PROG_TYPE_TRACING ({label})"
        raise _Refused(refused_detail(what, err.errno)) from None
    with owned(fd):
        link = check(libbpf().bpf_raw_tracepoint_open(None, fd), label, "attach")
        os.close(link)
    return f"attached to {func}"


def _probe_fentry() -> str:
    return _probe_tracing(uapi.BPF_TRACE_FENTRY, "fentry")


def _probe_fexit() -> str:
    return _probe_tracing(uapi.BPF_TRACE_FEXIT, "fexit")


def _probe_freplace() -> str:
    """Replace the function of a scratch XDP program with an extension.

    Both programs carry a tiny BTF made here (``int f(struct xdp_md *)``):
    the kernel only lets an extension replace a function it knows the type
    of, and checks that both types agree.
    """
    what = "BPF_PROG_TYPE_EXT (freplace)"
    func_info = (ctypes.c_uint32 * 2)()  # struct bpf_func_info: insn_off, type_id
    with _scratch_btf() as (btf_fd, func_id):
        func_info[1] = func_id
        # SAFETY: func_info lives until the end of this function, past both
        # loads that read it.
        typed = {"prog_btf_fd": btf_fd, "func_info": ctypes.addressof(func_info),
                 "func_info_cnt": 1, "func_info_rec_size": 8}  # fmt: skip
        with owned(
            load_probe_program(uapi.BPF_PROG_TYPE_XDP, XDP_PASS, **typed)
        ) as target:
            try:
                ext = load_probe_program(uapi.BPF_PROG_TYPE_EXT, XDP_DROP,
                                         attach_prog_fd=target, attach_btf_id=func_id,
                                         **typed)  # fmt: skip
            except KernelError as err:
                raise _Refused(refused_detail(what, err.errno)) from None
            with owned(ext):
                # SAFETY: link_opts is a local; libbpf copies it into the syscall.
                link_opts = opts(bpf_link_create_opts, target_btf_id=func_id)
                result = libbpf().bpf_link_create(
                    ext, target, 0, ctypes.byref(link_opts)
                )
                os.close(check(result, "extension", "attach"))
    return "replaced the function of a scratch XDP program"


@contextmanager
def _scratch_btf() -> Iterator[tuple[int, int]]:
    """Load BTF for ``int probe(struct xdp_md *ctx)``; yield its fd and func id."""
    lib = libbpf()
    btf = check(lib.btf__new_empty(), "scratch BTF", "create")
    try:
        int_id = check(
            lib.btf__add_int(btf, b"int", 4, uapi.BTF_INT_SIGNED), "BTF", "add"
        )
        ctx = check(lib.btf__add_struct(btf, b"xdp_md", 24), "BTF", "add")
        pointer = check(lib.btf__add_ptr(btf, ctx), "BTF", "add")
        # A prototype's parameters must follow it directly.
        proto = check(lib.btf__add_func_proto(btf, int_id), "BTF", "add")
        check(lib.btf__add_func_param(btf, b"ctx", pointer), "BTF", "add")
        func = check(
            lib.btf__add_func(btf, b"probe", uapi.BTF_FUNC_GLOBAL, proto), "BTF", "add"
        )
        check(lib.btf__load_into_kernel(btf), "scratch BTF", "load")
        yield lib.btf__fd(btf), func
    finally:
        lib.btf__free(btf)  # also closes the BTF's fd


def _probe_stats() -> str:
    result = libbpf().bpf_enable_stats(uapi.BPF_STATS_RUN_TIME)
    os.close(check(result, "BPF statistics", "enable"))
    return "run_cnt and run_time_ns can be turned on"


_SIMPLE_PROBES: tuple[tuple[str, Callable[[], str]], ...] = (
    ("bpffs", _probe_bpffs),
    ("tracefs", _probe_tracefs),
    ("btf", _probe_btf),
    ("tracepoints", _probe_tracepoints),
    ("kprobes", _probe_kprobes),
    ("uprobes", _probe_uprobes),
    ("fentry", _probe_fentry),
    ("fexit", _probe_fexit),
    ("freplace", _probe_freplace),
    ("bpf-stats", _probe_stats),
)


# ---------------------------------------------------------------- network


def _network_features() -> list[Feature]:
    try:
        return run_in_new_netns(_network_probes)
    except BpftuiError as err:
        detail = f"could not make a scratch network namespace: {err}"
        return [
            _missing(n, detail)
            for n in ("xdp-native", "xdp-generic", "tc-clsact", "tcx")
        ]


def _network_probes() -> list[Feature]:
    """Inside a fresh namespace: a veth pair, then each network hook."""
    with _scratch_veth() as ifindex:
        return [
            _run("xdp-native", lambda: _probe_xdp(ifindex, uapi.XDP_FLAGS_DRV_MODE)),
            _run("xdp-generic", lambda: _probe_xdp(ifindex, uapi.XDP_FLAGS_SKB_MODE)),
            _run("tc-clsact", lambda: _probe_clsact(ifindex)),
            _run("tcx", lambda: _probe_tcx(ifindex)),
        ]


@contextmanager
def _scratch_veth() -> Iterator[int]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        ipr.link("add", ifname="bpftui0", kind="veth", peer="bpftui1")
        ifindex = int(ipr.link_lookup(ifname="bpftui0")[0])
        ipr.link("set", index=ifindex, state="up")
    yield ifindex  # the namespace, and the pair with it, die with the thread


def _probe_xdp(ifindex: int, flags: int) -> str:
    with owned(load_probe_program(uapi.BPF_PROG_TYPE_XDP, XDP_PASS)) as fd:
        netlink.link_set_xdp(ifindex, fd, flags | uapi.XDP_FLAGS_UPDATE_IF_NOEXIST)
        netlink.link_set_xdp(ifindex, -1, flags)
    return "attached on a scratch veth"


def _probe_clsact(ifindex: int) -> str:
    with owned(load_probe_program(uapi.BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK)) as fd:
        netlink.qdisc_clsact_ensure(ifindex)
        parent = netlink.PARENTS["ingress"]
        netlink.filter_bpf_add(ifindex, parent, fd, "probe", priority=1, handle=1)
        netlink.filter_bpf_del(ifindex, parent, priority=1, handle=1)
        netlink.qdisc_clsact_del(ifindex)
    return "cls_bpf filter added on a scratch veth"


def _probe_tcx(ifindex: int) -> str:
    with owned(load_probe_program(uapi.BPF_PROG_TYPE_SCHED_CLS, TC_ACT_OK)) as fd:
        # SAFETY: link_opts is a local; libbpf copies it into the syscall.
        link_opts = opts(bpf_link_create_opts)
        result = libbpf().bpf_link_create(
            fd, ifindex, uapi.BPF_TCX_INGRESS, ctypes.byref(link_opts)
        )
        if result == -errno.EINVAL:  # an attach type this kernel does not know
            raise _Refused("the kernel refuses BPF_TCX_INGRESS links: EINVAL")
        os.close(check(result, "TCX link", "create"))
    return "TCX link made on a scratch veth"
