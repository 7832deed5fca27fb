"""What the front ends (TUI, shell, CLI) see of a node.

Front ends talk to a :class:`Session` and a :class:`Discovery`, never to a
backend or to ``bpftui.native``. A session is made by :func:`open_session`:
over the real kernel when running as root, over the in-memory demo node
otherwise. Every record here is frozen and plain, cheap to diff between two
refreshes, and printable as JSON with ``dataclasses.asdict``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bpftui.core.backend import Feature, KernelLink, KernelMap, KernelProgram

# ---------------------------------------------------------------- discovery


@dataclass(frozen=True, slots=True)
class SlotView:
    """One slot of a dispatcher chain, in run order."""

    slot: int
    prog_id: int
    name: str
    priority: int
    proceedon: tuple[str, ...]
    owner: str | None = None  # "XdpProgram/edge" for bpftui's, "xdp-loader", None


@dataclass(frozen=True, slots=True)
class ChainView:
    """What runs on one hook of an interface: a dispatcher or a lone program."""

    hook: str  # "xdp", "tc-ingress", "tc-egress"
    mode: str = ""  # XDP: native, generic, offload; TC: cls_bpf, tcx
    dispatcher_id: int | None = None
    revision: int | None = None
    slots: tuple[SlotView, ...] = ()


@dataclass(frozen=True, slots=True)
class InterfaceView:
    name: str
    index: int
    kind: str  # "veth", "bridge", "device", "loopback", ...
    state: str  # "up", "down", "unknown"
    mtu: int
    mac: str
    addresses: tuple[str, ...] = ()
    netns: str = ""
    primary: bool = False
    chains: tuple[ChainView, ...] = ()


@dataclass(frozen=True, slots=True)
class TracepointView:
    category: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.category}/{self.name}"


@dataclass(frozen=True, slots=True)
class TracepointField:
    name: str
    type: str
    offset: int
    size: int
    signed: bool


@dataclass(frozen=True, slots=True)
class FunctionView:
    """A kernel function and what can attach to it.

    ``kprobe`` is None when the kernel does not say (available_filter_functions
    unreadable): unknown, never guessed.
    """

    name: str
    module: str  # "vmlinux" or the module name
    prototype: str
    fentry: bool
    kprobe: bool | None


@dataclass(frozen=True, slots=True)
class SymbolView:
    name: str
    offset: int
    size: int
    binary: str


@dataclass(frozen=True, slots=True)
class ProcessView:
    pid: int
    comm: str
    cmdline: str


class FunctionCatalog(Protocol):
    """All kernel functions, filterable fast enough to run on every keystroke."""

    def __len__(self) -> int: ...

    def filter(
        self, text: str, *, fuzzy: bool = False, limit: int | None = None
    ) -> tuple[Sequence[FunctionView], int]:
        """Return up to ``limit`` matches and the total number of matches."""

    def get(self, name: str) -> FunctionView | None: ...


@runtime_checkable
class Discovery(Protocol):
    """Attach points of a node. Each method may raise ``NotSupported`` naming
    what is missing (no tracefs, no BTF); the others keep working."""

    def interfaces(self) -> Sequence[InterfaceView]: ...

    def watch_interfaces(
        self, callback: Callable[[Sequence[InterfaceView]], None]
    ) -> Callable[[], None]:
        """Call ``callback`` on every change (netlink notifications) until the
        returned function is called. The callback runs on a worker thread."""

    def primary_interface(self) -> str | None: ...

    def tracepoints(self) -> Sequence[TracepointView]: ...

    def tracepoint_fields(
        self, category: str, name: str
    ) -> Sequence[TracepointField]: ...

    def functions(self) -> FunctionCatalog: ...

    def resolve_library(self, name: str) -> str:
        """``libc`` -> ``/lib/x86_64-linux-gnu/libc.so.6`` as ld.so would."""

    def symbols(self, target: str) -> Sequence[SymbolView]: ...

    def processes(self) -> Sequence[ProcessView]: ...


# ---------------------------------------------------------------- node state


@dataclass(frozen=True, slots=True)
class ConditionView:
    type: str  # "Loaded", "NotLoaded", ... (the API's condition types)
    status: str  # "True" / "False" / "Unknown"
    reason: str  # "bpfmanLoaded", ...
    message: str
    last_transition_time: str  # RFC 3339


@dataclass(frozen=True, slots=True)
class BpfProgramView:
    """The per-node object the agent writes for one attach point."""

    name: str  # <program>-<node>-<attach point>
    owner_kind: str
    owner_name: str
    node: str
    prog_type: str  # spec.type: xdp, tc, tracepoint, ...
    attach_point: str
    condition: ConditionView
    program_id: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    maps: Mapping[str, str] = field(default_factory=dict)  # name -> pin path
    map_ids: Mapping[str, int] = field(default_factory=dict)
    links: Sequence[str] = ()  # human-readable link descriptions or pin paths
    pins: Sequence[str] = ()
    verifier_log: str | None = None
    slot: int | None = None  # dispatcher slot, for XDP and TC
    priority: int | None = None

    def to_k8s(self) -> dict[str, Any]:
        """The object as the operator would write it (apiVersion ... status)."""
        return {
            "apiVersion": "bpfman.io/v1alpha1",
            "kind": "BpfProgram",
            "metadata": {
                "name": self.name,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
            },
            "spec": {"type": self.prog_type},
            "status": {"conditions": [_condition_dict(self.condition)]},
        }


@dataclass(frozen=True, slots=True)
class ObjectStatusView:
    """An applied *Program object with its cluster-level condition."""

    kind: str
    name: str
    obj: Any  # the api object (bpftui.core.api)
    condition: ConditionView
    bpfprograms: Sequence[BpfProgramView] = ()
    applied_at: float | None = None


def _condition_dict(cond: ConditionView) -> dict[str, str]:
    return {
        "type": cond.type,
        "status": cond.status,
        "reason": cond.reason,
        "message": cond.message,
        "lastTransitionTime": cond.last_transition_time,
    }


@runtime_checkable
class Session(Protocol):
    """One node, as every front end drives it. Methods may block (syscalls,
    netlink): the TUI calls them from thread workers."""

    backend_name: str  # "kernel" or "demo"
    node_name: str
    node_labels: Mapping[str, str]
    discovery: Discovery

    def apply(self, objects: Sequence[Any]) -> Sequence[BpfProgramView]:
        """Make objects real on this node; unchanged ones are left as they are."""

    def delete(self, refs: Sequence[Any]) -> Sequence[str]:
        """Detach, unload and unpin; refs are api objects or ``Kind/name``."""

    def status(self) -> Sequence[ObjectStatusView]: ...

    def kernel_programs(self) -> Sequence[KernelProgram]: ...

    def kernel_links(self) -> Sequence[KernelLink]: ...

    def kernel_maps(self) -> Sequence[KernelMap]: ...

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> Sequence[tuple[bytes, bytes]]: ...

    def owner_of(self, prog_id: int) -> str | None:
        """``Kind/name`` of the applied object that made a kernel program, or
        who else runs it (``systemd(1)``, ``libxdp``); None when unknown."""

    def set_stats(self, enabled: bool) -> None: ...

    def doctor(self) -> Sequence[Feature]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- opening


def open_session(
    *, demo: bool, config_path: str | None, clock: Callable[[], float] | None = None
) -> Session:
    """Open this node: the real kernel, or the simulated demo node.

    Args:
        demo: use the in-memory demo node (no root, no BPF).
        config_path: ``--config``; None reads ``$BPFTUI_CONFIG`` or the default.
        clock: seconds since the epoch (tests and snapshots fix it).

    Raises:
        PermissionProblem: not demo, and root or a capability is missing.
        NotSupported: this build lacks what the chosen node needs.
        InputError: the configuration is wrong.
    """
    from bpftui.core import node_session

    if demo:
        return node_session.demo_session(clock=clock)
    return node_session.kernel_session(config_path, clock=clock)
