"""The :class:`~bpftui.core.session.Session` of one node, over any Backend.

:class:`NodeSession` joins a backend (the kernel or the demo), the state
store and a discovery into what the front ends drive. The sessions are made
by :func:`bpftui.core.session.open_session`; :func:`kernel_session` and
:func:`demo_session` are the two ways it builds them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from bpftui.core import api, node
from bpftui.core.api import ProgramConditionType as ClusterType
from bpftui.core.backend import (
    Backend,
    Clock,
    Feature,
    KernelLink,
    KernelMap,
    KernelProgram,
)
from bpftui.core.dispatchers import XDP_PIN_DIR
from bpftui.core.errors import (
    BpftuiError,
    InputError,
    NotSupported,
    PermissionProblem,
)
from bpftui.core.hooks import hook_of_dict
from bpftui.core.loader import (
    BytecodeResolver,
    Loader,
    NodeIdentity,
    demo_bytecode,
    mark_vanished,
    resolve_bytecode_file,
    rfc3339,
)
from bpftui.core.session import (
    BpfProgramView,
    ChainView,
    ConditionView,
    Discovery,
    InterfaceView,
    ObjectStatusView,
    SlotView,
)
from bpftui.core.state import Attachment, StateStore, StoredObject

DEMO_NODE = "demo-node"
DEMO_LABELS: Mapping[str, str] = {
    api.LABEL_HOSTNAME: DEMO_NODE,
    "kubernetes.io/os": "linux",
    "node-role.kubernetes.io/worker": "",
    "topology.kubernetes.io/zone": "zone-a",
}
DEMO_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: demo times read the same
DEMO_UNSUPPORTED_ENV = "BPFTUI_DEMO_UNSUPPORTED"
OTHERS_MAX_AGE = 1.0  # seconds owner_of trusts its last read of the kernel

# Capabilities by number (linux/capability.h).
_CAP_BITS: Mapping[str, int] = {
    "CAP_NET_ADMIN": 12,
    "CAP_SYS_ADMIN": 21,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
}
# What the kernel path needs; CAP_SYS_ADMIN stands in for the BPF pair.
_NEEDED = ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN")


class NodeSession:
    """One node: apply, delete and status over a backend and a state store.

    Args:
        backend: the kernel or the demo.
        store: the state store.
        discovery: attach points of the node.
        identity: node name, labels and XDP modes.
        bpffs_root: where bpftui pins.
        clock: seconds since the epoch.
        bytecode: finds an object's ELF file.
        tidy_dirs: remove emptied pin directories (real bpffs only).
    """

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        discovery: Discovery,
        identity: NodeIdentity,
        *,
        bpffs_root: str,
        clock: Clock = time.time,
        bytecode: BytecodeResolver = resolve_bytecode_file,
        tidy_dirs: bool = True,
    ) -> None:
        self.backend = backend
        self.backend_name = "demo" if backend.name == "demo" else "kernel"
        self.store = store
        self.discovery = discovery
        self.node_name = identity.name
        self.node_labels = identity.labels
        self.clock = clock
        self._bpffs = os.path.dirname(bpffs_root.rstrip("/"))
        self._others: dict[int, str] = {}  # prog id -> who else holds it
        self._others_read: float | None = None
        self.loader = Loader(
            backend,
            store,
            discovery,
            identity,
            bpffs_root=bpffs_root,
            clock=clock,
            bytecode=bytecode,
            tidy_dirs=tidy_dirs,
        )

    # ------------------------------------------------------------ changes

    def apply(self, objects: Sequence[Any]) -> Sequence[BpfProgramView]:
        """Make objects (records or raw trees) real on this node."""
        programs = [_program(obj) for obj in objects]
        made = self.loader.apply(programs)
        self._changed()
        return [self._view(a) for a in made]

    def delete(self, refs: Sequence[Any]) -> Sequence[str]:
        """Take objects off the node; refs are records or ``Kind/name``."""
        keys = [_ref(ref) for ref in refs]
        try:
            return self.loader.delete(keys)
        finally:
            self._changed()

    def restore(self) -> Sequence[BpfProgramView]:
        """Re-apply every desired object (after a reboot emptied bpffs)."""
        made = self.loader.restore()
        self._changed()
        return [self._view(a) for a in made]

    def reconcile(self) -> Sequence[BpfProgramView]:
        """Record programs that vanished from the kernel; return them."""
        return [
            self._view(mark_vanished(a, self.clock())) for a in self.loader.reconcile()
        ]

    def _changed(self) -> None:
        notify = getattr(self.discovery, "changed", None)
        if callable(notify):
            notify()

    # ------------------------------------------------------------ status

    def status(self) -> Sequence[ObjectStatusView]:
        """Applied objects with their BpfPrograms, checked against the kernel.

        Work a killed bpftui process left half done is completed or rolled
        back first, when no other process holds the lock.
        """
        self.loader.recover_if_idle()
        gone = {_key(a) for a in self.loader.vanished()}
        attachments: dict[str, list[Attachment]] = {}
        for found in self.store.attachments():
            seen = mark_vanished(found, self.clock()) if _key(found) in gone else found
            attachments.setdefault(seen.ref, []).append(seen)
        revisions: dict[tuple[Any, ...], Any] = {}
        return [
            self._object_view(stored, attachments.get(stored.ref, []), revisions)
            for stored in self.store.objects()
        ]

    def _object_view(
        self,
        stored: StoredObject,
        attachments: list[Attachment],
        revisions: dict[tuple[Any, ...], Any],
    ) -> ObjectStatusView:
        types = [a.condition_type for a in attachments]
        ctype = node.cluster_type(types, delete_failed=stored.delete_error is not None)
        made = {a.attach_point for a in attachments}
        if ctype is not ClusterType.DELETE_ERROR and any(
            point.value not in made for point in self.loader.points_of(stored)
        ):
            # An apply stopped before it reached every attach point.
            ctype = ClusterType.NOT_YET_LOADED
        when = rfc3339(stored.applied_at)
        message = stored.delete_error or None
        condition = _condition_view(ctype.condition(when, message))
        return ObjectStatusView(
            kind=stored.kind,
            name=stored.name,
            obj=stored.program(),
            condition=condition,
            bpfprograms=[self._view(a, revisions) for a in attachments],
            applied_at=stored.applied_at,
        )

    def _view(
        self,
        attachment: Attachment,
        revisions: dict[tuple[Any, ...], Any] | None = None,
    ) -> BpfProgramView:
        view = bpfprogram_view(attachment, self.node_name)
        slot = self._live_slot(attachment, {} if revisions is None else revisions)
        return view if slot == view.slot else dataclasses.replace(view, slot=slot)

    def _live_slot(
        self, attachment: Attachment, revisions: dict[tuple[Any, ...], Any]
    ) -> int | None:
        """The slot the program runs in now, not when it was attached.

        Later changes on the same hook move programs between slots, so the
        recorded slot goes stale; the hook is read once per status call.
        """
        recorded: int | None = attachment.detail.get("slot")
        tree = attachment.detail.get("hook")
        engine = getattr(self.loader.attacher, "engine", None)
        if not tree or attachment.program is None or engine is None:
            return recorded
        key = tuple(sorted(tree.items()))
        if key not in revisions:
            try:
                revisions[key] = engine.read(hook_of_dict(tree))
            except BpftuiError:
                revisions[key] = None
        revision = revisions[key]
        if revision is None:
            return recorded
        live: int | None = revision.slot_of(attachment.program.id)
        return recorded if live is None else live

    # ------------------------------------------------------------ kernel

    def kernel_programs(self) -> Sequence[KernelProgram]:
        programs = self.backend.programs()
        ours = {a.program.id for a in self.store.attachments() if a.program is not None}
        self._others = foreign_owners(programs, self._bpffs, ours)
        self._others_read = time.monotonic()
        return programs

    def kernel_links(self) -> Sequence[KernelLink]:
        return self.backend.links()

    def kernel_maps(self) -> Sequence[KernelMap]:
        return self.backend.maps()

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> Sequence[tuple[bytes, bytes]]:
        return self.backend.map_entries(map_id, limit=limit)

    def owner_of(self, prog_id: int) -> str | None:
        """``Kind/name`` of the applied object whose program has this id, else
        who else runs it (:func:`foreign_owners`), as of the last second."""
        for attachment in self.store.attachments():
            if attachment.program is not None and attachment.program.id == prog_id:
                return attachment.ref
        read = self._others_read
        if read is None or time.monotonic() - read > OTHERS_MAX_AGE:
            try:
                self.kernel_programs()
            except BpftuiError:  # no privileges: only bpftui's own are known
                self._others_read = time.monotonic()
        return self._others.get(prog_id)

    def set_stats(self, enabled: bool) -> None:
        self.backend.set_stats(enabled)

    def doctor(self) -> Sequence[Feature]:
        return [*self.backend.features(), speedups_feature()]

    def close(self) -> None:
        self.store.close()


def foreign_owners(
    programs: Sequence[KernelProgram], bpffs: str, ours: Collection[int] = ()
) -> dict[int, str]:
    """Who else runs each program, by program id, from what the kernel shows.

    The processes holding it open (``systemd(1)``), else ``libxdp`` for a
    program pinned in a libxdp dispatcher's directory and for the dispatcher
    that directory is named after (xdp-loader's, or another libxdp user's).
    bpftui's own programs (``ours``) and a dispatcher running any of them
    are left out, as is a program nothing speaks for: never guessed from
    its name.
    """
    prefix = os.path.join(bpffs, XDP_PIN_DIR, "dispatch-")
    owners: dict[int, str] = {}
    shared: set[int] = set()  # dispatchers running a program of bpftui's
    for program in programs:
        for path in program.pinned:
            if not path.startswith(prefix):
                continue
            # dispatch-<ifindex>-<dispatcher id>/<pin>
            named = path[len(prefix) :].split("/", 1)[0].rpartition("-")[2]
            dispatcher = int(named) if named.isdigit() else None
            if program.id not in ours:
                owners[program.id] = "libxdp"
            if dispatcher is None:
                continue
            if program.id in ours:
                shared.add(dispatcher)
            else:
                owners.setdefault(dispatcher, "libxdp")
    for program in programs:
        if program.holders and program.id not in ours:
            owners[program.id] = ", ".join(program.holders)
    return {prog_id: who for prog_id, who in owners.items() if prog_id not in shared}


def speedups_feature() -> Feature:
    """Whether bpftui's C twins of its hottest loops are in use."""
    from bpftui.native import speedups

    used = speedups.report()
    missing = [name for name, there in used.items() if not there]
    if not missing:
        return Feature("c-speedups", True, "BTF prototypes and name search in C")
    if speedups.turned_off():
        return Feature("c-speedups", False, f"off: {speedups.PURE_PYTHON_ENV} is set")
    detail = f"not built: {', '.join(missing)}; pure Python runs (slower)"
    return Feature("c-speedups", False, detail, needs="a C compiler at pip install")


