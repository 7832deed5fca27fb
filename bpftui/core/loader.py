"""The node loader: makes API objects real in the kernel through a Backend.

``core.node`` decides (attach points, names, conditions); this module acts:
it resolves bytecode and attach targets, loads, pins and attaches through a
:class:`~bpftui.core.backend.Backend`, and records every outcome in the
state store. Each attach point (one BpfProgram) is one unit of work:

1. an *intent* naming its pins is written to the store;
2. the kernel changes are made, each reported to the intent as it lands;
3. the outcome (Loaded, or NotLoaded with the cause) is written and the
   intent dropped, in one transaction.

A failure in step 2 undoes, newest first, whatever step 2 made, so a failed
attach point leaves nothing behind; other attach points of the same object
keep their own outcome, as each BpfProgram has its own condition. A process
killed in step 2 leaves its intent; :meth:`Loader.recover` undoes it the
same way on the next run.

Pins live under ``<bpffs root>/<kind>/<name>/<attach point>/``: ``prog``,
``maps/`` (or the map owner's), and ``link``. The directories the loader
makes there are 0700 and the kernel makes pins 0600: only root reads them.
Names reach a path only as checked single components (see
:class:`PinLayout`).

XDP and TC go through a :class:`~bpftui.core.hooks.HookAttacher` (see
``core.hooks``): the dispatcher engine, or one program per hook.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import importlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bpftui.core import api, node
from bpftui.core.api import BpfProgramConditionType as NodeType
from bpftui.core.backend import Backend, Clock, LinkRecord, LoadedProgram, LoadSpec
from bpftui.core.dispatchers import Hook, HookKind
from bpftui.core.errors import (
    BpftuiError,
    ImageError,
    InputError,
    KernelError,
    NotSupported,
    StateError,
    VerifierError,
)
from bpftui.core.hooks import (
    HookAttacher,
    Hooked,
    HookRequest,
    default_hook_attacher,
    hook_dict,
)
from bpftui.core.session import Discovery
from bpftui.core.state import Attachment, Intent, StateStore, StoredObject
from bpftui.core.trust import fix_hint, untrusted_reason

log = logging.getLogger(__name__)

PROG_PIN = "prog"
MAPS_DIR = "maps"
LINK_PIN = "link"

# What a missing kernel feature needs; doctor and NotLoaded messages say it.
# The names are those of the native backend's probes (``bpftui doctor``).
FEATURE_NEEDS: Mapping[str, str] = {
    "libbpf": "libbpf.so.1 (Debian package libbpf1)",
    "bpffs": "bpffs mounted at /sys/fs/bpf",
    "tracefs": "tracefs mounted at /sys/kernel/tracing",
    "btf": "a kernel built with CONFIG_DEBUG_INFO_BTF",
    "tracepoints": "tracefs and a kernel with CONFIG_TRACEPOINTS",
    "kprobes": "a kernel built with CONFIG_KPROBES",
    "uprobes": "a kernel built with CONFIG_UPROBE_EVENTS",
    "fentry": "BPF trampolines (kernel >= 5.5, x86-64) and no kernel lockdown",
    "fexit": "BPF trampolines (kernel >= 5.5, x86-64) and no kernel lockdown",
    "freplace": "kernel >= 5.10 without kernel lockdown",
    "bpf-stats": "kernel >= 5.8 (BPF_ENABLE_STATS)",
    "xdp-native": "a network driver with native XDP support",
    "xdp-generic": "a kernel with XDP (CONFIG_BPF_SYSCALL, CONFIG_NET)",
    "tc-clsact": "a kernel with CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS",
    "tcx": "kernel >= 6.6",
}
# The feature each program type needs, by the names above.
TYPE_FEATURES: Mapping[str, str] = {
    "tracepoint": "tracepoints",
    "kprobe": "kprobes",
    "uprobe": "uprobes",
    "fentry": "fentry",
    "fexit": "fexit",
    "ext": "freplace",
}

# Errnos with which a kernel refuses a program type it does not offer.
_REFUSALS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOENT, 524})
_REFUSABLE_TYPES = frozenset({"kprobe", "fentry", "fexit"})


def rfc3339(seconds: float) -> str:
    """Seconds since the epoch as the API's timestamp."""
    moment = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def object_digest(program: api.Program) -> str:
    """What a reload depends on: the kind, the name and the spec.

    Labels and annotations are left out: changing them re-labels, it does
    not reload.
    """
    tree = api.to_dict(program)
    key = {"kind": program.kind, "name": program.metadata.name, "spec": tree["spec"]}
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- pin layout


