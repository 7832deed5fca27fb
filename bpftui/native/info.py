"""The kernel's BPF tables: programs, links and maps, read by id.

Walking ``bpf_*_get_next_id`` and opening each object by id is what bpftool
does; an object can vanish between the two calls (ENOENT), which is skipped,
not reported. Attach points of links are turned into names here: interface
names for ifindexes, ``category/name`` for tracepoints, function names from
BTF for fentry/fexit/freplace, cgroup paths for cgroup ids.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ctypes import c_uint32
from dataclasses import dataclass, field

from bpftui.core.backend import KernelLink, KernelMap, KernelProgram
from bpftui.core.errors import KernelError
from bpftui.native import uapi
from bpftui.native.failure import check
from bpftui.native.fs import BPFFS_ROOT, TRACEFS_PATHS, fstype_of
from bpftui.native.libbpf import libbpf
from bpftui.native.netlink import describe
from bpftui.native.structs import bpf_link_info, bpf_map_info, bpf_prog_info

log = logging.getLogger(__name__)

MAX_PINS = 20_000  # bound the bpffs walk
NAME_BUF = 4096
CGROUP2_ROOT = "/sys/fs/cgroup"

Kind = str  # "prog", "map" or "link"


@contextmanager
def owned(fd: int) -> Iterator[int]:
    """Close ``fd`` when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


# ------------------------------------------------------------ single objects


def obj_get(path: str, entity: str) -> int:
    """Open the object pinned at ``path``; return a new fd."""
    return check(libbpf().bpf_obj_get(os.fsencode(path)), entity, f"open pin {path}")


def obj_pin(fd: int, path: str, entity: str) -> None:
    """Pin the object ``fd`` refers to at ``path`` (parents are created)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    hint = "a pin with that name exists; remove it or choose another path"
    result = libbpf().bpf_obj_pin(fd, os.fsencode(path))
    check(
        result, entity, f"pin at {path}", hint=hint if result == -errno.EEXIST else None
    )


def fd_by_id(kind: Kind, obj_id: int) -> int:
    """Open program, map or link ``obj_id``; return a new fd."""
    getter = getattr(libbpf(), f"bpf_{kind}_get_fd_by_id")
    return check(getter(obj_id), f"{_KIND_WORDS[kind]} {obj_id}", "open by id")


def _info(fd: int, info: ctypes.Structure, entity: str) -> None:
    size = c_uint32(ctypes.sizeof(info))
    # SAFETY: info and size are the caller's locals, alive across the call;
    # the kernel writes at most ``size`` bytes.
    result = libbpf().bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size))
    check(result, entity, "read info")


def prog_info(fd: int) -> bpf_prog_info:
    """Return the kernel's record of program ``fd`` (without array fields)."""
    info = bpf_prog_info()
    _info(fd, info, "program")
    return info


def prog_map_ids(fd: int, count: int) -> tuple[int, ...]:
    """Return the ids of the maps program ``fd`` uses (``count`` from its info)."""
    if count == 0:
        return ()
    ids = (c_uint32 * count)()
    info = bpf_prog_info()
    info.nr_map_ids = count
    # SAFETY: ``ids`` outlives the call; the kernel writes nr_map_ids entries.
    info.map_ids = ctypes.addressof(ids)
    _info(fd, info, "program")
    return tuple(ids[: min(count, info.nr_map_ids)])


def map_info(fd: int) -> bpf_map_info:
    """Return the kernel's record of map ``fd``."""
    info = bpf_map_info()
    _info(fd, info, "map")
    return info


def link_info(fd: int) -> tuple[bpf_link_info, str]:
    """Return the kernel's record of link ``fd`` and the name it attaches to.

    The name (tracepoint, function, file, iterator target) needs a buffer
    whose place in the record depends on the link type, so a first call
    learns the type and a second one fetches the name.
    """
    info = bpf_link_info()
    _info(fd, info, "link")
    buf = ctypes.create_string_buffer(NAME_BUF)
    # SAFETY: ``buf`` lives until this function returns, after the call.
    address = ctypes.addressof(buf)
    if not _aim_name_buffer(info, address):
        return info, ""
    _info(fd, info, "link")
    return info, buf.value.decode("utf-8", "replace")


