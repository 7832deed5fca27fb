"""Dispatcher revisions: read what a hook runs, build the next one, swap it in.

Every change to an XDP or TC hook builds a whole new *revision*: a fresh
dispatcher loaded with the new config, every program of the new slot order
attached to it as an extension (programs already running are re-linked,
not reloaded, so their ids, maps and counters stay), the pins laid out, and
only then one atomic swap on the hook. Until the swap the old revision
carries all traffic; if any step fails, what was made is taken apart again
and the old revision stays as it was.

The swap itself:

* XDP: netlink with ``XDP_FLAGS_REPLACE`` and the old dispatcher as the
  expected program (what libxdp does; an XDP bpf_link would lock xdp-loader
  out of the interface);
* TC: the new dispatcher is added as a direct-action cls_bpf filter at the
  other of two filter priorities, then the old filter is deleted
  (make-before-break). While both are in place, the one with the lower
  priority number answers each packet with its whole chain; only a packet
  it answers ``TC_ACT_UNSPEC`` goes on to the other, as to any next filter.

XDP pins follow libxdp (``<bpffs>/xdp/dispatch-<ifindex>-<id>/prog<N>-prog``
and ``-link``), all changes are made under ``flock(LOCK_EX)`` on
``<bpffs>/xdp``, and the slots' priorities and chain masks are read back from
the dispatcher's config, so xdp-loader and bpftui see and keep each other's
programs. TC pins use the same names under bpftui's own root.

Without freplace (kernel lockdown, kernels before 5.10) there is no
dispatcher: a program attaches alone on its hook, as libxdp falls back to,
and a second one is refused with :class:`NotSupported`.

The engine acts only through a :class:`DispatcherBackend`: the real kernel
or the demo one.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from bpftui.core.backend import (
    Backend,
    KernelProgram,
    LinkRecord,
    LoadedProgram,
    LoadSpec,
)
from bpftui.core.dispatchers import (
    TC_DISPATCHER_NAME,
    XDP_DISPATCHER_NAME,
    DispatcherConfig,
    Hook,
    HookKind,
    Member,
    Revision,
    SlotConfig,
    attach_func,
    proceed_on_mask,
    slot_pins,
    xdp_dispatch_dir,
)
from bpftui.core.errors import BpftuiError, KernelError, NotSupported, StateError
from bpftui.core.faults import checkpoint

log = logging.getLogger(__name__)

BPF_DIR = Path(__file__).resolve().parents[1] / "native" / "bpf"
DISPATCHER_OBJECTS: Mapping[HookKind, str] = {
    HookKind.XDP: str(BPF_DIR / "xdp_dispatcher.o"),
    HookKind.TC: str(BPF_DIR / "tc_dispatcher.o"),
}
DISPATCHER_NAMES: Mapping[HookKind, str] = {
    HookKind.XDP: XDP_DISPATCHER_NAME,
    HookKind.TC: TC_DISPATCHER_NAME,
}
# The two cls_bpf filter priorities a TC dispatcher alternates between.
TC_PRIORITIES = (50, 51)
TC_HANDLE = 1
FREPLACE_NEEDS = "kernel >= 5.10 without lockdown"


# ------------------------------------------------ what the engine needs


@dataclass(frozen=True, slots=True)
class HookProgram:
    """A program a netlink hook holds.

    Attributes:
        prog_id: the kernel program id.
        name: its name as the kernel has it.
        mode: XDP: ``native``, ``generic`` or ``hw``; TC: ``cls_bpf``.
        priority: TC filter priority (``pref``); 0 for XDP.
        handle: TC filter handle; 0 for XDP.
    """

    prog_id: int
    name: str = ""
    mode: str = ""
    priority: int = 0
    handle: int = 0


@dataclass(frozen=True, slots=True)
class HookState:
    """What one hook holds: XDP's program, or a TC direction's filters.

    ``qdisc`` is the kind of the interface's ingress-side qdisc for TC
    (``clsact``, ``ingress`` or None for none); None for XDP.
    """

    programs: tuple[HookProgram, ...] = ()
    qdisc: str | None = None


@runtime_checkable
class DispatcherBackend(Backend, Protocol):
    """The backend primitives dispatchers need beyond :class:`Backend`."""

    def program_info(self, prog_id: int) -> KernelProgram | None:
        """One row of the kernel's program table, or None when gone."""

    def hook_state(self, hook: Hook) -> HookState:
        """What the hook holds now (netlink query; XDP: at most one program)."""

    def pinned_id(self, path: str) -> int | None:
        """The id of the program or link pinned at ``path``, or None."""

    def pin(self, record: LoadedProgram | LinkRecord, path: str) -> None:
        """Pin a live program or link at one more path (parents are made)."""

    def unpin(self, path: str) -> None:
        """Remove a pin or an empty directory; a missing path is no error."""

    def lock(self, directory: str) -> AbstractContextManager[None]:
        """Hold ``flock(LOCK_EX)`` on the directory (made if absent)."""


