"""apply, delete and status on the in-memory kernel: the whole agent flow."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from bpftui.core import api
from bpftui.core.demo import DemoBackend
from bpftui.core.demo_discovery import DemoDiscovery
from bpftui.core.errors import KernelError, StateError
from bpftui.core.loader import NodeIdentity, point_component, resolve_bytecode_file
from bpftui.core.node import AttachPoint
from bpftui.core.node_session import NodeSession, demo_chains, demo_session
from bpftui.core.state import StateStore

NOW = 1_767_225_600.0
NODE = "node-1"
LABELS = {"kubernetes.io/hostname": NODE, "zone": "a"}
ROOT = "/sys/fs/bpf/bpftui"
CLOSE = "syscalls/sys_enter_close"


class Killed(BaseException):
    """Stands for SIGKILL: nothing of bpftui's catches it."""


def _doc(kind, name, labels=None, **spec):
    return {
        "apiVersion": "bpfman.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {"bpffunctionname": "count", "nodeselector": {}}
        | {"bytecode": {"path": f"/opt/{name}.o"}}
        | spec,
    }


def tracepoint(name="opens", names=("syscalls/sys_enter_openat",), **spec):
    return _doc("TracepointProgram", name, names=list(names), **spec)


def xdp(name, priority=50, interfaces=None, **spec):
    selector = (
        {"interfaces": interfaces} if interfaces else {"primarynodeinterface": True}
    )
    return _doc(
        "XdpProgram", name, priority=priority, interfaceselector=selector, **spec
    )


def _session(store=None, backend=None, **backend_kw):
    holder = {}
    discovery = DemoDiscovery(chains=lambda iface: demo_chains(holder, iface))
    interfaces = {i.index: i.name for i in discovery.interfaces() if not i.netns}
    kernel = backend or DemoBackend(
        clock=lambda: NOW, interfaces=interfaces, **backend_kw
    )
    holder["session"] = NodeSession(
        kernel,
        store or StateStore.in_memory(clock=lambda: NOW),
        discovery,
        NodeIdentity(NODE, LABELS),
        bpffs_root=ROOT,
        clock=lambda: NOW,
        bytecode=lambda p: p.spec.bytecode.path or "/images/x.o",
        tidy_dirs=False,
    )
    return holder["session"]


@pytest.fixture
def session():
    return _session()


def _types(views):
    return [v.condition.type for v in views]


def _ours(backend):
    return [p for p in backend.pins() if p.startswith(ROOT)]


# ---------------------------------------------------------------- apply


def test_tracepoints_load_one_bpfprogram_per_name(session):
    views = session.apply([tracepoint(names=["a/b", CLOSE])])
    assert _types(views) == ["Loaded", "Loaded"]
    first, second = views
    assert first.name == "opens-node-1-a-b"
    assert second.name == "opens-node-1-syscalls-sys-enter-close"
    assert first.labels == {
        "bpfman.io/ownedByProgram": "opens",
        "kubernetes.io/hostname": NODE,
    }
    assert first.annotations == {"bpfman.io/ProgramId": str(first.program_id)}
    assert first.condition.reason == "bpfmanLoaded"
    assert first.condition.last_transition_time == "2026-01-01T00:00:00Z"
    points = [point_component(AttachPoint("tracepoint", n)) for n in ("a/b", CLOSE)]
    assert points[0].startswith("a-b-") and points[1].startswith("syscalls-sys-")
    assert _ours(session.backend) == sorted(
        f"{ROOT}/tracepointprogram/opens/{point}/{pin}"
        for point in points
        for pin in ("link", "maps/counters", "prog")
    )
    (status,) = session.status()
    assert status.condition.type == "ReconcileSuccess"
    assert [bp.name for bp in status.bpfprograms] == [first.name, second.name]


def test_reapplying_an_unchanged_object_changes_nothing(session):
    first = session.apply([tracepoint()])
    programs = session.kernel_programs()
    again = session.apply([tracepoint()])
    assert [v.program_id for v in again] == [v.program_id for v in first]
    assert session.kernel_programs() == programs
    assert again[0].condition == first[0].condition


