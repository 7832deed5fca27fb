"""Every rule of the API, both ways: accepted values and rejected ones with their path.

Each case starts from a valid object of its kind (``BASE``), changes one or
a few fields, and names the problem it expects, or none.
"""

# One case per line reads as a table; wrapping would scatter it.
# ruff: noqa: E501

from __future__ import annotations

import copy
import filecmp
import re
from pathlib import Path
from typing import Any

import pytest

from bpftui.core import api, rules
from bpftui.core.rules import Severity

DATA = Path(__file__).parents[1] / "data" / "crds"
DELETE = object()
ERROR, WARNING = Severity.ERROR, Severity.WARNING

_IMAGE = {"image": {"url": "quay.io/bpfman-bytecode/prog:latest"}}
_COMMON = {"bpffunctionname": "prog", "nodeselector": {}, "bytecode": _IMAGE}

BASE: dict[str, dict[str, Any]] = {
    "XdpProgram": {
        **_COMMON,
        "interfaceselector": {"interfaces": ["eth0"]},
        "priority": 50,
    },
    "TcProgram": {
        **_COMMON,
        "interfaceselector": {"primarynodeinterface": True},
        "priority": 50,
        "direction": "ingress",
    },
    "TracepointProgram": {**_COMMON, "names": ["syscalls/sys_enter_openat"]},
    "KprobeProgram": {**_COMMON, "func_name": "try_to_wake_up"},
    "UprobeProgram": {**_COMMON, "target": "libc", "func_name": "malloc"},
    "FentryProgram": {**_COMMON, "func_name": "do_unlinkat"},
    "FexitProgram": {**_COMMON, "func_name": "do_unlinkat"},
    "BpfProgram": {"type": "xdp"},
}


def cond(**changes: Any) -> dict[str, Any]:
    """A valid per-node condition with some fields changed."""
    fields = {
        "type": "Loaded",
        "status": "True",
        "reason": "bpfmanLoaded",
        "message": "",
        "lastTransitionTime": "2024-01-01T00:00:00Z",
    }
    return {k: v for k, v in (fields | changes).items() if v is not DELETE}


def base(kind: str) -> dict[str, Any]:
    return {
        "apiVersion": api.API_VERSION,
        "kind": kind,
        "metadata": {"name": "edge-filter"},
        "spec": copy.deepcopy(BASE[kind]),
    }