# ------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True)
class NewProgram:
    """A program to add to a hook.

    Attributes:
        key: the loader's name for it, returned in :attr:`Change.added`.
        object_path: the ELF object.
        function: the ELF function (``bpffunctionname``).
        priority: run priority, lower first.
        proceedon: the API's proceed-on names; empty for the default.
        map_pin_dir: where its maps are pinned (or found, when shared).
        globaldata: variable name -> bytes, set before load.
    """

    key: str
    object_path: str
    function: str
    priority: int
    map_pin_dir: str
    proceedon: tuple[str, ...] = ()
    globaldata: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """What a change made.

    Attributes:
        revision: the hook's revision now.
        added: key of each added program -> its record (pinned in its slot).
        removed: program ids taken off the hook.
        note: why the hook runs without a dispatcher, when it does.
    """

    revision: Revision
    added: Mapping[str, LoadedProgram] = field(default_factory=dict)
    removed: tuple[int, ...] = ()
    note: str | None = None


class _Undo:
    """Steps to take back, newest first, when a change fails half-way."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[..., None], tuple[object, ...]]] = []

    def push(self, what: str, step: Callable[..., None], *args: object) -> None:
        self._steps.append((what, step, args))

    def run(self) -> None:
        while self._steps:
            what, step, args = self._steps.pop()
            try:
                step(*args)
            except BpftuiError as err:
                # The original failure is what the user must see; a leftover
                # is logged with its path so it can be removed by hand.
                log.warning("rollback: %s failed: %s", what, err)


@dataclass(slots=True)
class _Builder:
    """Fills the slots of a new dispatcher, recording how to undo each step."""

    backend: DispatcherBackend
    current: Revision
    plan: Revision
    dispatcher: LoadedProgram
    undo: _Undo

    def fill(
        self, slot: int, member: Member, directory: str, old_dir: str
    ) -> LoadedProgram:
        """Put ``member`` into ``slot``: load or re-pin it, then link it."""
        func = attach_func(self.plan, slot)
        prog_pin, link_pin = slot_pins(directory, slot)
        if member.is_new:
            program = self._load(member, prog_pin, func)
        else:
            program = self._repin(member, prog_pin, old_dir)
        link = self.backend.attach_freplace(
            program, self.dispatcher.id, func, link_pin=link_pin
        )
        self.undo.push(f"detach {link_pin}", self.backend.detach, link)
        return program

    def _load(self, member: Member, prog_pin: str, func: str) -> LoadedProgram:
        request = _request(member)
        spec = LoadSpec(
            object_path=request.object_path,
            function=request.function,
            prog_type="ext",
            pin_path=prog_pin,
            map_pin_dir=request.map_pin_dir,
            globaldata=request.globaldata,
            attach_func=func,
            attach_prog_id=self.dispatcher.id,
        )
        program = self.backend.load(spec)
        self.undo.push(f"unload '{request.function}'", self.backend.unload, program)
        return program

    def _repin(self, member: Member, prog_pin: str, old_dir: str) -> LoadedProgram:
        """A program the old revision runs: pinned once more in the new slot."""
        assert member.prog_id is not None
        old_slot = self.current.slot_of(member.prog_id)
        assert old_slot is not None
        old_pin, _ = slot_pins(old_dir, old_slot)
        program = LoadedProgram(member.prog_id, member.name, "ext", member.tag, old_pin)
        self.backend.pin(program, prog_pin)
        self.undo.push(f"unpin {prog_pin}", self.backend.unpin, prog_pin)
        return replace(program, pin_path=prog_pin)


# ------------------------------------------------------------- the engine


class Dispatchers:
    """Reads and changes the dispatcher revisions of hooks.

    Args:
        backend: the kernel, real or demo.
        bpffs: the bpffs mount; libxdp's pins live in its ``xdp`` directory.
        pin_root: bpftui's own bpffs directory (TC pins, staging).
        freplace: whether extensions work here; None asks the backend's
            feature probe once.
    """

    def __init__(
        self,
        backend: DispatcherBackend,
        *,
        bpffs: str = "/sys/fs/bpf",
        pin_root: str = "/sys/fs/bpf/bpftui",
        freplace: bool | None = None,
    ) -> None:
        self.backend = backend
        self.bpffs = bpffs.rstrip("/")
        self.pin_root = pin_root.rstrip("/")
        self._freplace = freplace

    # ---------------------------------------------------------------- read

    def read(self, hook: Hook) -> Revision:
        """The revision the hook runs now (empty when it runs nothing)."""
        with self._locked(hook):
            return self._read(hook, self._holder(hook))

    def _read(self, hook: Hook, holder: HookProgram | None) -> Revision:
        if holder is None:
            return Revision(hook)
        if holder.name != DISPATCHER_NAMES[hook.kind]:
            return self._lone(hook, holder)
        config = self._config(hook, holder.prog_id)
        directory = self._dispatch_dir(hook, holder.prog_id)
        members = tuple(
            self._found_member(hook, directory, slot, slot_config)
            for slot, slot_config in enumerate(config.slots)
        )
        return Revision(hook, members, holder.prog_id)

    def _holder(self, hook: Hook, state: HookState | None = None) -> HookProgram | None:
        """The dispatcher (or lone program) the hook runs, from ``state`` or
        a fresh netlink query."""
        if state is None:
            state = self.backend.hook_state(hook)
        if hook.kind is HookKind.XDP:
            return state.programs[0] if state.programs else None
        ours = [p for p in state.programs if p.priority in TC_PRIORITIES]
        return ours[0] if ours else None

    def _lone(self, hook: Hook, holder: HookProgram) -> Revision:
        info = self.backend.program_info(holder.prog_id)
        name = info.name if info else holder.name
        member = Member(name, 0, 0, prog_id=holder.prog_id, owner="")
        return Revision(hook, (member,), None)

    def _config(self, hook: Hook, dispatcher_id: int) -> DispatcherConfig:
        info = self.backend.program_info(dispatcher_id)
        if info is None or len(info.map_ids) != 1:
            raise StateError(
                f"{hook}: dispatcher {dispatcher_id} has no single config map",
                hint="it was not built by bpftui or libxdp; detach it first",
            )
        entries = self.backend.map_entries(info.map_ids[0], limit=1)
        if not entries:
            raise StateError(f"{hook}: dispatcher {dispatcher_id}: config map empty")
        return DispatcherConfig.decode(hook.kind, entries[0][1])

    def _found_member(
        self, hook: Hook, directory: str, slot: int, config: SlotConfig
    ) -> Member:
        prog_pin, _ = slot_pins(directory, slot)
        prog_id = self.backend.pinned_id(prog_pin)
        info = self.backend.program_info(prog_id) if prog_id else None
        if info is None:
            raise StateError(
                f"{hook}: slot {slot} has no program pinned at {prog_pin}",
                hint="the dispatcher's pins were removed by hand; detach it",
            )
        return Member(
            info.name,
            config.run_prio,
            config.chain_mask,
            prog_id=info.id,
            owner="libxdp" if hook.kind is HookKind.XDP else "",
            insn_count=info.verified_insns or 0,
            tag=info.tag,
            frags=bool(config.flags),
        )

    # -------------------------------------------------------------- change

    def change(
        self,
        hook: Hook,
        *,
        add: Sequence[NewProgram] = (),
        remove: Sequence[int] = (),
        mode: str = "auto",
        known: Mapping[int, str] | None = None,
    ) -> Change:
        """Add and remove programs on a hook in one atomic swap.

        Args:
            hook: the XDP hook or TC direction.
            add: programs to load into their slots.
            remove: program ids to take off (their pins go; their maps stay
                for the loader to release).
            mode: XDP attach mode when the hook is empty: ``native``,
                ``generic``, ``skb``, ``hw`` or ``auto`` (native, then generic).
            known: program id -> owner label, for members bpftui added before.

        Raises:
            DispatcherFull: more than ten programs would share the hook.
            NotSupported: a second program without freplace.
            StateError: the hook runs something bpftui will not replace.
            KernelError: a step failed; the old revision is still in place.
        """
        with self._locked(hook):
            # One netlink query per change: under the lock only tools that
            # ignore it can change the hook, and the swap itself checks the
            # program it replaces.
            state = self.backend.hook_state(hook)
            holder = self._holder(hook, state)
            current = _label(self._read(hook, holder), known or {})
            if hook.kind is HookKind.TC and state.qdisc == "ingress":
                raise _ingress_qdisc(hook)
            if not self.freplace_works():
                return self._change_alone(
                    current, add, remove, mode=mode, holder=holder
                )
            if current.members and current.dispatcher_id is None:
                raise _lone_holder(hook, current.members[0])
            members = [_member(hook.kind, request) for request in add]
            plan = current.removing(*remove).adding(*members)
            return self._apply(current, plan, mode, tuple(remove), holder)

    def _apply(
        self,
        current: Revision,
        plan: Revision,
        mode: str,
        removed: tuple[int, ...],
        holder: HookProgram | None,
    ) -> Change:
        if plan.is_empty:
            self._detach(current, holder)
            self._retire(current, removed)
            return Change(plan, removed=removed)
        undo = _Undo()
        try:
            dispatcher, built, added = self._build(current, plan, undo)
            self._swap(current, dispatcher, mode, undo, holder)
            checkpoint("dispatcher-swap")
        except BaseException:
            undo.run()
            self._prune_stage(plan.hook)
            raise
        # The hook holds the new dispatcher now; its staging pin can go.
        self._quietly("unpin the staging dispatcher", self.backend.unload, dispatcher)
        self._prune_stage(plan.hook)
        self._retire(current, removed)
        checkpoint("dispatcher-retire")
        log.info(
            "%s: revision %s (%s)", plan.hook, built.dispatcher_id, built.describe()
        )
        return Change(built, added=added, removed=removed)

    # ----------------------------------------------------------- building

    def _build(
        self, current: Revision, plan: Revision, undo: _Undo
    ) -> tuple[LoadedProgram, Revision, dict[str, LoadedProgram]]:
        dispatcher = self._load_dispatcher(plan, undo)
        directory = self._dispatch_dir(plan.hook, dispatcher.id)
        undo.push(f"remove {directory}", self.backend.unpin, directory)
        old_dir = (
            self._dispatch_dir(current.hook, current.dispatcher_id)
            if current.dispatcher_id is not None
            else ""
        )
        builder = _Builder(self.backend, current, plan, dispatcher, undo)
        added: dict[str, LoadedProgram] = {}
        members: list[Member] = []
        for slot, member in enumerate(plan.members):
            program = builder.fill(slot, member, directory, old_dir)
            checkpoint("dispatcher-slot")
            if member.is_new:
                added[_request(member).key] = program
            members.append(replace(member, prog_id=program.id, source=None))
        built = replace(plan, members=tuple(members), dispatcher_id=dispatcher.id)
        return dispatcher, built, added

    def _load_dispatcher(self, plan: Revision, undo: _Undo) -> LoadedProgram:
        stage = self._stage_dir(plan.hook)
        self.backend.unpin(f"{stage}/dispatcher")  # left by a killed process
        spec = LoadSpec(
            object_path=DISPATCHER_OBJECTS[plan.hook.kind],
            function=DISPATCHER_NAMES[plan.hook.kind],
            prog_type=plan.hook.kind.value,
            pin_path=f"{stage}/dispatcher",
            map_pin_dir=f"{stage}/maps",
            rodata={".rodata": plan.config().encode()},
        )
        dispatcher = self.backend.load(spec)
        undo.push("unload the new dispatcher", self.backend.unload, dispatcher)
        return dispatcher

    # ----------------------------------------------------------- swapping

    def _swap(
        self,
        current: Revision,
        dispatcher: LoadedProgram,
        mode: str,
        undo: _Undo,
        holder: HookProgram | None,
    ) -> None:
        hook = current.hook
        if hook.kind is HookKind.XDP:
            # Replacing keeps the mode the hook runs in; an empty hook takes
            # the mode asked for.
            self.backend.attach_xdp(
                dispatcher,
                hook.ifindex,
                holder.mode if holder and holder.mode else mode,
                replace_prog_id=current.dispatcher_id,
            )
            return
        assert hook.direction is not None
        priority = _other_priority(holder.priority if holder else None)
        link = self.backend.attach_tc(
            dispatcher,
            hook.ifindex,
            hook.direction,
            priority=priority,
            handle=TC_HANDLE,
        )
        undo.push(f"delete the new filter on {hook}", self.backend.detach, link)
        if holder is not None:
            self.backend.detach(_tc_record(hook, holder))

    def _detach(self, current: Revision, holder: HookProgram | None) -> None:
        """Take the whole dispatcher off the hook (its last program went)."""
        hook = current.hook
        if holder is None:
            return
        if hook.kind is HookKind.XDP:
            detail = {"ifindex": hook.ifindex, "mode": holder.mode}
            self.backend.detach(
                LinkRecord("xdp", hook.ifname, holder.prog_id, detail=detail)
            )
        else:
            self.backend.detach(_tc_record(hook, holder))

    # ---------------------------------------------------------- cleaning

    def _retire(self, old: Revision, removed: tuple[int, ...]) -> None:
        """Remove the old revision's pins; the kernel frees what nothing holds."""
        if old.dispatcher_id is None:
            return
        directory = self._dispatch_dir(old.hook, old.dispatcher_id)
        for slot, member in enumerate(old.members):
            prog_pin, link_pin = slot_pins(directory, slot)
            if member.prog_id is not None:
                link = LinkRecord(
                    "freplace",
                    f"{directory}:{slot}",
                    member.prog_id,
                    id=self.backend.pinned_id(link_pin),
                    pin_path=link_pin,
                )
                self._quietly(f"detach {link_pin}", self.backend.detach, link)
            self._quietly(f"unpin {prog_pin}", self.backend.unpin, prog_pin)
        self._quietly(f"remove {directory}", self.backend.unpin, directory)
        if removed:
            log.info("%s: removed program ids %s", old.hook, removed)

    @staticmethod
    def _quietly(what: str, step: Callable[..., None], *args: object) -> None:
        # The swap has happened: a pin that will not go is a leftover to
        # report, not a reason to fail a change that took effect.
        try:
            step(*args)
        except BpftuiError as err:
            log.warning("after the swap: %s failed: %s", what, err)

    # ----------------------------------------------------- without freplace

    def freplace_works(self) -> bool:
        """Whether extensions load here (asked of the backend once)."""
        if self._freplace is None:
            one = getattr(self.backend, "feature", None)
            if one is not None:
                found = [one("freplace")]
            else:
                found = [f for f in self.backend.features() if f.name == "freplace"]
            self._freplace = bool(found and found[0].available)
        return self._freplace

    def _change_alone(
        self,
        current: Revision,
        add: Sequence[NewProgram],
        remove: Sequence[int],
        *,
        mode: str,
        holder: HookProgram | None,
    ) -> Change:
        hook = current.hook
        note = _alone_note(hook)
        if remove:
            return self._remove_alone(current, tuple(remove), holder)
        if not add:
            return Change(current, note=note if current.members else None)
        if current.members or len(add) > 1:
            raise _needs_dispatcher(hook, current, add)
        return self._attach_alone(hook, add[0], mode, note)

    def _attach_alone(
        self, hook: Hook, request: NewProgram, mode: str, note: str
    ) -> Change:
        pin = self._alone_pin(hook)
        spec = LoadSpec(
            object_path=request.object_path,
            function=request.function,
            prog_type=hook.kind.value,
            pin_path=pin,
            map_pin_dir=request.map_pin_dir,
            globaldata=request.globaldata,
        )
        program = self.backend.load(spec)
        try:
            self._attach_program(hook, program, mode)
        except BaseException:
            self.backend.unload(program)
            self._prune_stage(hook)
            raise
        member = replace(_member(hook.kind, request), prog_id=program.id, source=None)
        revision = Revision(hook, (member,), None)
        log.warning("%s: %s", hook, note)
        return Change(revision, added={request.key: program}, note=note)

    def _attach_program(self, hook: Hook, program: LoadedProgram, mode: str) -> None:
        if hook.kind is HookKind.XDP:
            self.backend.attach_xdp(program, hook.ifindex, mode)
            return
        assert hook.direction is not None
        self.backend.attach_tc(
            program,
            hook.ifindex,
            hook.direction,
            priority=TC_PRIORITIES[0],
            handle=TC_HANDLE,
        )

    def _remove_alone(
        self,
        current: Revision,
        remove: tuple[int, ...],
        holder: HookProgram | None,
    ) -> Change:
        lone = current.members[0] if current.members else None
        if lone is None or lone.prog_id not in remove:
            current.removing(*remove)  # raises naming what is there
        self._detach(current, holder)
        assert lone is not None and lone.prog_id is not None
        pin = self._alone_pin(current.hook)
        if self.backend.pinned_id(pin) == lone.prog_id:
            self.backend.unpin(pin)
        self._prune_stage(current.hook)
        return Change(Revision(current.hook), removed=remove)

    def _alone_pin(self, hook: Hook) -> str:
        """Where the one program of a hook without dispatcher is pinned."""
        return f"{self._stage_dir(hook)}/alone"

    # ------------------------------------------------------------- paths

    def _dispatch_dir(self, hook: Hook, dispatcher_id: int) -> str:
        if hook.kind is HookKind.XDP:
            return xdp_dispatch_dir(self.bpffs, hook.ifindex, dispatcher_id)
        where = f"{hook.ifindex}-{hook.direction}-{dispatcher_id}"
        return f"{self.pin_root}/tc/dispatch-{where}"

    def _stage_dir(self, hook: Hook) -> str:
        where = (
            f"{hook.ifindex}"
            if hook.kind is HookKind.XDP
            else (f"{hook.ifindex}-{hook.direction}")
        )
        return f"{self.pin_root}/dispatchers/{hook.kind.value}-{where}"

    def _prune_stage(self, hook: Hook) -> None:
        """Remove the hook's staging directory and its parent once empty."""
        stage = self._stage_dir(hook)
        for directory in (stage, stage.rsplit("/", 1)[0]):
            try:
                self.backend.unpin(directory)
            except StateError:
                return  # not empty: another hook's staging, or a lone pin

    @contextmanager
    def _locked(self, hook: Hook) -> Iterator[None]:
        # XDP: libxdp's lock, so xdp-loader waits for us and we for it.
        if hook.kind is HookKind.XDP:
            directory = f"{self.bpffs}/xdp"
        else:
            directory = f"{self.pin_root}/tc"
        with self.backend.lock(directory):
            yield