def test_a_changed_object_is_reloaded(session):
    (old,) = session.apply([tracepoint()])
    (new,) = session.apply([tracepoint(bpffunctionname="count2")])
    assert new.condition.type == "Loaded"
    assert new.program_id != old.program_id
    ids = {p.id for p in session.kernel_programs()}
    assert old.program_id not in ids and new.program_id in ids
    assert len(_ours(session.backend)) == 3


def test_a_label_change_relabels_without_reloading(session):
    (old,) = session.apply([tracepoint()])
    (new,) = session.apply([tracepoint(labels={"app": "x"})])
    assert new.program_id == old.program_id
    assert session.status()[0].obj.metadata.labels == {"app": "x"}


def test_dropped_attach_points_are_taken_down(session):
    session.apply([tracepoint(names=["a/b", "c/d"])])
    views = session.apply([tracepoint(names=["a/b"])])
    assert [v.attach_point for v in views] == ["a/b"]
    assert [bp.attach_point for bp in session.status()[0].bpfprograms] == ["a/b"]
    assert len(_ours(session.backend)) == 3


def test_delete_leaves_nothing(session):
    before = session.backend.pins()
    session.apply([tracepoint(), xdp("edge"), _uprobe("up")])
    assert session.delete(["tracepoint/opens", "XdpProgram/edge", "uprobe/up"]) == [
        "TracepointProgram/opens",
        "XdpProgram/edge",
        "UprobeProgram/up",
    ]
    assert session.backend.pins() == before
    assert session.status() == []
    assert [p.name for p in session.kernel_programs()] == [
        p.name for p in session.kernel_programs() if session.owner_of(p.id) is None
    ]


def test_delete_of_what_is_not_applied_deletes_nothing(session):
    assert session.delete(["xdp/nothing"]) == []


# ---------------------------------------------------------------- conditions


def test_not_selected_loads_nothing(session):
    doc = tracepoint(nodeselector={"matchLabels": {"zone": "b"}})
    (view,) = session.apply([doc])
    assert view.condition.type == "NotSelected"
    assert view.program_id is None
    assert _ours(session.backend) == []
    assert session.status()[0].condition.type == "ReconcileSuccess"


def test_a_node_that_stops_matching_unloads(session):
    session.apply([tracepoint(nodeselector={"matchLabels": {"zone": "a"}})])
    session.loader.identity = NodeIdentity(NODE, {"zone": "b"})
    (view,) = session.apply([tracepoint(nodeselector={"matchLabels": {"zone": "a"}})])
    assert view.condition.type == "NotSelected"
    assert _ours(session.backend) == []


def test_containers_give_no_containers_on_node(session):
    (view,) = session.apply([_uprobe("up", containers={"pods": {}})])
    assert view.condition.type == "NoContainersOnNode"


def test_verifier_failure_keeps_the_log_and_leaves_nothing(session):
    (view,) = session.apply([tracepoint(bpffunctionname="bad_count")])
    assert view.condition.type == "NotLoaded"
    assert "Permission denied" in view.condition.message
    assert "invalid access to packet" in view.verifier_log
    assert _ours(session.backend) == []
    assert session.status()[0].condition.type == "ReconcileError"


def test_globaldata_size_mismatch_names_both_sizes(session):
    (view,) = session.apply([tracepoint(globaldata={"GLOBAL_u32": [1, 2]})])
    assert view.condition.type == "NotLoaded"
    assert "GLOBAL_u32: 2 bytes given" in view.condition.message
    assert "is 4 bytes" in view.condition.message


def test_a_failed_attach_rolls_back_the_load(session):
    session.backend.fail_next["attach_tracepoint"] = KernelError(
        "tracepoint a/b", "attach", errno.ENOENT
    )
    (view,) = session.apply([tracepoint()])
    assert view.condition.type == "NotLoaded"
    assert "No such file or directory" in view.condition.message
    assert _ours(session.backend) == []
    assert session.store.pending() == []
    # an unchanged object is tried again
    (again,) = session.apply([tracepoint()])
    assert again.condition.type == "Loaded"


