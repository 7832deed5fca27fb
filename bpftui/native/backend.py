"""The real kernel behind :class:`bpftui.core.backend.Backend`.

Programs are loaded through libbpf (:mod:`bpftui.native.loading`) and then
attached *by file descriptor*, opened from their pins: libbpf's
``bpf_program__attach_*`` functions need the ``struct bpf_program`` of an open
object, which a later bpftui process (or the dispatcher swapping revisions)
no longer has. The link-creating calls underneath are the same ones libbpf
makes: ``bpf_link_create`` (XDP, perf events, freplace),
``bpf_raw_tracepoint_open`` (fentry/fexit), netlink for XDP without a link
and for cls_bpf filters.

Every call blocks the calling thread; no fd outlives a call, except the
links of freplace attachments made without a pin (held until
:meth:`NativeBackend.close` or :meth:`NativeBackend.detach`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bpftui.core.backend import (
    Feature,
    KernelLink,
    KernelMap,
    KernelProgram,
    LinkRecord,
    LoadedProgram,
    LoadSpec,
)
from bpftui.core.errors import (
    InputError,
    KernelError,
    NotSupported,
    StateError,
)
from bpftui.core.faults import checkpoint
from bpftui.native import info, netlink, perf, uapi
from bpftui.native.failure import check
from bpftui.native.fs import ensure_bpffs
from bpftui.native.info import obj_get, obj_pin, owned
from bpftui.native.libbpf import libbpf
from bpftui.native.loading import load_program, unload_program
from bpftui.native.structs import bpf_link_create_opts, bpf_link_update_opts, opts

if TYPE_CHECKING:
    from bpftui.core.dispatchers import Hook
    from bpftui.core.revisions import HookProgram, HookState

log = logging.getLogger(__name__)

XDP_MODE_FLAGS = {
    "native": uapi.XDP_FLAGS_DRV_MODE,
    "generic": uapi.XDP_FLAGS_SKB_MODE,
    "skb": uapi.XDP_FLAGS_SKB_MODE,
    "hw": uapi.XDP_FLAGS_HW_MODE,
}
ENOTSUPP = 524  # the kernel's own "not supported", outside errno.h
# Native XDP failing with these means "not on this driver": try generic.
_XDP_FALLBACK_ERRNOS = {errno.EOPNOTSUPP, errno.EINVAL, ENOTSUPP}
XDP_BUSY_HINT = "another XDP program is attached without a dispatcher"
PERF_LINK_NEEDS = "kernel >= 5.15 (pinnable perf-event links)"
DEFAULT_ROOT = "/sys/fs/bpf/bpftui"
HOLDERS_SLOW = 0.02  # seconds: a holders scan slower than this is reused ...
HOLDERS_REUSE = 9  # ... for this many times as long as it took
XDP_ATTACHED_MODES = {"xdp": "native", "xdpgeneric": "generic", "xdpoffload": "hw"}


class NativeBackend:
    """Kernel primitives over libbpf, perf events and rtnetlink.

    Implements :class:`bpftui.core.backend.Backend` and the extra primitives
    of :class:`bpftui.core.revisions.DispatcherBackend`.

    Args:
        bpffs_root: bpftui's directory in bpffs (markers for the clsact
            qdiscs it adds live there); bpffs is mounted on first use.
    """

    name = "kernel"

    def __init__(self, *, bpffs_root: str = DEFAULT_ROOT) -> None:
        self.bpffs_root = bpffs_root
        self._stats_fd: int | None = None
        self._held_links: dict[int, int] = {}  # link id -> fd, unpinned freplace
        self._holders: tuple[float, dict[int, tuple[str, ...]]] | None = None

    def close(self) -> None:
        """Release what this backend holds: the stats fd and unpinned links."""
        self.set_stats(False)
        for fd in self._held_links.values():
            os.close(fd)
        self._held_links.clear()

    # ------------------------------------------------------------ programs

    def load(self, spec: LoadSpec) -> LoadedProgram:
        """Load and pin one function of an ELF object (see :mod:`.loading`)."""
        return load_program(spec)

    def unload(self, program: LoadedProgram) -> None:
        """Unpin the program and the maps no other program uses."""
        unload_program(program)
        checkpoint("unload")

    # ----------------------------------------------------------------- XDP

    def attach_xdp(
        self,
        program: LoadedProgram,
        ifindex: int,
        mode: str,
        *,
        link_pin: str | None = None,
        replace_prog_id: int | None = None,
    ) -> LinkRecord:
        """Attach at an interface's XDP hook: a pinned bpf_link, else netlink.

        Mode ``auto`` tries native and falls back to generic, with a warning.
        """
        modes = _xdp_modes(mode)
        with owned(_prog_fd(program)) as fd:
            for mode_name in modes:
                try:
                    return self._attach_xdp_mode(
                        program,
                        fd,
                        ifindex,
                        mode_name,
                        link_pin=link_pin,
                        replace_prog_id=replace_prog_id,
                    )
                except KernelError as err:
                    if mode_name == modes[-1] or err.errno not in _XDP_FALLBACK_ERRNOS:
                        raise
                    log.warning(
                        "program %r: native XDP on %s failed (%s); "
                        "falling back to generic mode",
                        program.name,
                        netlink.describe(ifindex),
                        err.errno_name,
                    )
        raise AssertionError("unreachable: the last mode re-raises")

    def _attach_xdp_mode(
        self,
        program: LoadedProgram,
        fd: int,
        ifindex: int,
        mode: str,
        *,
        link_pin: str | None,
        replace_prog_id: int | None,
    ) -> LinkRecord:
        flags = XDP_MODE_FLAGS[mode]
        ifname = netlink.describe(ifindex)
        detail = {"ifindex": ifindex, "mode": mode}
        if link_pin is None:
            _xdp_netlink_attach(program, fd, ifindex, flags, replace_prog_id)
            log.info("attached %s to %s (XDP %s, netlink)", program.name, ifname, mode)
            return LinkRecord(
                "xdp", ifname, program.id, detail=detail | {"netlink": True}
            )
        if replace_prog_id is not None:
            link_id = _xdp_link_update(program, fd, ifindex, replace_prog_id, link_pin)
        else:
            link_id = _xdp_link_create(program, fd, ifindex, flags, link_pin)
        log.info(
            "attached %s to %s (XDP %s, link %d)", program.name, ifname, mode, link_id
        )
        return LinkRecord(
            "xdp", ifname, program.id, id=link_id, pin_path=link_pin, detail=detail
        )

    # ------------------------------------------------------------------ TC

    def attach_tc(
        self,
        program: LoadedProgram,
        ifindex: int,
        direction: str,
        *,
        priority: int,
        handle: int = 1,
    ) -> LinkRecord:
        """Add a direct-action cls_bpf filter on a clsact qdisc (made if absent)."""
        parent = netlink.PARENTS.get(direction)
        if parent is None:
            raise InputError(f"TC direction {direction!r}: not ingress or egress")
        ifname = netlink.describe(ifindex)
        created = self._ensure_clsact(ifindex)
        try:
            with owned(_prog_fd(program)) as fd:
                netlink.filter_bpf_add(
                    ifindex, parent, fd, program.name, priority=priority, handle=handle
                )
        except BaseException:
            if created:
                netlink.qdisc_clsact_del(ifindex)
                _remove_marker(self._qdisc_marker(ifindex))
            raise
        checkpoint("attach")
        log.info("attached %s to %s %s (TC, priority %d)", program.name, ifname,
                 direction, priority)  # fmt: skip
        detail = {"ifindex": ifindex, "direction": direction, "parent": parent,
                  "priority": priority, "handle": handle,
                  "qdisc_created": created}  # fmt: skip
        return LinkRecord("tc", f"{ifname}/{direction}", program.id, detail=detail)

    def _ensure_clsact(self, ifindex: int) -> bool:
        """Make sure a clsact qdisc is there; True when this call added it.

        The marker is written before the qdisc, so a process killed between
        the two leaves a marker (the qdisc is then removed with the last
        filter) rather than a qdisc nothing will ever remove.
        """
        marker = self._qdisc_marker(ifindex)
        had_marker = os.path.isdir(marker)
        os.makedirs(marker, exist_ok=True)
        try:
            created = netlink.qdisc_clsact_ensure(ifindex)
        except BaseException:
            if not had_marker:
                _remove_marker(marker)
            raise
        if not created and not had_marker:
            _remove_marker(marker)
        return created

    def _qdisc_marker(self, ifindex: int) -> str:
        """The bpffs directory saying bpftui added this interface's clsact.

        A qdisc carries no owner; the marker lets whichever detach removes
        the last filter also remove the qdisc, and only one bpftui made. The
        namespace inode keeps equal ifindexes of different namespaces apart.
        """
        netns = os.stat("/proc/thread-self/ns/net").st_ino
        return os.path.join(self.bpffs_root, "clsact", f"{netns}-{ifindex}")

    def _remove_clsact_if_unused(self, ifindex: int) -> None:
        """Remove the clsact qdisc bpftui added once no filter is left on it."""
        marker = self._qdisc_marker(ifindex)
        if not os.path.isdir(marker):
            return
        if netlink.ifname_of(ifindex) is not None:
            parents = netlink.PARENTS.values()
            if any(netlink.filter_count(ifindex, p) for p in parents):
                return
            try:
                netlink.qdisc_clsact_del(ifindex)
            except KernelError as err:
                if err.errno not in (errno.ENOENT, errno.EINVAL):
                    raise
            log.info("removed the clsact qdisc of %s", netlink.describe(ifindex))
        _remove_marker(marker)

    # ------------------------------------------------------ perf-event kinds

    def attach_tracepoint(
        self, program: LoadedProgram, category: str, name: str, *, link_pin: str
    ) -> LinkRecord:
        """Attach to tracepoint ``category/name`` with a pinned perf-event link."""
        with owned(perf.open_tracepoint(category, name)) as event_fd:
            link_id = _perf_link(program, event_fd, link_pin, f"{category}/{name}")
        return LinkRecord(
            "tracepoint",
            f"{category}/{name}",
            program.id,
            id=link_id,
            pin_path=link_pin,
        )

    def attach_kprobe(
        self,
        program: LoadedProgram,
        func_name: str,
        offset: int,
        retprobe: bool,
        *,
        link_pin: str,
    ) -> LinkRecord:
        """Attach a kprobe or kretprobe on ``func_name`` with a pinned link."""
        if retprobe and offset:
            raise InputError(
                f"kretprobe {func_name}: offset cannot be set for kretprobes"
            )
        where = f"{func_name}+{offset:#x}" if offset else func_name
        with owned(perf.open_kprobe(func_name, offset, retprobe)) as event_fd:
            link_id = _perf_link(program, event_fd, link_pin, where)
        return LinkRecord(
            "kprobe",
            where,
            program.id,
            id=link_id,
            pin_path=link_pin,
            detail={"retprobe": retprobe, "offset": offset},
        )

    def attach_uprobe(
        self,
        program: LoadedProgram,
        binary_path: str,
        offset: int,
        retprobe: bool,
        pid: int | None,
        *,
        link_pin: str,
    ) -> LinkRecord:
        """Attach a uprobe or uretprobe at ``offset`` of ``binary_path``."""
        if not os.path.isabs(binary_path) or not os.path.isfile(binary_path):
            raise InputError(
                f"uprobe target {binary_path!r}: not an existing absolute path"
            )
        where = f"{binary_path}+{offset:#x}"
        with owned(perf.open_uprobe(binary_path, offset, retprobe, pid)) as event_fd:
            link_id = _perf_link(program, event_fd, link_pin, where)
        detail = {"retprobe": retprobe, "offset": offset, "pid": pid}
        return LinkRecord(
            "uprobe", where, program.id, id=link_id, pin_path=link_pin, detail=detail
        )

    # ------------------------------------------------------- BTF-based kinds

    def attach_tracing(self, program: LoadedProgram, *, link_pin: str) -> LinkRecord:
        """fentry/fexit: the target was set at load time."""
        entity = f"program {program.name!r}"
        with owned(_prog_fd(program)) as fd:
            link_fd = check(
                libbpf().bpf_raw_tracepoint_open(None, fd), entity, "attach"
            )
            traced = _traced_function(fd)
        with owned(link_fd):
            link_id = _pin_link(link_fd, link_pin, entity)
        return LinkRecord(
            "tracing", traced or program.name, program.id, id=link_id, pin_path=link_pin
        )

    def attach_freplace(
        self,
        program: LoadedProgram,
        target_prog_id: int,
        func_name: str,
        *,
        link_pin: str | None = None,
    ) -> LinkRecord:
        """Replace function ``func_name`` of program ``target_prog_id``.

        Without ``link_pin`` the link lives as long as this backend (or until
        :meth:`detach`), because an unpinned link dies with its last fd.
        """
        entity = f"program {program.name!r}"
        with owned(info.fd_by_id("prog", target_prog_id)) as target_fd:
            btf_id = _func_btf_id(target_fd, target_prog_id, func_name)
            # SAFETY: link_opts is a local; libbpf copies it into the syscall.
            link_opts = opts(bpf_link_create_opts, target_btf_id=btf_id)
            with owned(_prog_fd(program)) as fd:
                link_fd = check(
                    libbpf().bpf_link_create(fd, target_fd, 0, ctypes.byref(link_opts)),
                    entity,
                    f"replace {func_name} of program {target_prog_id}",
                )
        where = f"prog {target_prog_id}/{func_name}"
        if link_pin is None:
            link_id = _link_id(link_fd)
            self._held_links[link_id] = link_fd
        else:
            with owned(link_fd):
                link_id = _pin_link(link_fd, link_pin, entity)
        return LinkRecord(
            "freplace",
            where,
            program.id,
            id=link_id,
            pin_path=link_pin,
            detail={"target_prog_id": target_prog_id, "func": func_name},
        )

    # -------------------------------------------------------------- detach

    def detach(self, link: LinkRecord) -> None:
        """Remove an attachment; one already gone is not an error."""
        if link.pin_path is not None:
            _detach_pinned(link)
        elif link.kind == "xdp":
            _detach_xdp_netlink(link)
        elif link.kind == "tc":
            _detach_tc(link)
            self._remove_clsact_if_unused(int(link.detail["ifindex"]))
        elif link.id is not None and link.id in self._held_links:
            fd = self._held_links.pop(link.id)
            _link_detach(fd)
            os.close(fd)
        else:
            log.info(
                "nothing to detach for %s link on %s", link.kind, link.attach_point
            )
        checkpoint("detach")

    def exists(self, record: LoadedProgram | LinkRecord) -> bool:
        """Whether the kernel still holds it (pins and ids checked)."""
        if isinstance(record, LoadedProgram):
            return _pinned_identity(record.pin_path) == ("prog", record.id)
        if record.pin_path is not None:
            found = _pinned_identity(record.pin_path)
            return (
                found is not None
                and found[0] == "link"
                and (record.id is None or found[1] == record.id)
            )
        if record.kind == "xdp":
            state = netlink.link_xdp_state(int(record.detail["ifindex"]))
            return state.prog_id == record.prog_id
        if record.kind == "tc":
            return _tc_filter(record) is not None
        return record.id in self._held_links

    # --------------------------------------------------------------- tables

    def programs(self) -> Sequence[KernelProgram]:
        return info.kernel_programs(info.pin_index(), self._program_holders())

    def _program_holders(self) -> dict[int, tuple[str, ...]]:
        """:func:`info.program_holders`, reused for a while where it is slow.

        Reading every process's fd table takes about 2 ms on a quiet node
        and can take a large part of a second with 100k open files: a scan
        slower than HOLDERS_SLOW is reused for HOLDERS_REUSE times as long as
        it took, so the TUI's refresh spends at most a tenth of its time here.
        """
        now = time.monotonic()
        if self._holders is not None and now < self._holders[0]:
            return self._holders[1]
        found = info.program_holders()
        took = time.monotonic() - now
        if took > HOLDERS_SLOW:
            self._holders = (now + took * (1 + HOLDERS_REUSE), found)
        return found

    def links(self) -> Sequence[KernelLink]:
        return info.kernel_links(info.pin_index())

    def maps(self) -> Sequence[KernelMap]:
        return info.kernel_maps(info.pin_index())

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> Sequence[tuple[bytes, bytes]]:
        """Return up to ``limit`` (key, value) pairs of map ``map_id``.

        Per-CPU maps give one value per possible CPU, concatenated, each
        rounded up to 8 bytes (as the kernel lays them out).
        """
        with owned(info.fd_by_id("map", map_id)) as fd:
            return _map_entries(fd, map_id, limit)

    def set_stats(self, enabled: bool) -> None:
        """Turn run-time statistics on (while this backend lives) or off."""
        if enabled and self._stats_fd is None:
            result = libbpf().bpf_enable_stats(uapi.BPF_STATS_RUN_TIME)
            if result == -errno.EINVAL:
                raise NotSupported("BPF statistics", needs="kernel >= 5.8")
            self._stats_fd = check(result, "BPF statistics", "enable")
            log.info("BPF run-time statistics on")
        elif not enabled and self._stats_fd is not None:
            os.close(self._stats_fd)
            self._stats_fd = None
            log.info("BPF run-time statistics off (unless another holder keeps them)")

    def features(self) -> Sequence[Feature]:
        """Probe each capability for real (see :mod:`bpftui.native.probes`)."""
        from bpftui.native.probes import probe_all

        return probe_all()

    def feature(self, name: str) -> Feature:
        """Probe one capability (a name of :meth:`features` without network)."""
        from bpftui.native.probes import probe

        return probe(name)

    # ------------------------------------------- what dispatchers need more

    def program_info(self, prog_id: int) -> KernelProgram | None:
        """One row of the kernel's program table, or None when gone."""
        try:
            fd = info.fd_by_id("prog", prog_id)
        except KernelError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        with owned(fd):
            return info.program_row(prog_id, fd, info.PinIndex(), info.boot_epoch())

    def hook_state(self, hook: Hook) -> HookState:
        """What an XDP hook or a TC direction holds now, read over netlink."""
        from bpftui.core.revisions import HookState

        if hook.direction is None:
            return HookState(programs=self._xdp_holder(hook.ifindex))
        parent = netlink.PARENTS[hook.direction]
        filters = netlink.filters_bpf(hook.ifindex, parent)
        return HookState(
            programs=tuple(self._tc_holder(f) for f in filters),
            qdisc=netlink.qdisc_ingress_kind(hook.ifindex),
        )

    def _xdp_holder(self, ifindex: int) -> tuple[HookProgram, ...]:
        from bpftui.core.revisions import HookProgram

        state = netlink.link_xdp_state(ifindex)
        if not state.prog_id:
            return ()
        mode = XDP_ATTACHED_MODES.get(state.mode or "", "")
        if not mode:  # "xdpmulti": programs in several modes at once
            mode = "native" if state.drv_prog_id else "generic"
        row = self.program_info(state.prog_id)
        return (HookProgram(state.prog_id, row.name if row else "", mode),)

    def _tc_holder(self, found: netlink.BpfFilter) -> HookProgram:
        from bpftui.core.revisions import HookProgram

        prog_id = found.prog_id or 0
        row = self.program_info(prog_id) if prog_id else None
        name = row.name if row else found.name
        return HookProgram(prog_id, name, "cls_bpf", found.priority, found.handle)

    def pinned_id(self, path: str) -> int | None:
        """The id of the program or link pinned at ``path``, or None."""
        found = _pinned_identity(path)
        return found[1] if found and found[0] in ("prog", "link") else None

    def pin(self, record: LoadedProgram | LinkRecord, path: str) -> None:
        """Pin a live program or link at one more path (parents are made)."""
        if isinstance(record, LoadedProgram):
            with owned(_prog_fd(record)) as fd:
                obj_pin(fd, path, f"program {record.name!r}")
            checkpoint("pin")
            return
        entity = f"{record.kind} link on {record.attach_point}"
        if record.pin_path is not None:
            fd = obj_get(record.pin_path, entity)
        elif record.id is not None:
            fd = info.fd_by_id("link", record.id)
        else:
            raise StateError(f"{entity}: it is not a bpf_link, so it cannot be pinned")
        with owned(fd):
            obj_pin(fd, path, entity)
        checkpoint("link-pin")

    def unpin(self, path: str) -> None:
        """Remove a pin or an empty directory; a missing path is no error."""
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                return
            except OSError as err:
                raise StateError(
                    f"pin directory {path}: cannot remove: {err.strerror}"
                ) from None
            return
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        log.debug("unpinned %s", path)
        checkpoint("unpin")

    @contextmanager
    def lock(self, directory: str) -> Iterator[None]:
        """Hold ``flock(LOCK_EX)`` on ``directory`` (made if absent).

        libxdp takes the same lock on ``<bpffs>/xdp``, so bpftui and
        xdp-loader wait for each other.
        """
        ensure_bpffs(directory)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


