"""Composing raw trees field by field, as new --set, the shell and forms do."""

# One case per line reads as a table; wrapping would scatter it.
# ruff: noqa: E501

from __future__ import annotations

import copy

import pytest

from bpftui.core import api, compose, rules
from bpftui.core.errors import InputError


def xdp() -> dict:
    return compose.new_doc("xdp", "edge")


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_new_doc_holds_the_kind_name_and_spec_defaults(kind):
    doc = compose.new_doc(api.KINDS[kind].short, "x")
    assert doc["apiVersion"] == api.API_VERSION
    assert doc["kind"] == kind
    assert doc["metadata"] == {"name": "x"}
    spec_props = rules.schema(kind)["properties"]["spec"]["properties"]
    for key, node in spec_props.items():
        if "default" in node:
            assert doc["spec"][key] == node["default"]
    if "nodeselector" in spec_props:
        assert doc["spec"]["nodeselector"] == {}


def test_new_doc_lists_what_is_still_missing():
    missing = {p.path for p in rules.check(xdp())}
    assert missing == {
        "spec.bpffunctionname",
        "spec.bytecode",
        "spec.interfaceselector",
        "spec.priority",
    }


def test_new_doc_refuses_unknown_kinds():
    with pytest.raises(InputError, match="unknown kind"):
        compose.new_doc("nope", "x")


# path, text, where it lands, the raw value
SETTINGS = [
    ("priority", "10", ("spec", "priority"), 10),
    ("spec.priority", "0x10", ("spec", "priority"), 16),
    ("priority", " 1_000 ", ("spec", "priority"), 1000),
    ("bpffunctionname", "123", ("spec", "bpffunctionname"), "123"),
    ("interfaceselector.interfaces", "eth0,eth1", ("spec", "interfaceselector", "interfaces"), ["eth0", "eth1"]),
    ("interfaceselector.interfaces", "eth0, eth1 ", ("spec", "interfaceselector", "interfaces"), ["eth0", "eth1"]),
    ("interfaceselector.interfaces", "[eth0, eth1]", ("spec", "interfaceselector", "interfaces"), ["eth0", "eth1"]),
    ("interfaceselector.interfaces", "", ("spec", "interfaceselector", "interfaces"), []),
    ("interfaceselector.primarynodeinterface", "true", ("spec", "interfaceselector", "primarynodeinterface"), True),
    ("interfaceselector.primarynodeinterface", "No", ("spec", "interfaceselector", "primarynodeinterface"), False),
    ("proceedon", "pass,drop", ("spec", "proceedon"), ["pass", "drop"]),
    ("bytecode.image.url", "quay.io/x:1", ("spec", "bytecode", "image", "url"), "quay.io/x:1"),
    ("bytecode.image.imagepullsecret.name", "regcred", ("spec", "bytecode", "image", "imagepullsecret", "name"), "regcred"),
    ("globaldata.GLOBAL_u32", "0x0D,0x0C,0x0B,0x0A", ("spec", "globaldata", "GLOBAL_u32"), "DQwLCg=="),
    ("globaldata.GLOBAL_u8", "1", ("spec", "globaldata", "GLOBAL_u8"), "AQ=="),
    ("globaldata.GLOBAL_u8", "[0x01]", ("spec", "globaldata", "GLOBAL_u8"), "AQ=="),
    ("globaldata.GLOBAL_u32", "DQwLCg==", ("spec", "globaldata", "GLOBAL_u32"), "DQwLCg=="),
    ("globaldata", "a=0x01,0x02,b=AQ==", ("spec", "globaldata"), {"a": "AQI=", "b": "AQ=="}),
    ("metadata.labels", "app=web,tier=edge", ("metadata", "labels"), {"app": "web", "tier": "edge"}),
    ("metadata.labels.app.kubernetes.io/name", "web", ("metadata", "labels", "app.kubernetes.io/name"), "web"),
    ('metadata.labels["a.b/c"]', "v", ("metadata", "labels", "a.b/c"), "v"),
    ("metadata.annotations.note", "a=b, c", ("metadata", "annotations", "note"), "a=b, c"),
    ("nodeselector.matchLabels.zone", "a", ("spec", "nodeselector", "matchLabels", "zone"), "a"),
    ("nodeselector", "{}", ("spec", "nodeselector"), {}),
    ("nodeselector.matchExpressions", "[{key: zone, operator: In, values: [a]}]", ("spec", "nodeselector", "matchExpressions"), [{"key": "zone", "operator": "In", "values": ["a"]}]),
    ("nodeselector.matchExpressions[0].key", "zone", ("spec", "nodeselector", "matchExpressions", 0, "key"), "zone"),
    ("mapownerselector.matchLabels", "bpfman.io/ownedByProgram=owner", ("spec", "mapownerselector", "matchLabels"), {"bpfman.io/ownedByProgram": "owner"}),
    ("metadata.name", "other", ("metadata", "name"), "other"),
]  # fmt: skip