# ---------------------------------------------------------------- views


def bpfprogram_view(attachment: Attachment, node_name: str) -> BpfProgramView:
    """The per-node BpfProgram object of one attachment."""
    program = attachment.program
    prog_id = program.id if program else None
    links = tuple(link.pin_path or _describe_link(link) for link in attachment.links)
    pins = [program.pin_path] if program else []
    if program:
        pins += list(program.map_pins.values())
    pins += [link.pin_path for link in attachment.links if link.pin_path]
    return BpfProgramView(
        name=attachment.bpfprogram,
        owner_kind=attachment.kind,
        owner_name=attachment.name,
        node=node_name,
        prog_type=attachment.prog_type,
        attach_point=attachment.attach_point,
        condition=_condition_view(attachment.condition),
        program_id=prog_id,
        labels=node.bpfprogram_labels(attachment.name, node_name),
        annotations=node.bpfprogram_annotations(prog_id),
        maps=dict(program.map_pins) if program else {},
        map_ids=dict(program.map_ids) if program else {},
        links=links,
        pins=tuple(pins),
        verifier_log=attachment.verifier_log,
        slot=attachment.detail.get("slot"),
        priority=attachment.detail.get("priority"),
    )


def _describe_link(link: Any) -> str:
    return f"{link.kind} {link.attach_point}"