# ------------------------------------------------------------------ helpers


def _xdp_modes(mode: str) -> list[str]:
    """The modes to try, in order: ``auto`` is native, then generic."""
    modes = ["native", "generic"] if mode == "auto" else [mode]
    if any(m not in XDP_MODE_FLAGS for m in modes):
        raise InputError(
            f"XDP mode {mode!r}: not one of native, generic, skb, hw, auto"
        )
    return modes


def _prog_fd(program: LoadedProgram) -> int:
    """Open the program from its pin, checking it is still the same one."""
    entity = f"program {program.name!r}"
    try:
        fd = obj_get(program.pin_path, entity)
    except KernelError as err:
        if err.errno == errno.ENOENT:
            raise StateError(
                f"{entity}: no longer pinned at {program.pin_path}",
                hint="it was unloaded outside bpftui; apply again to reload it",
            ) from None
        raise
    found = info.fd_identity(fd)
    if found != ("prog", program.id):
        os.close(fd)
        raise StateError(
            f"{entity}: {program.pin_path} now pins {found}, not program {program.id}",
            hint="apply again to reload it",
        )
    return fd


def _pinned_identity(path: str) -> tuple[str, int] | None:
    fd = libbpf().bpf_obj_get(os.fsencode(path))
    if fd < 0:
        return None
    with owned(fd):
        return info.fd_identity(fd)


