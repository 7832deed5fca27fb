"""What the bpfman agent decides for one node, as pure functions.

Given an API object and this node's labels, this module says where the
object attaches (its attach points), what each per-node BpfProgram object is
called and labelled, and which condition it carries. It decides; the loader
acts. Nothing here touches the kernel, the disk or the clock: times are
passed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bpftui.core import api
from bpftui.core.api import BpfProgramConditionType as NodeType
from bpftui.core.api import ProgramConditionType as ClusterType

# BpfProgram ``spec.type`` of each kind.
PROG_TYPES: Mapping[str, str] = {
    "XdpProgram": "xdp",
    "TcProgram": "tc",
    "TracepointProgram": "tracepoint",
    "KprobeProgram": "kprobe",
    "UprobeProgram": "uprobe",
    "FentryProgram": "fentry",
    "FexitProgram": "fexit",
}

# Conditions an ``apply`` counts as success: in place, or rightly not here.
APPLY_OK = frozenset(
    {NodeType.LOADED, NodeType.NOT_SELECTED, NodeType.NO_CONTAINERS_ON_NODE}
)

K8S_NAME_MAX = 253
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9.-]+")

AttachKind = Literal["interface", "tracepoint", "function", "target"]


# ---------------------------------------------------------------- selectors


def selector_matches(
    selector: api.LabelSelector | None, labels: Mapping[str, str]
) -> bool:
    """Whether ``labels`` satisfy ``selector``; the empty selector matches all.

    Every ``matchLabels`` pair and every ``matchExpressions`` requirement
    must hold (In, NotIn, Exists, DoesNotExist).
    """
    if selector is None:
        return True
    pairs_hold = all(labels.get(k) == v for k, v in selector.matchLabels.items())
    return pairs_hold and all(
        requirement_holds(req, labels) for req in selector.matchExpressions
    )


def requirement_holds(
    req: api.LabelSelectorRequirement, labels: Mapping[str, str]
) -> bool:
    """One ``matchExpressions`` entry against a label set."""
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    # rules rejects other operators; an unknown one must never select.
    return False


def selector_is_empty(selector: api.LabelSelector | None) -> bool:
    """Whether a selector says nothing (``{}`` or absent)."""
    return selector is None or not (selector.matchLabels or selector.matchExpressions)


# ---------------------------------------------------------------- attach points


@dataclass(frozen=True, slots=True)
class AttachPoint:
    """One place on this node an object attaches.

    Attributes:
        kind: what ``value`` names.
        value: ``eth0``, ``syscalls/sys_enter_openat``, ``do_unlinkat`` or
            the uprobe target as written (``libc``, ``/usr/bin/bash``).
        problem: why this attach point cannot be resolved here (no primary
            interface), or None.
    """

    kind: AttachKind
    value: str
    problem: str | None = None

    @property
    def slug(self) -> str:
        """The attach point as it appears in names and pin paths."""
        return sanitize(self.value) or "none"


def attach_points(
    program: api.Program, *, primary_interface: str | None
) -> tuple[AttachPoint, ...]:
    """Every attach point of ``program`` on this node, in the object's order."""
    spec = program.spec
    if isinstance(spec, api.XdpProgramSpec | api.TcProgramSpec):
        return _interface_points(spec.interfaceselector, primary_interface)
    if isinstance(spec, api.TracepointProgramSpec):
        return tuple(AttachPoint("tracepoint", name) for name in spec.names)
    if isinstance(spec, api.UprobeProgramSpec):
        return (AttachPoint("target", spec.target),)
    return (AttachPoint("function", spec.func_name),)


def _interface_points(
    selector: api.InterfaceSelector, primary: str | None
) -> tuple[AttachPoint, ...]:
    if selector.interfaces:
        return tuple(AttachPoint("interface", name) for name in selector.interfaces)
    if primary:
        return (AttachPoint("interface", primary),)
    return (
        AttachPoint(
            "interface",
            "primary",
            problem="no primary interface: this node has no default route",
        ),
    )


# ---------------------------------------------------------------- names


def sanitize(text: str) -> str:
    """``text`` as a piece of a Kubernetes object name.

    ``/`` and ``_`` become ``-`` as the operator writes them; beyond that,
    upper case is lowered and any other character a name may not hold turns
    into ``-``, so a path or a C symbol still gives a valid name.
    """
    lowered = text.replace("/", "-").replace("_", "-").lower()
    return _NOT_NAME_CHARS.sub("-", lowered).strip("-.")


def bpfprogram_name(program: str, node: str, point: AttachPoint) -> str:
    """``<program>-<node>-<attach point>``, cut to a valid length.

    A name that would be too long keeps its start and ends in a short hash of
    the whole, so two long names stay distinct.
    """
    name = "-".join(part for part in (sanitize(program), sanitize(node), point.slug))
    if len(name) <= K8S_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return name[: K8S_NAME_MAX - 11].rstrip("-.") + "-" + digest


def bpfprogram_labels(program: str, node: str) -> dict[str, str]:
    """The labels the operator puts on a BpfProgram object."""
    return {api.LABEL_OWNED_BY_PROGRAM: program, api.LABEL_HOSTNAME: node}


