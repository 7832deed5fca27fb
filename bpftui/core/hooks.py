"""How XDP and TC programs get onto their hooks: the loader's HookAttacher.

The loader hands each XDP or TC attach point to a :class:`HookAttacher` as a
:class:`HookRequest` and records the :class:`Hooked` it gets back. Two
attachers exist:

* :class:`DispatcherAttacher`: the dispatcher engine (``core.revisions``),
  up to ten programs per hook through a dispatcher, or one alone where
  freplace is refused. Used whenever the backend has the engine's
  primitives (``revisions.DispatcherBackend``): the kernel and the demo.
* :class:`SingleAttacher`: one program per hook over a bare
  :class:`~bpftui.core.backend.Backend`.

Every kernel change is reported to a :class:`Journal`, so that a failure or
a crash can be undone (see ``core.loader``).
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bpftui.core.backend import Backend, LinkRecord, LoadedProgram, LoadSpec
from bpftui.core.dispatchers import Hook, HookKind
from bpftui.core.errors import KernelError, StateError

log = logging.getLogger(__name__)

_KERNEL_NAME_LEN = 16  # BPF_OBJ_NAME_LEN, with the terminating NUL


class Journal(Protocol):
    """Where a unit of work reports each kernel change as it lands.

    ``loaded`` and ``attached`` steps are undone by the loader (unload,
    detach; newest first) when the unit fails or after a crash. Any other
    step given to ``note`` is handed back to ``HookAttacher.undo``.
    """

    def loaded(self, program: LoadedProgram) -> None: ...

    def attached(self, link: LinkRecord) -> None: ...

    def note(self, step: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class HookRequest:
    """One XDP or TC program to put on one hook.

    Attributes:
        hook: interface (and direction) to attach to.
        key: the BpfProgram name: this member's stable identity.
        owner: ``Kind/name`` of the object.
        spec: the program as it would be loaded alone (``prog_type`` xdp or
            tc); a dispatcher loads it as an extension instead, keeping the
            pin path, the map directory and globaldata.
        priority: run priority, lower first.
        proceedon: proceed-on actions.
        xdp_mode: native, generic, hw or auto (XDP only).
        link_pin: where a lone program's link is pinned.
    """

    hook: Hook
    key: str
    owner: str
    spec: LoadSpec
    priority: int
    proceedon: tuple[str, ...]
    xdp_mode: str
    link_pin: str


@dataclass(frozen=True, slots=True)
class Hooked:
    """What a HookAttacher made for one request.

    Attributes:
        hook: where.
        key: the request's key.
        program: the user's program as loaded (xdp, tc or ext).
        links: attachments to remove on detach, oldest first.
        detail: facts to show and keep: ``mode``, ``slot``,
            ``dispatcher_id``, ``revision``, ``priority`` ... (JSON values).
    """

    hook: Hook
    key: str
    program: LoadedProgram
    links: tuple[LinkRecord, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


class HookAttacher(Protocol):
    """Puts XDP and TC programs on hooks and takes them off again."""

    def attach(self, request: HookRequest, journal: Journal) -> Hooked:
        """Load and attach ``request``; report each step to ``journal``.

        On failure raise a ``BpftuiError``; the loader then undoes the
        journaled steps, so the hook is as it was.
        """

    def detach(self, hooked: Hooked, journal: Journal) -> None:
        """Take a program off its hook and unload it. Idempotent."""

    def undo(self, step: Mapping[str, Any]) -> None:
        """Undo a step this attacher gave to ``Journal.note``."""


class SingleAttacher:
    """One program per XDP hook and per TC direction, without a dispatcher.

    Args:
        backend: the kernel.
        holders: ``(hook) -> owners`` of the programs bpftui already has on
            a hook, so a second one is refused with a clear message.
    """

    def __init__(self, backend: Backend, holders: Callable[[Hook], list[str]]):
        self.backend = backend
        self.holders = holders

    def attach(self, request: HookRequest, journal: Journal) -> Hooked:
        self._refuse_busy(request)
        program = self.backend.load(request.spec)
        journal.loaded(program)
        link = self._attach(request, program)
        journal.attached(link)
        detail = {"priority": request.priority, **dict(link.detail)}
        return Hooked(request.hook, request.key, program, (link,), detail)

    def detach(self, hooked: Hooked, journal: Journal) -> None:
        for link in reversed(hooked.links):
            self.backend.detach(link)
        if self.backend.exists(hooked.program):
            self.backend.unload(hooked.program)

    def undo(self, step: Mapping[str, Any]) -> None:
        log.warning("single attacher: no undo for step %s", sorted(step))

    def _attach(self, request: HookRequest, program: LoadedProgram) -> LinkRecord:
        hook = request.hook
        if hook.kind is HookKind.XDP:
            return self.backend.attach_xdp(
                program, hook.ifindex, request.xdp_mode, link_pin=request.link_pin
            )
        # cls_bpf priorities start at 1; the API's start at 0.
        return self.backend.attach_tc(
            program,
            hook.ifindex,
            hook.direction or "ingress",
            priority=request.priority + 1,
        )

    def _refuse_busy(self, request: HookRequest) -> None:
        others = [o for o in self.holders(request.hook) if o != request.key]
        if others:
            raise KernelError(
                f"{request.owner} ({request.spec.function})",
                f"attach to {request.hook}",
                errno.EBUSY,
                hint=f"{others[0]} is attached there and this build attaches "
                "one program per hook (no dispatcher)",
            )


class DispatcherAttacher:
    """XDP and TC through the dispatcher engine (``core.revisions``).

    Each attach or detach is one engine change: a new revision swapped in
    whole. The program is pinned once more at the loader's own pin path, so
    its record stays valid while revisions move its slot pins.

    Args:
        engine: the revision engine over the same backend.
        known: program id -> owner of bpftui's programs, to label slots.
        owns_clsact: whether bpftui made the clsact qdisc of an ifindex.
    """

    def __init__(
        self,
        engine: Any,
        known: Callable[[], Mapping[int, str]],
        owns_clsact: Callable[[int], bool] = lambda _ifindex: False,
    ) -> None:
        self.engine = engine
        self.backend = engine.backend
        self.known = known
        self.owns_clsact = owns_clsact

    def attach(self, request: HookRequest, journal: Journal) -> Hooked:
        from bpftui.core.revisions import NewProgram

        new = NewProgram(
            key=request.key,
            object_path=request.spec.object_path,
            function=request.spec.function,
            priority=request.priority,
            map_pin_dir=request.spec.map_pin_dir,
            proceedon=request.proceedon,
            globaldata=request.spec.globaldata,
        )
        hook = hook_dict(request.hook)
        had_qdisc = self._has_clsact(request.hook)
        before = self.engine.read(request.hook)
        journal.note(
            change_step(before, adding=request.spec.function, had_qdisc=had_qdisc)
        )
        change = self.engine.change(
            request.hook, add=[new], mode=request.xdp_mode, known=self.known()
        )
        added: LoadedProgram = change.added[request.key]
        journal.note({"dispatcher-added": {**hook, "prog_id": added.id}})
        self.backend.pin(added, request.spec.pin_path)
        program = replace(added, pin_path=request.spec.pin_path)
        journal.loaded(program)
        detail = {**_slot_detail(change, request), "mode": self._mode(request.hook)}
        # Whoever detaches the hook's last filter removes a qdisc bpftui made.
        if request.hook.kind is HookKind.TC and (
            not had_qdisc or self.owns_clsact(request.hook.ifindex)
        ):
            detail["qdisc_created"] = True
        return Hooked(request.hook, request.key, program, (), detail)

    def _has_clsact(self, hook: Hook) -> bool:
        if hook.kind is not HookKind.TC:
            return False
        return self.backend.hook_state(hook).qdisc is not None

    def _mode(self, hook: Hook) -> str:
        """How the hook runs its program: native, generic, hw, or cls_bpf."""
        held = self.backend.hook_state(hook).programs
        return str(held[0].mode) if held else ""

    def detach(self, hooked: Hooked, journal: Journal) -> None:
        revision = self.engine.read(hooked.hook)
        if revision.slot_of(hooked.program.id) is not None:
            journal.note(change_step(revision))
            self.engine.change(
                hooked.hook, remove=[hooked.program.id], known=self.known()
            )
        self._drop_lone_pins(hooked.hook, {hooked.program.id})
        if hooked.detail.get("qdisc_created"):
            self._release_clsact(hooked)
        if self.backend.exists(hooked.program):
            self.backend.unload(hooked.program)

    def _release_clsact(self, hooked: Hooked) -> None:
        """Remove the clsact qdisc bpftui added, once no filter uses it.

        The engine detaches filters by records it rebuilds from netlink, which
        cannot know who made the qdisc; the record of an already removed
        filter marked ``qdisc_created`` makes the backend check and remove it.
        """
        hook = hooked.hook
        detail = {
            "ifindex": hook.ifindex,
            "direction": hook.direction,
            "priority": 0,
            "handle": 0,
            "qdisc_created": True,
        }
        where = f"{hook.ifname} {hook.direction}"
        self.backend.detach(LinkRecord("tc", where, hooked.program.id, detail=detail))

    def undo(self, step: Mapping[str, Any]) -> None:
        added = step.get("dispatcher-added")
        if added is not None:
            hook = hook_of_dict(added)
            if self.engine.read(hook).slot_of(added["prog_id"]) is not None:
                self.engine.change(hook, remove=[added["prog_id"]], known=self.known())
            return
        if "dispatcher-change" in step:
            self.repair(step)
            return
        log.warning("dispatcher attacher: no undo for step %s", sorted(step))

    # ------------------------------------------------------------ repair

    def repair(self, step: Mapping[str, Any]) -> None:
        """Put a hook in order after an engine change was killed half-way.

        ``step`` is the journal step written when the change began
        (:func:`change_step`): the hook, what it ran, and the function being
        added, if any. An engine change loads, pins and links a whole new
        revision and then swaps it in; a process killed inside it can leave,
        and this removes:

        * TC: the new dispatcher's filter beside the old one (killed between
          make and break);
        * the staging pin of the new dispatcher and, when the hook does not
          run it, the slot directory it was being filled in;
        * the old revision's slot directory once the hook runs another;
        * programs on the hook that it did not run before, that no applied
          object owns and that carry the name of the function being added
          (so a program another tool added since is left alone);
        * lone-program pins in the staging directory that no applied object
          owns and no hook runs.

        Raises:
            BpftuiError: a step failed; what could be done was done.
        """
        hook = hook_of_dict(step["dispatcher-change"])
        before = step.get("before") or {}
        old_id = before.get("dispatcher_id")
        stage = self.engine._stage_dir(hook)
        staged = self.backend.pinned_id(f"{stage}/dispatcher")
        if hook.kind is HookKind.TC:
            self._drop_second_filter(hook, staged, old_id)
        current = self.engine.read(hook)
        if staged is not None:
            if staged != current.dispatcher_id:
                self._clear_dir(self.engine._dispatch_dir(hook, staged))
            self.backend.unpin(f"{stage}/dispatcher")
            self._clear_dir(f"{stage}/maps")
        if old_id is not None and old_id != current.dispatcher_id:
            self._clear_dir(self.engine._dispatch_dir(hook, old_id))
        if "before" in step and step.get("adding"):
            self._remove_strays(hook, current, before, step["adding"])
        self._drop_unowned_lone_pins(hook)

    def _remove_strays(
        self, hook: Hook, current: Any, before: Mapping[str, Any], function: str
    ) -> None:
        known = set(self.known())
        old_ids = set(before.get("prog_ids") or ())
        # The kernel keeps the first 15 bytes of a program's name.
        name = function[: _KERNEL_NAME_LEN - 1]
        strays = [
            m.prog_id
            for m in current.members
            if m.prog_id is not None
            and m.prog_id not in old_ids | known
            and m.name == name
        ]
        if strays:
            log.info("%s: removing programs %s a killed change added", hook, strays)
            self.engine.change(hook, remove=strays, known=self.known())

    def _drop_unowned_lone_pins(self, hook: Hook) -> None:
        running = {m.prog_id for m in self.engine.read(hook).members}
        lone = set(self._lone_pins(hook).values())
        self._drop_lone_pins(hook, lone - running - set(self.known()))

    def _drop_second_filter(
        self, hook: Hook, staged: int | None, old_id: int | None
    ) -> None:
        """Delete the new dispatcher's filter when the old one is still there."""
        from bpftui.core.revisions import TC_PRIORITIES

        ours = [
            p
            for p in self.backend.hook_state(hook).programs
            if p.priority in TC_PRIORITIES
        ]
        if len(ours) < 2:
            return
        newer = [p for p in ours if p.prog_id == staged] or [
            p for p in ours if p.prog_id != old_id
        ]
        found = newer[0]
        detail = {
            "ifindex": hook.ifindex,
            "direction": hook.direction,
            "priority": found.priority,
            "handle": found.handle,
        }
        where = f"{hook.ifname} {hook.direction}"
        self.backend.detach(LinkRecord("tc", where, found.prog_id, detail=detail))

    def _clear_dir(self, directory: str) -> None:
        """Unpin a slot directory: links first (that detaches them), then
        programs, then the directory itself."""
        pins = sorted(self._pins_in(directory), key=lambda p: not p.endswith("-link"))
        for path in pins:
            self.backend.unpin(path)
        try:
            self.backend.unpin(directory)
        except StateError as err:
            log.warning("%s: left in place: %s", directory, err)

    def _lone_pins(self, hook: Hook) -> dict[str, int]:
        """Pin -> program id of the programs attached alone on a hook."""
        found: dict[str, int] = {}
        for path in self._pins_in(self.engine._stage_dir(hook)):
            prog_id = self.backend.pinned_id(path)
            if os.path.basename(path).startswith("alone") and prog_id is not None:
                found[path] = prog_id
        return found

    def _drop_lone_pins(self, hook: Hook, prog_ids: set[int]) -> None:
        """Unpin the lone-program pins of these programs (a removal killed
        between the detach and the unpin leaves one)."""
        for path, prog_id in self._lone_pins(hook).items():
            if prog_id in prog_ids:
                self.backend.unpin(path)
        self.engine._prune_stage(hook)

    def _pins_in(self, directory: str) -> list[str]:
        listing = getattr(self.backend, "pins", None)
        if callable(listing):  # the demo's pins are not files
            return [p for p in listing() if p.startswith(directory + "/")]
        try:
            return [f"{directory}/{name}" for name in os.listdir(directory)]
        except OSError:
            return []