def change(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) ``path`` such as ``spec.names[0]``."""
    parts: list[str | int] = [
        int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)
    ]
    node: Any = doc
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def problems_of(kind: str, changes: dict[str, Any]) -> list[rules.Problem]:
    doc = base(kind)
    for path, value in changes.items():
        change(doc, path, value)
    return rules.check(doc)


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_every_base_object_is_valid(kind):
    assert rules.check(base(kind)) == []


# kind, changes, expected path, severity, words in the message
REJECTED = [
    # priority 0..1000, an integer, required
    ("XdpProgram", {"spec.priority": 1001}, "spec.priority", ERROR, "1001 is above the maximum 1000"),
    ("XdpProgram", {"spec.priority": -1}, "spec.priority", ERROR, "-1 is below the minimum 0"),
    ("TcProgram", {"spec.priority": 5000}, "spec.priority", ERROR, "above the maximum 1000"),
    ("XdpProgram", {"spec.priority": "10"}, "spec.priority", ERROR, 'expected an integer, got the string "10"'),
    ("XdpProgram", {"spec.priority": True}, "spec.priority", ERROR, "expected an integer, got true"),
    ("XdpProgram", {"spec.priority": 1.5}, "spec.priority", ERROR, "expected an integer"),
    ("XdpProgram", {"spec.priority": DELETE}, "spec.priority", ERROR, "required field is missing"),
    ("TcProgram", {"spec.priority": None}, "spec.priority", ERROR, "required field has no value"),
    # proceedon: values and counts per kind
    ("XdpProgram", {"spec.proceedon": ["pass", "pipe"]}, "spec.proceedon[1]", ERROR, '"pipe" is not one of'),
    ("TcProgram", {"spec.proceedon": ["pass"]}, "spec.proceedon[0]", ERROR, '"pass" is not one of'),
    ("XdpProgram", {"spec.proceedon": ["Drop"]}, "spec.proceedon[0]", ERROR, 'did you mean "drop"'),
    ("XdpProgram", {"spec.proceedon": [*api.XDP_PROCEED_ON, "pass"]}, "spec.proceedon", ERROR, "7 values given, at most 6 allowed"),
    ("TcProgram", {"spec.proceedon": [*api.TC_PROCEED_ON, "ok"]}, "spec.proceedon", ERROR, "12 values given, at most 11 allowed"),
    ("XdpProgram", {"spec.proceedon": "pass"}, "spec.proceedon", ERROR, "expected a list"),
    ("XdpProgram", {"spec.proceedon": ["pass", "pass"]}, "spec.proceedon", WARNING, "more than once"),
    # direction
    ("TcProgram", {"spec.direction": "sideways"}, "spec.direction", ERROR, "is not one of: ingress, egress"),
    ("TcProgram", {"spec.direction": "Ingress"}, "spec.direction", ERROR, 'did you mean "ingress"'),
    ("TcProgram", {"spec.direction": DELETE}, "spec.direction", ERROR, "required field is missing"),
    # interfaceselector
    ("XdpProgram", {"spec.interfaceselector": {}}, "spec.interfaceselector", ERROR, "exactly one of: interfaces, primarynodeinterface (found 0)"),
    ("XdpProgram", {"spec.interfaceselector.primarynodeinterface": True}, "spec.interfaceselector", ERROR, "(found 2)"),
    ("TcProgram", {"spec.interfaceselector.primarynodeinterface": False}, "spec.interfaceselector.primarynodeinterface", ERROR, "only true is accepted"),
    ("XdpProgram", {"spec.interfaceselector.interfaces": []}, "spec.interfaceselector.interfaces", ERROR, "at least one"),
    ("XdpProgram", {"spec.interfaceselector.interfaces": ["eth0/1"]}, "spec.interfaceselector.interfaces[0]", ERROR, "not a valid interface name"),
    ("XdpProgram", {"spec.interfaceselector.interfaces": ["x" * 16]}, "spec.interfaceselector.interfaces[0]", ERROR, "not a valid interface name"),
    ("XdpProgram", {"spec.interfaceselector.interfaces": ["eth0", "eth0"]}, "spec.interfaceselector.interfaces", WARNING, "more than once"),
    ("XdpProgram", {"spec.interfaceselector.interfaces": "eth0"}, "spec.interfaceselector.interfaces", ERROR, "expected a list"),
    ("XdpProgram", {"spec.interfaceselector": DELETE}, "spec.interfaceselector", ERROR, "required field is missing"),
    # kprobe offset with retprobe: error from the CRD's CEL rule; uprobes warn
    ("KprobeProgram", {"spec.retprobe": True, "spec.offset": 8}, "spec.offset", ERROR, "offset cannot be set for kretprobes"),
    ("UprobeProgram", {"spec.retprobe": True, "spec.offset": 8}, "spec.offset", WARNING, "uretprobe"),
    ("KprobeProgram", {"spec.offset": -4}, "spec.offset", ERROR, "negative"),
    ("KprobeProgram", {"spec.retprobe": "yes"}, "spec.retprobe", ERROR, "expected true or false"),
    ("KprobeProgram", {"spec.func_name": DELETE}, "spec.func_name", ERROR, "required field is missing"),
    ("KprobeProgram", {"spec.func_name": "try to"}, "spec.func_name", ERROR, "not a kernel function name"),
    ("FentryProgram", {"spec.func_name": ""}, "spec.func_name", ERROR, "must not be empty"),
    ("FexitProgram", {"spec.func_name": DELETE}, "spec.func_name", ERROR, "required field is missing"),
    # uprobe
    ("UprobeProgram", {"spec.target": DELETE}, "spec.target", ERROR, "required field is missing"),
    ("UprobeProgram", {"spec.target": ""}, "spec.target", ERROR, "must not be empty"),
    ("UprobeProgram", {"spec.target": "lib/libc.so.6"}, "spec.target", WARNING, "relative path"),
    ("UprobeProgram", {"spec.pid": 0}, "spec.pid", ERROR, "not a process id"),
    ("UprobeProgram", {"spec.pid": 2**31}, "spec.pid", ERROR, "does not fit in a 32-bit integer"),
    ("UprobeProgram", {"spec.func_name": "my func"}, "spec.func_name", ERROR, "without spaces"),
    ("UprobeProgram", {"spec.containers": {"namespace": "x"}}, "spec.containers.pods", ERROR, "required field is missing"),
    ("UprobeProgram", {"spec.containers": {"pods": {}, "namespace": "Bad_NS"}}, "spec.containers.namespace", ERROR, "not a valid name"),
    ("UprobeProgram", {"spec.containers": {"pods": {}, "containernames": ["a_b"]}}, "spec.containers.containernames[0]", ERROR, "not a valid name"),
    # bytecode: exactly one of image and path
    ("XdpProgram", {"spec.bytecode": {}}, "spec.bytecode", ERROR, "exactly one of: image, path (found 0)"),
    ("XdpProgram", {"spec.bytecode.path": "/opt/x.o"}, "spec.bytecode", ERROR, "(found 2)"),
    ("XdpProgram", {"spec.bytecode": DELETE}, "spec.bytecode", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.bytecode.image": {}}, "spec.bytecode.image.url", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.bytecode.image.url": ""}, "spec.bytecode.image.url", ERROR, "must not be empty"),
    ("XdpProgram", {"spec.bytecode.image.url": "https://quay.io/x:1"}, "spec.bytecode.image.url", ERROR, "no scheme"),
    ("XdpProgram", {"spec.bytecode": {"path": ""}}, "spec.bytecode.path", ERROR, "must not be empty"),
    ("XdpProgram", {"spec.bytecode.image.imagepullpolicy": "Sometimes"}, "spec.bytecode.image.imagepullpolicy", ERROR, "is not one of: Always, Never, IfNotPresent"),
    ("XdpProgram", {"spec.bytecode.image.imagepullpolicy": "always"}, "spec.bytecode.image.imagepullpolicy", ERROR, 'did you mean "Always"'),
    ("XdpProgram", {"spec.bytecode.image.imagepullsecret": {"name": "regcred"}}, "spec.bytecode.image.imagepullsecret.namespace", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.bytecode.image.imagepullsecret": {"namespace": "bpfman"}}, "spec.bytecode.image.imagepullsecret.name", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.bytecode.image.imagepullsecret": {"name": "Reg", "namespace": "b"}}, "spec.bytecode.image.imagepullsecret.name", ERROR, "not a valid name"),
    # tracepoints
    ("TracepointProgram", {"spec.names": ["sys_enter_openat"]}, "spec.names[0]", ERROR, "not of the form category/name"),
    ("TracepointProgram", {"spec.names": ["a/b/c"]}, "spec.names[0]", ERROR, "category/name"),
    ("TracepointProgram", {"spec.names": []}, "spec.names", ERROR, "at least one"),
    ("TracepointProgram", {"spec.names": DELETE}, "spec.names", ERROR, "required field is missing"),
    ("TracepointProgram", {"spec.names": ["sched/sched_switch"] * 2}, "spec.names", WARNING, "more than once"),
    # common fields
    ("XdpProgram", {"spec.bpffunctionname": "my-prog"}, "spec.bpffunctionname", ERROR, "not a C identifier"),
    ("TcProgram", {"spec.bpffunctionname": DELETE}, "spec.bpffunctionname", ERROR, "required field is missing"),
    ("FentryProgram", {"spec.nodeselector": DELETE}, "spec.nodeselector", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.globaldata": {"g": [1, 256]}}, "spec.globaldata.g[1]", ERROR, "expected a byte (0..255), got the number 256"),
    ("XdpProgram", {"spec.globaldata": {"g": [True]}}, "spec.globaldata.g[0]", ERROR, "expected a byte"),
    ("XdpProgram", {"spec.globaldata": {"g": "!!"}}, "spec.globaldata.g", ERROR, "neither base64 nor a list of bytes"),
    ("XdpProgram", {"spec.globaldata": {"g": []}}, "spec.globaldata.g", ERROR, "holds no bytes"),
    ("XdpProgram", {"spec.globaldata": {"my-var": "AQ=="}}, "spec.globaldata.my-var", ERROR, "not a C identifier"),
    ("XdpProgram", {"spec.globaldata": {"g": 5}}, "spec.globaldata.g", ERROR, "expected a string"),
    ("XdpProgram", {"spec.globaldata": {"g": None}}, "spec.globaldata.g", ERROR, "expected a string, got null"),
    ("XdpProgram", {"metadata.labels": {"a": None}}, "metadata.labels.a", ERROR, "expected a string, got null"),
    # label selectors
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"key": "zone", "operator": "Maybe"}]}}, "spec.nodeselector.matchExpressions[0].operator", ERROR, "is not one of: In, NotIn, Exists, DoesNotExist"),
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"key": "zone", "operator": "In"}]}}, "spec.nodeselector.matchExpressions[0].values", ERROR, "needs at least one value"),
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"key": "zone", "operator": "Exists", "values": ["a"]}]}}, "spec.nodeselector.matchExpressions[0].values", ERROR, "takes no values"),
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"operator": "Exists"}]}}, "spec.nodeselector.matchExpressions[0].key", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"key": "-zone", "operator": "Exists"}]}}, "spec.nodeselector.matchExpressions[0].key", ERROR, "not a valid key"),
    ("XdpProgram", {"spec.nodeselector": {"matchLabels": {"zone": "a b"}}}, "spec.nodeselector.matchLabels.zone", ERROR, "not a valid label value"),
    ("XdpProgram", {"spec.nodeselector": {"matchLabels": {"zone": 1}}}, "spec.nodeselector.matchLabels.zone", ERROR, "expected a string, got the number 1"),
    ("XdpProgram", {"spec.nodeselector": {"matchLabel": {}}}, "spec.nodeselector.matchLabel", ERROR, 'did you mean "matchLabels"'),
    ("UprobeProgram", {"spec.containers": {"pods": {"matchLabels": {"a/b/c": "x"}}}}, 'spec.containers.pods.matchLabels["a/b/c"]', ERROR, "prefix"),
    ("XdpProgram", {"spec.mapownerselector": {}}, "spec.mapownerselector", WARNING, "must match exactly one"),
    # metadata
    ("XdpProgram", {"metadata.name": "Edge_Filter"}, "metadata.name", ERROR, "not a valid name"),
    ("XdpProgram", {"metadata.name": "a" * 254}, "metadata.name", ERROR, "at most 253"),
    ("XdpProgram", {"metadata.name": "-edge"}, "metadata.name", ERROR, "not a valid name"),
    ("XdpProgram", {"metadata.name": DELETE}, "metadata.name", ERROR, "required field is missing"),
    ("XdpProgram", {"metadata.name": 7}, "metadata.name", ERROR, "expected a string"),
    ("XdpProgram", {"metadata": DELETE}, "metadata", ERROR, "required field is missing"),
    ("XdpProgram", {"metadata.labels": {"app": "a" * 64}}, "metadata.labels.app", ERROR, "not a valid label value"),
    ("XdpProgram", {"metadata.labels": {"Bad Key": "a"}}, 'metadata.labels["Bad Key"]', ERROR, "not a valid key"),
    ("XdpProgram", {"metadata.annotations": {"x": 3}}, "metadata.annotations.x", ERROR, "expected a string"),
    ("XdpProgram", {"metadata.namespace": "default"}, "metadata.namespace", WARNING, "cluster-scoped"),
    ("XdpProgram", {"metadata.lables": {}}, "metadata.lables", ERROR, 'did you mean "labels"'),
    # unknown fields at every level, and wrong shapes
    ("XdpProgram", {"spec.priorty": 3}, "spec.priorty", ERROR, 'unknown field; did you mean "priority"'),
    ("XdpProgram", {"specs": {}}, "specs", ERROR, 'did you mean "spec"'),
    ("XdpProgram", {"spec.bytecode.image.urll": "x"}, "spec.bytecode.image.urll", ERROR, "unknown field"),
    ("XdpProgram", {"spec.interfaceselector.iface": "x"}, "spec.interfaceselector.iface", ERROR, "unknown field"),
    ("TracepointProgram", {"spec.priority": 3}, "spec.priority", ERROR, "unknown field"),
    ("XdpProgram", {"spec.zzzz": 3}, "spec.zzzz", ERROR, "known fields here: bpffunctionname"),
    ("XdpProgram", {"spec": "nope"}, "spec", ERROR, 'expected an object, got the string "nope"'),
    ("XdpProgram", {"spec": DELETE}, "spec", ERROR, "required field is missing"),
    ("XdpProgram", {"spec.bytecode": ["x"]}, "spec.bytecode", ERROR, "expected an object, got a list"),
    ("XdpProgram", {"spec.nodeselector": {1: "a"}}, "spec.nodeselector", ERROR, "field names must be strings"),
    # apiVersion and kind
    ("XdpProgram", {"apiVersion": "bpfman.io/v1"}, "apiVersion", ERROR, "use bpfman.io/v1alpha1"),
    ("XdpProgram", {"apiVersion": DELETE}, "apiVersion", ERROR, "required field is missing"),
    ("XdpProgram", {"kind": "XDPProgram"}, "kind", ERROR, 'did you mean "XdpProgram"'),
    ("XdpProgram", {"kind": "xdp"}, "kind", ERROR, 'did you mean "XdpProgram"'),
    ("XdpProgram", {"kind": DELETE}, "kind", ERROR, "required field is missing"),
    ("XdpProgram", {"kind": ["x"]}, "kind", ERROR, "expected a string, got a list"),
    # per-node objects and status
    ("BpfProgram", {"spec.type": "socket"}, "spec.type", ERROR, "is not one of: xdp, tc"),
    ("BpfProgram", {"status": {"conditions": [cond(lastTransitionTime=DELETE)]}}, "status.conditions[0].lastTransitionTime", ERROR, "required field is missing"),
    ("BpfProgram", {"status": {"conditions": [cond(type="Ready", reason="Ready")]}}, "status.conditions[0].type", WARNING, "not a condition type of this kind"),
    ("XdpProgram", {"status": {"conditions": [cond()]}}, "status.conditions[0].type", WARNING, "not a condition type of this kind"),
    ("BpfProgram", {"status": {"conditions": [cond(reason="loaded")]}}, "status.conditions[0].type", WARNING, 'the reason "bpfmanLoaded"'),
    ("BpfProgram", {"status": {"conditions": [cond(status="Maybe")]}}, "status.conditions[0].status", ERROR, "is not one of: True, False, Unknown"),
    ("BpfProgram", {"status": {"conditions": [cond(reason="bad reason")]}}, "status.conditions[0].reason", ERROR, "does not match the pattern"),
    ("BpfProgram", {"status": {"conditions": [cond(lastTransitionTime="yesterday")]}}, "status.conditions[0].lastTransitionTime", ERROR, "not an RFC 3339 time"),
    ("BpfProgram", {"status": {"conditions": [cond(type="None", reason="None")] * 2}}, "status.conditions[1]", ERROR, 'type "None" already appears at [0]'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "changes", "path", "severity", "words"),
    REJECTED,
    ids=[f"{c[0]}:{c[2]}:{c[4][:30]}" for c in REJECTED],
)
def test_rejected(kind, changes, path, severity, words):
    found = problems_of(kind, changes)
    matching = [p for p in found if p.path == path and words in p.message]
    assert matching, (
        f"no problem at {path} saying {words!r}; got {[str(p) for p in found]}"
    )
    assert matching[0].severity is severity


# kind, changes: each must give no problem at all
ACCEPTED = [
    ("XdpProgram", {"spec.priority": 0}),
    ("XdpProgram", {"spec.priority": 1000}),
    ("TcProgram", {"spec.priority": 1000}),
    ("XdpProgram", {"spec.proceedon": list(api.XDP_PROCEED_ON)}),
    ("TcProgram", {"spec.proceedon": list(api.TC_PROCEED_ON)}),
    ("XdpProgram", {"spec.proceedon": []}),
    ("XdpProgram", {"spec.proceedon": None}),
    ("TcProgram", {"spec.direction": "egress"}),
    ("XdpProgram", {"spec.interfaceselector": {"primarynodeinterface": True}}),
    ("TcProgram", {"spec.interfaceselector": {"interfaces": ["eth0", "veth-a.10", "x" * 15]}}),
    ("KprobeProgram", {"spec.retprobe": True, "spec.offset": 0}),
    ("KprobeProgram", {"spec.retprobe": True}),
    ("KprobeProgram", {"spec.retprobe": False, "spec.offset": 8}),
    ("KprobeProgram", {"spec.func_name": "do_sys_open.isra.0"}),
    ("UprobeProgram", {"spec.retprobe": False, "spec.offset": 8}),
    ("UprobeProgram", {"spec.retprobe": True}),
    ("UprobeProgram", {"spec.target": "/usr/lib/x86_64-linux-gnu/libc.so.6", "spec.pid": 1}),
    ("UprobeProgram", {"spec.func_name": DELETE}),
    ("UprobeProgram", {"spec.func_name": "_ZN4core3fmt5write17h"}),
    ("UprobeProgram", {"spec.containers": {"pods": {}}}),
    ("UprobeProgram", {"spec.containers": {"pods": {"matchLabels": {}}, "namespace": "", "containernames": ["nginx"]}}),
    ("XdpProgram", {"spec.bytecode": {"path": "/opt/bpf/xdp.o"}}),
    ("XdpProgram", {"spec.bytecode.image.imagepullpolicy": "Always"}),
    ("XdpProgram", {"spec.bytecode.image.imagepullpolicy": "Never"}),
    ("XdpProgram", {"spec.bytecode.image.imagepullsecret": {"name": "regcred", "namespace": "bpfman"}}),
    ("XdpProgram", {"spec.bytecode.image.url": "127.0.0.1:5000/bpf/xdp_pass@sha256:" + "a" * 64}),
    ("TracepointProgram", {"spec.names": ["syscalls/sys_enter_openat", "sched/sched_switch", "9p/9p_client_req"]}),
    ("XdpProgram", {"metadata.name": "a.b-c.0"}),
    ("XdpProgram", {"metadata.name": "a" * 253}),
    ("XdpProgram", {"metadata.labels": {"app.kubernetes.io/name": "xdp", "empty": ""}}),
    ("XdpProgram", {"metadata.annotations": {"bpfman.io/ProgramId": "42", "note": "any text at all!"}}),
    ("XdpProgram", {"metadata.uid": "0c1d", "metadata.resourceVersion": "7", "metadata.generation": 3}),
    ("XdpProgram", {"metadata.creationTimestamp": "2024-01-01T00:00:00Z", "metadata.managedFields": [{}]}),
    ("XdpProgram", {"spec.globaldata": {"GLOBAL_u8": [0, 255], "GLOBAL_u32": "DQwLCg==", "empty_ok": "AA=="}}),
    ("XdpProgram", {"spec.nodeselector": {"matchLabels": {"kubernetes.io/hostname": "node-a"}}}),
    ("XdpProgram", {"spec.nodeselector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}, {"key": "gpu", "operator": "DoesNotExist"}]}}),
    ("XdpProgram", {"spec.mapownerselector": {"matchLabels": {"bpfman.io/ownedByProgram": "owner"}}}),
    ("XdpProgram", {"spec.mapownerselector": None}),
    ("BpfProgram", {"spec.type": "tracepoint"}),
    ("BpfProgram", {"spec": {}}),
    ("BpfProgram", {"status": {"conditions": [cond(type="NotSelected", reason="nodeNotSelected", lastTransitionTime="2024-01-01T00:00:00.5+02:00", observedGeneration=2)]}}),
    ("FexitProgram", {"status": {"conditions": [cond(type="ReconcileSuccess", reason="ReconcileSuccess")]}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "changes"), ACCEPTED, ids=[str(c[1])[:60] for c in ACCEPTED]
)
def test_accepted(kind, changes):
    assert [str(p) for p in problems_of(kind, changes)] == []


# --- shape of the report --------------------------------------------------------


def test_problem_text_names_kind_object_field_and_cause():
    (problem,) = problems_of("XdpProgram", {"spec.priority": 1001})
    assert (
        str(problem)
        == "XdpProgram/edge-filter: spec.priority: 1001 is above the maximum 1000"
    )
    assert problem.kind == "XdpProgram"
    assert problem.name == "edge-filter"
    assert problem.line is None
    assert problem.with_line(7).line == 7


def test_every_problem_is_reported_at_once():
    found = problems_of(
        "TcProgram",
        {
            "spec.priority": 1001,
            "spec.direction": "up",
            "spec.proceedon": ["bogus"],
            "spec.bytecode.path": "/x.o",
            "spec.interfaceselector": {},
            "spec.extra": 1,
            "metadata.name": "Bad",
        },
    )
    assert sorted(p.path for p in found) == [
        "metadata.name",
        "spec.bytecode",
        "spec.direction",
        "spec.extra",
        "spec.interfaceselector",
        "spec.priority",
        "spec.proceedon[0]",
    ]


@pytest.mark.parametrize("value", [None, 3, "text", [], [1, 2], {}, {"kind": 3}])
def test_anything_that_is_not_an_object_gets_a_problem_not_an_exception(value):
    found = rules.check(value)
    assert found
    assert all(p.is_error for p in found)


def test_a_whole_object_problem_has_no_path():
    (problem,) = rules.check([1])
    assert problem.path == ""
    assert (
        str(problem)
        == "object/<unnamed>: expected an object with apiVersion, kind and spec, got a list"
    )


def test_errors_keeps_only_errors():
    found = problems_of(
        "UprobeProgram", {"spec.retprobe": True, "spec.offset": 1, "spec.pid": 0}
    )
    assert [p.path for p in rules.errors(found)] == ["spec.pid"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "names", 0), "spec.names[0]"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        (("spec", "globaldata", "GLOBAL_u8"), "spec.globaldata.GLOBAL_u8"),
        (("a", 'q"x'), 'a["q\\"x"]'),
        ((), ""),
    ],
)
def test_format_path(path, text):
    assert rules.format_path(path) == text


# --- the schemas are the source ----------------------------------------------------


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_package_crds_are_the_shipped_copies(kind):
    info = api.KINDS[kind]
    packaged = Path(str(rules.crd_path(kind)))
    assert filecmp.cmp(packaged, DATA / info.crd_file, shallow=False)


def _schema_nodes(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for key in ("properties", "additionalProperties", "items"):
            child = node.get(key)
            if key == "properties" and isinstance(child, dict):
                for sub in child.values():
                    yield from _schema_nodes(sub)
            elif isinstance(child, dict):
                yield from _schema_nodes(child)


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_the_walker_understands_every_schema_keyword(kind):
    for node in _schema_nodes(rules.schema(kind)):
        unknown = set(node) - rules.SCHEMA_KEYWORDS - {"x-bpftui-ignored"}
        assert not unknown, unknown


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_every_cel_rule_of_the_schemas_is_implemented(kind):
    for node in _schema_nodes(rules.schema(kind)):
        for rule in node.get("x-kubernetes-validations", ()):
            assert rule["rule"] in rules.CEL_RULES


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: r.path)
def test_every_rule_path_exists_in_the_schema_of_its_kinds(rule):
    kinds = rule.kinds or tuple(api.KINDS)
    present = []
    for kind in kinds:
        segments = [t for t in rules.rule_tokens(rule.path) if t not in ("{}", "{key}")]
        present.append(rules.schema_at(kind, segments) is not None)
    assert any(present)
    if rule.kinds:
        assert all(present), rule.path


def test_apply_defaults_fills_what_the_schema_defaults():
    doc = base("UprobeProgram")
    doc["spec"]["containers"] = {"pods": {}}
    filled = rules.apply_defaults(doc)
    assert filled["spec"]["offset"] == 0
    assert filled["spec"]["retprobe"] is False
    assert filled["spec"]["containers"]["namespace"] == ""
    assert filled["spec"]["bytecode"]["image"]["imagepullpolicy"] == "IfNotPresent"
    assert "offset" not in doc["spec"]  # the argument is left alone


def test_apply_defaults_keeps_explicit_values_and_tolerates_garbage():
    doc = base("XdpProgram")
    doc["spec"]["proceedon"] = ["drop"]
    assert rules.apply_defaults(doc)["spec"]["proceedon"] == ["drop"]
    doc["spec"]["proceedon"] = None
    assert rules.apply_defaults(doc)["spec"]["proceedon"] == [
        "pass",
        "dispatcher_return",
    ]
    assert rules.apply_defaults([1, 2]) == [1, 2]
    assert rules.apply_defaults({"kind": "XdpProgram", "spec": 3})["spec"] == 3


# --- field metadata ----------------------------------------------------------------


def test_fields_describe_each_field_for_forms():
    specs = {f.path: f for f in rules.fields("xdp")}
    priority = specs["spec.priority"]
    assert (priority.type, priority.required, priority.minimum, priority.maximum) == (
        "integer",
        True,
        0,
        1000,
    )
    assert "priority" in priority.description.lower()
    proceed = specs["spec.proceedon"]
    assert proceed.type == "array"
    assert proceed.item_type == "string"
    assert proceed.enum == api.XDP_PROCEED_ON
    assert proceed.default == ["pass", "dispatcher_return"]
    assert proceed.max_items == 6
    assert specs["spec.globaldata"].type == "map"
    assert specs["spec.globaldata"].item_type == "bytes"
    assert specs["spec.bytecode"].exactly_one == ("image", "path")
    assert specs["spec.interfaceselector"].exactly_one == (
        "interfaces",
        "primarynodeinterface",
    )
    assert specs["spec.nodeselector.matchExpressions[].operator"].required
    assert specs["metadata.name"].required
    assert specs["metadata.labels"].type == "map"
    assert "metadata.uid" not in specs
    assert not any(p.startswith("status") for p in specs)
    assert specs["spec.bytecode.image.url"].short_path == "bytecode.image.url"
    assert specs["spec.bytecode.image.url"].name == "url"


@pytest.mark.parametrize("kind", api.PROGRAM_KINDS)
def test_fields_cover_every_spec_property(kind):
    paths = {f.path for f in rules.fields(kind)}
    for name in rules.schema(kind)["properties"]["spec"]["properties"]:
        assert f"spec.{name}" in paths


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("priority", "spec.priority"),
        ("spec.priority", "spec.priority"),
        ("interfaceselector.interfaces", "spec.interfaceselector.interfaces"),
        (
            "nodeselector.matchExpressions[3].key",
            "spec.nodeselector.matchExpressions[].key",
        ),
        ("metadata.name", "metadata.name"),
        ("nonsense", None),
    ],
)
def test_field_spec_lookup(path, found):
    spec = rules.field_spec("XdpProgram", path)
    assert (spec.path if spec else None) == found


def test_describe_and_suggest():
    assert rules.describe(None) == "null"
    assert rules.describe(10**5000) == "a number too long to print"
    assert rules.describe("x" * 100).endswith('..."')
    assert rules.suggest("INGRESS", ["ingress", "egress"]) == "ingress"
    assert rules.suggest("zzz", ["ingress"]) is None
