"""The bpfman.io/v1alpha1 API as plain, immutable records.

Eight kinds: seven cluster-level ``*Program`` kinds a user writes and the
per-node ``BpfProgram`` the agent writes. Each object has ``.kind``,
``.metadata``, ``.spec`` and ``.status``; every field carries the CRD's own
name (``bpffunctionname``, ``interfaceselector``, ``matchLabels``), so a
record reads like the YAML it came from. Records are frozen: lists become
tuples and maps become :class:`FrozenMap`, so a record can be hashed, shared
between threads and compared.

Raw trees (dicts as YAML holds them) turn into records with
:func:`from_dict`, which checks every rule first, and back with
:func:`to_dict`, which writes the normalised form (defaults filled in,
globaldata as base64, keys in the CRD schema's order).

This module is pure data: no I/O, no kernel.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import difflib
import enum
import functools
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias, TypeVar

from bpftui.core.errors import InputError, ValidationError

API_GROUP = "bpfman.io"
API_VERSION = "bpfman.io/v1alpha1"

PRIORITY_MIN = 0
PRIORITY_MAX = 1000

# Order matters: it is the schema's enum order, shown as-is in forms.
XDP_PROCEED_ON = ("aborted", "drop", "pass", "tx", "redirect", "dispatcher_return")
XDP_PROCEED_ON_DEFAULT = ("pass", "dispatcher_return")
TC_PROCEED_ON = (
    "unspec",
    "ok",
    "reclassify",
    "shot",
    "pipe",
    "stolen",
    "queued",
    "repeat",
    "redirect",
    "trap",
    "dispatcher_return",
)
TC_PROCEED_ON_DEFAULT = ("pipe", "dispatcher_return")
DIRECTIONS = ("ingress", "egress")
IMAGE_PULL_POLICIES = ("Always", "Never", "IfNotPresent")
IMAGE_PULL_POLICY_DEFAULT = "IfNotPresent"
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
CONDITION_STATUSES = ("True", "False", "Unknown")
# Values of BpfProgram ``spec.type``.
BPF_PROGRAM_TYPES = ("xdp", "tc", "tracepoint", "kprobe", "uprobe", "fentry", "fexit")

# Labels and annotation the agent puts on per-node BpfProgram objects.
LABEL_OWNED_BY_PROGRAM = "bpfman.io/ownedByProgram"
LABEL_HOSTNAME = "kubernetes.io/hostname"
ANNOTATION_PROGRAM_ID = "bpfman.io/ProgramId"

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only, hashable mapping: what a record holds for a YAML map.

    Compares equal to any mapping with the same items, so tests and callers
    may compare it with a plain dict.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._items: dict[K, V] = dict(items)

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


def _freeze(value: Any) -> Any:
    """Turn lists into tuples and dicts into FrozenMaps, all the way down."""
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


def _omitempty(default: Any = ()) -> Any:
    """A field left out of :func:`to_dict` output while it is empty."""
    factory = FrozenMap if default == {} else (lambda: default)
    return field(default_factory=factory, metadata={"omitempty": True})


class _Record:
    """Base of every record: freezes containers handed to the constructor."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            frozen = _freeze(value)
            if frozen is not value:
                object.__setattr__(self, f.name, frozen)


# --- metadata, selectors, bytecode -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectMeta(_Record):
    """The part of Kubernetes ObjectMeta that bpftui keeps."""

    name: str
    labels: Mapping[str, str] = _omitempty({})
    annotations: Mapping[str, str] = _omitempty({})


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSelectorRequirement(_Record):
    """One ``matchExpressions`` entry: ``key operator values``."""

    key: str
    operator: str
    values: Sequence[str] = _omitempty()


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSelector(_Record):
    """Kubernetes label selector; the empty selector matches everything."""

    matchExpressions: Sequence[LabelSelectorRequirement] = _omitempty()
    matchLabels: Mapping[str, str] = _omitempty({})


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePullSecretSelector(_Record):
    """The secret holding credentials for a private bytecode image."""

    name: str
    namespace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BytecodeImage(_Record):
    """A bytecode container image."""

    imagepullpolicy: str = IMAGE_PULL_POLICY_DEFAULT
    imagepullsecret: ImagePullSecretSelector | None = None
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BytecodeSelector(_Record):
    """Where the bytecode comes from: exactly one of ``image`` and ``path``."""

    image: BytecodeImage | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceSelector(_Record):
    """Exactly one of ``interfaces`` and ``primarynodeinterface: true``."""

    interfaces: Sequence[str] | None = None
    primarynodeinterface: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSelector(_Record):
    """The containers a uprobe attaches in."""

    containernames: Sequence[str] = _omitempty()
    namespace: str = ""
    pods: LabelSelector