def _link_id(link_fd: int) -> int:
    return int(info.link_info(link_fd)[0].id)


def _pin_link(link_fd: int, link_pin: str, entity: str) -> int:
    """Pin a new link; return its id. Without the pin it would die with the fd."""
    checkpoint("attach")
    obj_pin(link_fd, link_pin, f"{entity} link")
    checkpoint("link-pin")
    return _link_id(link_fd)


def _link_detach(fd: int) -> None:
    """``bpf_link_detach``; perf-event and tracing links have no detach op."""
    result = libbpf().bpf_link_detach(fd)
    if result in (-errno.EOPNOTSUPP, -errno.EINVAL, -ENOTSUPP):
        return  # released when the last fd and pin are gone
    check(result, "link", "detach")


def _perf_link(program: LoadedProgram, event_fd: int, link_pin: str, where: str) -> int:
    entity = f"program {program.name!r}"
    with owned(_prog_fd(program)) as fd:
        result = libbpf().bpf_link_create(fd, event_fd, uapi.BPF_PERF_EVENT, None)
        if result == -errno.EINVAL:
            detail = f"bpf_link_create(BPF_PERF_EVENT) on {where}: EINVAL"
            raise NotSupported("perf-event links", needs=PERF_LINK_NEEDS, detail=detail)
        link_fd = check(result, entity, f"attach to {where}")
    with owned(link_fd):
        link_id = _pin_link(link_fd, link_pin, entity)
    log.info(
        "attached %s to %s (link %d, pinned at %s)",
        program.name,
        where,
        link_id,
        link_pin,
    )
    return link_id