@dataclass(frozen=True, slots=True)
class PinLayout:
    """Where bpftui pins under its bpffs root."""

    root: str

    def object_dir(self, kind: str, name: str) -> str:
        """``<root>/<kind>/<name>``; the name must be a valid object name."""
        if not _safe_name(name):
            raise InputError(
                f"{kind}/{name}: refused: the name cannot be used in a pin path",
                hint="use a lower-case DNS subdomain name",
            )
        return f"{self.root.rstrip('/')}/{kind.lower()}/{name}"

    def point_dir(self, kind: str, name: str, point: node.AttachPoint) -> str:
        """The directory of one attach point's pins."""
        return f"{self.object_dir(kind, name)}/{point_component(point)}"


def point_component(point: node.AttachPoint) -> str:
    """An attach point as one path component, distinct for distinct points.

    The slug keeps only ``[a-z0-9.-]`` (never ``/``, never ``.`` or ``..``
    alone); when that changed the text (``syscalls/sys_enter_kill`` and
    ``syscalls_sys/enter_kill`` give the same slug) or made it long, a hash
    of the original keeps two points apart.
    """
    slug = point.slug
    if slug == point.value and len(slug) <= _MAX_COMPONENT:
        return slug
    digest = hashlib.sha256(point.value.encode()).hexdigest()[:10]
    return f"{slug[:_MAX_COMPONENT]}-{digest}"


_MAX_COMPONENT = 100  # well under NAME_MAX (255) with the hash


def _safe_name(name: str) -> bool:
    return (
        bool(name)
        and len(name) <= 253
        and name == node.sanitize(name)
        and ".." not in name
    )


# ---------------------------------------------------------------- bytecode


BytecodeResolver = Callable[[api.Program], str]
"""Returns the ELF path of an object's bytecode, or raises BpftuiError."""


def resolve_bytecode_file(program: api.Program, image_settings: Any = None) -> str:
    """The ELF file of ``spec.bytecode``: a checked path, or a fetched image.

    Raises:
        InputError: the path is relative, missing, not a file, or writable by
            every user (anyone could then choose what the node loads).
        ImageError: the image could not be fetched (see ``core.images``).
    """
    bytecode = program.spec.bytecode
    if bytecode.image is not None:
        return _fetch_image(program, image_settings)
    path = bytecode.path or ""
    where = f"bytecode.path {path!r}"
    if not os.path.isabs(path):
        raise InputError(f"{where}: not an absolute path")
    try:
        info = os.stat(path)
    except OSError as err:
        raise InputError(f"{where}: cannot read: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{where}: not a regular file")
    try:
        reason = untrusted_reason(path)
    except OSError as err:
        raise InputError(f"{where}: cannot read: {err.strerror}") from None
    if reason is not None:
        raise InputError(f"{where}: refused: {reason}", hint=fix_hint(path, reason))
    return path


def _fetch_image(program: api.Program, settings: Any) -> str:
    image = program.spec.bytecode.image
    assert image is not None
    fetch = _image_fetcher()
    if fetch is None or settings is None:
        raise ImageError(
            f"image '{image.url}': OCI images not supported in this build",
            hint="use bytecode.path",
        )
    fetched = fetch(image, settings, bpffunctionname=program.spec.bpffunctionname)
    return str(fetched.path)