# --- status -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition(_Record):
    """A Kubernetes ``metav1.Condition``; ``lastTransitionTime`` is RFC 3339."""

    lastTransitionTime: str
    message: str = ""
    observedGeneration: int | None = None
    reason: str
    status: str = "True"
    type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramStatus(_Record):
    """``status`` of every kind: the operator keeps one condition at a time."""

    conditions: Sequence[Condition] = _omitempty()


def _rfc3339(at: _dt.datetime | str) -> str:
    if isinstance(at, str):
        return at
    if at.tzinfo is None:
        at = at.replace(tzinfo=_dt.UTC)
    return at.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BpfProgramConditionType(enum.StrEnum):
    """Condition types of a per-node BpfProgram; each has one fixed reason."""

    LOADED = "Loaded"
    NOT_LOADED = "NotLoaded"
    NOT_UNLOADED = "NotUnLoaded"
    NOT_SELECTED = "NotSelected"
    UNLOADED = "Unloaded"
    MAP_OWNER_NOT_FOUND = "MapOwnerNotFound"
    MAP_OWNER_NOT_LOADED = "MapOwnerNotLoaded"
    BYTECODE_SELECTOR_ERROR = "BytecodeSelectorError"
    NO_CONTAINERS_ON_NODE = "NoContainersOnNode"
    NONE = "None"

    @property
    def reason(self) -> str:
        """The reason the operator writes with this type."""
        return _NODE_REASONS[self][0]

    @property
    def default_message(self) -> str:
        """A message for when the caller has nothing more specific."""
        return _NODE_REASONS[self][1]

    def condition(
        self, at: _dt.datetime | str, message: str | None = None
    ) -> Condition:
        """This type as a status-True condition stamped ``at``."""
        return _condition(self, self.reason, message or self.default_message, at)


_NODE_REASONS: dict[BpfProgramConditionType, tuple[str, str]] = {
    BpfProgramConditionType.LOADED: ("bpfmanLoaded", "program loaded"),
    BpfProgramConditionType.NOT_LOADED: ("bpfmanNotLoaded", "program failed to load"),
    BpfProgramConditionType.NOT_UNLOADED: (
        "bpfmanNotUnloaded",
        "program failed to unload",
    ),
    BpfProgramConditionType.NOT_SELECTED: (
        "nodeNotSelected",
        "the node selector does not match this node",
    ),
    BpfProgramConditionType.UNLOADED: ("bpfmanUnloaded", "program unloaded"),
    BpfProgramConditionType.MAP_OWNER_NOT_FOUND: (
        "mapOwnerNotFound",
        "no program on this node matches the map owner selector",
    ),
    BpfProgramConditionType.MAP_OWNER_NOT_LOADED: (
        "mapOwnerNotLoaded",
        "the map owner is not loaded yet",
    ),
    BpfProgramConditionType.BYTECODE_SELECTOR_ERROR: (
        "bytecodeSelectorError",
        "the bytecode selector could not be resolved",
    ),
    BpfProgramConditionType.NO_CONTAINERS_ON_NODE: (
        "noContainersOnNode",
        "no container on this node matches the container selector",
    ),
    BpfProgramConditionType.NONE: ("None", "no condition applies"),
}

# When a program should not be loaded on a node, the first type here that
# applies is the one reported.
NOT_LOADED_PRECEDENCE = (
    BpfProgramConditionType.UNLOADED,
    BpfProgramConditionType.NOT_SELECTED,
    BpfProgramConditionType.NO_CONTAINERS_ON_NODE,
    BpfProgramConditionType.MAP_OWNER_NOT_FOUND,
    BpfProgramConditionType.MAP_OWNER_NOT_LOADED,
)