def _traced_function(prog_fd: int) -> str | None:
    """The kernel function an fentry/fexit program traces, as its BTF names it."""
    found = info.prog_info(prog_fd)
    if not found.attach_btf_id:
        return None
    return info.btf_type_name(found.attach_btf_obj_id, found.attach_btf_id)


def _func_btf_id(target_fd: int, target_prog_id: int, func_name: str) -> int:
    """Return the BTF id of function ``func_name`` in a program's BTF."""
    lib = libbpf()
    entity = f"program {target_prog_id}"
    btf_id = info.prog_info(target_fd).btf_id
    if not btf_id:
        raise InputError(f"{entity}: has no BTF, so its functions cannot be replaced")
    btf = check(lib.btf__load_from_kernel_by_id(btf_id), entity, "read BTF")
    try:
        type_id = lib.btf__find_by_name_kind(
            btf, func_name.encode(), uapi.BTF_KIND_FUNC
        )
    finally:
        lib.btf__free(btf)
    if type_id <= 0:
        raise InputError(f"{entity}: has no function {func_name!r}")
    return int(type_id)


# ---------------------------------------------------------------- XDP bits


def _xdp_netlink_attach(
    program: LoadedProgram, fd: int, ifindex: int, flags: int, replace: int | None
) -> None:
    try:
        if replace is None:
            netlink.link_set_xdp(ifindex, fd, flags | uapi.XDP_FLAGS_UPDATE_IF_NOEXIST)
            checkpoint("attach")
            return
        with owned(info.fd_by_id("prog", replace)) as old_fd:
            netlink.link_set_xdp(
                ifindex, fd, flags | uapi.XDP_FLAGS_REPLACE, expected_fd=old_fd
            )
    except KernelError as err:
        if err.errno == errno.EBUSY:
            err.hint = XDP_BUSY_HINT
        raise