def test_one_failing_attach_point_keeps_the_others(session):
    real = session.backend.attach_tracepoint

    def flaky(program, category, name, **kw):
        if name == "bad":
            raise KernelError(f"tracepoint {category}/{name}", "attach", errno.ENOENT)
        return real(program, category, name, **kw)

    session.backend.attach_tracepoint = flaky
    views = session.apply([tracepoint(names=["a/good", "a/bad"])])
    assert _types(views) == ["Loaded", "NotLoaded"]
    assert all("/a-bad/" not in p for p in _ours(session.backend))
    assert session.status()[0].condition.type == "ReconcileError"


@pytest.mark.parametrize(
    ("kind", "spec", "feature", "needs"),
    [
        ("KprobeProgram", {"func_name": "try_to_wake_up"}, "kprobes", "CONFIG_KPROBES"),
        ("FentryProgram", {"func_name": "do_unlinkat"}, "fentry", "lockdown"),
        ("FexitProgram", {"func_name": "do_unlinkat"}, "fexit", "lockdown"),
    ],
)
def test_a_refused_type_is_not_loaded_naming_the_capability(kind, spec, feature, needs):
    session = _session(unsupported=[feature])
    (view,) = session.apply([_doc(kind, "p", **spec)])
    assert view.condition.type == "NotLoaded"
    assert f"{feature} is not supported here" in view.condition.message
    assert needs in view.condition.message


def test_eperm_from_the_kernel_names_the_capability(session):
    session.backend.fail_next["load"] = KernelError(
        "program 'count'", "load", errno.EPERM
    )
    (view,) = session.apply([_doc("FentryProgram", "p", func_name="do_unlinkat")])
    assert view.condition.type == "NotLoaded"
    assert "fentry is not supported here" in view.condition.message
    assert "Operation not permitted" in view.condition.message
    assert "lockdown" in view.condition.message


def test_images_without_the_images_helper_are_a_bytecode_selector_error(session):
    session.loader.bytecode = lambda p: resolve_bytecode_file(p, None)
    doc = tracepoint()
    doc["spec"]["bytecode"] = {"image": {"url": "quay.io/x/y:latest"}}
    (view,) = session.apply([doc])
    assert view.condition.type == "BytecodeSelectorError"
    assert "quay.io/x/y:latest" in view.condition.message


def _writable(directory):
    path = directory / "x.o"
    path.write_bytes(b"\x7fELF")
    path.chmod(0o666)
    return path


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: str(d / "missing.o"), "No such file"),
        (lambda d: d, "not a regular file"),
        (_writable, "writable by every user"),
    ],
)
def test_bytecode_paths_are_checked(tmp_path, setup, message):
    path = setup(tmp_path)
    doc = api.from_dict(tracepoint(bytecode={"path": str(path)}))
    with pytest.raises(Exception, match=message):
        resolve_bytecode_file(doc)


# ---------------------------------------------------------------- uprobes


def _uprobe(name, **spec):
    return _doc(
        "UprobeProgram", name, **({"target": "libc", "func_name": "malloc"} | spec)
    )


def test_uprobe_target_and_function_are_resolved(session):
    (view,) = session.apply([_uprobe("up", offset=4)])
    assert view.condition.type == "Loaded"
    symbol = next(s for s in session.discovery.symbols("libc") if s.name == "malloc")
    (link,) = [k for k in session.kernel_links() if k.prog_id == view.program_id]
    assert link.attach_point == f"{symbol.binary}+{symbol.offset + 4:#x}"


def test_unknown_uprobe_function_is_not_loaded_with_a_hint(session):
    (view,) = session.apply([_uprobe("up", func_name="no_such_fn")])
    assert view.condition.type == "NotLoaded"
    assert "no such function" in view.condition.message
    assert _ours(session.backend) == []