def dig(tree, where):
    for seg in where:
        tree = tree[seg]
    return tree


@pytest.mark.parametrize(("path", "text", "where", "value"), SETTINGS)
def test_set_path_converts_text_by_the_schema(path, text, where, value):
    doc = xdp()
    before = copy.deepcopy(doc)
    changed = compose.set_path(doc, path, text)
    assert dig(changed, where) == value
    assert doc == before  # the argument is left alone


@pytest.mark.parametrize(
    ("kind", "path", "text", "value"),
    [
        ("tc", "direction", "egress", "egress"),
        ("tracepoint", "names", "syscalls/sys_enter_openat,sched/sched_switch", ["syscalls/sys_enter_openat", "sched/sched_switch"]),
        ("kprobe", "retprobe", "yes", True),
        ("kprobe", "offset", "0x20", 32),
        ("uprobe", "pid", "1234", 1234),
        ("uprobe", "containers.containernames", "nginx,sidecar", ["nginx", "sidecar"]),
        ("uprobe", "containers.pods", "{}", {}),
        ("bpf", "type", "xdp", "xdp"),
    ],
)  # fmt: skip
def test_set_path_per_kind(kind, path, text, value):
    doc = compose.set_path(compose.new_doc(kind, "x"), path, text)
    assert compose.get_path(doc, path) == value


def test_a_composed_object_validates_and_builds():
    doc = xdp()
    for path, text in [
        ("bpffunctionname", "xdp_pass"),
        ("priority", "10"),
        ("interfaceselector.interfaces", "eth0,eth1"),
        ("bytecode.image.url", "quay.io/bpfman-bytecode/xdp_pass:latest"),
        ("globaldata.GLOBAL_u8", "0x01"),
    ]:
        doc = compose.set_path(doc, path, text)
    assert rules.check(doc) == []
    obj = api.from_dict(doc)
    assert obj.spec.globaldata == {"GLOBAL_u8": b"\x01"}
    assert obj.spec.interfaceselector.interfaces == ("eth0", "eth1")


def test_list_items_are_set_and_appended_by_index():
    doc = compose.set_path(xdp(), "interfaceselector.interfaces", "eth0")
    doc = compose.set_path(doc, "interfaceselector.interfaces[1]", "eth1")
    doc = compose.set_path(doc, "interfaceselector.interfaces[0]", "lo")
    assert doc["spec"]["interfaceselector"]["interfaces"] == ["lo", "eth1"]
    with pytest.raises(InputError, match="past the end") as err:
        compose.set_path(doc, "interfaceselector.interfaces[5]", "x")
    assert "use [2]" in (err.value.hint or "")


def test_set_path_replaces_a_wrongly_typed_parent():
    doc = xdp()
    doc["spec"]["bytecode"] = "garbage from a form"
    doc = compose.set_path(doc, "bytecode.path", "/x.o")
    assert doc["spec"]["bytecode"] == {"path": "/x.o"}