def _xdp_link_create(
    program: LoadedProgram, fd: int, ifindex: int, flags: int, link_pin: str
) -> int:
    entity = f"program {program.name!r}"
    action = f"attach to {netlink.describe(ifindex)}"
    # SAFETY: link_opts is a local; libbpf copies it into the syscall.
    link_opts = opts(bpf_link_create_opts, flags=flags)
    result = libbpf().bpf_link_create(
        fd, ifindex, uapi.BPF_XDP, ctypes.byref(link_opts)
    )
    hint = XDP_BUSY_HINT if result == -errno.EBUSY else None
    link_fd = check(result, entity, action, hint=hint)
    with owned(link_fd):
        return _pin_link(link_fd, link_pin, entity)


def _xdp_link_update(
    program: LoadedProgram, fd: int, ifindex: int, old_prog_id: int, link_pin: str
) -> int:
    """Swap the program of the XDP link running ``old_prog_id`` on ``ifindex``."""
    entity = f"program {program.name!r}"
    link_id = _find_xdp_link(ifindex, old_prog_id)
    with (
        owned(info.fd_by_id("link", link_id)) as link_fd,
        owned(info.fd_by_id("prog", old_prog_id)) as old_fd,
    ):
        # SAFETY: update is a local; libbpf copies it into the syscall.
        update = opts(
            bpf_link_update_opts, flags=uapi.BPF_F_REPLACE, old_prog_fd=old_fd
        )
        check(
            libbpf().bpf_link_update(link_fd, fd, ctypes.byref(update)),
            entity,
            f"replace program {old_prog_id} on {netlink.describe(ifindex)}",
        )
        if _pinned_identity(link_pin) != ("link", link_id):
            obj_pin(link_fd, link_pin, f"{entity} link")
    return link_id


