"""The agent's decisions for one node, table by table."""

from __future__ import annotations

import pytest

from bpftui.core import api, node
from bpftui.core.api import BpfProgramConditionType as T
from bpftui.core.api import ProgramConditionType as C

LABELS = {
    "kubernetes.io/hostname": "worker-1",
    "zone": "a",
    "role": "edge",
    "empty": "",
}


def _selector(labels=None, expressions=()):
    return api.LabelSelector(
        matchLabels=labels or {},
        matchExpressions=tuple(
            api.LabelSelectorRequirement(key=k, operator=op, values=tuple(v))
            for k, op, v in expressions
        ),
    )


# ---------------------------------------------------------------- selectors


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        (None, True),
        (_selector(), True),
        (_selector({"zone": "a"}), True),
        (_selector({"zone": "b"}), False),
        (_selector({"zone": "a", "role": "edge"}), True),
        (_selector({"zone": "a", "role": "core"}), False),
        (_selector({"missing": "x"}), False),
        (_selector({"empty": ""}), True),
        (_selector(expressions=[("zone", "In", ["a", "b"])]), True),
        (_selector(expressions=[("zone", "In", ["b", "c"])]), False),
        (_selector(expressions=[("missing", "In", ["a"])]), False),
        (_selector(expressions=[("zone", "NotIn", ["b"])]), True),
        (_selector(expressions=[("zone", "NotIn", ["a"])]), False),
        (_selector(expressions=[("missing", "NotIn", ["a"])]), True),
        (_selector(expressions=[("role", "Exists", [])]), True),
        (_selector(expressions=[("missing", "Exists", [])]), False),
        (_selector(expressions=[("missing", "DoesNotExist", [])]), True),
        (_selector(expressions=[("role", "DoesNotExist", [])]), False),
        (_selector(expressions=[("zone", "Gt", ["1"])]), False),
        (
            _selector(
                {"zone": "a"},
                [("role", "In", ["edge"]), ("missing", "DoesNotExist", [])],
            ),
            True,
        ),
        (_selector({"zone": "a"}, [("role", "NotIn", ["edge"])]), False),
    ],
)
def test_selector_matching(selector, selected):
    assert node.selector_matches(selector, LABELS) is selected


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("program", "node_name", "value", "expected"),
    [
        ("xdp-pass", "worker-1", "eth0", "xdp-pass-worker-1-eth0"),
        (
            "tracepoint-example",
            "n",
            "syscalls/sys_enter_openat",
            "tracepoint-example-n-syscalls-sys-enter-openat",
        ),
        ("kprobe-example", "n", "try_to_wake_up", "kprobe-example-n-try-to-wake-up"),
        ("up", "n", "/usr/lib/libc.so.6", "up-n-usr-lib-libc.so.6"),
        ("up", "Worker_A", "libc", "up-worker-a-libc"),
        ("f", "n", "do_sys_open@plt", "f-n-do-sys-open-plt"),
    ],
)
def test_bpfprogram_names(program, node_name, value, expected):
    point = node.AttachPoint("function", value)
    assert node.bpfprogram_name(program, node_name, point) == expected


def test_long_names_are_cut_and_stay_distinct():
    one = node.bpfprogram_name("p" * 200, "n", node.AttachPoint("function", "a" * 90))
    two = node.bpfprogram_name("p" * 200, "n", node.AttachPoint("function", "a" * 91))
    assert len(one) <= 253 and len(two) <= 253
    assert one != two


def test_labels_and_annotations():
    assert node.bpfprogram_labels("edge", "n1") == {
        "bpfman.io/ownedByProgram": "edge",
        "kubernetes.io/hostname": "n1",
    }
    assert node.bpfprogram_annotations(None) == {}
    assert node.bpfprogram_annotations(42) == {"bpfman.io/ProgramId": "42"}


# ---------------------------------------------------------------- attach points

BYTECODE = {"path": "/opt/p.o"}


def _obj(kind, **spec):
    doc = {
        "apiVersion": "bpfman.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "p"},
        "spec": {"bpffunctionname": "f", "nodeselector": {}, "bytecode": BYTECODE}
        | spec,
    }
    return api.from_dict(doc)


@pytest.mark.parametrize(
    ("obj", "primary", "expected"),
    [
        (
            _obj(
                "XdpProgram", priority=1, interfaceselector={"interfaces": ["a", "b"]}
            ),
            "eth0",
            [("interface", "a"), ("interface", "b")],
        ),
        (
            _obj(
                "TcProgram",
                priority=1,
                direction="ingress",
                interfaceselector={"primarynodeinterface": True},
            ),
            "eth0",
            [("interface", "eth0")],
        ),
        (
            _obj("TracepointProgram", names=["a/b", "c/d"]),
            None,
            [("tracepoint", "a/b"), ("tracepoint", "c/d")],
        ),
        (_obj("KprobeProgram", func_name="k"), None, [("function", "k")]),
        (_obj("UprobeProgram", target="libc"), None, [("target", "libc")]),
        (_obj("FentryProgram", func_name="g"), None, [("function", "g")]),
        (_obj("FexitProgram", func_name="g"), None, [("function", "g")]),
    ],
)
def test_attach_points(obj, primary, expected):
    points = node.attach_points(obj, primary_interface=primary)
    assert [(p.kind, p.value) for p in points] == expected
    assert all(p.problem is None for p in points)