def _aim_name_buffer(info: bpf_link_info, address: int) -> bool:
    kind = info.type
    if kind == uapi.BPF_LINK_TYPE_RAW_TRACEPOINT:
        info.raw_tracepoint.tp_name, info.raw_tracepoint.tp_name_len = address, NAME_BUF
    elif kind == uapi.BPF_LINK_TYPE_ITER:
        info.iter.target_name, info.iter.target_name_len = address, NAME_BUF
    elif kind == uapi.BPF_LINK_TYPE_PERF_EVENT and info.perf_event.type:
        # uprobe.file_name, kprobe.func_name and tracepoint.tp_name share
        # their place in the record, and so do the lengths.
        info.perf_event.uprobe.file_name = address
        info.perf_event.uprobe.name_len = NAME_BUF
    else:
        return False
    return True


def full_name(info: bpf_prog_info, fd: int) -> str:
    """Return a program's name; from BTF when the kernel's 15 bytes cut it."""
    name: str = info.name.decode("utf-8", "replace")
    if len(name) < 15 or not info.btf_id or not info.nr_func_info:
        return name
    return _btf_func_name(fd, info.btf_id) or name


def _btf_func_name(fd: int, btf_id: int) -> str | None:
    record = (c_uint32 * 2)()  # struct bpf_func_info: insn_off, type_id
    info = bpf_prog_info()
    info.nr_func_info = 1
    info.func_info_rec_size = ctypes.sizeof(record)
    # SAFETY: ``record`` outlives the call; the kernel writes one record.
    info.func_info = ctypes.addressof(record)
    try:
        _info(fd, info, "program")
    except KernelError:
        return None
    return btf_type_name(btf_id, record[1])


def btf_type_name(btf_id: int, type_id: int) -> str | None:
    """Return the name of type ``type_id`` in kernel BTF object ``btf_id``."""
    lib = libbpf()
    btf = lib.btf__load_from_kernel_by_id(btf_id)
    if not btf:
        return None
    try:
        btf_type = lib.btf__type_by_id(btf, type_id)
        if not btf_type:
            return None
        # SAFETY: btf_type points into ``btf``, freed only below; name_off is
        # the first u32 of struct btf_type.
        name_off = c_uint32.from_address(btf_type).value
        name = lib.btf__name_by_offset(btf, name_off)
        return name.decode("utf-8", "replace") if name else None
    finally:
        lib.btf__free(btf)


# --------------------------------------------------------------- id tables


def ids(kind: Kind) -> Iterator[int]:
    """Yield every id of kind ``prog``, ``map`` or ``link``, in order."""
    get_next = getattr(libbpf(), f"bpf_{kind}_get_next_id")
    current = c_uint32(0)
    while True:
        # SAFETY: ``current`` is a local the kernel writes the next id into.
        result = get_next(current.value, ctypes.byref(current))
        if result == -errno.ENOENT:
            return
        check(result, f"{_KIND_WORDS[kind]} table", "walk")
        yield current.value


def each_open(kind: Kind) -> Iterator[tuple[int, int]]:
    """Yield (id, fd) for every object of ``kind``; each fd is closed after."""
    for obj_id in ids(kind):
        try:
            fd = fd_by_id(kind, obj_id)
        except KernelError as err:
            # ENOENT: gone between the two calls; EAGAIN: a link still being
            # made (its id is reserved before it is usable).
            if err.errno in (errno.ENOENT, errno.EAGAIN):
                continue
            raise
        with owned(fd):
            yield obj_id, fd


_KIND_WORDS = {"prog": "program", "map": "map", "link": "link"}


# ------------------------------------------------------------------ pins


@dataclass
class PinIndex:
    """Which bpffs paths pin which object: (kind, id) -> paths."""

    paths: dict[tuple[Kind, int], list[str]] = field(default_factory=dict)

    def of(self, kind: Kind, obj_id: int) -> tuple[str, ...]:
        return tuple(self.paths.get((kind, obj_id), ()))


