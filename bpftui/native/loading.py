"""Loading one function of an ELF object and pinning it, through libbpf.

The steps, in the order libbpf needs them:

1. read the object with :mod:`bpftui.native.elf` first, so a missing
   function, an unknown type or a wrong ``globaldata`` size is reported in
   the user's words before libbpf sees the file;
2. open it with ``bpf_object__open_file``; turn off autoload for every other
   program; set the program type and the attach target;
3. write ``globaldata`` into the ``.rodata``/``.data``/``.bss`` images;
4. give every map a pin path in the map directory (libbpf reuses a map
   already pinned there, which is how a map owner's maps are shared);
5. ``bpf_object__load`` with a log buffer of our own, so the whole verifier
   log ends up on :class:`~bpftui.core.errors.VerifierError`;
6. pin the program, note the ids, close the object: the pins keep it alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from ctypes import c_size_t
from dataclasses import dataclass

from bpftui.core.backend import PROGRAM_TYPES, LoadedProgram, LoadSpec
from bpftui.core.errors import (
    InputError,
    KernelError,
    NotSupported,
    StateError,
    VerifierError,
)
from bpftui.core.faults import checkpoint
from bpftui.native import elf, uapi
from bpftui.native.failure import check
from bpftui.native.fs import ensure_bpffs
from bpftui.native.info import (
    fd_by_id,
    fd_identity,
    map_info,
    obj_get,
    obj_pin,
    owned,
    prog_info,
)
from bpftui.native.libbpf import libbpf
from bpftui.native.structs import bpf_object_open_opts, opts

log = logging.getLogger(__name__)

# 4 MiB holds the level-1 log of any program the verifier's 1M-instruction
# limit lets through to a failure; larger logs are cut by the kernel (ENOSPC).
LOG_BUF_SIZE = 4 * 1024 * 1024

# API type -> (enum bpf_prog_type, enum bpf_attach_type expected at load).
LOAD_TYPES: dict[str, tuple[int, int]] = {
    "xdp": (uapi.BPF_PROG_TYPE_XDP, uapi.BPF_XDP),
    "tc": (uapi.BPF_PROG_TYPE_SCHED_CLS, 0),
    "tracepoint": (uapi.BPF_PROG_TYPE_TRACEPOINT, 0),
    "kprobe": (uapi.BPF_PROG_TYPE_KPROBE, 0),
    "uprobe": (uapi.BPF_PROG_TYPE_KPROBE, 0),
    "fentry": (uapi.BPF_PROG_TYPE_TRACING, uapi.BPF_TRACE_FENTRY),
    "fexit": (uapi.BPF_PROG_TYPE_TRACING, uapi.BPF_TRACE_FEXIT),
    "ext": (uapi.BPF_PROG_TYPE_EXT, 0),
}
# Types a locked-down kernel refuses with EPERM even to root.
_LOCKDOWN_TYPES = {
    "fentry": "BPF_PROG_TYPE_TRACING (fentry)",
    "fexit": "BPF_PROG_TYPE_TRACING (fexit)",
    "ext": "BPF_PROG_TYPE_EXT (freplace)",
}
LOCKDOWN_NEEDS = "a kernel with BTF that allows tracing programs (no lockdown)"


def lockdown_state() -> str:
    """The kernel's lockdown mode as it reports it, or ``""`` if it does not."""
    try:
        with open("/sys/kernel/security/lockdown", encoding="ascii") as stream:
            text = stream.read()
    except OSError:
        return ""
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else ""


def refused_detail(what: str, err: int) -> str:
    """Say that the kernel refused ``what`` with ``err``, naming lockdown if on."""
    name = errno.errorcode.get(err, str(err))
    mode = lockdown_state()
    why = f" under lockdown ({mode})" if mode and mode != "none" else ""
    if err == errno.EPERM and not why:
        why = " (kernel lockdown or an LSM policy)"
    return f"the kernel refuses {what}: {name}{why}"


# ------------------------------------------------------------- the object