def _find_xdp_link(ifindex: int, prog_id: int) -> int:
    for link_id, fd in info.each_open("link"):
        link, _ = info.link_info(fd)
        xdp = link.type == uapi.BPF_LINK_TYPE_XDP
        if xdp and link.xdp.ifindex == ifindex and link.prog_id == prog_id:
            return link_id
    raise StateError(
        f"interface {netlink.describe(ifindex)}: no XDP link runs program {prog_id}",
        hint="it was replaced or detached meanwhile; read the state again",
    )


# ----------------------------------------------------------------- detach


def _detach_pinned(link: LinkRecord) -> None:
    assert link.pin_path is not None
    fd = libbpf().bpf_obj_get(os.fsencode(link.pin_path))
    if fd < 0:
        log.info("link pin %s already gone", link.pin_path)
        return
    with owned(fd):
        current, _ = info.link_info(fd)
        if current.prog_id == link.prog_id:
            _link_detach(fd)
        else:
            # The link was updated to run a newer revision: keep it running.
            log.info(
                "link %d now runs program %d; removing only the pin %s",
                current.id,
                current.prog_id,
                link.pin_path,
            )
        os.unlink(link.pin_path)
    log.info("detached %s link on %s", link.kind, link.attach_point)


def _detach_xdp_netlink(link: LinkRecord) -> None:
    ifindex = int(link.detail["ifindex"])
    flags = XDP_MODE_FLAGS.get(str(link.detail.get("mode")), 0)
    if netlink.ifname_of(ifindex) is None:
        return  # the interface is gone, and its XDP program with it
    if netlink.link_xdp_state(ifindex).prog_id != link.prog_id:
        log.info("XDP on %s no longer runs program %d", link.attach_point, link.prog_id)
        return
    try:
        with owned(info.fd_by_id("prog", link.prog_id)) as fd:
            netlink.link_set_xdp(
                ifindex, -1, flags | uapi.XDP_FLAGS_REPLACE, expected_fd=fd
            )
    except KernelError as err:
        if err.errno not in (errno.ENOENT, errno.EEXIST):
            raise
        log.info("XDP program %d left %s meanwhile", link.prog_id, link.attach_point)
        return
    log.info("detached XDP program %d from %s", link.prog_id, link.attach_point)