# ---------------------------------------------------------------- map owners


def test_a_map_owner_shares_its_maps(session):
    owner = tracepoint("owner")
    user = tracepoint(
        "user",
        mapownerselector={"matchLabels": {"bpfman.io/ownedByProgram": "owner"}},
    )
    user_view, owner_view = session.apply([user, owner])  # owners load first
    assert (user_view.condition.type, owner_view.condition.type) == ("Loaded", "Loaded")
    assert user_view.map_ids == owner_view.map_ids
    assert user_view.maps == owner_view.maps
    assert all(
        p.startswith(f"{ROOT}/tracepointprogram/owner/")
        for p in user_view.maps.values()
    )
    # deleting the owner keeps the maps the user still holds
    session.delete(["tracepoint/owner"])
    assert set(user_view.maps.values()) <= set(session.backend.pins())
    session.delete(["tracepoint/user"])
    assert _ours(session.backend) == []


def test_map_owner_selected_by_object_labels(session):
    owner = tracepoint("owner", labels={"app": "stats"})
    user = tracepoint("user", mapownerselector={"matchLabels": {"app": "stats"}})
    views = session.apply([owner, user])
    assert _types(views) == ["Loaded", "Loaded"]


def test_map_owner_missing_or_not_loaded(session):
    selector = {"matchLabels": {"bpfman.io/ownedByProgram": "owner"}}
    (missing,) = session.apply([tracepoint("user", mapownerselector=selector)])
    assert missing.condition.type == "MapOwnerNotFound"
    views = session.apply([tracepoint("owner", bpffunctionname="bad_x")])
    assert _types(views) == ["NotLoaded"]
    (waiting,) = session.apply([tracepoint("user", mapownerselector=selector)])
    assert waiting.condition.type == "MapOwnerNotLoaded"
    assert session.status()[1].condition.type == "ReconcileError"


# ---------------------------------------------------------------- XDP and TC


def test_xdp_on_the_primary_interface_through_a_dispatcher(session):
    (view,) = session.apply([xdp("edge")])
    assert view.attach_point == "eth0"
    assert view.condition.type == "Loaded"
    assert view.slot == 0 and view.priority == 50
    (chain,) = next(
        i for i in session.discovery.interfaces() if i.name == "eth0"
    ).chains
    assert chain.dispatcher_id is not None


def test_xdp_programs_share_an_interface_in_priority_order(session):
    session.apply([xdp("late", 90, ["eth0"]), xdp("early", 10, ["eth0"])])
    status = {o.name: o.bpfprograms[0] for o in session.status()}
    revision = session.loader.attacher.engine.read(_hook(session, "eth0"))
    ids = [m.prog_id for m in revision.members]
    assert ids == [status["early"].program_id, status["late"].program_id]


def test_xdp_joins_xdp_loaders_dispatcher():
    session = demo_session(clock=lambda: NOW)
    (view,) = session.apply([xdp("edge", 10, ["eth1"])])
    assert view.condition.type == "Loaded"
    (chain,) = next(
        i for i in session.discovery.interfaces() if i.name == "eth1"
    ).chains
    assert [s.name for s in chain.slots] == ["count", "xdp_filter"]


def test_an_eleventh_xdp_program_is_refused(session):
    docs = [xdp(f"p{i}", i, ["eth0"]) for i in range(11)]
    views = session.apply(docs)
    assert _types(views) == ["Loaded"] * 10 + ["NotLoaded"]
    assert "10" in views[-1].condition.message


def test_without_freplace_one_program_per_hook(session):
    session = _session(unsupported=["freplace"])
    first, second = session.apply([xdp("a", 1, ["eth0"]), xdp("b", 2, ["eth0"])])
    assert first.condition.type == "Loaded"
    assert second.condition.type == "NotLoaded"
    assert "freplace" in second.condition.message