class BpfObject:
    """An open ``struct bpf_object *``; closing it releases libbpf's fds."""

    def __init__(self, path: str, pin_root: str | None) -> None:
        self.path = path
        self._held: list[int] = []
        self._root = pin_root.encode() if pin_root else None
        # SAFETY: open_opts and the bytes it points to (pin_root_path) are
        # attributes of self and outlive bpf_object__open_file, which copies
        # what it keeps.
        self._opts = opts(bpf_object_open_opts, pin_root_path=self._root)
        self.ptr = check(
            libbpf().bpf_object__open_file(os.fsencode(path), ctypes.byref(self._opts)),
            f"object {path}",
            "open",
        )

    def close(self) -> None:
        if self.ptr:
            libbpf().bpf_object__close(self.ptr)
            self.ptr = 0
        while self._held:
            os.close(self._held.pop())

    def hold(self, fd: int) -> int:
        """Keep ``fd`` open until the object closes; return it."""
        self._held.append(fd)
        return fd

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def programs(self) -> Iterator[tuple[str, int]]:
        lib, prog = libbpf(), None
        while prog := lib.bpf_object__next_program(self.ptr, prog):
            yield lib.bpf_program__name(prog).decode(), prog

    def maps(self) -> Iterator[tuple[str, int]]:
        lib, bpf_map = libbpf(), None
        while bpf_map := lib.bpf_object__next_map(self.ptr, bpf_map):
            yield lib.bpf_map__name(bpf_map).decode(), bpf_map


@dataclass
class _MapPin:
    name: str
    path: str
    existed: bool


# ------------------------------------------------------------------ load


def load_program(spec: LoadSpec) -> LoadedProgram:
    """Load ``spec.function`` of ``spec.object_path``, pin it and its maps.

    Raises:
        ElfError: the object cannot be read.
        InputError: no such function, unknown type, bad ``globaldata``.
        VerifierError: the verifier refused the program (whole log kept).
        NotSupported: the kernel refuses the program type.
        KernelError: another kernel failure.
    """
    object_spec = elf.inspect_object(spec.object_path)
    _check_spec(spec, object_spec)
    patches = _globaldata_patches(spec, object_spec)
    _check_reusable_maps(spec, object_spec)
    ensure_bpffs(os.path.dirname(spec.pin_path))
    with BpfObject(spec.object_path, spec.map_pin_dir) as obj:
        prog = _configure(obj, spec)
        log_buf = ctypes.create_string_buffer(LOG_BUF_SIZE)
        # SAFETY: log_buf is referenced until bpf_object__load returns, and
        # libbpf writes into it only during that call.
        libbpf().bpf_program__set_log_buf(prog, log_buf, LOG_BUF_SIZE)
        _write_initial_values(obj, patches, spec)
        pins, made = _set_map_pins(obj, spec.map_pin_dir)
        try:
            _load(obj, spec, log_buf)
            return _pin_and_describe(obj, prog, spec, pins)
        except BaseException:
            _remove_new_pins(pins)
            _remove_empty_dirs(made)
            raise


def _check_spec(spec: LoadSpec, object_spec: elf.ObjectSpec) -> None:
    if spec.prog_type not in PROGRAM_TYPES:
        raise InputError(
            f"program {spec.function!r}: unknown program type {spec.prog_type!r}",
            hint="one of " + ", ".join(PROGRAM_TYPES),
        )
    if object_spec.program(spec.function) is None:
        names = ", ".join(p.name for p in object_spec.programs) or "none"
        raise InputError(
            f"program {spec.function!r}: no such function in {spec.object_path}",
            hint=f"its programs: {names}",
        )


def _globaldata_patches(
    spec: LoadSpec, object_spec: elf.ObjectSpec
) -> dict[str, list[tuple[int, bytes]]]:
    """Turn ``globaldata`` and ``rodata`` into (offset, bytes) per section."""
    patches: dict[str, list[tuple[int, bytes]]] = {}
    for section, data in spec.rodata.items():
        size = object_spec.section_size(section)
        if size is None or not elf.is_data_section(section):
            raise InputError(f"{spec.object_path}: no data section {section!r}")
        if len(data) > size:
            raise InputError(
                f"{spec.object_path}: {len(data)} bytes for section {section!r}, "
                f"which holds {size}"
            )
        patches.setdefault(section, []).append((0, bytes(data)))
    for name, data in spec.globaldata.items():
        var = _global_for(spec, object_spec, name)
        if len(data) != var.size:
            raise InputError(
                f"globaldata {name!r}: {len(data)} bytes given, but the variable "
                f"in {spec.object_path} is {var.size} bytes"
                + (f" ({var.type_name})" if var.type_name else "")
            )
        patches.setdefault(var.section, []).append((var.offset, bytes(data)))
    return patches


def _global_for(
    spec: LoadSpec, object_spec: elf.ObjectSpec, name: str
) -> elf.GlobalSpec:
    var = object_spec.global_var(name)
    if var is None:
        known = ", ".join(g.name for g in object_spec.globals) or "none"
        raise InputError(
            f"globaldata {name!r}: no such global variable in {spec.object_path}",
            hint=f"its globals: {known}",
        )
    return var