def _tc_parent(link: LinkRecord) -> int:
    """The clsact hook of a TC record: ``parent``, or from ``direction``."""
    parent = link.detail.get("parent")
    if parent is None:
        return netlink.PARENTS[str(link.detail["direction"])]
    return int(parent)


def _tc_filter(link: LinkRecord) -> netlink.BpfFilter | None:
    ifindex = int(link.detail["ifindex"])
    if netlink.ifname_of(ifindex) is None:
        return None
    for bpf_filter in netlink.filters_bpf(ifindex, _tc_parent(link)):
        same_place = (bpf_filter.priority, bpf_filter.handle) == (
            link.detail["priority"],
            link.detail["handle"],
        )
        if same_place and bpf_filter.prog_id == link.prog_id:
            return bpf_filter
    return None


def _detach_tc(link: LinkRecord) -> None:
    if _tc_filter(link) is None:
        log.info(
            "TC filter of program %d on %s already gone",
            link.prog_id,
            link.attach_point,
        )
    else:
        ifindex = int(link.detail["ifindex"])
        netlink.filter_bpf_del(
            ifindex,
            _tc_parent(link),
            priority=int(link.detail["priority"]),
            handle=int(link.detail["handle"]),
        )
        log.info("detached TC program %d from %s", link.prog_id, link.attach_point)