# ---------------------------------------------------------------- helpers


def _member(kind: HookKind, request: NewProgram) -> Member:
    return Member(
        name=request.function,
        priority=request.priority,
        chain_mask=proceed_on_mask(kind, request.proceedon),
        owner="bpftui",
        key=request.key,
        source=request,
    )


def _request(member: Member) -> NewProgram:
    if not isinstance(member.source, NewProgram):
        raise TypeError(f"member {member.describe()} has no load request")
    return member.source


def _label(revision: Revision, known: Mapping[int, str]) -> Revision:
    members = tuple(
        replace(m, owner=known.get(m.prog_id or -1, m.owner)) for m in revision.members
    )
    return replace(revision, members=members)


def _other_priority(old: int | None) -> int:
    first, second = TC_PRIORITIES
    return second if old == first else first


def _tc_record(hook: Hook, holder: HookProgram) -> LinkRecord:
    detail = {
        "ifindex": hook.ifindex,
        "direction": hook.direction,
        "priority": holder.priority,
        "handle": holder.handle,
    }
    return LinkRecord(
        "tc", f"{hook.ifname} {hook.direction}", holder.prog_id, detail=detail
    )


def _alone_note(hook: Hook) -> str:
    return (
        f"attached as the only program on {hook}: multi-program mode is "
        f"unavailable because freplace is refused here ({FREPLACE_NEEDS} needed)"
    )


def _needs_dispatcher(
    hook: Hook, current: Revision, add: Sequence[NewProgram]
) -> NotSupported:
    names = ", ".join(f"'{r.function}'" for r in add)
    if current.members:
        held = current.members[0]
        detail = (
            f"{hook} already runs {held.describe()}; adding {names} needs "
            "multi-program mode (a dispatcher with freplace)"
        )
    else:
        detail = f"{names} on {hook} need multi-program mode (freplace)"
    return NotSupported("multi-program mode", needs=FREPLACE_NEEDS, detail=detail)


def _lone_holder(hook: Hook, held: Member) -> StateError:
    return StateError(
        f"{hook} runs program {held.describe()} without a dispatcher; bpftui "
        "does not replace programs it cannot keep",
        hint="detach it first (ip link set dev IFACE xdp off, or tc filter del)",
    )


def _ingress_qdisc(hook: Hook) -> KernelError:
    return KernelError(
        f"{hook}",
        "add a clsact qdisc",
        errno.EEXIST,
        hint=(
            f"an 'ingress' qdisc is installed on {hook.ifname or hook.ifindex}; "
            "bpftui leaves it alone and needs clsact instead "
            f"(tc qdisc del dev {hook.ifname or 'IFACE'} ingress)"
        ),
    )