def _check_reusable_maps(spec: LoadSpec, object_spec: elf.ObjectSpec) -> None:
    """Say clearly when a map pinned in the map directory cannot be reused."""
    for map_spec in object_spec.maps:
        path = os.path.join(spec.map_pin_dir, map_spec.name)
        if map_spec.internal or not os.path.exists(path):
            continue
        with owned(obj_get(path, f"map {map_spec.name!r}")) as fd:
            info = map_info(fd)
        pinned = (
            uapi.name_of(uapi.MAP_TYPES, info.type),
            info.key_size,
            info.value_size,
            info.max_entries,
        )
        wanted = (
            map_spec.map_type,
            map_spec.key_size,
            map_spec.value_size,
            map_spec.max_entries,
        )
        if pinned != wanted:
            raise StateError(
                f"map {map_spec.name!r}: the map pinned at {path} cannot be reused: "
                f"it is {_map_shape(*pinned)}, {spec.object_path} wants "
                f"{_map_shape(*wanted)}",
                hint="the map owner and this program must define the map alike",
            )


def _map_shape(kind: str, key: int, value: int, entries: int) -> str:
    return f"{kind} key {key} value {value} max_entries {entries}"


def _configure(obj: BpfObject, spec: LoadSpec) -> int:
    lib = libbpf()
    entity = f"program {spec.function!r}"
    target = None
    for name, prog in obj.programs():
        lib.bpf_program__set_autoload(prog, name == spec.function)
        if name == spec.function:
            target = prog
    if target is None:  # elf.py saw it, libbpf did not: a damaged object
        raise InputError(f"{entity}: libbpf finds no such program in {obj.path}")
    prog_type, attach_type = LOAD_TYPES[spec.prog_type]
    check(lib.bpf_program__set_type(target, prog_type), entity, "set type")
    check(
        lib.bpf_program__set_expected_attach_type(target, attach_type),
        entity,
        "set attach type",
    )
    _set_attach_target(obj, target, spec)
    return int(target)


def _set_attach_target(obj: BpfObject, prog: int, spec: LoadSpec) -> None:
    entity = f"program {spec.function!r}"
    lib = libbpf()
    if spec.prog_type == "ext":
        if spec.attach_prog_id is None or not spec.attach_func:
            raise InputError(
                f"{entity}: an ext program needs a target program and function"
            )
        # SAFETY: libbpf keeps the fd number, not a reference, and passes it
        # to the kernel in bpf_object__load; the object closes it after that.
        target_fd = obj.hold(fd_by_id("prog", spec.attach_prog_id))
        result = lib.bpf_program__set_attach_target(
            prog, target_fd, spec.attach_func.encode()
        )
        check(
            result,
            entity,
            f"target {spec.attach_func} of program {spec.attach_prog_id}",
        )
    elif spec.prog_type in ("fentry", "fexit") and spec.attach_func:
        result = lib.bpf_program__set_attach_target(prog, 0, spec.attach_func.encode())
        if result in (-errno.ESRCH, -errno.ENOENT):
            raise InputError(
                f"{entity}: kernel function {spec.attach_func!r} not found in BTF",
                hint="`bpftui list functions` shows the functions fentry can attach to",
            )
        check(result, entity, f"set target {spec.attach_func}")


def _write_initial_values(
    obj: BpfObject, patches: Mapping[str, list[tuple[int, bytes]]], spec: LoadSpec
) -> None:
    lib = libbpf()
    # libbpf names these maps "<object name prefix><section>".
    internal = {n: m for n, m in obj.maps() if lib.bpf_map__is_internal(m)}
    for section, writes in patches.items():
        bpf_map = next((m for n, m in internal.items() if n.endswith(section)), None)
        entity = f"{spec.object_path} section {section}"
        if bpf_map is None:
            raise InputError(f"{entity}: libbpf made no map for it")
        size = c_size_t(0)
        current = lib.bpf_map__initial_value(bpf_map, ctypes.byref(size))
        if not current:
            raise KernelError(entity, "read initial value", errno.EINVAL)
        # SAFETY: ``current`` points at libbpf's copy of the section, valid
        # until the object is loaded or closed; it is copied out here.
        image = bytearray(ctypes.string_at(current, size.value))
        for offset, data in writes:
            image[offset : offset + len(data)] = data
        buf = (ctypes.c_char * len(image)).from_buffer(image)
        # SAFETY: libbpf copies ``buf`` before returning.
        check(lib.bpf_map__set_initial_value(bpf_map, buf, len(image)), entity, "write")


def _set_map_pins(obj: BpfObject, map_dir: str) -> tuple[list[_MapPin], list[str]]:
    """Give each map its pin path; return the pins and the directories made."""
    lib, pins = libbpf(), []
    for name, bpf_map in obj.maps():
        if lib.bpf_map__is_internal(bpf_map):
            continue  # .rodata/.data/.bss belong to one program, never shared
        path = os.path.join(map_dir, name)
        result = lib.bpf_map__set_pin_path(bpf_map, path.encode())
        check(result, f"map {name!r}", "set pin path")
        pins.append(_MapPin(name, path, os.path.exists(path)))
    return pins, _make_dirs(map_dir) if pins else []