def _image_fetcher() -> Callable[..., Any] | None:
    for name in ("bpftui.core.images", "bpftui.core.images.pull"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        fetch = getattr(module, "fetch_bytecode", None)
        if fetch is not None:
            return fetch  # type: ignore[no-any-return]
    return None


def demo_bytecode(program: api.Program) -> str:
    """The demo node's bytecode: any path is taken as it is, images too."""
    bytecode = program.spec.bytecode
    if bytecode.image is not None:
        return f"/var/lib/bpftui/images/demo/{node.sanitize(bytecode.image.url)}.o"
    return bytecode.path or ""


# ---------------------------------------------------------------- one unit


class _Work:
    """One attach point's kernel changes, journaled in an intent."""

    def __init__(self, store: StateStore, intent_id: int) -> None:
        self.store = store
        self.intent_id = intent_id
        self.steps: list[Mapping[str, Any]] = []

    def loaded(self, program: LoadedProgram) -> None:
        self.note({"loaded": program.to_dict()})

    def attached(self, link: LinkRecord) -> None:
        self.note({"attached": link.to_dict()})

    def note(self, step: Mapping[str, Any]) -> None:
        self.steps.append(step)
        self.store.record_step(self.intent_id, step)


def undo_steps(
    backend: Backend, attacher: HookAttacher, steps: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Undo journaled steps newest first; return what could not be undone."""
    failures: list[str] = []
    for step in reversed(steps):
        try:
            _undo_step(backend, attacher, step)
        except BpftuiError as err:
            failures.append(str(err))
    return failures


def _undo_step(
    backend: Backend, attacher: HookAttacher, step: Mapping[str, Any]
) -> None:
    if "attached" in step:
        backend.detach(LinkRecord.from_dict(step["attached"]))
    elif "loaded" in step:
        program = LoadedProgram.from_dict(step["loaded"])
        if backend.exists(program):
            backend.unload(program)
    else:
        attacher.undo(step)


# ---------------------------------------------------------------- the loader


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """The node as the agent sees it."""

    name: str
    labels: Mapping[str, str]
    xdp_modes: Mapping[str, str] = field(default_factory=dict)
    xdp_default_mode: str = "auto"

    def xdp_mode(self, interface: str) -> str:
        """The XDP attach mode of ``interface``."""
        return self.xdp_modes.get(interface, self.xdp_default_mode)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything decided about one attach point before the kernel is touched."""

    program: api.Program
    point: node.AttachPoint
    bpfprogram: str
    digest: str
    pin_dir: str
    maps_dir: str
    map_owner: str | None = None


@dataclass(frozen=True, slots=True)
class _Made:
    """What one attach point's work made."""

    program: LoadedProgram
    links: tuple[LinkRecord, ...]
    detail: Mapping[str, Any]


class Loader:
    """Applies and deletes objects on this node.

    Args:
        backend: the kernel.
        store: the state store (its lock serialises every change).
        discovery: interfaces, libraries and symbols of this node.
        identity: node name, labels, XDP modes.
        bpffs_root: the directory bpftui pins under.
        clock: seconds since the epoch.
        bytecode: finds an object's ELF file.
        attacher: XDP/TC attachment; by default :func:`default_hook_attacher`.
        tidy_dirs: remove emptied pin directories (off for the demo, whose
            pins are not files).
    """

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        discovery: Discovery,
        identity: NodeIdentity,
        *,
        bpffs_root: str,
        clock: Clock,
        bytecode: BytecodeResolver = resolve_bytecode_file,
        attacher: HookAttacher | None = None,
        tidy_dirs: bool = True,
    ) -> None:
        self.backend = backend
        self.store = store
        self.discovery = discovery
        self.identity = identity
        self.layout = PinLayout(bpffs_root)
        self.clock = clock
        self.bytecode = bytecode
        self.attacher = attacher or default_hook_attacher(
            backend,
            holders=self.hook_holders,
            known=self.known_programs,
            owns_clsact=self.owns_clsact,
            bpffs_root=bpffs_root,
        )
        self.tidy_dirs = tidy_dirs

    # ------------------------------------------------------------ apply

    def apply(self, programs: Sequence[api.Program]) -> list[Attachment]:
        """Make ``programs`` real; return the attachments of each, in order.

        Unchanged objects whose programs are in the kernel are left alone;
        a changed object is taken down and made again; attach points that
        failed before are tried again.
        """
        refs = ", ".join(f"{p.kind}/{p.metadata.name}" for p in programs)
        with self.store.lock.hold(f"apply {refs}"[:200]):
            self.recover()
            results: dict[tuple[str, str], list[Attachment]] = {}
            for program in _owners_first(programs):
                key = (program.kind, program.metadata.name)
                results[key] = self._apply_one(program)
            return [a for p in programs for a in results[(p.kind, p.metadata.name)]]

    def restore(self) -> list[Attachment]:
        """Apply every desired object again (after a reboot emptied bpffs)."""
        with self.store.lock.hold("restore"):
            self.recover()
            stored = [s for s in self.store.objects() if not s.deleting]
            return self.apply([s.program() for s in stored])

    def _apply_one(self, program: api.Program) -> list[Attachment]:
        kind, name = program.kind, program.metadata.name
        self.layout.object_dir(kind, name)  # refuses an unusable name early
        digest = object_digest(program)
        stored = self.store.get_object(kind, name)
        if stored is not None and stored.digest != digest:
            log.info("%s/%s changed: reloading", kind, name)
            self._take_down(kind, name)
        self.store.put_object(kind, name, api.to_dict(program), digest, self.clock())
        points = self._points(program)
        wanted = {p.value for p in points}
        for old in self.store.attachments(kind, name):
            if old.attach_point not in wanted:
                self._unmake(old)
        return [self._apply_point(program, point, digest) for point in points]

    def _points(self, program: api.Program) -> tuple[node.AttachPoint, ...]:
        needs_primary = (
            isinstance(program.spec, api.XdpProgramSpec | api.TcProgramSpec)
            and not program.spec.interfaceselector.interfaces
        )
        primary = self.discovery.primary_interface() if needs_primary else None
        return node.attach_points(program, primary_interface=primary)

    def _apply_point(
        self, program: api.Program, point: node.AttachPoint, digest: str
    ) -> Attachment:
        plan = self._plan(program, point, digest)
        existing = self._existing(program, point)
        skip, owner_dir = self._skip(program)
        if skip is not None:
            if existing is not None and existing.program is not None:
                self._unmake(existing)
            return self._record_skip(plan, skip, existing)
        if existing is not None and self._still_good(existing, digest):
            return existing
        if existing is not None and existing.program is not None:
            self._unmake(existing)
        if owner_dir is not None:
            plan = replace(plan, maps_dir=owner_dir[0], map_owner=owner_dir[1])
        return self._make(plan, existing)

    def _plan(
        self, program: api.Program, point: node.AttachPoint, digest: str
    ) -> _Plan:
        kind, name = program.kind, program.metadata.name
        pin_dir = self.layout.point_dir(kind, name, point)
        return _Plan(
            program=program,
            point=point,
            bpfprogram=node.bpfprogram_name(name, self.identity.name, point),
            digest=digest,
            pin_dir=pin_dir,
            maps_dir=f"{pin_dir}/{MAPS_DIR}",
        )

    def _existing(
        self, program: api.Program, point: node.AttachPoint
    ) -> Attachment | None:
        found = self.store.attachments(program.kind, program.metadata.name)
        return next((a for a in found if a.attach_point == point.value), None)

    def _still_good(self, existing: Attachment, digest: str) -> bool:
        if existing.digest != digest or existing.condition_type is not NodeType.LOADED:
            return False
        return self._in_kernel(existing)

    def _in_kernel(self, attachment: Attachment) -> bool:
        records: list[LoadedProgram | LinkRecord] = list(attachment.links)
        if attachment.program is not None:
            records.insert(0, attachment.program)
        return bool(records) and all(self.backend.exists(r) for r in records)

    # ------------------------------------------------------------ skipping

    def _skip(
        self, program: api.Program
    ) -> tuple[node.Skip | None, tuple[str, str] | None]:
        """Why not to load, or the map owner's (maps dir, name) to share."""
        match = node.find_map_owner(
            program.spec.mapownerselector, self._candidates(program)
        )
        skip = node.skip_reason(
            deleting=False,
            selected=node.is_selected(program, self.identity.labels),
            no_containers=node.wants_containers(program),
            map_owner=match,
        )
        if skip is not None or match.owner is None:
            return skip, None
        return None, (match.owner.maps_dir or "", match.owner.name)

    def _candidates(self, program: api.Program) -> list[node.Candidate]:
        labels_of = {s.ref: _labels(s) for s in self.store.objects()}
        me = f"{program.kind}/{program.metadata.name}"
        return [
            node.Candidate(
                name=a.bpfprogram,
                owner=a.ref,
                labels={
                    **labels_of.get(a.ref, {}),
                    **node.bpfprogram_labels(a.name, self.identity.name),
                },
                loaded=a.condition_type is NodeType.LOADED,
                maps_dir=a.maps_dir,
            )
            for a in self.store.attachments()
            if a.ref != me
        ]

    def _record_skip(
        self, plan: _Plan, skip: node.Skip, existing: Attachment | None
    ) -> Attachment:
        attachment = self._attachment(plan, skip.type, skip.message, existing)
        self.store.put_attachment(attachment)
        return attachment

    # ------------------------------------------------------------ making

    def _make(self, plan: _Plan, existing: Attachment | None) -> Attachment:
        key = (plan.program.kind, plan.program.metadata.name, plan.point.value)
        planned = {"pin_dir": plan.pin_dir, "maps_dir": plan.maps_dir}
        work = _Work(self.store, self.store.begin("attach", key, planned))
        try:
            self._private_dirs(plan.pin_dir, plan.maps_dir)
            made = self._load_and_attach(plan, work)
        except BpftuiError as err:
            return self._failed(plan, work, err, existing)
        except Exception as err:
            # A bug of ours must not leave half an attach point behind.
            log.warning("%s: unexpected error", plan.bpfprogram, exc_info=True)
            internal = BpftuiError(f"internal error: {type(err).__name__}: {err}")
            return self._failed(plan, work, internal, existing)
        message = f"loaded as program {made.program.id}"
        attachment = self._attachment(plan, NodeType.LOADED, message, existing)
        attachment = replace(
            attachment,
            program=made.program,
            links=made.links,
            detail={**attachment.detail, **made.detail},
        )
        self.store.finish(work.intent_id, put=attachment)
        log.info("%s on %s: %s", attachment.ref, plan.point.value, message)
        return attachment

    def _private_dirs(self, *paths: str) -> None:
        """Make the pin directories 0700 before the kernel pins into them.

        Only directories under the bpffs root are made here; one that cannot
        be made (bpffs not mounted yet) is left for the backend to make.
        """
        if not self.tidy_dirs:
            return
        root = self.layout.root.rstrip("/")
        for path in paths:
            if path.startswith(root + "/"):
                make_private_dirs(root, path)

    def _failed(
        self,
        plan: _Plan,
        work: _Work,
        err: BpftuiError,
        existing: Attachment | None,
    ) -> Attachment:
        leftovers = undo_steps(self.backend, self.attacher, work.steps)
        leftovers += self._sweep(plan.pin_dir, plan.maps_dir)
        ctype, message = failure_condition(plan.program, err)
        if leftovers:
            message += "; rolling back also failed: " + "; ".join(leftovers)
        attachment = replace(
            self._attachment(plan, ctype, message, existing),
            verifier_log=err.log if isinstance(err, VerifierError) else None,
        )
        self.store.finish(work.intent_id, put=attachment)
        log.info("%s on %s: %s: %s", attachment.ref, plan.point.value, ctype, message)
        return attachment

    def _load_and_attach(self, plan: _Plan, work: _Work) -> _Made:
        spec = self._load_spec(plan)
        hook = self._hook(plan.program, plan.point)
        if hook is not None:
            hooked = self.attacher.attach(self._hook_request(plan, spec, hook), work)
            detail = {**hooked.detail, "hook": hook_dict(hook)}
            return _Made(hooked.program, hooked.links, detail)
        loaded = self.backend.load(spec)
        work.loaded(loaded)
        links, detail = self._attach_other(plan, loaded, spec)
        for link in links:
            work.attached(link)
        return _Made(loaded, links, detail)

    def _load_spec(self, plan: _Plan) -> LoadSpec:
        program = plan.program
        spec = program.spec
        attach_func = (
            spec.func_name
            if isinstance(spec, api.FentryProgramSpec | api.FexitProgramSpec)
            else None
        )
        return LoadSpec(
            object_path=self.bytecode(program),
            function=spec.bpffunctionname,
            prog_type=node.PROG_TYPES[program.kind],
            pin_path=f"{plan.pin_dir}/{PROG_PIN}",
            map_pin_dir=plan.maps_dir,
            globaldata=dict(spec.globaldata),
            attach_func=attach_func,
        )

    def _attach_other(
        self, plan: _Plan, loaded: LoadedProgram, load: LoadSpec
    ) -> tuple[tuple[LinkRecord, ...], dict[str, Any]]:
        spec = plan.program.spec
        link_pin = f"{plan.pin_dir}/{LINK_PIN}"
        if isinstance(spec, api.TracepointProgramSpec):
            category, _, name = plan.point.value.partition("/")
            link = self.backend.attach_tracepoint(
                loaded, category, name, link_pin=link_pin
            )
            return (link,), {}
        if isinstance(spec, api.KprobeProgramSpec):
            link = self.backend.attach_kprobe(
                loaded, spec.func_name, spec.offset, spec.retprobe, link_pin=link_pin
            )
            return (link,), {"retprobe": spec.retprobe}
        if isinstance(spec, api.UprobeProgramSpec):
            return self._attach_uprobe(spec, loaded, link_pin)
        link = self.backend.attach_tracing(loaded, link_pin=link_pin)
        return (link,), {"func_name": load.attach_func}

    def _attach_uprobe(
        self, spec: api.UprobeProgramSpec, loaded: LoadedProgram, link_pin: str
    ) -> tuple[tuple[LinkRecord, ...], dict[str, Any]]:
        path, offset = self._uprobe_target(spec)
        link = self.backend.attach_uprobe(
            loaded, path, offset, spec.retprobe, spec.pid, link_pin=link_pin
        )
        detail = {"path": path, "offset": offset, "retprobe": spec.retprobe}
        return (link,), detail

    def _uprobe_target(self, spec: api.UprobeProgramSpec) -> tuple[str, int]:
        """The binary's path and the probe's file offset."""
        path = spec.target
        if not os.path.isabs(path):
            path = self.discovery.resolve_library(path)
        if not spec.func_name:
            return path, spec.offset
        for symbol in self.discovery.symbols(path):
            if symbol.name == spec.func_name:
                return path, symbol.offset + spec.offset
        raise InputError(
            f"uprobe func_name '{spec.func_name}': no such function in {path}",
            hint=f"'bpftui list symbols {spec.target}' lists them",
        )

    def _hook(self, program: api.Program, point: node.AttachPoint) -> Hook | None:
        spec = program.spec
        if not isinstance(spec, api.XdpProgramSpec | api.TcProgramSpec):
            return None
        if point.problem:
            raise InputError(f"{program.kind}/{program.metadata.name}: {point.problem}")
        index = self._ifindex(point.value)
        if isinstance(spec, api.TcProgramSpec):
            return Hook(HookKind.TC, index, point.value, spec.direction)
        return Hook(HookKind.XDP, index, point.value)

    def _ifindex(self, name: str) -> int:
        for view in self.discovery.interfaces():
            if view.name == name and not view.netns:
                return view.index
        raise InputError(
            f"interface '{name}': not found on this node",
            hint="'bpftui list interfaces' shows them",
        )

    def _hook_request(self, plan: _Plan, spec: LoadSpec, hook: Hook) -> HookRequest:
        program_spec = plan.program.spec
        assert isinstance(program_spec, api.XdpProgramSpec | api.TcProgramSpec)
        return HookRequest(
            hook=hook,
            key=plan.bpfprogram,
            owner=f"{plan.program.kind}/{plan.program.metadata.name}",
            spec=spec,
            priority=program_spec.priority,
            proceedon=tuple(program_spec.proceedon),
            xdp_mode=self.identity.xdp_mode(hook.ifname),
            link_pin=f"{plan.pin_dir}/{LINK_PIN}",
        )

    def _attachment(
        self,
        plan: _Plan,
        ctype: NodeType,
        message: str,
        existing: Attachment | None,
    ) -> Attachment:
        since = self.clock()
        if existing is not None and existing.condition.type == ctype:
            at = existing.condition.lastTransitionTime
        else:
            at = rfc3339(since)
        detail: dict[str, Any] = {}
        if plan.map_owner:
            detail["map_owner"] = plan.map_owner
        return Attachment(
            kind=plan.program.kind,
            name=plan.program.metadata.name,
            attach_point=plan.point.value,
            bpfprogram=plan.bpfprogram,
            prog_type=node.PROG_TYPES[plan.program.kind],
            condition=node.node_condition(ctype, at, message),
            digest=plan.digest,
            pin_dir=plan.pin_dir,
            maps_dir=plan.maps_dir,
            detail=detail,
        )

    # ------------------------------------------------------------ unmaking

    def delete(self, refs: Sequence[tuple[str, str]]) -> list[str]:
        """Detach, unload and unpin everything the objects made.

        Returns the ``Kind/name`` of each object deleted; refs not applied on
        this node are left out.

        Raises:
            StateError: some object could not be taken down completely; it
                stays with the DeleteError condition and can be deleted again.
        """
        done: list[str] = []
        failures: list[str] = []
        with self.store.lock.hold("delete " + ", ".join(f"{k}/{n}" for k, n in refs)):
            self.recover()
            for kind, name in refs:
                if self.store.get_object(kind, name) is None:
                    continue
                error = self._delete_one(kind, name)
                if error is None:
                    done.append(f"{kind}/{name}")
                else:
                    failures.append(error)
        if failures:
            raise StateError(failures[0], hint="run the delete again once fixed")
        return done

    def _delete_one(self, kind: str, name: str) -> str | None:
        self.store.set_deleting(kind, name)
        problems = self._take_down(kind, name)
        if problems:
            message = f"{kind}/{name}: delete failed: " + "; ".join(problems)
            self.store.set_deleting(kind, name, message)
            return message
        self.store.remove_object(kind, name)
        log.info("%s/%s deleted", kind, name)
        return None

    def _take_down(self, kind: str, name: str) -> list[str]:
        problems: list[str] = []
        for attachment in reversed(self.store.attachments(kind, name)):
            problem = self._unmake(attachment)
            if problem:
                problems.append(problem)
        return problems

    def _unmake(self, attachment: Attachment) -> str | None:
        """Take one attach point out of the kernel; return a problem or None."""
        key = (attachment.kind, attachment.name, attachment.attach_point)
        intent = self.store.begin("detach", key, {"attachment": attachment.to_dict()})
        work = _Work(self.store, intent)
        try:
            self._detach(attachment, work)
        except BpftuiError as err:
            failed = replace(
                attachment,
                condition=node.node_condition(
                    NodeType.NOT_UNLOADED, rfc3339(self.clock()), str(err)
                ),
            )
            self.store.finish(intent, put=failed)
            return f"{attachment.attach_point}: {err}"
        self._sweep(attachment.pin_dir, attachment.maps_dir)
        self.store.finish(intent, remove=key)
        return None

    def _detach(self, attachment: Attachment, work: _Work) -> None:
        if attachment.program is None:
            return
        if attachment.prog_type in ("xdp", "tc"):
            self.attacher.detach(hooked_of(attachment), work)
            return
        for link in reversed(attachment.links):
            self.backend.detach(link)
        if self.backend.exists(attachment.program):
            self.backend.unload(attachment.program)

    def _sweep(self, pin_dir: str | None, maps_dir: str | None) -> list[str]:
        """Unpin what is left in an attach point's directory, then remove it.

        After a crash a pin can exist that no journaled step names (the
        process died between the syscall and the journal write); the pin
        directory belongs to this attach point alone, so whatever is in it
        goes. Map pins stay while another attach point shares them.
        """
        if not pin_dir:
            return []
        shared = maps_dir and any(
            a.maps_dir == maps_dir and a.pin_dir != pin_dir
            for a in self.store.attachments()
        )
        problems: list[str] = []
        for path in self._pins_under(pin_dir):
            if shared and maps_dir and path.startswith(maps_dir + "/"):
                continue
            try:
                self._unpin(path)
            except (BpftuiError, OSError) as err:
                problems.append(f"unpin {path}: {err}")
        self._tidy(pin_dir, maps_dir)
        return problems

    def _pins_under(self, directory: str) -> list[str]:
        listing = getattr(self.backend, "pins", None)
        if not self.tidy_dirs and callable(listing):
            found = [p for p in listing() if p.startswith(directory + "/")]
        else:
            found = [
                os.path.join(top, name)
                for top, _, files in os.walk(directory)
                for name in files
            ]
        # Links first (unpinning one detaches it), then programs, then maps.
        order = {LINK_PIN: 0, PROG_PIN: 1}
        return sorted(found, key=lambda p: (order.get(os.path.basename(p), 2), p))

    def _unpin(self, path: str) -> None:
        unpin = getattr(self.backend, "unpin", None)
        if callable(unpin):
            unpin(path)
        else:
            os.unlink(path)

    def _tidy(self, *dirs: str | None) -> None:
        """Remove pin directories this loader made once they are empty."""
        if not self.tidy_dirs:
            return
        root = self.layout.root.rstrip("/")
        for start in dirs:
            path = start
            while path and path.startswith(root + "/"):
                try:
                    os.rmdir(path)
                except OSError:
                    break
                path = os.path.dirname(path)

    # ------------------------------------------------------------ recovery

    def recover(self) -> list[str]:
        """Finish what a killed process left: undo half-made attach points,
        complete half-done detaches and deletes. Call with the lock held."""
        notes = [self._recover_one(intent) for intent in self.store.pending()]
        for stored in self.store.objects():
            if stored.deleting and stored.delete_error is None:
                notes.append(self._finish_delete(stored))
        for note in notes:
            log.warning("recovery: %s", note)
        return notes

    def recover_if_idle(self) -> list[str]:
        """Recover when a killed process left work and no one holds the lock.

        For readers (``status``, the TUI): work left in the store while the
        lock is free can only be a dead process's. Returns what was done;
        nothing when there was nothing to do or the lock is busy (its holder
        recovers before it changes anything).
        """
        if not self._left_behind():
            return []
        try:
            with self.store.lock.hold("recover", timeout=0):
                return self.recover()
        except StateError as err:
            log.info("recovery left to the lock holder: %s", err)
            return []

    def _left_behind(self) -> bool:
        return bool(self.store.pending()) or any(
            s.deleting and s.delete_error is None for s in self.store.objects()
        )

    def _finish_delete(self, stored: StoredObject) -> str:
        error = self._delete_one(stored.kind, stored.name)
        if error is not None:
            return f"{stored.ref}: completing an interrupted delete failed: {error}"
        return f"{stored.ref}: completed an interrupted delete"

    def _recover_one(self, intent: Intent) -> str:
        if intent.op == "detach":
            return self._recover_detach(intent)
        return self._recover_attach(intent)

    def _recover_detach(self, intent: Intent) -> str:
        key = (intent.kind, intent.name, intent.attach_point)
        where = f"{intent.kind}/{intent.name} on {intent.attach_point}"
        attachment = Attachment.from_dict(intent.planned["attachment"])
        work = _Work(self.store, intent.id)
        # Hooks a killed change left half-swapped first, then the detach again.
        problems = undo_steps(self.backend, self.attacher, intent.steps)
        try:
            self._detach(attachment, work)
        except BpftuiError as err:
            problems.append(str(err))
        if problems:
            message = "; ".join(problems)
            condition = node.node_condition(
                NodeType.NOT_UNLOADED, rfc3339(self.clock()), message
            )
            self.store.finish(intent.id, put=replace(attachment, condition=condition))
            return f"{where}: completing an interrupted delete failed: {message}"
        self._sweep(attachment.pin_dir, attachment.maps_dir)
        self.store.finish(intent.id, remove=key)
        return f"{where}: completed a delete interrupted in pid {intent.pid}"

    def _recover_attach(self, intent: Intent) -> str:
        where = f"{intent.kind}/{intent.name} on {intent.attach_point}"
        leftovers = undo_steps(self.backend, self.attacher, intent.steps)
        leftovers += self._sweep(
            intent.planned.get("pin_dir"), intent.planned.get("maps_dir")
        )
        message = (
            f"interrupted: bpftui pid {intent.pid} stopped while attaching; "
            "what it had made was rolled back; apply again to retry"
        )
        if leftovers:
            message += "; rolling back failed: " + "; ".join(leftovers)
        self.store.finish(intent.id, put=self._interrupted(intent, message))
        return f"{where}: {message}"

    def _interrupted(self, intent: Intent, message: str) -> Attachment | None:
        stored = self.store.get_object(intent.kind, intent.name)
        if stored is None:
            return None
        point = next(
            (p for p in self.points_of(stored) if p.value == intent.attach_point),
            node.AttachPoint("function", intent.attach_point),
        )
        plan = self._plan(stored.program(), point, stored.digest)
        return self._attachment(plan, NodeType.NOT_LOADED, message, None)

    def points_of(self, stored: StoredObject) -> tuple[node.AttachPoint, ...]:
        """The attach points a stored object has on this node now (none when
        they cannot be worked out, such as an unreadable object)."""
        try:
            return self._points(stored.program())
        except BpftuiError:
            return ()

    # ------------------------------------------------------------ checking

    def vanished(self) -> list[Attachment]:
        """Loaded attachments whose program or links the kernel no longer has."""
        return [
            a
            for a in self.store.attachments()
            if a.condition_type is NodeType.LOADED and not self._in_kernel(a)
        ]

    def reconcile(self) -> list[Attachment]:
        """Record every vanished program as NotLoaded; return them."""
        with self.store.lock.hold("reconcile"):
            gone = self.vanished()
            for attachment in gone:
                self.store.put_attachment(mark_vanished(attachment, self.clock()))
        return gone

    def known_programs(self) -> dict[int, str]:
        """Program id -> ``Kind/name`` of every program bpftui loaded."""
        return {a.program.id: a.ref for a in self.store.attachments() if a.program}

    def owns_clsact(self, ifindex: int) -> bool:
        """Whether a TC program of bpftui's made the clsact qdisc of ifindex."""
        return any(
            a.prog_type == "tc"
            and a.detail.get("qdisc_created")
            and _hook_of(a)[0] == ifindex
            for a in self.store.attachments()
        )

    def hook_holders(self, hook: Hook) -> list[str]:
        """BpfProgram names of bpftui's loaded programs on a hook."""
        return [
            a.bpfprogram
            for a in self.store.attachments()
            if a.program is not None
            and a.prog_type == hook.kind.value
            and _hook_of(a) == (hook.ifindex, hook.direction)
        ]


# ---------------------------------------------------------------- helpers


def make_private_dirs(root: str, path: str) -> None:
    """Make ``path`` and the directories between it and ``root`` (``root``
    too), each 0700 whatever the umask; tighten ``root`` to 0700 when it is
    bpftui's own directory, not a mount point. Errors are left to whoever
    pins next to report."""
    chain = [path]
    while chain[-1] != root and chain[-1].startswith(root + "/"):
        chain.append(os.path.dirname(chain[-1]))
    try:
        for directory in reversed(chain):
            if not os.path.isdir(directory):
                os.mkdir(directory, 0o700)
                os.chmod(directory, 0o700)
        _tighten_root(root)
    except OSError as err:
        log.info("pin directory %s: left to the backend: %s", path, err.strerror)


def _tighten_root(root: str) -> None:
    info = os.stat(root)
    if (
        info.st_mode & 0o077
        and info.st_uid == os.geteuid()
        and not os.path.ismount(root)
    ):
        log.info("%s: made readable by its owner only (0700)", root)
        os.chmod(root, 0o700)


def failure_condition(program: api.Program, err: BpftuiError) -> tuple[NodeType, str]:
    """The condition and message a failed load or attach gets."""
    if isinstance(err, ImageError):
        wanted = getattr(err, "condition", "BytecodeSelectorError")
        return NodeType(wanted), str(err)
    prog_type = node.PROG_TYPES[program.kind]
    if isinstance(err, NotSupported):
        return NodeType.NOT_LOADED, str(err)
    if (
        isinstance(err, KernelError)
        and not isinstance(err, VerifierError)
        and prog_type in _REFUSABLE_TYPES
        and err.errno in _REFUSALS
    ):
        feature = TYPE_FEATURES[prog_type]
        refused = NotSupported(feature, needs=FEATURE_NEEDS[feature], detail=str(err))
        return NodeType.NOT_LOADED, str(refused)
    return NodeType.NOT_LOADED, str(err)


def mark_vanished(attachment: Attachment, now: float) -> Attachment:
    """An attachment whose program the kernel lost, as NotLoaded."""
    ident = attachment.program.id if attachment.program else "?"
    pin = attachment.program.pin_path if attachment.program else attachment.pin_dir
    message = (
        f"program {ident} vanished from the kernel ({pin} is gone: a reboot, "
        "or someone removed it); run 'bpftui restore' or apply again"
    )
    condition = node.node_condition(NodeType.NOT_LOADED, rfc3339(now), message)
    return replace(attachment, condition=condition)


def hooked_of(attachment: Attachment) -> Hooked:
    """The :class:`Hooked` an XDP or TC attachment was recorded from."""
    assert attachment.program is not None
    ifindex, direction = _hook_of(attachment)
    kind = HookKind.TC if attachment.prog_type == "tc" else HookKind.XDP
    hook = Hook(kind, ifindex or 0, attachment.attach_point, direction)
    return Hooked(
        hook,
        attachment.bpfprogram,
        attachment.program,
        attachment.links,
        attachment.detail,
    )


def _hook_of(attachment: Attachment) -> tuple[int | None, str | None]:
    hook = attachment.detail.get("hook") or {}
    return hook.get("ifindex"), hook.get("direction")


def _labels(stored: StoredObject) -> Mapping[str, str]:
    labels = stored.doc.get("metadata", {}).get("labels", {})
    return labels if isinstance(labels, Mapping) else {}


def _owners_first(programs: Iterable[api.Program]) -> list[api.Program]:
    """Programs without a map owner first, so owners load before sharers."""
    return sorted(
        programs,
        key=lambda p: not node.selector_is_empty(p.spec.mapownerselector),
    )
