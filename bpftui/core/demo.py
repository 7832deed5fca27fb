"""An in-memory kernel for demo mode and tests: :class:`DemoBackend`.

It follows the rules the loader and the dispatchers meet on a real kernel:
ids count up and are never reused, pins are unique paths, one program holds
an XDP hook unless it is swapped atomically, TC filters are unique per
priority and handle, freplace needs a loaded target and a free stub, and a
detach of something already gone is no error. Faults are deterministic:

* a function whose name starts with ``bad_`` fails verification with a
  verifier log like the kernel's;
* a feature named in ``unsupported`` (``kprobe``, ``fentry``, ``freplace``,
  ``xdp-native`` ...) is refused with :class:`NotSupported`;
* ``fail_next`` makes the next call of a named method fail once, so tests
  can break an apply half-way.

Time comes from the injected clock, so run counts and map values advance
the same way in every run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bpftui.core.backend import (
    Clock,
    Feature,
    KernelLink,
    KernelMap,
    KernelProgram,
    LinkRecord,
    LoadedProgram,
    LoadSpec,
)
from bpftui.core.dispatchers import TC_CONFIG_SIZE, XDP_CONFIG_SIZE, Hook, HookKind
from bpftui.core.errors import InputError, KernelError, NotSupported, VerifierError
from bpftui.core.loader import FEATURE_NEEDS, TYPE_FEATURES
from bpftui.core.revisions import DISPATCHER_OBJECTS, HookProgram, HookState

# Events per second a program sees in the demo, by type.
_RATES: Mapping[str, float] = {
    "xdp": 1800.0,
    "tc": 950.0,
    "ext": 1800.0,
    "tracepoint": 420.0,
    "kprobe": 260.0,
    "uprobe": 35.0,
    "fentry": 260.0,
    "fexit": 260.0,
}

_STUB_FUNCS = frozenset({f"prog{i}" for i in range(10)} | {"compat_test"})
_DISPATCHER_FUNCS = frozenset({"xdp_dispatcher", "tc_dispatcher"})
_BPF_OBJ_NAME_LEN = 15


@dataclass(frozen=True, slots=True)
class DemoMap:
    """A map an object file declares."""

    name: str
    map_type: str = "array"
    key_size: int = 4
    value_size: int = 8
    max_entries: int = 256


@dataclass(frozen=True, slots=True)
class DemoObject:
    """What the demo pretends an ELF object holds.

    Attributes:
        maps: its maps.
        globals: global variable name -> size in bytes.
    """

    maps: tuple[DemoMap, ...] = (DemoMap("counters"),)
    globals: Mapping[str, int] = field(
        default_factory=lambda: {"GLOBAL_u8": 1, "GLOBAL_u32": 4}
    )


# The dispatchers' objects hold their config in .rodata.
_DISPATCHER_OBJECTS: Mapping[str, DemoObject] = {
    DISPATCHER_OBJECTS[HookKind.XDP]: DemoObject(
        maps=(DemoMap(".rodata", value_size=XDP_CONFIG_SIZE, max_entries=1),),
        globals={},
    ),
    DISPATCHER_OBJECTS[HookKind.TC]: DemoObject(
        maps=(DemoMap(".rodata", value_size=TC_CONFIG_SIZE, max_entries=1),),
        globals={},
    ),
}


@dataclass(slots=True)
class _Prog:
    id: int
    name: str
    function: str
    prog_type: str
    tag: str
    loaded_at: float
    map_ids: dict[str, int]
    pins: set[str] = field(default_factory=set)
    attach_func: str | None = None
    attach_prog_id: int | None = None
    rodata: dict[str, bytes] = field(default_factory=dict)
    foreign: bool = False
    holders: tuple[str, ...] = ()


@dataclass(slots=True)
class _Map:
    id: int
    spec: DemoMap
    pins: set[str] = field(default_factory=set)
    values: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Attachment:
    record: LinkRecord
    hook: tuple[Any, ...] | None  # the exclusive key it holds, if any


class DemoBackend:
    """A simulated kernel satisfying :class:`~bpftui.core.backend.Backend`.

    Args:
        clock: seconds since the epoch.
        interfaces: ifindex -> name; attaching elsewhere fails with ENODEV.
            None accepts any ifindex.
        unsupported: features this kernel lacks (keys of ``FEATURE_NEEDS``).
        objects: object path -> what it holds; others get ``DemoObject()``.
        generic_only: ifindexes without native XDP (loopback, say).
    """

    name = "demo"

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        interfaces: Mapping[int, str] | None = None,
        unsupported: Iterable[str] = (),
        objects: Mapping[str, DemoObject] | None = None,
        generic_only: Iterable[int] = (),
    ) -> None:
        self.clock = clock
        self.interfaces = dict(interfaces) if interfaces is not None else None
        self.unsupported = set(unsupported)
        self.objects = {**_DISPATCHER_OBJECTS, **(objects or {})}
        self.generic_only = set(generic_only)
        self.fail_next: dict[str, KernelError] = {}
        self._next_id = {"prog": 1, "map": 1, "link": 1}
        self._progs: dict[int, _Prog] = {}
        self._maps: dict[int, _Map] = {}
        self._links: list[_Attachment] = []
        self._pins: dict[str, tuple[str, int]] = {}  # path -> ("prog"|"map"|"link", id)
        self._stats: list[list[float]] = []  # [on, off] intervals; off=inf while on
        self._clsact: set[int] = set()  # ifindexes with a clsact qdisc
        self.locked: list[str] = []  # directories lock() was asked for

    # ------------------------------------------------------------ load

    def load(self, spec: LoadSpec) -> LoadedProgram:
        self._maybe_fail("load")
        self._check_feature_for_load(spec)
        self._check_pin_free(spec.pin_path, f"program '{spec.function}'")
        obj = self.objects.get(spec.object_path, DemoObject())
        _check_globals(spec, obj)
        if spec.function.startswith("bad_"):
            raise VerifierError(
                f"program '{spec.function}'", errno.EACCES, _verifier_log(spec.function)
            )
        if spec.prog_type == "ext":
            self._check_ext_target(spec)
        map_ids = self._maps_for(spec, obj)
        prog = self._new_prog(spec, map_ids)
        return self._record(prog, spec.pin_path, spec.map_pin_dir)

    def _check_feature_for_load(self, spec: LoadSpec) -> None:
        feature = TYPE_FEATURES.get(spec.prog_type)
        if feature is not None:
            self._require(feature, f"load program '{spec.function}'")

    def _check_ext_target(self, spec: LoadSpec) -> None:
        target = self._progs.get(spec.attach_prog_id or -1)
        if target is None:
            raise KernelError(
                f"program '{spec.function}'",
                f"load as extension of program {spec.attach_prog_id}",
                errno.ENOENT,
            )
        if spec.attach_func not in _STUB_FUNCS | _DISPATCHER_FUNCS:
            raise KernelError(
                f"program '{spec.function}'",
                f"load as extension of {target.name}:{spec.attach_func}",
                errno.ESRCH,
                hint="the target has no such function",
            )

    def _maps_for(self, spec: LoadSpec, obj: DemoObject) -> dict[str, int]:
        map_ids: dict[str, int] = {}
        for declared in obj.maps:
            pin = f"{spec.map_pin_dir.rstrip('/')}/{declared.name}"
            found = self._pins.get(pin)
            if found is not None and found[0] == "map":
                map_ids[declared.name] = found[1]
                continue
            new = _Map(self._take_id("map"), declared)
            new.pins.add(pin)
            self._maps[new.id] = new
            self._pins[pin] = ("map", new.id)
            map_ids[declared.name] = new.id
        return map_ids

    def _new_prog(self, spec: LoadSpec, map_ids: dict[str, int]) -> _Prog:
        digest = hashlib.sha256(f"{spec.object_path}:{spec.function}".encode())
        prog = _Prog(
            id=self._take_id("prog"),
            name=spec.function[:_BPF_OBJ_NAME_LEN],
            function=spec.function,
            prog_type=spec.prog_type,
            tag=digest.hexdigest()[:16],
            loaded_at=self.clock(),
            map_ids=map_ids,
            attach_func=spec.attach_func,
            attach_prog_id=spec.attach_prog_id,
            rodata=dict(spec.rodata),
        )
        prog.pins.add(spec.pin_path)
        self._progs[prog.id] = prog
        self._pins[spec.pin_path] = ("prog", prog.id)
        return prog

    def _record(self, prog: _Prog, pin_path: str, map_dir: str) -> LoadedProgram:
        map_pins = {
            name: f"{map_dir.rstrip('/')}/{name}" for name in sorted(prog.map_ids)
        }
        return LoadedProgram(
            id=prog.id,
            name=prog.name,
            prog_type=prog.prog_type,
            tag=prog.tag,
            pin_path=pin_path,
            map_pins=map_pins,
            map_ids=dict(prog.map_ids),
        )

    def unload(self, program: LoadedProgram) -> None:
        self._maybe_fail("unload")
        self._unpin(program.pin_path, "prog", program.id)
        in_use = {
            map_id
            for prog in self._progs.values()
            if prog.id != program.id
            for map_id in prog.map_ids.values()
        }
        for name, pin in program.map_pins.items():
            if program.map_ids.get(name) not in in_use:
                self._unpin(pin, "map", program.map_ids.get(name))
        self._collect()

    # ------------------------------------------------------------ attach

    def attach_xdp(
        self,
        program: LoadedProgram,
        ifindex: int,
        mode: str,
        *,
        link_pin: str | None = None,
        replace_prog_id: int | None = None,
    ) -> LinkRecord:
        self._maybe_fail("attach_xdp")
        prog = self._live(program, "xdp")
        ifname = self._ifname(ifindex, prog)
        won = self._xdp_mode(ifindex, mode, prog, ifname)
        hook = ("xdp", ifindex)
        current = self._holder(hook)
        entity = f"program '{prog.name}'"
        if replace_prog_id is None and current is not None:
            raise KernelError(
                entity,
                f"attach to {ifname} (XDP)",
                errno.EBUSY,
                hint=f"program {current.record.prog_id} is attached there "
                "without a dispatcher",
            )
        if replace_prog_id is not None and (
            current is None or current.record.prog_id != replace_prog_id
        ):
            raise KernelError(
                entity,
                f"replace program {replace_prog_id} on {ifname} (XDP)",
                errno.EEXIST,
                hint="another change replaced it first; read the hook again",
            )
        if current is not None:
            self._links.remove(current)
        detail = {"ifindex": ifindex, "mode": won}
        return self._add_link("xdp", ifname, prog, link_pin, detail=detail, hook=hook)

    def _xdp_mode(self, ifindex: int, mode: str, prog: _Prog, ifname: str) -> str:
        native_ok = "xdp-native" not in self.unsupported and (
            ifindex not in self.generic_only
        )
        if mode in ("native", "hw") and not native_ok:
            raise KernelError(
                f"program '{prog.name}'",
                f"attach to {ifname} (XDP native)",
                errno.EOPNOTSUPP,
                hint="the driver has no native XDP; use mode generic or auto",
            )
        if mode == "auto":
            return "native" if native_ok else "generic"
        return "generic" if mode == "skb" else mode

    def attach_tc(
        self,
        program: LoadedProgram,
        ifindex: int,
        direction: str,
        *,
        priority: int,
        handle: int = 1,
    ) -> LinkRecord:
        self._maybe_fail("attach_tc")
        self._require("tc-clsact", "attach a TC filter")
        prog = self._live(program, "tc")
        ifname = self._ifname(ifindex, prog)
        hook = ("tc", ifindex, direction, priority, handle)
        if self._holder(hook) is not None:
            raise KernelError(
                f"program '{prog.name}'",
                f"add TC filter on {ifname} {direction} priority {priority}",
                errno.EEXIST,
                hint="a filter with that priority and handle is there already",
            )
        detail = {
            "ifindex": ifindex,
            "direction": direction,
            "priority": priority,
            "handle": handle,
            "qdisc_created": ifindex not in self._clsact,
        }
        self._clsact.add(ifindex)
        return self._add_link(
            "tc", f"{ifname}/{direction}", prog, None, detail=detail, hook=hook
        )

    def attach_tracepoint(
        self, program: LoadedProgram, category: str, name: str, *, link_pin: str
    ) -> LinkRecord:
        self._maybe_fail("attach_tracepoint")
        self._require("tracepoints", f"attach to tracepoint {category}/{name}")
        prog = self._live(program, "tracepoint")
        point = f"{category}/{name}"
        return self._add_link("tracepoint", point, prog, link_pin, detail={}, hook=None)

    def attach_kprobe(
        self,
        program: LoadedProgram,
        func_name: str,
        offset: int,
        retprobe: bool,
        *,
        link_pin: str,
    ) -> LinkRecord:
        self._maybe_fail("attach_kprobe")
        self._require("kprobes", f"attach a kprobe to {func_name}")
        prog = self._live(program, "kprobe")
        point = f"{func_name}+{offset:#x}" if offset else func_name
        detail = {"retprobe": retprobe}
        return self._add_link("kprobe", point, prog, link_pin, detail=detail, hook=None)

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
        self._maybe_fail("attach_uprobe")
        self._require("uprobes", f"attach a uprobe to {binary_path}")
        prog = self._live(program, "uprobe")
        if not binary_path.startswith("/"):
            raise InputError(f"uprobe target '{binary_path}': not an absolute path")
        point = f"{binary_path}+{offset:#x}"
        detail = {"retprobe": retprobe, "pid": pid}
        return self._add_link("uprobe", point, prog, link_pin, detail=detail, hook=None)

    def attach_tracing(self, program: LoadedProgram, *, link_pin: str) -> LinkRecord:
        self._maybe_fail("attach_tracing")
        prog = self._live(program, None)
        self._require(TYPE_FEATURES[prog.prog_type], f"attach {prog.prog_type} program")
        point = prog.attach_func or "?"
        return self._add_link("tracing", point, prog, link_pin, detail={}, hook=None)

    def attach_freplace(
        self,
        program: LoadedProgram,
        target_prog_id: int,
        func_name: str,
        *,
        link_pin: str | None = None,
    ) -> LinkRecord:
        self._maybe_fail("attach_freplace")
        self._require("freplace", "attach an extension program")
        prog = self._live(program, "ext")
        target = self._progs.get(target_prog_id)
        if target is None:
            raise KernelError(
                f"program '{prog.name}'",
                f"replace {func_name} of program {target_prog_id}",
                errno.ENOENT,
            )
        hook = ("freplace", target_prog_id, func_name)
        if self._holder(hook) is not None:
            raise KernelError(
                f"program '{prog.name}'",
                f"replace {func_name} of program {target_prog_id}",
                errno.EBUSY,
                hint="another extension replaces that function already",
            )
        point = f"prog {target_prog_id}/{func_name}"  # as the kernel backend
        detail = {"target_prog_id": target_prog_id, "func_name": func_name}
        link = self._add_link(
            "freplace", point, prog, link_pin, detail=detail, hook=hook
        )
        # Once linked, an extension holds its target through the link only.
        prog.attach_prog_id = None
        return link

    def detach(self, link: LinkRecord) -> None:
        self._maybe_fail("detach")
        for attachment in list(self._links):
            if _same_link(attachment.record, link):
                self._links.remove(attachment)
                self._pins.pop(attachment.record.pin_path or "", None)
        if link.kind == "tc" and link.detail.get("qdisc_created"):
            self._release_clsact(link.detail["ifindex"])
        self._collect()

    def _release_clsact(self, ifindex: int) -> None:
        """Drop a clsact qdisc bpftui made once no filter is left on it."""
        if not any(
            a.record.kind == "tc" and a.record.detail.get("ifindex") == ifindex
            for a in self._links
        ):
            self._clsact.discard(ifindex)

    # ------------------------------------------------------------ queries

    def exists(self, record: LoadedProgram | LinkRecord) -> bool:
        if isinstance(record, LoadedProgram):
            return self._pins.get(record.pin_path) == ("prog", record.id)
        return any(_same_link(a.record, record) for a in self._links)

    def programs(self) -> Sequence[KernelProgram]:
        return [self._kernel_program(p) for p in sorted(self._progs.values(), key=_id)]

    def links(self) -> Sequence[KernelLink]:
        return [
            KernelLink(
                id=a.record.id,
                link_type=a.record.kind,
                prog_id=a.record.prog_id,
                attach_point=a.record.attach_point,
                pinned=(a.record.pin_path,) if a.record.pin_path else (),
            )
            for a in self._links
            if a.record.id is not None
        ]

    def maps(self) -> Sequence[KernelMap]:
        return [
            KernelMap(
                id=m.id,
                name=m.spec.name,
                map_type=m.spec.map_type,
                key_size=m.spec.key_size,
                value_size=m.spec.value_size,
                max_entries=m.spec.max_entries,
                pinned=tuple(sorted(m.pins)),
            )
            for m in sorted(self._maps.values(), key=_id)
        ]

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> Sequence[tuple[bytes, bytes]]:
        found = self._maps.get(map_id)
        if found is None:
            raise KernelError(f"map {map_id}", "read entries", errno.ENOENT)
        if found.spec.name == ".rodata":
            return self._rodata_entries(map_id)
        users = [p for p in self._progs.values() if map_id in p.map_ids.values()]
        age = max((self.clock() - p.loaded_at for p in users), default=0.0)
        count = min(found.spec.max_entries, limit)
        return [
            (key.to_bytes(4, "little"), _counter(key, age, found.spec.value_size))
            for key in range(count)
        ]

    def set_stats(self, enabled: bool) -> None:
        self._require("bpf-stats", "turn run-time statistics on")
        now = self.clock()
        running = bool(self._stats) and self._stats[-1][1] == float("inf")
        if enabled and not running:
            self._stats.append([now, float("inf")])
        elif not enabled and running:
            self._stats[-1][1] = now

    def features(self) -> Sequence[Feature]:
        return [
            Feature(
                name,
                name not in self.unsupported,
                "simulated" if name not in self.unsupported else "refused (simulated)",
                "" if name not in self.unsupported else needs,
            )
            for name, needs in FEATURE_NEEDS.items()
        ]

    # ------------------------------------------------------------ dispatchers

    def hook_state(self, hook: Hook) -> HookState:
        """What an XDP hook or a TC direction holds (the netlink view)."""
        found = [
            HookProgram(
                record.prog_id,
                self._progs[record.prog_id].name,
                record.detail.get("mode", "cls_bpf"),
                record.detail.get("priority", 0),
                record.detail.get("handle", 0),
            )
            for record in self.hook_holders()
            if _on_hook(record, hook) and record.prog_id in self._progs
        ]
        qdisc = None
        if hook.kind is HookKind.TC and hook.ifindex in self._clsact:
            qdisc = "clsact"
        return HookState(tuple(found), qdisc)

    def pinned_id(self, path: str) -> int | None:
        """The id of the program or link pinned at ``path``."""
        found = self._pins.get(path)
        return found[1] if found and found[0] != "map" else None

    def pin(self, record: LoadedProgram | LinkRecord, path: str) -> None:
        """Pin a live program or link at one more path."""
        self._check_pin_free(path, "pin")
        if isinstance(record, LoadedProgram):
            self._live(record, None).pins.add(path)
            self._pins[path] = ("prog", record.id)
        elif record.id is not None:
            self._pins[path] = ("link", record.id)

    def unpin(self, path: str) -> None:
        """Remove a pin; a pinned link goes with it, as its last holder."""
        found = self._pins.get(path)
        if found is None:
            return
        what, ident = found
        if what == "link":
            del self._pins[path]
            self._links = [a for a in self._links if a.record.pin_path != path]
        else:
            self._unpin(path, what, ident)
        self._collect()

    @contextlib.contextmanager
    def lock(self, directory: str) -> Iterator[None]:
        """The flock on a bpffs directory; one process, so nothing to wait for."""
        self.locked.append(directory)
        yield

    def _rodata_entries(self, map_id: int) -> list[tuple[bytes, bytes]]:
        for prog in self._progs.values():
            if prog.map_ids.get(".rodata") == map_id:
                return [(bytes(4), prog.rodata.get(".rodata", b""))]
        return []

    # ------------------------------------------------------------ demo extras

    def add_foreign_program(
        self,
        name: str,
        prog_type: str,
        *,
        pin: str | None = None,
        holder: str | None = None,
    ) -> int:
        """Load a program bpftui did not make (systemd's, xdp-loader's ...).

        ``holder`` is the process said to hold it open: ``"systemd(1)"``.
        """
        prog = _Prog(
            id=self._take_id("prog"),
            name=name[:_BPF_OBJ_NAME_LEN],
            function=name,
            prog_type=prog_type,
            tag=hashlib.sha256(name.encode()).hexdigest()[:16],
            loaded_at=self.clock(),
            map_ids={},
            foreign=True,
            holders=(holder,) if holder else (),
        )
        if pin:
            prog.pins.add(pin)
            self._pins[pin] = ("prog", prog.id)
        self._progs[prog.id] = prog
        return prog.id

    def hook_holders(self) -> list[LinkRecord]:
        """Every XDP, TC and freplace attachment, in the order made."""
        return [a.record for a in self._links if a.hook is not None]

    def program_info(self, prog_id: int) -> KernelProgram | None:
        """One program of the kernel's table, or None."""
        prog = self._progs.get(prog_id)
        return self._kernel_program(prog) if prog else None

    def pins(self) -> list[str]:
        """Every pinned path (tests assert nothing is left behind)."""
        return sorted(self._pins)

    def qdiscs(self) -> list[int]:
        """Ifindexes holding a clsact qdisc."""
        return sorted(self._clsact)

    # ------------------------------------------------------------ internals

    def _take_id(self, what: str) -> int:
        value = self._next_id[what]
        self._next_id[what] = value + 1
        return value

    def _maybe_fail(self, method: str) -> None:
        err = self.fail_next.pop(method, None)
        if err is not None:
            raise err

    def _require(self, feature: str, action: str) -> None:
        if feature in self.unsupported:
            raise NotSupported(
                feature,
                needs=FEATURE_NEEDS.get(feature, "a kernel that offers it"),
                detail=f"{action}: Operation not permitted (simulated)",
            )

    def _check_pin_free(self, path: str, entity: str) -> None:
        if path in self._pins:
            raise KernelError(
                entity,
                f"pin at {path}",
                errno.EEXIST,
                hint="something is pinned there already",
            )

    def _live(self, program: LoadedProgram, prog_type: str | None) -> _Prog:
        prog = self._progs.get(program.id)
        if prog is None:
            raise KernelError(f"program '{program.name}'", "attach", errno.ENOENT)
        if prog_type is not None and prog.prog_type != prog_type:
            raise KernelError(
                f"program '{program.name}'",
                f"attach as {prog_type} (it is {prog.prog_type})",
                errno.EINVAL,
            )
        return prog

    def _ifname(self, ifindex: int, prog: _Prog) -> str:
        if self.interfaces is None:
            return f"if{ifindex}"
        name = self.interfaces.get(ifindex)
        if name is None:
            raise KernelError(
                f"program '{prog.name}'", f"attach to ifindex {ifindex}", errno.ENODEV
            )
        return name

    def _holder(self, hook: tuple[Any, ...]) -> _Attachment | None:
        return next((a for a in self._links if a.hook == hook), None)

    def _add_link(
        self,
        kind: str,
        point: str,
        prog: _Prog,
        link_pin: str | None,
        *,
        detail: Mapping[str, Any],
        hook: tuple[Any, ...] | None,
    ) -> LinkRecord:
        if link_pin:
            self._check_pin_free(link_pin, f"link of program '{prog.name}'")
        netlink = kind == "tc" or (kind == "xdp" and not link_pin)
        record = LinkRecord(
            kind=kind,
            attach_point=point,
            prog_id=prog.id,
            id=None if netlink else self._take_id("link"),
            pin_path=link_pin,
            detail=dict(detail),
        )
        self._links.append(_Attachment(record, hook))
        if link_pin:
            self._pins[link_pin] = ("link", record.id or 0)
        return record

    def _unpin(self, path: str, what: str, ident: int | None) -> None:
        if self._pins.get(path) != (what, ident):
            return
        del self._pins[path]
        table: Mapping[int, _Prog | _Map] = (
            self._progs if what == "prog" else self._maps
        )
        if ident is not None and ident in table:
            table[ident].pins.discard(path)

    def _collect(self) -> None:
        """Free programs and maps nothing holds any more, as the kernel does."""
        held = {a.record.prog_id for a in self._links}
        held |= {p.attach_prog_id for p in self._progs.values() if p.attach_prog_id}
        for prog in list(self._progs.values()):
            if not prog.pins and prog.id not in held and not prog.foreign:
                del self._progs[prog.id]
        used = {i for p in self._progs.values() for i in p.map_ids.values()}
        for found in list(self._maps.values()):
            if not found.pins and found.id not in used:
                del self._maps[found.id]

    def _kernel_program(self, prog: _Prog) -> KernelProgram:
        seconds = self._stats_seconds(prog.loaded_at)
        rate = _RATES.get(prog.prog_type, 10.0)
        return KernelProgram(
            id=prog.id,
            name=prog.name,
            prog_type=prog.prog_type,
            tag=prog.tag,
            loaded_at=prog.loaded_at,
            uid=0,
            map_ids=tuple(sorted(prog.map_ids.values())),
            run_cnt=int(seconds * rate),
            run_time_ns=int(seconds * rate * 85),
            verified_insns=40 + len(prog.function) * 7,
            pinned=tuple(sorted(prog.pins)),
            holders=prog.holders,
        )

    def _stats_seconds(self, since: float) -> float:
        now = self.clock()
        return sum(max(0.0, min(off, now) - max(on, since)) for on, off in self._stats)