def test_tc_both_directions(session):
    ingress = _doc(
        "TcProgram",
        "in",
        priority=5,
        direction="ingress",
        interfaceselector={"interfaces": ["eth1"]},
    )
    egress = dict(ingress, metadata={"name": "out"})
    egress["spec"] = dict(ingress["spec"], direction="egress")
    views = session.apply([ingress, egress])
    assert _types(views) == ["Loaded", "Loaded"]
    chains = next(i for i in session.discovery.interfaces() if i.name == "eth1").chains
    assert {c.hook for c in chains} >= {"tc-ingress", "tc-egress"}
    assert session.backend.qdiscs() == [3]
    session.delete(["tc/in", "tc/out"])
    assert _ours(session.backend) == []
    assert session.backend.qdiscs() == []


def test_unknown_interface_is_not_loaded(session):
    (view,) = session.apply([xdp("edge", interfaces=["nope0"])])
    assert view.condition.type == "NotLoaded"
    assert "interface 'nope0': not found" in view.condition.message


def _hook(session, name):
    from bpftui.core.dispatchers import Hook, HookKind

    index = next(i.index for i in session.discovery.interfaces() if i.name == name)
    return Hook(HookKind.XDP, index, name)


# ---------------------------------------------------------------- the kernel moves


def test_a_vanished_program_is_reported_not_assumed(session):
    (view,) = session.apply([tracepoint()])
    (attachment,) = session.store.attachments()
    for link in attachment.links:
        session.backend.detach(link)
    session.backend.unload(attachment.program)
    (status,) = session.status()
    assert status.bpfprograms[0].condition.type == "NotLoaded"
    assert "vanished" in status.bpfprograms[0].condition.message
    assert status.condition.type == "ReconcileError"
    assert [v.name for v in session.reconcile()] == [view.name]
    assert session.store.attachments()[0].condition.type == "NotLoaded"
    (restored,) = session.restore()
    assert restored.condition.type == "Loaded"
    assert restored.program_id != view.program_id


def test_restore_after_a_reboot_remakes_everything(session):
    views = session.apply([tracepoint(), xdp("edge")])
    rebooted = _session(store=session.store)  # fresh kernel, same store
    restored = rebooted.restore()
    assert _types(restored) == ["Loaded", "Loaded"]
    assert len(_ours(rebooted.backend)) == len(_ours(session.backend))
    assert [v.name for v in restored] == [v.name for v in views]


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize(
    ("method", "after"),
    [
        ("load", False),
        ("load", True),
        ("attach_tracepoint", False),
        ("attach_tracepoint", True),
    ],
)
def test_a_killed_apply_is_rolled_back_by_the_next_run(method, after):
    session = _session()
    real = getattr(session.backend, method)

    def dying(*args, **kw):
        if after:
            real(*args, **kw)
        raise Killed()

    setattr(session.backend, method, dying)
    with pytest.raises(Killed):
        session.apply([tracepoint()])
    assert len(session.store.pending()) == 1
    setattr(session.backend, method, real)

    # the next process: same kernel, same store; even status rolls back
    nxt = _session(store=session.store, backend=session.backend)
    (status,) = nxt.status()
    assert status.condition.type == "ReconcileError"
    assert nxt.store.pending() == []
    assert _ours(nxt.backend) == []
    (bpfprogram,) = status.bpfprograms
    assert bpfprogram.condition.type == "NotLoaded"
    assert "interrupted" in bpfprogram.condition.message
    (view,) = nxt.apply([tracepoint()])
    assert view.condition.type == "Loaded"


@pytest.mark.parametrize("method", ["detach", "unload"])
def test_a_killed_delete_is_completed_by_the_next_run(method):
    session = _session()
    session.apply([tracepoint()])
    real = getattr(session.backend, method)

    def dying(*args, **kw):
        real(*args, **kw)
        raise Killed()

    setattr(session.backend, method, dying)
    with pytest.raises(Killed):
        session.delete(["tracepoint/opens"])
    setattr(session.backend, method, real)
    nxt = _session(store=session.store, backend=session.backend)
    nxt.delete(["tracepoint/opens"])
    assert nxt.store.pending() == []
    assert nxt.status() == []
    assert _ours(nxt.backend) == []


