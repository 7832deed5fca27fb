"""Multi-program dispatchers: slots, order, proceed-on masks, config bytes.

One XDP hook (an interface) or TC hook (an interface and a direction) runs
up to ten programs through a *dispatcher*: a BPF program with ten stub
functions, each replaced by a user program through freplace. A *revision*
is one dispatcher with its programs attached; every change builds a new
revision and swaps it in whole (``core.revisions`` does that through the
backend). This module is the pure part: no kernel, no disk.

XDP follows version 2 of libxdp's protocol so that xdp-loader and bpftui can
share an interface; TC follows bpfman's design. The protocols in brief:

==================  ============================  ============================
                    XDP (libxdp v2)               TC (bpfman)
==================  ============================  ============================
stub returns        31                            30
mask bit of ``v``   ``1 << v``                    ``1 << (v + 1)``
after the last      ``XDP_PASS``                  ``TC_ACT_OK``
config (.rodata)    124 bytes, magic 236, v2      84 bytes
default proceedon   pass, dispatcher_return       pipe, dispatcher_return
                    (``0x80000004``)              (``0x80000010``)
==================  ============================  ============================

Slot order. Programs run in ascending priority. Equal priorities are broken
deterministically, with one promise kept above all: a program being added
never jumps ahead of one already in the dispatcher with the same priority.

1. priority (lower first);
2. programs already in the dispatcher before programs being added, and
   among those already there, their current slot order;
3. among programs added together: function name, then instruction count,
   then program tag (libxdp's keys), then the order they were given in.

libxdp 1.3.1 puts the function name before step 2, so when xdp-loader
rebuilds a dispatcher it may reorder programs of equal priority by name.
bpftui takes the order it finds and never reorders what it did not add.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bpftui.core.errors import BpftuiError, InputError, StateError

MAX_SLOTS = 10

XDP_MAGIC = 236
XDP_PROTOCOL_VERSION = 2
XDP_STUB_RETURN = 31
TC_STUB_RETURN = 30
BPF_F_XDP_HAS_FRAGS = 1 << 5

# Host byte order with standard sizes: the BPF target is host-endian.
_XDP_LAYOUT = struct.Struct(f"=BBBB{MAX_SLOTS}I{MAX_SLOTS}I{MAX_SLOTS}I")
_TC_LAYOUT = struct.Struct(f"=B3x{MAX_SLOTS}I{MAX_SLOTS}I")
XDP_CONFIG_SIZE = _XDP_LAYOUT.size
TC_CONFIG_SIZE = _TC_LAYOUT.size

# Function names the protocols fix.
XDP_DISPATCHER_NAME = "xdp_dispatcher"
TC_DISPATCHER_NAME = "tc_dispatcher"
COMPAT_TEST_FUNC = "compat_test"


class HookKind(StrEnum):
    """The two program types a dispatcher serves."""

    XDP = "xdp"
    TC = "tc"


XDP_ACTIONS: Mapping[str, int] = {
    "aborted": 0,
    "drop": 1,
    "pass": 2,
    "tx": 3,
    "redirect": 4,
    "dispatcher_return": XDP_STUB_RETURN,
}
TC_ACTIONS: Mapping[str, int] = {
    "unspec": -1,
    "ok": 0,
    "reclassify": 1,
    "shot": 2,
    "pipe": 3,
    "stolen": 4,
    "queued": 5,
    "repeat": 6,
    "redirect": 7,
    "trap": 8,
    "dispatcher_return": TC_STUB_RETURN,
}
ACTIONS: Mapping[HookKind, Mapping[str, int]] = {
    HookKind.XDP: XDP_ACTIONS,
    HookKind.TC: TC_ACTIONS,
}
DEFAULT_PROCEED_ON: Mapping[HookKind, tuple[str, ...]] = {
    HookKind.XDP: ("pass", "dispatcher_return"),
    HookKind.TC: ("pipe", "dispatcher_return"),
}


class DispatcherFull(BpftuiError):
    """An eleventh program was asked for on a hook that holds ten."""


# ------------------------------------------------------------ proceed-on


def action_bit(kind: HookKind, value: int) -> int:
    """The mask bit a return value sets: ``1 << v`` (XDP), ``1 << (v+1)`` (TC)."""
    return 1 << (value + 1 if kind is HookKind.TC else value)


def proceed_on_mask(kind: HookKind, names: Iterable[str] | None = None) -> int:
    """The chain mask of a ``proceedon`` list; ``None`` or empty: the default.

    Raises:
        InputError: a name is not an action of this hook.
    """
    chosen = tuple(names or ()) or DEFAULT_PROCEED_ON[kind]
    actions = ACTIONS[kind]
    mask = 0
    for name in chosen:
        if name not in actions:
            known = ", ".join(actions)
            raise InputError(f"proceedon: '{name}' is not a {kind} action; use {known}")
        mask |= action_bit(kind, actions[name])
    return mask


def proceed_on_names(kind: HookKind, mask: int) -> tuple[str, ...]:
    """The ``proceedon`` names of a mask, in the API's order; bits no name has
    are dropped."""
    return tuple(
        name for name, value in ACTIONS[kind].items() if mask & action_bit(kind, value)
    )


def proceeds(kind: HookKind, ret: int, mask: int) -> bool:
    """Whether the chain goes on after a slot returned ``ret`` (the C rule)."""
    bit = ret + 1 if kind is HookKind.TC else ret
    return 0 <= bit < 32 and bool(mask & (1 << bit))


def chain_result(kind: HookKind, returns: Sequence[int], masks: Sequence[int]) -> int:
    """What a dispatcher returns when its slots return ``returns`` in order.

    The reference model of the C dispatchers, for tests and the demo backend.
    """
    for ret, mask in zip(returns, masks, strict=True):
        if not proceeds(kind, ret, mask):
            return ret
    return 2 if kind is HookKind.XDP else 0


# ---------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class SlotConfig:
    """What the dispatcher's config says about one slot."""

    chain_mask: int
    run_prio: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """The config a dispatcher is loaded with: its enabled slots in order."""

    kind: HookKind
    slots: tuple[SlotConfig, ...] = ()
    is_xdp_frags: bool = False

    def __post_init__(self) -> None:
        if len(self.slots) > MAX_SLOTS:
            raise DispatcherFull(
                f"{self.kind} dispatcher: {len(self.slots)} slots asked for; "
                f"it has {MAX_SLOTS}"
            )

    def encode(self) -> bytes:
        """The ``.rodata`` bytes: 124 for XDP, 84 for TC."""
        masks = _padded(s.chain_mask for s in self.slots)
        prios = _padded(s.run_prio for s in self.slots)
        count = len(self.slots)
        if self.kind is HookKind.TC:
            return _TC_LAYOUT.pack(count, *masks, *prios)
        flags = _padded(s.flags for s in self.slots)
        return _XDP_LAYOUT.pack(
            XDP_MAGIC,
            XDP_PROTOCOL_VERSION,
            count,
            int(self.is_xdp_frags),
            *masks,
            *prios,
            *flags,
        )

    @classmethod
    def decode(cls, kind: HookKind, data: bytes) -> DispatcherConfig:
        """Read a loaded dispatcher's config back.

        Raises:
            StateError: the bytes are not a config this version of bpftui
                speaks (size, magic, version or slot count).
        """
        if kind is HookKind.TC:
            return _decode_tc(data)
        return _decode_xdp(data)