def _make_dirs(path: str) -> list[str]:
    """``os.makedirs``, returning the directories it made, deepest first."""
    missing = []
    while path and not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.mkdir(directory)
    return missing


def _load(obj: BpfObject, spec: LoadSpec, log_buf: ctypes.Array[ctypes.c_char]) -> None:
    entity = f"program {spec.function!r}"
    log.debug(
        "loading %s from %s as %s", spec.function, spec.object_path, spec.prog_type
    )
    result = libbpf().bpf_object__load(obj.ptr)
    if result >= 0:
        return
    err = -result
    text = log_buf.value.decode("utf-8", "replace")
    if err == errno.EPERM and spec.prog_type in _LOCKDOWN_TYPES and os.geteuid() == 0:
        what = _LOCKDOWN_TYPES[spec.prog_type]
        raise NotSupported(
            spec.prog_type, needs=LOCKDOWN_NEEDS, detail=refused_detail(what, err)
        )
    if text.strip():
        raise VerifierError(entity, err, text)
    check(result, entity, f"load from {spec.object_path}")


def _pin_and_describe(
    obj: BpfObject, prog: int, spec: LoadSpec, pins: list[_MapPin]
) -> LoadedProgram:
    lib = libbpf()
    entity = f"program {spec.function!r}"
    fd = check(lib.bpf_program__fd(prog), entity, "get fd")
    checkpoint("load")
    # Everything is read before the pin, so nothing can fail after it.
    info = prog_info(fd)
    map_fds = {name: lib.bpf_map__fd(bpf_map) for name, bpf_map in obj.maps()}
    map_ids = {name: map_info(fd).id for name, fd in map_fds.items() if fd >= 0}
    obj_pin(fd, spec.pin_path, entity)
    checkpoint("pin")
    log.info(
        "loaded program %s (id %d), pinned at %s", spec.function, info.id, spec.pin_path
    )
    return LoadedProgram(
        id=info.id,
        name=spec.function,
        prog_type=spec.prog_type,
        tag=bytes(info.tag).hex(),
        pin_path=spec.pin_path,
        map_pins={pin.name: pin.path for pin in pins},
        map_ids=map_ids,
    )


def _remove_new_pins(pins: list[_MapPin]) -> None:
    for pin in pins:
        if not pin.existed and os.path.exists(pin.path):
            os.unlink(pin.path)


# ---------------------------------------------------------------- unload


def unload_program(program: LoadedProgram) -> None:
    """Unpin ``program`` and the maps no other program uses.

    A pin that now refers to another object is left alone (and logged): it
    belongs to whatever replaced it.
    """
    _unpin_if(program.pin_path, ("prog", program.id), f"program {program.name!r}")
    if not program.map_pins:
        return
    users = _map_users(exclude=program.id)
    for name, path in program.map_pins.items():
        found = _identity_of_pin(path)
        if found is None:
            continue
        if found[1] in users:
            log.info(
                "keeping map %s at %s: programs %s use it",
                name,
                path,
                sorted(users[found[1]]),
            )
            continue
        os.unlink(path)
    _remove_empty_dirs({os.path.dirname(p) for p in program.map_pins.values()})
    log.info("unloaded program %s (id %d)", program.name, program.id)


def _unpin_if(path: str, identity: tuple[str, int], entity: str) -> None:
    found = _identity_of_pin(path)
    if found is None:
        return
    if found != identity:
        log.warning("%s: %s now pins %s %d; left in place", entity, path, *found)
        return
    os.unlink(path)


def _identity_of_pin(path: str) -> tuple[str, int] | None:
    if not os.path.exists(path):
        return None
    fd = libbpf().bpf_obj_get(os.fsencode(path))
    if fd < 0:
        return None
    with owned(fd):
        return fd_identity(fd)


def _map_users(exclude: int) -> dict[int, set[int]]:
    """Map id -> ids of the programs using it, leaving out ``exclude``."""
    from bpftui.native.info import each_open, prog_map_ids

    users: dict[int, set[int]] = {}
    for prog_id, fd in each_open("prog"):
        if prog_id == exclude:
            continue
        for map_id in prog_map_ids(fd, prog_info(fd).nr_map_ids):
            users.setdefault(map_id, set()).add(prog_id)
    return users


def _remove_empty_dirs(paths: Iterable[str]) -> None:
    for path in paths:
        # Not empty: another program's pins live there too.
        with contextlib.suppress(OSError):
            os.rmdir(path)