# Per-node types that make the cluster-level condition ReconcileError.
RECONCILE_ERROR_TYPES = frozenset(
    {
        BpfProgramConditionType.NOT_LOADED,
        BpfProgramConditionType.NOT_UNLOADED,
        BpfProgramConditionType.MAP_OWNER_NOT_FOUND,
        BpfProgramConditionType.MAP_OWNER_NOT_LOADED,
        BpfProgramConditionType.BYTECODE_SELECTOR_ERROR,
    }
)


class ProgramConditionType(enum.StrEnum):
    """Condition types of a cluster-level ``*Program`` object."""

    NOT_YET_LOADED = "NotYetLoaded"
    RECONCILE_ERROR = "ReconcileError"
    RECONCILE_SUCCESS = "ReconcileSuccess"
    DELETE_ERROR = "DeleteError"

    @property
    def reason(self) -> str:
        """The reason the operator writes with this type."""
        return _CLUSTER_REASONS[self][0]

    @property
    def default_message(self) -> str:
        """A message for when the caller has nothing more specific."""
        return _CLUSTER_REASONS[self][1]

    def condition(
        self, at: _dt.datetime | str, message: str | None = None
    ) -> Condition:
        """This type as a status-True condition stamped ``at``."""
        return _condition(self, self.reason, message or self.default_message, at)


_CLUSTER_REASONS: dict[ProgramConditionType, tuple[str, str]] = {
    ProgramConditionType.NOT_YET_LOADED: (
        "ProgramsNotYetLoaded",
        "some selected nodes have not reported yet",
    ),
    ProgramConditionType.RECONCILE_ERROR: (
        "ReconcileError",
        "the program failed on some nodes",
    ),
    ProgramConditionType.RECONCILE_SUCCESS: (
        "ReconcileSuccess",
        "the program is in place on every selected node",
    ),
    ProgramConditionType.DELETE_ERROR: ("DeleteError", "deleting the program failed"),
}


def _condition(
    ctype: enum.StrEnum, reason: str, message: str, at: _dt.datetime | str
) -> Condition:
    return Condition(
        type=str(ctype),
        status="True",
        reason=reason,
        message=message,
        lastTransitionTime=_rfc3339(at),
    )


# --- specs, in the CRD schema's (alphabetical) field order --------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class XdpProgramSpec(_Record):
    """What an XdpProgram asks for."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    globaldata: Mapping[str, bytes] = _omitempty({})
    interfaceselector: InterfaceSelector
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)
    priority: int
    proceedon: Sequence[str] = XDP_PROCEED_ON_DEFAULT


@dataclass(frozen=True, slots=True, kw_only=True)
class TcProgramSpec(_Record):
    """What a TcProgram asks for."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    direction: str
    globaldata: Mapping[str, bytes] = _omitempty({})
    interfaceselector: InterfaceSelector
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)
    priority: int
    proceedon: Sequence[str] = TC_PROCEED_ON_DEFAULT


@dataclass(frozen=True, slots=True, kw_only=True)
class TracepointProgramSpec(_Record):
    """What a TracepointProgram asks for; ``names`` are ``category/name``."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    globaldata: Mapping[str, bytes] = _omitempty({})
    mapownerselector: LabelSelector | None = None
    names: Sequence[str]
    nodeselector: LabelSelector = field(default_factory=LabelSelector)


@dataclass(frozen=True, slots=True, kw_only=True)
class KprobeProgramSpec(_Record):
    """What a KprobeProgram asks for; a kretprobe takes no offset."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    func_name: str
    globaldata: Mapping[str, bytes] = _omitempty({})
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)
    offset: int = 0
    retprobe: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UprobeProgramSpec(_Record):
    """What an UprobeProgram asks for; ``target`` is a library or a path."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    containers: ContainerSelector | None = None
    func_name: str | None = None
    globaldata: Mapping[str, bytes] = _omitempty({})
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)
    offset: int = 0
    pid: int | None = None
    retprobe: bool = False
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FentryProgramSpec(_Record):
    """What a FentryProgram asks for; ``func_name`` needs BTF."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    func_name: str
    globaldata: Mapping[str, bytes] = _omitempty({})
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)