def bpfprogram_annotations(program_id: int | None) -> dict[str, str]:
    """``bpfman.io/ProgramId`` once the kernel gave the program an id."""
    if program_id is None:
        return {}
    return {api.ANNOTATION_PROGRAM_ID: str(program_id)}


# ---------------------------------------------------------------- map owners


@dataclass(frozen=True, slots=True)
class Candidate:
    """A BpfProgram on this node that a ``mapownerselector`` may pick.

    Attributes:
        name: the BpfProgram object's name.
        owner: ``Kind/name`` of the object that made it.
        labels: its labels (the BpfProgram's own plus its object's).
        loaded: whether its condition is Loaded.
        maps_dir: the bpffs directory its maps are pinned in.
    """

    name: str
    owner: str
    labels: Mapping[str, str]
    loaded: bool
    maps_dir: str | None = None


@dataclass(frozen=True, slots=True)
class MapOwnerMatch:
    """The outcome of a ``mapownerselector`` on this node.

    ``problem`` is None when there is no selector or the owner is loaded;
    otherwise the condition type that says why the program waits.
    """

    owner: Candidate | None
    problem: NodeType | None
    message: str = ""


def find_map_owner(
    selector: api.LabelSelector | None, candidates: Sequence[Candidate]
) -> MapOwnerMatch:
    """Pick the one program whose maps a program shares.

    The selector must match exactly one BpfProgram on this node, and that
    one must be loaded.
    """
    if selector_is_empty(selector):
        return MapOwnerMatch(None, None)
    found = [c for c in candidates if selector_matches(selector, c.labels)]
    if not found:
        return MapOwnerMatch(
            None,
            NodeType.MAP_OWNER_NOT_FOUND,
            "no program on this node matches the mapownerselector",
        )
    if len(found) > 1:
        names = ", ".join(sorted(c.name for c in found))
        return MapOwnerMatch(
            None,
            NodeType.MAP_OWNER_NOT_FOUND,
            f"the mapownerselector matches {len(found)} programs on this node "
            f"({names}); it must match exactly one",
        )
    owner = found[0]
    if not owner.loaded:
        return MapOwnerMatch(
            owner,
            NodeType.MAP_OWNER_NOT_LOADED,
            f"map owner {owner.name} ({owner.owner}) is not loaded",
        )
    return MapOwnerMatch(owner, None)


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a program is not loaded on an attach point: a type and a message."""

    type: NodeType
    message: str


def skip_reason(
    *,
    deleting: bool,
    selected: bool,
    no_containers: bool,
    map_owner: MapOwnerMatch,
) -> Skip | None:
    """The condition of a program that should not be loaded, or None to load.

    The first that applies wins: Unloaded, NotSelected, NoContainersOnNode,
    MapOwnerNotFound, MapOwnerNotLoaded (the operator's precedence).
    """
    facts: dict[NodeType, str | None] = {
        NodeType.UNLOADED: "the object is being deleted" if deleting else None,
        NodeType.NOT_SELECTED: None if selected else _NOT_SELECTED,
        NodeType.NO_CONTAINERS_ON_NODE: _NO_CONTAINERS if no_containers else None,
        NodeType.MAP_OWNER_NOT_FOUND: None,
        NodeType.MAP_OWNER_NOT_LOADED: None,
    }
    if map_owner.problem is not None:
        facts[map_owner.problem] = map_owner.message
    for ctype in api.NOT_LOADED_PRECEDENCE:
        message = facts[ctype]
        if message is not None:
            return Skip(ctype, message)
    return None


_NOT_SELECTED = "the nodeselector does not match this node's labels"
_NO_CONTAINERS = (
    "no container on this node matches the container selector "
    "(bpftui runs no pods on this node)"
)


def node_condition(
    ctype: NodeType, at: str, message: str | None = None
) -> api.Condition:
    """A per-node condition stamped with RFC 3339 time ``at``."""
    return ctype.condition(at, message)


def cluster_type(
    node_types: Sequence[NodeType | None], *, delete_failed: bool = False
) -> ClusterType:
    """The condition the operator would put on the *Program of a one-node cluster.

    Args:
        node_types: the condition type of each of its BpfPrograms (None for
            one without a condition yet).
        delete_failed: a delete of the object did not complete.
    """
    if delete_failed:
        return ClusterType.DELETE_ERROR
    if not node_types:
        return ClusterType.NOT_YET_LOADED
    if any(t is None or t in api.RECONCILE_ERROR_TYPES for t in node_types):
        return ClusterType.RECONCILE_ERROR
    return ClusterType.RECONCILE_SUCCESS


def is_selected(program: api.Program, node_labels: Mapping[str, str]) -> bool:
    """Whether the object's ``nodeselector`` picks this node."""
    return selector_matches(program.spec.nodeselector, node_labels)


def wants_containers(program: api.Program) -> bool:
    """Whether a uprobe is restricted to containers (none run here)."""
    spec = program.spec
    return isinstance(spec, api.UprobeProgramSpec) and spec.containers is not None
