"""The record model of bpfman.io/v1alpha1: kinds, fields, defaults, round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bpftui.core import api, rules
from bpftui.core.errors import InputError, ValidationError

SAMPLES = sorted(
    (Path(__file__).parents[1] / "data" / "crds" / "samples").glob("*.yaml")
)


def sample(name: str) -> dict:
    path = next(p for p in SAMPLES if name in p.name)
    return yaml.safe_load(path.read_text())


def spec_schema(kind: str) -> dict:
    return rules.schema(kind)["properties"]["spec"]


# --- kinds and names ------------------------------------------------------------


def test_eight_kinds_seven_of_them_composable():
    assert list(api.KINDS) == [
        "XdpProgram",
        "TcProgram",
        "TracepointProgram",
        "KprobeProgram",
        "UprobeProgram",
        "FentryProgram",
        "FexitProgram",
        "BpfProgram",
    ]
    assert "BpfProgram" not in api.PROGRAM_KINDS
    assert len(api.PROGRAM_KINDS) == 7


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_kind_info_matches_the_crd(kind):
    info = api.KINDS[kind]
    names = rules.crd(kind)["spec"]["names"]
    assert info.cls.kind == names["kind"] == kind
    assert info.plural == names["plural"]
    assert info.singular == names["singular"]
    assert rules.crd(kind)["spec"]["scope"] == "Cluster"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("xdp", "XdpProgram"),
        ("XDP", "XdpProgram"),
        ("XdpProgram", "XdpProgram"),
        ("xdpprogram", "XdpProgram"),
        ("xdpprograms", "XdpProgram"),
        (" tc ", "TcProgram"),
        ("TCPROGRAMS", "TcProgram"),
        ("tracepoint", "TracepointProgram"),
        ("tracepoints", "TracepointProgram"),
        ("kprobe", "KprobeProgram"),
        ("uprobeprogram", "UprobeProgram"),
        ("fentry", "FentryProgram"),
        ("fexitprograms", "FexitProgram"),
        ("bpfprogram", "BpfProgram"),
    ],
)
def test_resolve_kind_accepts_every_name_of_a_kind(text, kind):
    assert api.resolve_kind(text) == kind
    assert api.kind_info(text).kind == kind


@pytest.mark.parametrize(("text", "hint"), [("xpd", "XdpProgram"), ("kprob", "Kprobe")])
def test_resolve_kind_refuses_unknown_names_with_a_hint(text, hint):
    with pytest.raises(InputError) as err:
        api.resolve_kind(text)
    assert "unknown kind" in str(err.value)
    assert hint in (err.value.hint or "")


def test_resolve_kind_without_a_close_match_lists_the_kinds():
    with pytest.raises(InputError) as err:
        api.resolve_kind("zzzzzz")
    assert err.value.hint is None
    assert "xdp, tc, tracepoint" in str(err.value)


# --- fields follow the CRD schemas ---------------------------------------------


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_spec_fields_are_the_schema_fields_in_schema_order(kind):
    spec_cls = api.KINDS[kind].spec_cls
    names = [f.name for f in dataclasses.fields(spec_cls)]
    assert names == list(spec_schema(kind)["properties"])


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_required_spec_fields_have_no_default_except_the_node_selector(kind):
    required = set(spec_schema(kind).get("required", ()))
    for f in dataclasses.fields(api.KINDS[kind].spec_cls):
        has_default = (
            f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING
        )
        if f.name in required and f.name != "nodeselector":
            assert not has_default, f.name
        if f.name not in required:
            assert has_default, f.name


@pytest.mark.parametrize("kind", list(api.KINDS))
def test_model_defaults_equal_schema_defaults(kind):
    spec_cls = api.KINDS[kind].spec_cls
    fields = {f.name: f for f in dataclasses.fields(spec_cls)}
    for name, node in spec_schema(kind)["properties"].items():
        if "default" in node:
            default = fields[name].default
            if isinstance(default, tuple):
                default = list(default)
            assert default == node["default"], name


def test_nested_defaults_equal_schema_defaults():
    image = spec_schema("XdpProgram")["properties"]["bytecode"]["properties"]["image"]
    assert (
        api.BytecodeImage(url="x").imagepullpolicy
        == image["properties"]["imagepullpolicy"]["default"]
    )
    containers = spec_schema("UprobeProgram")["properties"]["containers"]
    assert (
        api.ContainerSelector(pods=api.LabelSelector()).namespace
        == (containers["properties"]["namespace"]["default"])
    )


@pytest.mark.parametrize(
    ("kind", "values", "default", "most"),
    [
        ("XdpProgram", api.XDP_PROCEED_ON, api.XDP_PROCEED_ON_DEFAULT, 6),
        ("TcProgram", api.TC_PROCEED_ON, api.TC_PROCEED_ON_DEFAULT, 11),
    ],
)
def test_proceed_on_constants_match_the_schema(kind, values, default, most):
    node = spec_schema(kind)["properties"]["proceedon"]
    assert list(values) == node["items"]["enum"]
    assert list(default) == node["default"]
    assert node["maxItems"] == most == len(values)


def test_other_constants_match_the_schema():
    props = spec_schema("TcProgram")["properties"]
    assert list(api.DIRECTIONS) == props["direction"]["enum"]
    image = props["bytecode"]["properties"]["image"]["properties"]
    assert list(api.IMAGE_PULL_POLICIES) == image["imagepullpolicy"]["enum"]
    assert props["priority"]["minimum"] == api.PRIORITY_MIN
    assert props["priority"]["maximum"] == api.PRIORITY_MAX


# --- conditions -----------------------------------------------------------------

NODE_CONDITIONS = [
    ("Loaded", "bpfmanLoaded"),
    ("NotLoaded", "bpfmanNotLoaded"),
    ("NotUnLoaded", "bpfmanNotUnloaded"),
    ("NotSelected", "nodeNotSelected"),
    ("Unloaded", "bpfmanUnloaded"),
    ("MapOwnerNotFound", "mapOwnerNotFound"),
    ("MapOwnerNotLoaded", "mapOwnerNotLoaded"),
    ("BytecodeSelectorError", "bytecodeSelectorError"),
    ("NoContainersOnNode", "noContainersOnNode"),
    ("None", "None"),
]


def test_per_node_condition_types_and_reasons():
    got = [(str(t), t.reason) for t in api.BpfProgramConditionType]
    assert got == NODE_CONDITIONS


def test_cluster_condition_types():
    assert [str(t) for t in api.ProgramConditionType] == [
        "NotYetLoaded",
        "ReconcileError",
        "ReconcileSuccess",
        "DeleteError",
    ]


def test_not_loaded_precedence_follows_the_operator():
    assert [str(t) for t in api.NOT_LOADED_PRECEDENCE] == [
        "Unloaded",
        "NotSelected",
        "NoContainersOnNode",
        "MapOwnerNotFound",
        "MapOwnerNotLoaded",
    ]


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2024, 6, 1, 12, 30, 5, tzinfo=dt.UTC),
        dt.datetime(2024, 6, 1, 12, 30, 5),  # naive: read as UTC
        dt.datetime(2024, 6, 1, 14, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "2024-06-01T12:30:05Z",
    ],
)
def test_condition_helper_stamps_rfc3339_utc(at):
    cond = api.BpfProgramConditionType.LOADED.condition(at)
    assert cond.lastTransitionTime == "2024-06-01T12:30:05Z"
    assert (cond.type, cond.reason, cond.status) == ("Loaded", "bpfmanLoaded", "True")
    assert cond.message


def test_condition_helper_takes_a_message_and_builds_valid_status():
    cond = api.ProgramConditionType.RECONCILE_ERROR.condition(
        "2024-01-01T00:00:00Z", "failed on node-a"
    )
    obj = dataclasses.replace(
        api.from_dict(sample("xdp_pass_xdpprogram")),
        status=api.ProgramStatus(conditions=[cond]),
    )
    assert obj.status.conditions[0].message == "failed on node-a"
    assert rules.check(api.to_dict(obj)) == []


# --- records are frozen --------------------------------------------------------


def test_records_are_frozen_and_hashable():
    obj = api.from_dict(sample("xdp_pass_xdpprogram"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.spec.priority = 3  # type: ignore[misc]
    assert hash(obj) == hash(api.from_dict(sample("xdp_pass_xdpprogram")))
    assert not hasattr(obj, "__dict__")  # slots


def test_containers_given_to_constructors_are_frozen():
    labels = {"a": "b"}
    names = ["eth0"]
    meta = api.ObjectMeta(name="x", labels=labels)
    sel = api.InterfaceSelector(interfaces=names)
    labels["c"] = "d"
    names.append("eth1")
    assert dict(meta.labels) == {"a": "b"}
    assert sel.interfaces == ("eth0",)
    assert isinstance(meta.labels, api.FrozenMap)
    assert meta.labels == {"a": "b"}  # compares with plain dicts
    with pytest.raises(TypeError):
        meta.labels["x"] = "y"  # type: ignore[index]


def test_frozen_map_behaves_as_a_mapping():
    m = api.FrozenMap({"a": 1})
    assert m == api.FrozenMap([("a", 1)])
    assert len(m) == 1
    assert list(m) == ["a"]
    assert "FrozenMap" in repr(m)
    assert hash(m) == hash(api.FrozenMap({"a": 1}))


# --- from_dict and to_dict ------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_builds_and_round_trips(path):
    doc = yaml.safe_load(path.read_text())
    obj = api.from_dict(doc)
    assert isinstance(obj, api.KINDS[doc["kind"]].cls)
    assert obj.metadata.name == doc["metadata"]["name"]
    again = api.to_dict(obj)
    assert api.from_dict(again) == obj
    assert api.to_dict(api.from_dict(again)) == again


def test_globaldata_byte_lists_become_bytes_and_base64():
    obj = api.from_dict(sample("kprobe_kprobeprogram"))
    assert obj.spec.globaldata == {
        "GLOBAL_u8": b"\x01",
        "GLOBAL_u32": b"\x0d\x0c\x0b\x0a",
    }
    assert api.to_dict(obj)["spec"]["globaldata"] == {
        "GLOBAL_u8": "AQ==",
        "GLOBAL_u32": "DQwLCg==",
    }


def test_from_dict_fills_defaults():
    obj = api.from_dict(sample("tc_pass_tcprogram"))
    assert obj.spec.proceedon == ("pipe", "dispatcher_return")
    assert obj.spec.bytecode.image.imagepullpolicy == "IfNotPresent"
    assert obj.spec.interfaceselector.primarynodeinterface is True
    assert obj.spec.interfaceselector.interfaces is None
    uprobe = api.from_dict(sample("uprobe_uprobeprogram_containers_all"))
    assert uprobe.spec.containers.namespace == ""
    assert uprobe.spec.offset == 0
    assert uprobe.spec.pid is None


def test_to_dict_writes_keys_in_schema_order_and_skips_empty_optionals():
    tree = api.to_dict(api.from_dict(sample("uprobe_uprobeprogram_nginx")))
    assert list(tree) == ["apiVersion", "kind", "metadata", "spec"]
    assert list(tree["spec"]) == [
        k for k in spec_schema("UprobeProgram")["properties"] if k in tree["spec"]
    ]
    assert "pid" not in tree["spec"]
    assert tree["spec"]["containers"]["pods"] == {}  # matchLabels: {} is the same
    assert tree["spec"]["offset"] == 0
    assert tree["spec"]["retprobe"] is False


def test_explicit_empty_proceedon_is_kept():
    doc = sample("xdp_pass_xdpprogram")
    doc["spec"]["proceedon"] = []
    assert api.to_dict(api.from_dict(doc))["spec"]["proceedon"] == []


def test_records_built_in_code_give_valid_trees():
    obj = api.TcProgram(
        metadata=api.ObjectMeta(name="count", labels={"team": "net"}),
        spec=api.TcProgramSpec(
            bpffunctionname="count",
            bytecode=api.BytecodeSelector(path="/opt/tc.o"),
            direction="egress",
            interfaceselector=api.InterfaceSelector(interfaces=["eth0"]),
            priority=20,
            globaldata={"limit": b"\x00\x01"},
            mapownerselector=api.LabelSelector(
                matchExpressions=[
                    api.LabelSelectorRequirement(key="app", operator="In", values=["a"])
                ]
            ),
        ),
    )
    tree = api.to_dict(obj)
    assert rules.check(tree) == []
    assert api.from_dict(tree) == obj


def test_status_round_trips_and_datetimes_become_text():
    doc = sample("fentry_fentryprogram")
    doc["status"] = {
        "conditions": [
            {
                "type": "ReconcileSuccess",
                "status": "True",
                "reason": "ReconcileSuccess",
                "message": "",
                "lastTransitionTime": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            }
        ]
    }
    obj = api.from_dict(doc)
    assert obj.status.conditions[0].lastTransitionTime == "2024-01-02T03:04:05Z"
    assert api.from_dict(api.to_dict(obj)) == obj


def test_bpf_program_round_trips():
    doc = {
        "apiVersion": api.API_VERSION,
        "kind": "BpfProgram",
        "metadata": {
            "name": "edge-node-a-eth0",
            "labels": {
                api.LABEL_OWNED_BY_PROGRAM: "edge",
                api.LABEL_HOSTNAME: "node-a",
            },
            "annotations": {api.ANNOTATION_PROGRAM_ID: "42"},
        },
        "spec": {"type": "xdp"},
        "status": {
            "conditions": [
                {
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                    "message": "ok",
                    "reason": "bpfmanLoaded",
                    "status": "True",
                    "type": "Loaded",
                }
            ]
        },
    }
    obj = api.from_dict(doc)
    assert isinstance(obj, api.BpfProgram)
    assert api.to_dict(obj) == doc


def test_from_dict_raises_every_error_and_ignores_warnings():
    doc = sample("xdp_pass_xdpprogram")
    doc["spec"]["priority"] = 1001
    doc["spec"]["bytecode"]["path"] = "/x.o"
    doc["metadata"]["name"] = "Bad_Name"
    with pytest.raises(ValidationError) as err:
        api.from_dict(doc)
    paths = sorted(p.path for p in err.value.problems)
    assert paths == ["metadata.name", "spec.bytecode", "spec.priority"]
    assert "and 2 more problems" in str(err.value)

    warned = sample("uprobe_uprobeprogram.yaml")
    warned["spec"].update(retprobe=True, offset=4)
    assert api.from_dict(warned).spec.offset == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [("AQI=", b"\x01\x02"), ([1, 2], b"\x01\x02"), (b"\x05", b"\x05"), ("", b"")],
)
def test_decode_bytes(value, expected):
    assert api.decode_bytes(value) == expected
    assert api.decode_bytes(api.encode_bytes(expected)) == expected


@pytest.mark.parametrize("value", ["!!", "AQ=", [256], [-1], ["a"]])
def test_decode_bytes_refuses_garbage(value):
    with pytest.raises(InputError):
        api.decode_bytes(value)


def test_the_model_modules_import_no_front_end_and_no_native_code():
    code = (
        "import sys, bpftui.core.api, bpftui.core.rules, bpftui.core.yaml_io, "
        "bpftui.core.compose\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'textual', 'prompt_toolkit', 'rich'}), "
        "'bpftui.native' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] False"