def _padded(values: Iterable[int]) -> list[int]:
    items = list(values)
    return items + [0] * (MAX_SLOTS - len(items))


def _slots(
    count: int, masks: Sequence[int], prios: Sequence[int], flags: Sequence[int]
) -> tuple[SlotConfig, ...]:
    if count > MAX_SLOTS:
        raise StateError(f"dispatcher config: {count} slots enabled; at most 10 exist")
    return tuple(SlotConfig(masks[i], prios[i], flags[i]) for i in range(count))


def _decode_xdp(data: bytes) -> DispatcherConfig:
    if len(data) != XDP_CONFIG_SIZE:
        raise StateError(
            f"XDP dispatcher config: {len(data)} bytes, version 2 has "
            f"{XDP_CONFIG_SIZE}; an older libxdp dispatcher is attached",
            hint="unload it with `xdp-loader unload --all` first",
        )
    fields = _XDP_LAYOUT.unpack(data)
    magic, version, count, frags = fields[:4]
    if magic != XDP_MAGIC or version != XDP_PROTOCOL_VERSION:
        raise StateError(
            f"XDP dispatcher config: magic {magic}, version {version}; "
            f"bpftui speaks magic {XDP_MAGIC}, version {XDP_PROTOCOL_VERSION}",
            hint="unload it with `xdp-loader unload --all` first",
        )
    masks, prios, flags = (fields[4 + i * 10 : 14 + i * 10] for i in range(3))
    return DispatcherConfig(
        HookKind.XDP, _slots(count, masks, prios, flags), is_xdp_frags=bool(frags)
    )