def _slot_detail(change: Any, request: HookRequest) -> dict[str, Any]:
    program = change.added[request.key]
    detail: dict[str, Any] = {
        "priority": request.priority,
        "proceedon": list(request.proceedon),
        "slot": change.revision.slot_of(program.id),
        "dispatcher_id": change.revision.dispatcher_id,
    }
    if change.note:
        detail["note"] = change.note
    return detail


def default_hook_attacher(
    backend: Backend,
    *,
    holders: Callable[[Hook], list[str]],
    known: Callable[[], Mapping[int, str]],
    owns_clsact: Callable[[int], bool],
    bpffs_root: str,
) -> HookAttacher:
    """The dispatcher engine over a backend that has its primitives, else one
    program per hook.

    libxdp's pins go to the ``xdp`` directory beside ``bpffs_root`` (its
    parent is taken as the bpffs mount).
    """
    from bpftui.core import revisions

    if not isinstance(backend, revisions.DispatcherBackend):
        return SingleAttacher(backend, holders)
    engine = revisions.Dispatchers(
        backend, bpffs=os.path.dirname(bpffs_root.rstrip("/")), pin_root=bpffs_root
    )
    return DispatcherAttacher(engine, known, owns_clsact)


def change_step(before: Any, **extra: Any) -> dict[str, Any]:
    """The journal step written before an engine change: the hook and what
    it ran (dispatcher and program ids), so a repair can tell what a killed
    change added."""
    snapshot = {
        "dispatcher_id": before.dispatcher_id,
        "prog_ids": [m.prog_id for m in before.members if m.prog_id is not None],
    }
    return {"dispatcher-change": hook_dict(before.hook), "before": snapshot, **extra}


def hook_of_dict(tree: Mapping[str, Any]) -> Hook:
    """The hook back from :func:`hook_dict`'s tree."""
    return Hook(
        HookKind(tree["kind"]),
        int(tree["ifindex"]),
        tree.get("ifname") or "",
        tree.get("direction"),
    )


def hook_dict(hook: Hook) -> dict[str, Any]:
    """A hook as a JSON tree (kept in attachments and intents)."""
    return {
        "kind": hook.kind.value,
        "ifindex": hook.ifindex,
        "ifname": hook.ifname,
        "direction": hook.direction,
    }