def test_a_failed_detach_is_a_delete_error(session):
    session.apply([tracepoint()])
    session.backend.fail_next["detach"] = KernelError("link 1", "detach", errno.EIO)
    with pytest.raises(StateError, match="delete failed"):
        session.delete(["tracepoint/opens"])
    (status,) = session.status()
    assert status.condition.type == "DeleteError"
    assert status.bpfprograms[0].condition.type == "NotUnLoaded"
    assert session.delete(["tracepoint/opens"]) == ["TracepointProgram/opens"]
    assert _ours(session.backend) == []


def test_bpfprogram_objects_cannot_be_applied(session):
    doc = {
        "apiVersion": "bpfman.io/v1alpha1",
        "kind": "BpfProgram",
        "metadata": {"name": "x"},
        "spec": {"type": "xdp"},
    }
    with pytest.raises(Exception, match="written by the node agent"):
        session.apply([doc])


def test_json_status_is_a_list_that_validates(session):
    from bpftui.cli.node import k8s_list

    session.apply([tracepoint(), xdp("edge")])
    listing = k8s_list(session.status())
    assert listing["kind"] == "List" and listing["apiVersion"] == "v1"
    kinds = [item["kind"] for item in listing["items"]]
    assert kinds == ["TracepointProgram", "XdpProgram", "BpfProgram", "BpfProgram"]
    for item in listing["items"]:
        api.from_dict(item)  # every item passes the CRD schema
        assert item["status"]["conditions"][0]["status"] == "True"


# ---------------------------------------------------------------- two processes

WORKER = """
import sys, time
from bpftui.core.state import StateStore
store = StateStore.open(sys.argv[1])
with store.lock.hold("apply test"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    store.put_object("TracepointProgram", "other", {}, "d", 1.0)
"""


def test_changes_wait_for_another_processes_lock(tmp_path):
    state_dir = str(tmp_path / "state")
    store = StateStore.open(state_dir)
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER, state_dir, "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "holding"
        session = _session(store=store)
        (view,) = session.apply([tracepoint()])
        assert view.condition.type == "Loaded"
        # the other process finished its change before ours began
        assert {o.name for o in store.objects()} == {"other", "opens"}
    finally:
        child.kill()
        child.wait()
        store.close()


def test_a_stuck_holder_times_out_naming_its_pid(tmp_path):
    state_dir = str(tmp_path / "state")
    store = StateStore.open(state_dir, lock_timeout=0.3)
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER, state_dir, "30"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "holding"
        with pytest.raises(StateError, match=f"pid {child.pid}"):
            _session(store=store).apply([tracepoint()])
    finally:
        child.kill()
        child.wait()
        store.close()


# ---------------------------------------------------------------- one per hook


def test_the_session_satisfies_the_protocol(session):
    from bpftui.core.session import Session

    assert isinstance(session, Session)
    assert session.backend_name == "demo"


def test_single_attacher_holds_one_program_per_hook(session):
    from bpftui.core.hooks import SingleAttacher

    session.loader.attacher = SingleAttacher(
        session.backend, session.loader.hook_holders
    )
    first, second = session.apply([xdp("a", 1, ["eth0"]), xdp("b", 2, ["eth0"])])
    assert first.condition.type == "Loaded"
    assert second.condition.type == "NotLoaded"
    assert "Device or resource busy" in second.condition.message
    assert "a-node-1-eth0 is attached there" in second.condition.message
    tc = _doc(
        "TcProgram",
        "t",
        priority=0,
        direction="egress",
        interfaceselector={"interfaces": ["eth0"]},
    )
    (view,) = session.apply([tc])
    assert view.condition.type == "Loaded"
    assert (
        session.store.attachments("TcProgram", "t")[0].links[0].detail["priority"] == 1
    )
    session.delete(["xdp/a", "xdp/b", "tc/t"])
    assert _ours(session.backend) == []
    assert session.backend.hook_holders() == []