def test_no_primary_interface_is_an_attach_point_with_a_problem():
    obj = _obj(
        "XdpProgram", priority=1, interfaceselector={"primarynodeinterface": True}
    )
    (point,) = node.attach_points(obj, primary_interface=None)
    assert "no default route" in point.problem


# ---------------------------------------------------------------- map owners


def _candidate(name, loaded=True, **labels):
    return node.Candidate(name, f"XdpProgram/{name}", labels, loaded, f"/m/{name}")


OWNERS = [
    _candidate("a", app="x", tier="1"),
    _candidate("b", app="x", tier="2"),
    _candidate("c", loaded=False, app="y"),
]


@pytest.mark.parametrize(
    ("selector", "owner", "problem"),
    [
        (None, None, None),
        (_selector(), None, None),
        (_selector({"tier": "1"}), "a", None),
        (_selector({"app": "x"}), None, T.MAP_OWNER_NOT_FOUND),
        (_selector({"app": "z"}), None, T.MAP_OWNER_NOT_FOUND),
        (_selector({"app": "y"}), "c", T.MAP_OWNER_NOT_LOADED),
        (_selector(expressions=[("tier", "In", ["2"])]), "b", None),
    ],
)
def test_map_owner_must_be_exactly_one_loaded_program(selector, owner, problem):
    match = node.find_map_owner(selector, OWNERS)
    assert (match.owner.name if match.owner else None) == owner
    assert match.problem == problem


def test_map_owner_ambiguity_names_the_programs():
    match = node.find_map_owner(_selector({"app": "x"}), OWNERS)
    assert "matches 2 programs" in match.message and "a, b" in match.message


# ---------------------------------------------------------------- conditions

NO_OWNER = node.MapOwnerMatch(None, None)
OWNER_MISSING = node.MapOwnerMatch(None, T.MAP_OWNER_NOT_FOUND, "missing")
OWNER_DOWN = node.MapOwnerMatch(None, T.MAP_OWNER_NOT_LOADED, "down")


@pytest.mark.parametrize(
    ("deleting", "selected", "no_containers", "owner", "expected"),
    [
        (False, True, False, NO_OWNER, None),
        (True, True, False, NO_OWNER, T.UNLOADED),
        (True, False, True, OWNER_MISSING, T.UNLOADED),
        (False, False, True, OWNER_MISSING, T.NOT_SELECTED),
        (False, True, True, OWNER_MISSING, T.NO_CONTAINERS_ON_NODE),
        (False, True, False, OWNER_MISSING, T.MAP_OWNER_NOT_FOUND),
        (False, True, False, OWNER_DOWN, T.MAP_OWNER_NOT_LOADED),
        (False, False, False, OWNER_DOWN, T.NOT_SELECTED),
    ],
)
def test_skip_precedence(deleting, selected, no_containers, owner, expected):
    skip = node.skip_reason(
        deleting=deleting,
        selected=selected,
        no_containers=no_containers,
        map_owner=owner,
    )
    assert (skip.type if skip else None) == expected


def test_skip_messages_say_why():
    skip = node.skip_reason(
        deleting=False, selected=True, no_containers=False, map_owner=OWNER_DOWN
    )
    assert skip.message == "down"


@pytest.mark.parametrize(
    ("types", "delete_failed", "expected"),
    [
        ([], False, C.NOT_YET_LOADED),
        ([T.LOADED], False, C.RECONCILE_SUCCESS),
        ([T.LOADED, T.NOT_SELECTED], False, C.RECONCILE_SUCCESS),
        ([T.NO_CONTAINERS_ON_NODE], False, C.RECONCILE_SUCCESS),
        ([T.LOADED, T.NOT_LOADED], False, C.RECONCILE_ERROR),
        ([T.MAP_OWNER_NOT_FOUND], False, C.RECONCILE_ERROR),
        ([T.MAP_OWNER_NOT_LOADED], False, C.RECONCILE_ERROR),
        ([T.BYTECODE_SELECTOR_ERROR], False, C.RECONCILE_ERROR),
        ([T.NOT_UNLOADED], False, C.RECONCILE_ERROR),
        ([T.LOADED, None], False, C.RECONCILE_ERROR),
        ([T.LOADED], True, C.DELETE_ERROR),
    ],
)
def test_cluster_condition(types, delete_failed, expected):
    assert node.cluster_type(types, delete_failed=delete_failed) is expected


def test_node_condition_carries_reason_and_time():
    cond = node.node_condition(T.NOT_LOADED, "2026-01-01T00:00:00Z", "verifier")
    assert (cond.type, cond.reason, cond.status) == (
        "NotLoaded",
        "bpfmanNotLoaded",
        "True",
    )
    assert cond.message == "verifier"
    assert cond.lastTransitionTime == "2026-01-01T00:00:00Z"


def test_selection_and_containers():
    obj = _obj("UprobeProgram", target="libc", nodeselector={"matchLabels": {"z": "b"}})
    assert node.is_selected(obj, LABELS) is False
    assert node.wants_containers(obj) is False
    pods = _obj("UprobeProgram", target="libc", containers={"pods": {}})
    assert node.wants_containers(pods) is True