# ---------------------------------------------------------------- helpers


def _on_hook(record: LinkRecord, hook: Hook) -> bool:
    detail = record.detail
    if record.kind != hook.kind.value or detail.get("ifindex") != hook.ifindex:
        return False
    return hook.kind is HookKind.XDP or detail.get("direction") == hook.direction


def _id(item: _Prog | _Map) -> int:
    return item.id


# What names a netlink attachment: the kernel finds it by these alone.
_NETLINK_KEYS = ("ifindex", "direction", "priority", "handle")


def _same_link(a: LinkRecord, b: LinkRecord) -> bool:
    if a.id is not None or b.id is not None:
        return a.id == b.id
    same_place = all(a.detail.get(k) == b.detail.get(k) for k in _NETLINK_KEYS)
    return a.kind == b.kind and a.prog_id == b.prog_id and same_place


def _check_globals(spec: LoadSpec, obj: DemoObject) -> None:
    for name, value in spec.globaldata.items():
        size = obj.globals.get(name)
        if size is not None and size != len(value):
            raise InputError(
                f"program '{spec.function}': globaldata {name}: {len(value)} bytes "
                f"given, the variable in {spec.object_path} is {size} bytes",
                hint=f"give exactly {size} bytes",
            )


def _counter(key: int, age: float, size: int) -> bytes:
    # Only the first few keys count anything, like a per-action counter.
    rate = (0.0, 1500.0, 240.0, 12.0)[key] if key < 4 else 0.0
    value = int(age * rate)
    return struct.pack("<Q", value)[:size].ljust(size, b"\0")


def _verifier_log(function: str) -> str:
    """A verifier log of a program reading past a packet bound."""
    return "\n".join(
        [
            "func#0 @0",
            "0: R1=ctx() R10=fp0",
            f"; int {function}(struct xdp_md *ctx) @ {function}.bpf.c:14",
            "0: (61) r2 = *(u32 *)(r1 +4)        ; R1=ctx() R2_w=pkt_end()",
            "1: (61) r1 = *(u32 *)(r1 +0)        ; R1_w=pkt(r=0)",
            "; struct ethhdr *eth = data; @ " + function + ".bpf.c:17",
            "2: (71) r3 = *(u8 *)(r1 +12)",
            "invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)",
            "R1 offset is outside of the packet",
            "processed 3 insns (limit 1000000) max_states_per_insn 0 "
            "total_states 0 peak_states 0 mark_read 0",
        ]
    )