def _condition_view(cond: api.Condition) -> ConditionView:
    return ConditionView(
        type=cond.type,
        status=cond.status,
        reason=cond.reason,
        message=cond.message,
        last_transition_time=cond.lastTransitionTime,
    )


def _key(attachment: Attachment) -> tuple[str, str, str]:
    return attachment.kind, attachment.name, attachment.attach_point


def _program(obj: Any) -> api.Program:
    if isinstance(obj, Mapping):
        obj = api.from_dict(obj)
    if isinstance(obj, api.BpfProgram) or not hasattr(obj, "spec"):
        kind = getattr(obj, "kind", type(obj).__name__)
        raise InputError(
            f"{kind}: cannot be applied: BpfProgram objects are written by the node "
            "agent, not by users"
        )
    return obj  # type: ignore[no-any-return]


def _ref(ref: Any) -> tuple[str, str]:
    if isinstance(ref, str):
        kind, sep, name = ref.partition("/")
        if not sep or not name:
            raise InputError(
                f"'{ref}': not a KIND/NAME reference", hint="for example xdp/edge"
            )
        return api.resolve_kind(kind), name
    return ref.kind, ref.metadata.name


# ---------------------------------------------------------------- making sessions


def demo_session(*, clock: Clock | None = None) -> NodeSession:
    """A simulated node: in-memory kernel, in-memory state, demo discovery.

    Raises:
        NotSupported: this build has no demo discovery.
    """
    from bpftui.core.demo import DemoBackend

    try:
        from bpftui.core.demo_discovery import DemoDiscovery
    except ImportError:
        raise NotSupported(
            "demo mode", needs="bpftui.core.demo_discovery in this build"
        ) from None
    now = clock or _demo_clock()
    holder: dict[str, NodeSession] = {}
    discovery = DemoDiscovery(chains=lambda iface: demo_chains(holder, iface))
    interfaces = {i.index: i.name for i in discovery.interfaces() if not i.netns}
    unsupported = os.environ.get(DEMO_UNSUPPORTED_ENV, "")
    backend = DemoBackend(
        clock=now,
        interfaces=interfaces,
        unsupported=[f for f in unsupported.split(",") if f],
        generic_only=[i for i, name in interfaces.items() if name == "lo"],
    )
    _seed_demo_kernel(backend, interfaces)
    session = NodeSession(
        backend,
        StateStore.in_memory(clock=now),
        discovery,
        NodeIdentity(DEMO_NODE, DEMO_LABELS),
        bpffs_root="/sys/fs/bpf/bpftui",
        clock=now,
        bytecode=demo_bytecode,
        tidy_dirs=False,
    )
    holder["session"] = session
    return session