# path, text, words in the error, words in the hint
BAD = [
    ("prority", "1", 'has no field "prority"', 'did you mean "priority"'),
    ("Priority", "1", "no field", 'did you mean "priority"'),
    ("url", "x", "no field", '"bytecode.image.url"'),
    ("interfaces", "eth0", "no field", '"interfaceselector.interfaces"'),
    ("metadata.nme", "x", "no field", '"metadata.name"'),
    ("labels.app", "x", "no field", '"metadata.labels"'),
    ("zzz", "1", "no field", "fields here: bpffunctionname"),
    ("names", "a/b", "no field", "fields here"),
    ("metadata.uid", "x", "no field", ""),
    ("status.conditions", "[]", "no field", ""),
    ("bytecode.image.imagepullpolicy.x", "1", "is a string field", ""),
    ("priority[0]", "1", "is not a list", ""),
    ("priority", "ten", '"ten" is not an integer', ""),
    ("priority", "1.5", "not an integer", ""),
    ("interfaceselector.primarynodeinterface", "maybe", "not true or false", ""),
    ("globaldata.g", "zz!", "neither base64 nor a list of bytes", "0x01,0x02"),
    ("globaldata.g", "0x01,0x100", "neither base64", ""),
    ("globaldata.g", "1,256", "0 to 255", ""),
    ("globaldata", "novalue", "is not key=value", ""),
    ("metadata.labels.", "x", "map key", ""),
    ("nodeselector", "{a: [", "not valid YAML", ""),
    ("", "x", "empty field path", ""),
    ("a..b", "1", "no field", ""),
]


@pytest.mark.parametrize(("path", "text", "words", "hint"), BAD)
def test_set_path_refuses_with_a_hint(path, text, words, hint):
    with pytest.raises(InputError) as err:
        compose.set_path(xdp(), path, text)
    assert words in str(err.value)
    assert hint in str(err.value)


@pytest.mark.parametrize("doc", [{}, {"kind": 5}, {"kind": "nope"}])
def test_set_path_needs_a_kind(doc):
    with pytest.raises(InputError):
        compose.set_path(doc, "priority", "1")


def test_set_path_accepts_kind_aliases_in_the_tree():
    doc = {"kind": "xdp"}
    assert compose.set_path(doc, "priority", "1")["spec"]["priority"] == 1


def test_unset_path_removes_fields_items_and_entries():
    doc = compose.set_path(xdp(), "interfaceselector.interfaces", "a,b,c")
    doc = compose.set_path(doc, "metadata.labels.app", "web")
    assert compose.unset_path(doc, "interfaceselector.interfaces[1]")["spec"][
        "interfaceselector"
    ] == {"interfaces": ["a", "c"]}
    assert "proceedon" not in compose.unset_path(doc, "proceedon")["spec"]
    assert compose.unset_path(doc, "metadata.labels.app")["metadata"]["labels"] == {}
    assert compose.unset_path(doc, "bytecode.path") == doc  # not set: no change
    assert compose.unset_path(doc, "interfaceselector.interfaces[9]") == doc
    with pytest.raises(InputError, match="no field"):
        compose.unset_path(doc, "bogus")


def test_get_text_reads_back_into_set_path():
    doc = xdp()
    for path, text in [
        ("interfaceselector.interfaces", "eth0,eth1"),
        ("priority", "7"),
        ("interfaceselector.primarynodeinterface", "false"),
        ("globaldata", "a=AQI=,b=AQ=="),
        ("metadata.labels", "app=web"),
        ("nodeselector.matchExpressions", "[{key: zone, operator: Exists}]"),
    ]:
        doc = compose.set_path(doc, path, text)
        shown = compose.get_text(doc, path)
        assert compose.set_path(doc, path, shown) == doc, (path, shown)
    assert compose.get_text(doc, "bytecode.path") == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (3, "3"), (["a", 1], "a,1"), ({"k": "v"}, "k=v")],
)
def test_to_text(value, text):
    assert compose.to_text(value) == text


def test_resolve_path_gives_segments_and_schema():
    segments, node = compose.resolve_path("TcProgram", "bytecode.image.imagepullpolicy")
    assert segments == ("spec", "bytecode", "image", "imagepullpolicy")
    assert node["enum"] == ["Always", "Never", "IfNotPresent"]