def _decode_tc(data: bytes) -> DispatcherConfig:
    if len(data) != TC_CONFIG_SIZE:
        raise StateError(
            f"TC dispatcher config: {len(data)} bytes, expected {TC_CONFIG_SIZE}"
        )
    count, *rest = _TC_LAYOUT.unpack(data)
    masks, prios = rest[:MAX_SLOTS], rest[MAX_SLOTS:]
    return DispatcherConfig(HookKind.TC, _slots(count, masks, prios, [0] * 10))


# ----------------------------------------------------------------- hooks


@dataclass(frozen=True, slots=True)
class Hook:
    """Where a dispatcher runs: an interface's XDP hook or a TC direction."""

    kind: HookKind
    ifindex: int
    ifname: str = ""
    direction: str | None = None

    def __str__(self) -> str:
        where = self.ifname or f"ifindex {self.ifindex}"
        if self.kind is HookKind.TC:
            return f"TC {self.direction} on {where}"
        return f"XDP on {where}"


# --------------------------------------------------------------- members


@dataclass(frozen=True, slots=True)
class Member:
    """One program in a revision.

    A member already in the kernel has ``prog_id``; a member being added
    has ``source`` instead, an opaque request the revision engine hands to
    the backend to load it.

    Attributes:
        name: the program's function name (the kernel shows 15 characters).
        priority: run priority, lower first.
        chain_mask: proceed-on mask (see :func:`proceed_on_mask`).
        prog_id: kernel id of the loaded extension program, or None.
        owner: who added it: ``"bpftui"`` or ``"libxdp"`` (found, not ours).
        key: bpftui's own name for it (the loader's), when bpftui added it.
        insn_count: instruction count, a tie-break among new members.
        tag: program tag (hex), a tie-break among new members.
        frags: loaded with ``BPF_F_XDP_HAS_FRAGS``.
        source: the load request of a member not yet loaded.
    """

    name: str
    priority: int
    chain_mask: int
    prog_id: int | None = None
    owner: str = "bpftui"
    key: str | None = None
    insn_count: int = 0
    tag: str = ""
    frags: bool = False
    source: object | None = field(default=None, compare=False)

    @property
    def is_new(self) -> bool:
        return self.prog_id is None

    def slot_config(self) -> SlotConfig:
        return SlotConfig(
            self.chain_mask, self.priority, BPF_F_XDP_HAS_FRAGS if self.frags else 0
        )

    def describe(self) -> str:
        ident = f"id {self.prog_id}" if self.prog_id is not None else "new"
        return f"'{self.name}' ({ident}, priority {self.priority})"


def slot_order(
    existing: Sequence[Member], added: Sequence[Member] = ()
) -> tuple[Member, ...]:
    """The run order of ``existing`` (current slot order) plus ``added``.

    See the module docstring for the rule. Python's sort is stable, so
    added members equal in every key keep the order they were given in.
    """
    ranked: list[tuple[tuple[int, int, int, str, int, str], Member]] = [
        ((m.priority, 0, i, "", 0, ""), m) for i, m in enumerate(existing)
    ]
    ranked += [((m.priority, 1, 0, m.name, m.insn_count, m.tag), m) for m in added]
    return tuple(member for _, member in sorted(ranked, key=lambda pair: pair[0]))


# -------------------------------------------------------------- revisions