def _demo_clock() -> Clock:
    """Demo time starts at a fixed moment and then runs with the real clock."""
    start = time.monotonic()
    return lambda: DEMO_EPOCH + (time.monotonic() - start)


def _seed_demo_kernel(backend: Any, interfaces: Mapping[int, str]) -> None:
    """What the demo node runs before bpftui: systemd's programs, and an
    xdp-loader dispatcher on eth1 that bpftui's XDP programs can join."""
    for name in ("sd_devices", "sd_fw_egress", "sd_fw_ingress"):
        backend.add_foreign_program(name, "cgroup_skb", holder="systemd(1)")
    eth1 = next((i for i, n in interfaces.items() if n == "eth1"), None)
    if eth1 is not None:
        _seed_xdp_loader(backend, eth1)


def _seed_xdp_loader(backend: Any, ifindex: int) -> None:
    from bpftui.core import dispatchers as d
    from bpftui.core.backend import LoadSpec
    from bpftui.core.revisions import DISPATCHER_OBJECTS

    slot = d.SlotConfig(d.proceed_on_mask(d.HookKind.XDP), 50)
    config = d.DispatcherConfig(d.HookKind.XDP, (slot,)).encode()
    staging = "/sys/fs/bpf/xdp/.demo-staging"
    dispatcher = backend.load(
        LoadSpec(
            DISPATCHER_OBJECTS[d.HookKind.XDP],
            d.XDP_DISPATCHER_NAME,
            "xdp",
            f"{staging}/dispatcher",
            f"{staging}/maps",
            rodata={".rodata": config},
        )
    )
    backend.attach_xdp(dispatcher, ifindex, "native")
    directory = d.xdp_dispatch_dir("/sys/fs/bpf", ifindex, dispatcher.id)
    prog_pin, link_pin = d.slot_pins(directory, 0)
    member = backend.load(
        LoadSpec(
            "/usr/lib/bpf/xdp_filter.o",
            "xdp_filter",
            "ext",
            prog_pin,
            f"{staging}/filter-maps",
            attach_func="prog0",
            attach_prog_id=dispatcher.id,
        )
    )
    backend.attach_freplace(member, dispatcher.id, "prog0", link_pin=link_pin)
    backend.unpin(f"{staging}/dispatcher")


def demo_chains(
    holder: Mapping[str, NodeSession], iface: InterfaceView
) -> list[ChainView]:
    """What runs on one interface of the demo node, read from its backend."""
    session = holder.get("session")
    if session is None or iface.netns:
        return []
    engine = getattr(session.loader.attacher, "engine", None)
    if engine is None:
        return []
    from bpftui.core.dispatchers import Hook, HookKind, proceed_on_names

    hooks = [
        ("xdp", Hook(HookKind.XDP, iface.index, iface.name)),
        ("tc-ingress", Hook(HookKind.TC, iface.index, iface.name, "ingress")),
        ("tc-egress", Hook(HookKind.TC, iface.index, iface.name, "egress")),
    ]
    chains: list[ChainView] = []
    for name, hook in hooks:
        revision = engine.read(hook)
        if revision.is_empty:
            continue
        slots = tuple(
            SlotView(
                i,
                m.prog_id or 0,
                m.name,
                m.priority,
                proceed_on_names(hook.kind, m.chain_mask),
                session.owner_of(m.prog_id or 0),
            )
            for i, m in enumerate(revision.members)
        )
        mode = _hook_mode(session.backend, hook)
        chains.append(ChainView(name, mode, revision.dispatcher_id, None, slots))
    return chains