@dataclass(frozen=True, slots=True, kw_only=True)
class FexitProgramSpec(_Record):
    """What a FexitProgram asks for; ``func_name`` needs BTF."""

    bpffunctionname: str
    bytecode: BytecodeSelector
    func_name: str
    globaldata: Mapping[str, bytes] = _omitempty({})
    mapownerselector: LabelSelector | None = None
    nodeselector: LabelSelector = field(default_factory=LabelSelector)


@dataclass(frozen=True, slots=True, kw_only=True)
class BpfProgramSpec(_Record):
    """A per-node BpfProgram's spec: the program type (``xdp``, ``tc`` ...)."""

    type: str | None = None


# --- the objects --------------------------------------------------------------


class _Object(_Record):
    """Base of the eight kinds; ``kind`` is a class constant."""

    __slots__ = ()
    kind: ClassVar[str]
    api_version: ClassVar[str] = API_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class XdpProgram(_Object):
    """An XDP program attached through the multi-program dispatcher."""

    kind: ClassVar[str] = "XdpProgram"
    metadata: ObjectMeta
    spec: XdpProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TcProgram(_Object):
    """A TC program attached through the TC dispatcher."""

    kind: ClassVar[str] = "TcProgram"
    metadata: ObjectMeta
    spec: TcProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TracepointProgram(_Object):
    """A program attached to kernel tracepoints."""

    kind: ClassVar[str] = "TracepointProgram"
    metadata: ObjectMeta
    spec: TracepointProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KprobeProgram(_Object):
    """A kprobe or kretprobe on a kernel function."""

    kind: ClassVar[str] = "KprobeProgram"
    metadata: ObjectMeta
    spec: KprobeProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UprobeProgram(_Object):
    """A uprobe or uretprobe on a user-space function."""

    kind: ClassVar[str] = "UprobeProgram"
    metadata: ObjectMeta
    spec: UprobeProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FentryProgram(_Object):
    """An fentry program on a kernel function."""

    kind: ClassVar[str] = "FentryProgram"
    metadata: ObjectMeta
    spec: FentryProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FexitProgram(_Object):
    """An fexit program on a kernel function."""

    kind: ClassVar[str] = "FexitProgram"
    metadata: ObjectMeta
    spec: FexitProgramSpec
    status: ProgramStatus | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BpfProgram(_Object):
    """What the agent reports for one program on one node."""

    kind: ClassVar[str] = "BpfProgram"
    metadata: ObjectMeta
    spec: BpfProgramSpec = field(default_factory=BpfProgramSpec)
    status: ProgramStatus | None = None


Program: TypeAlias = (
    XdpProgram
    | TcProgram
    | TracepointProgram
    | KprobeProgram
    | UprobeProgram
    | FentryProgram
    | FexitProgram
)
ApiObject: TypeAlias = Program | BpfProgram
ProgramSpec: TypeAlias = (
    XdpProgramSpec
    | TcProgramSpec
    | TracepointProgramSpec
    | KprobeProgramSpec
    | UprobeProgramSpec
    | FentryProgramSpec
    | FexitProgramSpec
)


