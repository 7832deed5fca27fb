"""The kernel as the loader sees it: a small set of primitives.

The loader (``core.loader``), the dispatchers (``core.dispatchers``) and the
node agent decide *what* to do; a :class:`Backend` does it. Two backends
exist: the real one over libbpf and netlink (``bpftui.native.backend``) and an
in-memory one for demo mode and tests (``bpftui.core.demo``) that follows the
same rules (ids, pins, one program per hook without a dispatcher, failures).
This is how httpx injects the network with its transports.

Paths in these records are bpffs paths chosen by the loader; a backend pins
where it is told and never invents a path of its own.

Records are frozen and plain so that the state store can keep them
(``to_dict``/``from_dict``) and another process can find them again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ProgType = Literal[
    "xdp", "tc", "tracepoint", "kprobe", "uprobe", "fentry", "fexit", "ext"
]
PROGRAM_TYPES: tuple[str, ...] = (
    "xdp",
    "tc",
    "tracepoint",
    "kprobe",
    "uprobe",
    "fentry",
    "fexit",
    "ext",
)
XdpMode = Literal["native", "generic", "skb", "hw", "auto"]
Direction = Literal["ingress", "egress"]
LinkKind = Literal[
    "xdp", "tc", "tcx", "tracepoint", "kprobe", "uprobe", "tracing", "freplace"
]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One function of one ELF object, to be loaded and pinned.

    Attributes:
        object_path: the ELF file on disk.
        function: the ELF function (``bpffunctionname``).
        prog_type: one of :data:`PROGRAM_TYPES`; overrides the section's guess.
        pin_path: where the program is pinned.
        map_pin_dir: maps are pinned in this directory; maps already pinned
            there are reused instead of created (how ``mapownerselector``
            shares a map owner's maps).
        globaldata: variable name -> bytes written into ``.rodata``/``.data``
            before load; a size mismatch is an ``InputError`` naming both sizes.
        attach_func: fentry/fexit: the kernel function; ext: the stub to replace.
        attach_prog_id: ext only: the program that holds the stub.
        rodata: section-level initial values (``".rodata"`` -> bytes), used by
            the dispatchers to set their config before load.
    """

    object_path: str
    function: str
    prog_type: str
    pin_path: str
    map_pin_dir: str
    globaldata: Mapping[str, bytes] = field(default_factory=dict)
    attach_func: str | None = None
    attach_prog_id: int | None = None
    rodata: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoadedProgram:
    """A program the kernel holds, pinned at ``pin_path``."""

    id: int
    name: str
    prog_type: str
    tag: str
    pin_path: str
    map_pins: Mapping[str, str] = field(default_factory=dict)
    map_ids: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadedProgram:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """An attachment, pinnable or not.

    ``pin_path`` is set for bpf_links pinned in bpffs. Netlink attachments
    (XDP without a link, cls_bpf filters) have no pin; ``detail`` then holds
    what is needed to find and remove them again (ifindex, parent, priority,
    handle, mode, ...).
    """

    kind: str
    attach_point: str
    prog_id: int
    id: int | None = None
    pin_path: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkRecord:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class KernelProgram:
    """A row of the kernel's program table (``bpftool prog``)."""

    id: int
    name: str
    prog_type: str
    tag: str
    loaded_at: float | None = None
    uid: int | None = None
    map_ids: tuple[int, ...] = ()
    btf_id: int | None = None
    run_cnt: int | None = None
    run_time_ns: int | None = None
    verified_insns: int | None = None
    pinned: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()  # processes with it open: ``"systemd(1)"``


@dataclass(frozen=True, slots=True)
class KernelLink:
    """A row of the kernel's link table, with the attach point named."""

    id: int
    link_type: str
    prog_id: int
    attach_point: str
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KernelMap:
    """A row of the kernel's map table."""

    id: int
    name: str
    map_type: str
    key_size: int
    value_size: int
    max_entries: int
    pinned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feature:
    """One capability probed for real (``bpftui doctor``)."""

    name: str
    available: bool
    detail: str = ""
    needs: str = ""


@runtime_checkable
class Backend(Protocol):
    """Kernel primitives. Every method raises ``errors.BpftuiError`` subclasses."""

    name: str

    def load(self, spec: LoadSpec) -> LoadedProgram: ...

    def unload(self, program: LoadedProgram) -> None:
        """Unpin the program and the maps no other program uses."""

    def attach_xdp(
        self,
        program: LoadedProgram,
        ifindex: int,
        mode: str,
        *,
        link_pin: str | None = None,
        replace_prog_id: int | None = None,
    ) -> LinkRecord:
        """Attach to an interface's XDP hook.

        With ``link_pin`` a bpf_link is made and pinned; without it the
        program is attached through netlink (how libxdp attaches its
        dispatcher). ``replace_prog_id`` swaps atomically, failing if another
        program is attached meanwhile. Mode ``auto`` tries native and falls
        back to generic (the record's ``detail["mode"]`` says which won).
        """

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

    def attach_tracepoint(
        self, program: LoadedProgram, category: str, name: str, *, link_pin: str
    ) -> LinkRecord: ...

    def attach_kprobe(
        self,
        program: LoadedProgram,
        func_name: str,
        offset: int,
        retprobe: bool,
        *,
        link_pin: str,
    ) -> LinkRecord: ...

    def attach_uprobe(
        self,
        program: LoadedProgram,
        binary_path: str,
        offset: int,
        retprobe: bool,
        pid: int | None,
        *,
        link_pin: str,
    ) -> LinkRecord: ...

    def attach_tracing(self, program: LoadedProgram, *, link_pin: str) -> LinkRecord:
        """fentry/fexit: the target was set at load time."""

    def attach_freplace(
        self,
        program: LoadedProgram,
        target_prog_id: int,
        func_name: str,
        *,
        link_pin: str | None = None,
    ) -> LinkRecord: ...

    def detach(self, link: LinkRecord) -> None:
        """Remove an attachment; a link or filter already gone is not an error."""

    def exists(self, record: LoadedProgram | LinkRecord) -> bool:
        """Whether the kernel still holds it (pins and ids checked)."""

    def programs(self) -> Sequence[KernelProgram]: ...

    def links(self) -> Sequence[KernelLink]: ...

    def maps(self) -> Sequence[KernelMap]: ...

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> Sequence[tuple[bytes, bytes]]: ...

    def set_stats(self, enabled: bool) -> None:
        """Turn the kernel's run-time statistics (run_cnt, run_time_ns) on or off."""

    def features(self) -> Sequence[Feature]: ...


Clock = Callable[[], float]
"""Seconds since the epoch; injected so demo screens are deterministic."""