def _hook_mode(backend: Any, hook: Any) -> str:
    state = backend.hook_state(hook)
    return str(state.programs[0].mode) if state.programs else ""


def kernel_session(
    config_path: str | None, *, clock: Clock | None = None
) -> NodeSession:
    """The real node: NativeBackend, the state store on disk, real discovery.

    Raises:
        PermissionProblem: not root, or a capability is missing.
        InputError: the configuration is wrong.
        NotSupported: this build lacks the native backend or discovery.
    """
    from bpftui.core.config import load_config

    check_privileges()
    config = load_config(config_path)
    store = StateStore.open(config.state_dir)
    backend = _native_backend(config)
    holder: dict[str, NodeSession] = {}
    discovery = _real_discovery(backend, holder, config.bpffs_root)
    identity = NodeIdentity(
        config.node_name,
        config.node_labels,
        config.xdp_interface_modes,
        config.xdp_mode,
    )
    settings = functools.cache(lambda: _image_settings(config))
    holder["session"] = NodeSession(
        backend,
        store,
        discovery,
        identity,
        bpffs_root=config.bpffs_root,
        clock=clock or time.time,
        bytecode=lambda program: resolve_bytecode_file(program, settings()),
    )
    return holder["session"]


def _image_settings(config: Any) -> Any:
    try:
        return config.image_settings()
    except ImportError:
        return None


def _native_backend(config: Any) -> Backend:
    try:
        from bpftui.native.backend import NativeBackend
    except ImportError as err:
        raise NotSupported(
            "the kernel backend",
            needs="bpftui.native.backend in this build",
            detail=str(err),
        ) from None
    backend: Backend = NativeBackend(bpffs_root=config.bpffs_root)
    return backend


def _real_discovery(
    backend: Backend, holder: Mapping[str, NodeSession], bpffs_root: str
) -> Discovery:
    try:
        from bpftui.core.discovery import open_discovery
    except ImportError as err:
        raise NotSupported(
            "discovery", needs="bpftui.core.discovery in this build", detail=str(err)
        ) from None

    def owner_of(prog_id: int) -> str | None:
        session = holder.get("session")
        return session.owner_of(prog_id) if session else None

    found: Discovery = open_discovery(
        backend,
        dispatchers=_EngineOf(holder),
        owner_of=owner_of,
        bpffs=os.path.dirname(bpffs_root.rstrip("/")),
    )
    return found


class _EngineOf:
    """The session's dispatcher engine, for a discovery made before it."""

    def __init__(self, holder: Mapping[str, NodeSession]) -> None:
        self.holder = holder

    def read(self, hook: Any) -> Any:
        session = self.holder.get("session")
        engine = getattr(session.loader.attacher, "engine", None) if session else None
        if engine is None:
            raise NotSupported("dispatcher slots", needs="bpftui's dispatcher engine")
        return engine.read(hook)


def check_privileges(status_path: str = "/proc/self/status") -> None:
    """Refuse to drive the kernel without what it takes.

    Raises:
        PermissionProblem: names root or each missing capability.
    """
    missing = missing_capabilities(status_path)
    if not missing:
        return
    if os.geteuid() != 0:
        who, hint = "not running as root", "run it with sudo"
    else:
        # Root without them: a container or a service with a reduced
        # capability bounding set.
        who = "running as root"
        hint = "grant them to this process (a container needs --cap-add)"
    raise PermissionProblem(
        f"this command needs root ({', '.join(_NEEDED)}); {who}, "
        f"missing {', '.join(missing)}",
        hint=f"{hint}, or add --demo for a simulated node",
    )


def missing_capabilities(status_path: str = "/proc/self/status") -> list[str]:
    """The needed capabilities this process lacks (its CapEff line)."""
    effective = 0
    try:
        with open(status_path, encoding="ascii") as stream:
            for line in stream:
                if line.startswith("CapEff:"):
                    effective = int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        return list(_NEEDED)
    held = {name for name, bit in _CAP_BITS.items() if effective >> bit & 1}
    if "CAP_SYS_ADMIN" in held:
        held |= {"CAP_BPF", "CAP_PERFMON"}
    return [name for name in _NEEDED if name not in held]