# --- the kind registry --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One kind of the API and the names it goes by.

    Attributes:
        kind: the CamelCase kind (``XdpProgram``).
        short: the short name a user types (``xdp``).
        cls: the record class.
        spec_cls: the record class of its spec.
        per_node: True for BpfProgram, written by the agent, not the user.
    """

    kind: str
    short: str
    cls: type[ApiObject]
    spec_cls: type[Any]
    per_node: bool = False

    @property
    def singular(self) -> str:
        """The CRD's singular name (``xdpprogram``)."""
        return self.kind.lower()

    @property
    def plural(self) -> str:
        """The CRD's plural name (``xdpprograms``)."""
        return self.singular + "s"

    @property
    def crd_file(self) -> str:
        """The CRD manifest's file name, as controller-gen names it."""
        return f"{API_GROUP}_{self.plural}.yaml"

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every lower-case name :func:`resolve_kind` accepts for it."""
        return (self.short, self.short + "s", self.singular, self.plural)


KINDS: Mapping[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("XdpProgram", "xdp", XdpProgram, XdpProgramSpec),
        KindInfo("TcProgram", "tc", TcProgram, TcProgramSpec),
        KindInfo(
            "TracepointProgram", "tracepoint", TracepointProgram, TracepointProgramSpec
        ),
        KindInfo("KprobeProgram", "kprobe", KprobeProgram, KprobeProgramSpec),
        KindInfo("UprobeProgram", "uprobe", UprobeProgram, UprobeProgramSpec),
        KindInfo("FentryProgram", "fentry", FentryProgram, FentryProgramSpec),
        KindInfo("FexitProgram", "fexit", FexitProgram, FexitProgramSpec),
        KindInfo("BpfProgram", "bpf", BpfProgram, BpfProgramSpec, per_node=True),
    )
}
# The seven kinds a user composes, in the order forms and menus list them.
PROGRAM_KINDS = tuple(k for k, info in KINDS.items() if not info.per_node)

_ALIASES: dict[str, str] = {
    alias: info.kind for info in KINDS.values() for alias in info.aliases
}


def resolve_kind(text: str) -> str:
    """The canonical kind for any of its names, ignoring case.

    ``xdp``, ``XdpProgram``, ``xdpprogram`` and ``xdpprograms`` all give
    ``"XdpProgram"``.

    Raises:
        InputError: no kind goes by that name; the hint names the closest.
    """
    kind = _ALIASES.get(text.strip().lower())
    if kind is not None:
        return kind
    close = difflib.get_close_matches(text.lower(), list(_ALIASES), n=1)
    hint = f'did you mean "{_ALIASES[close[0]]}"?' if close else None
    known = ", ".join(info.short for info in KINDS.values())
    raise InputError(f'unknown kind "{text}" (kinds: {known})', hint=hint)


def kind_info(text: str) -> KindInfo:
    """The :class:`KindInfo` for any name of a kind (see :func:`resolve_kind`)."""
    return KINDS[resolve_kind(text)]


# --- raw tree <-> record ------------------------------------------------------


def from_dict(doc: Mapping[str, Any]) -> ApiObject:
    """Check a raw tree against every rule and build its record.

    Args:
        doc: one object as YAML or JSON holds it (globaldata as base64
            strings or byte lists).

    Raises:
        ValidationError: the tree breaks a rule; ``problems`` lists all of
            them (warnings do not raise).
    """
    # rules reads the CRD schemas and builds on this module's constants, so
    # it is imported here rather than at the top.
    from bpftui.core.rules import check

    errors = [p for p in check(doc) if p.is_error]
    if errors:
        raise _invalid(errors)
    info = KINDS[doc["kind"]]
    return typing.cast(ApiObject, _build(info.cls, doc))


def _invalid(errors: Sequence[Any]) -> ValidationError:
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ValidationError(f"{errors[0]}{tail}", errors)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {
        f.name: _convert(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)
        if data.get(f.name) is not None
    }
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = (a for a in args if a is not type(None))
        return _convert(inner, value)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value)
    if origin is Sequence:
        return tuple(_convert(args[0], v) for v in value)
    if origin is Mapping:
        return FrozenMap({k: _convert(args[1], v) for k, v in value.items()})
    if hint is bytes:
        return decode_bytes(value)
    if hint is str and isinstance(value, _dt.datetime):
        return _rfc3339(value)
    return value


def decode_bytes(value: str | bytes | Sequence[int]) -> bytes:
    """globaldata bytes from base64 text or a list of byte values.

    Raises:
        InputError: not base64, or a byte value outside 0..255.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise InputError(f'"{value}" is not valid base64') from None
    try:
        return bytes(value)
    except (TypeError, ValueError):
        raise InputError(f"{list(value)} is not a list of bytes (0..255)") from None


def encode_bytes(value: bytes) -> str:
    """globaldata bytes as the base64 text the schema asks for."""
    return base64.b64encode(value).decode("ascii")


def to_dict(obj: ApiObject) -> dict[str, Any]:
    """The normalised raw tree of a record, ready for YAML or JSON.

    Defaults are filled in, globaldata is base64, keys follow the CRD
    schema's order and empty optional fields are left out.
    """
    body: dict[str, Any] = _plain(obj)
    return {"apiVersion": obj.api_version, "kind": obj.kind, **body}


def _plain(value: Any) -> Any:
    if isinstance(value, _Record):
        return {
            f.name: _plain(v)
            for f in dataclasses.fields(value)
            if (v := getattr(value, f.name)) is not None
            and not (f.metadata.get("omitempty") and not v)
        }
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return encode_bytes(value)
    return value