@dataclass(frozen=True, slots=True)
class Revision:
    """A dispatcher with its programs in slot order.

    ``dispatcher_id`` is the kernel id of the dispatcher program once it is
    loaded; a planned revision has None.
    """

    hook: Hook
    members: tuple[Member, ...] = ()
    dispatcher_id: int | None = None

    def __post_init__(self) -> None:
        if len(self.members) > MAX_SLOTS:
            raise DispatcherFull(
                f"{self.hook}: {len(self.members)} programs asked for; a dispatcher "
                f"holds at most {MAX_SLOTS}",
                hint="remove a program from this hook first",
            )

    @property
    def is_empty(self) -> bool:
        return not self.members

    def config(self) -> DispatcherConfig:
        """The config this revision's dispatcher is loaded with.

        Each slot keeps its program's frags flag, so libxdp carries it on;
        ``is_xdp_frags`` says 0 because bpftui loads its dispatcher without
        ``BPF_F_XDP_HAS_FRAGS`` (the API has no way to ask for frags).
        """
        slots = tuple(m.slot_config() for m in self.members)
        return DispatcherConfig(self.hook.kind, slots)

    def adding(self, *added: Member) -> Revision:
        """The next revision with ``added`` placed by :func:`slot_order`.

        Raises:
            DispatcherFull: the hook would hold more than ten programs.
        """
        total = len(self.members) + len(added)
        if total > MAX_SLOTS:
            names = ", ".join(m.describe() for m in added)
            raise DispatcherFull(
                f"{self.hook}: cannot add {names}: the dispatcher already holds "
                f"{len(self.members)} of {MAX_SLOTS} programs",
                hint="remove a program from this hook first",
            )
        members = slot_order(self.members, added)
        return replace(self, members=members, dispatcher_id=None)

    def removing(self, *prog_ids: int) -> Revision:
        """The next revision without the members of these program ids.

        Raises:
            StateError: an id is not in this revision.
        """
        present = {m.prog_id for m in self.members}
        missing = [str(i) for i in prog_ids if i not in present]
        if missing:
            raise StateError(
                f"{self.hook}: program id {', '.join(missing)} is not in the "
                f"dispatcher (it holds {self.describe()})"
            )
        kept = tuple(m for m in self.members if m.prog_id not in prog_ids)
        return replace(self, members=kept, dispatcher_id=None)

    def slot_of(self, prog_id: int) -> int | None:
        """The slot a program runs in, or None."""
        for slot, member in enumerate(self.members):
            if member.prog_id == prog_id:
                return slot
        return None

    def describe(self) -> str:
        if not self.members:
            return "no programs"
        return ", ".join(f"{i}:{m.name}" for i, m in enumerate(self.members))


def attach_func(revision: Revision, slot: int) -> str:
    """The dispatcher function the program in ``slot`` replaces.

    Normally the slot's stub. libxdp's shortcut, kept here for speed: an XDP
    dispatcher with a single program whose chain continues only on
    ``pass`` (and the stub value) has that program replace the whole
    dispatcher function, so a packet costs what the bare program costs.
    The result is the same: continuing after the only slot returns
    ``XDP_PASS``, which is what the program returned.
    """
    if revision.hook.kind is HookKind.XDP and len(revision.members) == 1:
        passing = action_bit(HookKind.XDP, XDP_ACTIONS["pass"])
        stub = action_bit(HookKind.XDP, XDP_STUB_RETURN)
        if revision.members[0].chain_mask & ~(passing | stub) == 0:
            return XDP_DISPATCHER_NAME
    return stub_name(slot)


def stub_name(slot: int) -> str:
    """The stub function a program in ``slot`` replaces."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot {slot} out of range 0..{MAX_SLOTS - 1}")
    return f"prog{slot}"


# ------------------------------------------------------ libxdp pin layout

XDP_PIN_DIR = "xdp"
"""libxdp's directory under the bpffs mount; also the lock's directory."""


def xdp_dispatch_dir(bpffs: str, ifindex: int, dispatcher_id: int) -> str:
    """``<bpffs>/xdp/dispatch-<ifindex>-<dispatcher id>``, as libxdp names it."""
    return f"{bpffs.rstrip('/')}/{XDP_PIN_DIR}/dispatch-{ifindex}-{dispatcher_id}"


def slot_pins(directory: str, slot: int) -> tuple[str, str]:
    """The program pin and the link pin of a slot: ``prog<N>-prog``, ``-link``."""
    stub = stub_name(slot)
    return f"{directory}/{stub}-prog", f"{directory}/{stub}-link"