# -------------------------------------------------------------- map reading


def _map_entries(fd: int, map_id: int, limit: int) -> list[tuple[bytes, bytes]]:
    lib = libbpf()
    map_info = info.map_info(fd)
    kind = uapi.name_of(uapi.MAP_TYPES, map_info.type)
    if map_info.key_size == 0:
        raise NotSupported(f"listing entries of {kind} maps", needs="a map with keys")
    value_size = map_info.value_size
    if map_info.type in uapi.PERCPU_MAP_TYPES:
        value_size = (value_size + 7) // 8 * 8 * lib.libbpf_num_possible_cpus()
    key = ctypes.create_string_buffer(map_info.key_size)
    next_key = ctypes.create_string_buffer(map_info.key_size)
    value = ctypes.create_string_buffer(max(value_size, 1))
    entries: list[tuple[bytes, bytes]] = []
    previous = None  # NULL asks for the first key
    entity = f"map {map_id}"
    while len(entries) < limit:
        # SAFETY: the three buffers are locals sized from the map's info and
        # outlive every call; the kernel writes key_size and value_size bytes.
        result = lib.bpf_map_get_next_key(fd, previous, next_key)
        if result == -errno.ENOENT:
            break
        check(result, entity, "read next key")
        found = lib.bpf_map_lookup_elem(fd, next_key, value)
        if found != -errno.ENOENT:  # deleted between the two calls
            check(found, entity, "read value")
            entries.append((next_key.raw, value.raw[:value_size]))
        ctypes.memmove(key, next_key, map_info.key_size)
        previous = key
    return entries


def _remove_marker(marker: str) -> None:
    """Remove a clsact marker, and its parent once no other marker is there."""
    os.rmdir(marker)
    with contextlib.suppress(OSError):  # other markers still there
        os.rmdir(os.path.dirname(marker))