def pin_index(root: str = BPFFS_ROOT) -> PinIndex:
    """Walk bpffs under ``root`` and record what each pin refers to."""
    index = PinIndex()
    if fstype_of(root) != "bpf":
        return index
    for count, path in enumerate(_files_under(root)):
        if count >= MAX_PINS:
            log.warning("stopped reading pins after %d under %s", MAX_PINS, root)
            break
        found = _pinned_object(path)
        if found is not None:
            index.paths.setdefault(found, []).append(path)
    return index


def _files_under(root: str) -> Iterator[str]:
    for top, dirs, files in os.walk(root, onerror=None, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(top, name)


def _pinned_object(path: str) -> tuple[Kind, int] | None:
    fd = libbpf().bpf_obj_get(os.fsencode(path))
    if fd < 0:
        return None  # bpffs also holds iterator files and plain directories
    with owned(fd):
        return fd_identity(fd)


def fd_identity(fd: int) -> tuple[Kind, int] | None:
    """Return (kind, id) of a BPF object fd, read from /proc/self/fdinfo."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as stream:
            fields = dict(_fdinfo_pairs(stream.read()))
    except OSError:
        return None
    # A link's fdinfo also names its program (prog_id): ask for links first.
    for kind in ("link", "map", "prog"):
        if f"{kind}_id" in fields:
            return kind, int(fields[f"{kind}_id"])
    return None


def _fdinfo_pairs(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        yield key.strip(), value.strip()


# ------------------------------------------------------------ table rows


def kernel_programs(
    pins: PinIndex, holders: dict[int, tuple[str, ...]] | None = None
) -> list[KernelProgram]:
    """Every program the kernel holds, as :class:`KernelProgram` rows.

    ``holders`` (from :func:`program_holders`) names the processes that
    hold each program open.
    """
    boot, held = boot_epoch(), holders or {}
    return [
        program_row(prog_id, fd, pins, boot, held.get(prog_id, ()))
        for prog_id, fd in each_open("prog")
    ]


def program_holders(proc: str = "/proc") -> dict[int, tuple[str, ...]]:
    """Processes holding a BPF program open, by program id: ``"systemd(1)"``.

    What ``bpftool prog`` lists as pids, read from each process's fd table
    (no BPF iterator needed). This process is left out: it opens every
    program while listing them. Processes that vanish or cannot be read
    (not root) are skipped.
    """
    found: dict[int, list[str]] = {}
    own = str(os.getpid())
    with os.scandir(proc) as entries:
        pids = sorted(
            (e.name for e in entries if e.name.isdigit() and e.name != own), key=int
        )
    for pid in pids:
        held = set(_programs_held(f"{proc}/{pid}"))  # once per program it holds
        if held:
            who = f"{_command(f'{proc}/{pid}')}({pid})"
            for prog_id in sorted(held):
                found.setdefault(prog_id, []).append(who)
    return {prog_id: tuple(who) for prog_id, who in found.items()}


def _programs_held(task: str) -> Iterator[int]:
    try:
        fds = os.listdir(f"{task}/fd")
    except OSError:
        return
    for fd in fds:
        try:
            if os.readlink(f"{task}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"{task}/fdinfo/{fd}", encoding="ascii") as stream:
                fields = dict(_fdinfo_pairs(stream.read()))
        except (OSError, UnicodeDecodeError):
            continue  # closed or gone meanwhile
        if fields.get("prog_id", "").isdigit():
            yield int(fields["prog_id"])


def _command(task: str) -> str:
    try:
        with open(f"{task}/comm", encoding="utf-8", errors="replace") as stream:
            return stream.read().strip() or "?"
    except OSError:
        return "?"


def program_row(
    prog_id: int,
    fd: int,
    pins: PinIndex,
    boot: float,
    holders: tuple[str, ...] = (),
) -> KernelProgram:
    """Describe program ``fd`` as a row; ``boot`` from :func:`boot_epoch`."""
    info = prog_info(fd)
    return KernelProgram(
        id=prog_id,
        name=full_name(info, fd),
        prog_type=uapi.name_of(uapi.PROG_TYPES, info.type),
        tag=bytes(info.tag).hex(),
        loaded_at=boot + info.load_time / 1e9 if info.load_time else None,
        uid=info.created_by_uid,
        map_ids=prog_map_ids(fd, info.nr_map_ids),
        btf_id=info.btf_id or None,
        run_cnt=info.run_cnt,
        run_time_ns=info.run_time_ns,
        verified_insns=info.verified_insns or None,
        pinned=pins.of("prog", prog_id),
        holders=holders,
    )


def kernel_maps(pins: PinIndex) -> list[KernelMap]:
    """Every map the kernel holds, as :class:`KernelMap` rows."""
    rows = []
    for map_id, fd in each_open("map"):
        info = map_info(fd)
        rows.append(
            KernelMap(
                id=map_id,
                name=info.name.decode("utf-8", "replace"),
                map_type=uapi.name_of(uapi.MAP_TYPES, info.type),
                key_size=info.key_size,
                value_size=info.value_size,
                max_entries=info.max_entries,
                pinned=pins.of("map", map_id),
            )
        )
    return rows


def kernel_links(pins: PinIndex) -> list[KernelLink]:
    """Every link the kernel holds, with its attach point named."""
    names = _Namer()
    rows = []
    for link_id, fd in each_open("link"):
        info, name = link_info(fd)
        rows.append(
            KernelLink(
                id=link_id,
                link_type=uapi.name_of(uapi.LINK_TYPES, info.type),
                prog_id=info.prog_id,
                attach_point=names.attach_point(info, name),
                pinned=pins.of("link", link_id),
            )
        )
    return rows


def boot_epoch() -> float:
    """The wall-clock time of boot: load times count from it."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


# ------------------------------------------------------ naming attach points


class _Namer:
    """Names attach points; caches the costly lookups for one listing."""

    def __init__(self) -> None:
        self._btf_names: dict[tuple[int, int], str | None] = {}
        self._cgroups: dict[int, str] | None = None

    def attach_point(self, info: bpf_link_info, name: str) -> str:
        handler = _LINK_NAMERS.get(info.type)
        return handler(self, info, name) if handler else ""

    def btf_name(self, btf_id: int, type_id: int) -> str | None:
        key = (btf_id, type_id)
        if key not in self._btf_names:
            self._btf_names[key] = btf_type_name(btf_id, type_id)
        return self._btf_names[key]

    def cgroup(self, cgroup_id: int) -> str:
        if self._cgroups is None:
            self._cgroups = _cgroup_paths()
        return self._cgroups.get(cgroup_id, f"cgroup id {cgroup_id}")


def _name_xdp(namer: _Namer, info: bpf_link_info, name: str) -> str:
    return describe(info.xdp.ifindex)


def _name_tcx(namer: _Namer, info: bpf_link_info, name: str) -> str:
    hook = "ingress" if info.tcx.attach_type == uapi.BPF_TCX_INGRESS else "egress"
    return f"{describe(info.tcx.ifindex)}/{hook}"


def _name_netkit(namer: _Namer, info: bpf_link_info, name: str) -> str:
    return describe(info.netkit.ifindex)


def _name_perf_event(namer: _Namer, info: bpf_link_info, name: str) -> str:
    kind = info.perf_event.type
    if not kind:
        return ""  # kernels before 6.6 do not say what a perf link is on
    if kind == uapi.BPF_PERF_EVENT_TRACEPOINT:
        return _tracepoint_full_name(name)
    if kind in (uapi.BPF_PERF_EVENT_KPROBE, uapi.BPF_PERF_EVENT_KRETPROBE):
        offset = info.perf_event.kprobe.offset
        text = f"{name}+{offset:#x}" if offset else name
    elif kind in (uapi.BPF_PERF_EVENT_UPROBE, uapi.BPF_PERF_EVENT_URETPROBE):
        text = f"{name}+{info.perf_event.uprobe.offset:#x}"
    else:
        return uapi.name_of(uapi.PERF_EVENT_TYPES, kind)
    return f"{uapi.name_of(uapi.PERF_EVENT_TYPES, kind)}:{text}"


def _name_tracing(namer: _Namer, info: bpf_link_info, name: str) -> str:
    tracing = info.tracing
    if not tracing.target_btf_id:
        return uapi.name_of(uapi.ATTACH_TYPES, tracing.attach_type)
    if tracing.attach_type == 0:
        # freplace: an EXT program keeps attach type 0, and target_obj_id is
        # the id of the program whose function it replaces.
        func = _prog_btf_func(namer, tracing.target_obj_id, tracing.target_btf_id)
        return f"freplace:prog {tracing.target_obj_id}/{func}"
    found = namer.btf_name(tracing.target_obj_id, tracing.target_btf_id)
    label = uapi.name_of(uapi.ATTACH_TYPES, tracing.attach_type)
    target = found or f"btf id {tracing.target_btf_id}"
    return f"{label.removeprefix('trace_')}:{target}"


def _prog_btf_func(namer: _Namer, prog_id: int, type_id: int) -> str:
    try:
        with owned(fd_by_id("prog", prog_id)) as fd:
            btf_id = prog_info(fd).btf_id
    except KernelError:
        return f"btf id {type_id}"
    return namer.btf_name(btf_id, type_id) or f"btf id {type_id}"


def _name_cgroup(namer: _Namer, info: bpf_link_info, name: str) -> str:
    hook = uapi.name_of(uapi.ATTACH_TYPES, info.cgroup.attach_type)
    return f"{namer.cgroup(info.cgroup.cgroup_id)} ({hook})"


def _name_netns(namer: _Namer, info: bpf_link_info, name: str) -> str:
    hook = uapi.name_of(uapi.ATTACH_TYPES, info.netns.attach_type)
    return f"netns:[{info.netns.netns_ino}] ({hook})"


def _name_struct_ops(namer: _Namer, info: bpf_link_info, name: str) -> str:
    return f"map {info.struct_ops.map_id}"


def _name_netfilter(namer: _Namer, info: bpf_link_info, name: str) -> str:
    nf = info.netfilter
    return f"netfilter pf {nf.pf} hook {nf.hooknum} prio {nf.priority}"


def _name_plain(namer: _Namer, info: bpf_link_info, name: str) -> str:
    return name


_LINK_NAMERS: dict[int, Callable[[_Namer, bpf_link_info, str], str]] = {
    uapi.BPF_LINK_TYPE_RAW_TRACEPOINT: _name_plain,
    uapi.BPF_LINK_TYPE_ITER: _name_plain,
    uapi.BPF_LINK_TYPE_TRACING: _name_tracing,
    uapi.BPF_LINK_TYPE_CGROUP: _name_cgroup,
    uapi.BPF_LINK_TYPE_NETNS: _name_netns,
    uapi.BPF_LINK_TYPE_XDP: _name_xdp,
    uapi.BPF_LINK_TYPE_PERF_EVENT: _name_perf_event,
    uapi.BPF_LINK_TYPE_STRUCT_OPS: _name_struct_ops,
    uapi.BPF_LINK_TYPE_NETFILTER: _name_netfilter,
    uapi.BPF_LINK_TYPE_TCX: _name_tcx,
    uapi.BPF_LINK_TYPE_NETKIT: _name_netkit,
}


def _tracepoint_full_name(name: str) -> str:
    """The kernel names only the event; find its category in tracefs."""
    for root in TRACEFS_PATHS:
        events = os.path.join(root, "events")
        if not os.path.isdir(events):
            continue
        for category in sorted(os.listdir(events)):
            if os.path.isdir(os.path.join(events, category, name)):
                return f"tracepoint:{category}/{name}"
    return f"tracepoint:{name}"


def _cgroup_paths() -> dict[int, str]:
    """Map cgroup ids to paths: on cgroup v2 the id is the directory's inode."""
    root = _cgroup2_mount()
    if root is None:
        return {}
    paths: dict[int, str] = {}
    for count, (top, _dirs, _files) in enumerate(os.walk(root)):
        if count >= MAX_PINS:
            break
        relative = os.path.relpath(top, root)
        try:
            paths[os.stat(top).st_ino] = "/" if relative == "." else "/" + relative
        except OSError:
            continue
    return paths


def _cgroup2_mount() -> str | None:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2] == "cgroup2":
                    return fields[1]
    except OSError:
        pass
    return None
