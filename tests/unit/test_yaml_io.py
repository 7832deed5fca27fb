"""Reading YAML safely with lines, and writing what kubectl apply accepts."""

from __future__ import annotations

import io
import json
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from bpftui.core import api, rules, yaml_io
from bpftui.core.errors import InputError, ValidationError

DATA = Path(__file__).parents[1] / "data" / "crds"
SAMPLES = sorted((DATA / "samples").glob("*.yaml"))


def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    """A validator for the real CRD schema, read from the test data copy.

    jsonschema ignores the x-kubernetes-* keywords, as it should.
    """
    manifest = yaml.safe_load((DATA / api.KINDS[kind].crd_file).read_text())
    (version,) = manifest["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_kubectl_accepts(tree: dict) -> None:
    errors = list(crd_validator(tree["kind"]).iter_errors(tree))
    assert not errors, [e.message for e in errors]
    assert rules.check(tree) == []


def read(text: str, source: str = "t.yaml") -> list[yaml_io.Document]:
    return yaml_io.read_text(textwrap.dedent(text), source)


XDP = """\
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata:
  name: edge-filter
spec:
  bpffunctionname: xdp_pass
  nodeselector: {}
  priority: 1001
  interfaceselector:
    interfaces: [eth0, "bad/name"]
  bytecode:
    path: /opt/xdp.o
"""


# --- the operator's samples -------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_reads_validates_and_exports_for_kubectl(path):
    (doc,) = yaml_io.read_file(path)
    assert doc.check() == []
    exported = yaml_io.dump_yaml([doc.to_object()])
    (again,) = yaml_io.read_text(exported, "export")
    assert again.check() == []
    assert again.to_object() == doc.to_object()
    assert_kubectl_accepts(again.data)
    assert yaml_io.dump_yaml([again.to_object()]) == exported


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_exports_as_json_for_kubectl(path):
    (obj,) = yaml_io.load_file(path)
    tree = json.loads(yaml_io.dump_json([obj]))
    assert_kubectl_accepts(tree)
    assert api.from_dict(tree) == obj


def test_samples_write_globaldata_as_base64():
    (obj,) = yaml_io.load_file(next(p for p in SAMPLES if "kprobe" in p.name))
    text = yaml_io.dump_yaml([obj])
    assert "GLOBAL_u32: DQwLCg==" in text
    assert "0x0D" not in text


# --- documents and lines ----------------------------------------------------------


def test_problems_carry_the_line_of_their_field():
    (doc,) = read(XDP)
    lines = {p.path: p.line for p in doc.check()}
    assert lines == {"spec.priority": 8, "spec.interfaceselector.interfaces[1]": 10}


def test_missing_fields_point_at_their_parent():
    (doc,) = read(XDP.replace("  bpffunctionname: xdp_pass\n", ""))
    (missing,) = [p for p in doc.check() if p.path == "spec.bpffunctionname"]
    assert missing.line == 5  # the spec: line
    assert doc.line_of("spec.nothing.below") == 5
    assert doc.line_of("") == 1


def test_problems_come_sorted_by_line():
    text = XDP.replace("name: edge-filter", "name: Edge").replace("xdp_pass", "x-y")
    (doc,) = read(text)
    found = [p.line for p in doc.check()]
    assert found == sorted(found)
    assert len(found) == 4


LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: bpfman.io/v1alpha1
  kind: FentryProgram
  metadata: {name: f}
  spec:
    bpffunctionname: f
    func_name: do_unlinkat
    nodeselector: {}
    bytecode: &code {path: /f.o}
- 42
- apiVersion: bpfman.io/v1alpha1
  kind: FexitProgram
  metadata: {name: g}
  spec:
    <<: {bpffunctionname: g, func_name: do_unlinkat, nodeselector: {}}
    bytecode: *code
    func_name: mine
"""


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_many_documents_and_lists_are_unpacked_in_order():
    text = "---\n" + XDP + "---\n# an empty document is skipped\n---\n" + LIST
    docs = yaml_io.read_text(text, "t.yaml")
    assert [d.kind for d in docs] == [
        "XdpProgram",
        "FentryProgram",
        None,
        "FexitProgram",
    ]
    assert [d.index for d in docs] == [0, 1, 2, 3]
    fentry, number, _ = docs[1:]
    assert fentry.check() == []
    assert fentry.line == line_of(text, "- apiVersion: bpfman.io/v1alpha1")
    assert fentry.lines["spec.func_name"] == line_of(text, "    func_name: do_unlinkat")
    (bad,) = number.check()
    assert bad.line == line_of(text, "- 42")
    assert "got the number 42" in bad.message


def test_merge_keys_and_aliases_work_and_explicit_fields_win():
    fexit = yaml_io.read_text(LIST, "t.yaml")[2]
    assert fexit.check() == []
    assert fexit.data["spec"]["func_name"] == "mine"
    assert fexit.data["spec"]["bpffunctionname"] == "g"
    assert fexit.data["spec"]["bytecode"] == {"path": "/f.o"}
    assert fexit.lines["spec.func_name"] == line_of(LIST, "    func_name: mine")


def test_typed_lists_from_the_api_server_are_unpacked():
    text = """\
    apiVersion: bpfman.io/v1alpha1
    kind: FexitProgramList
    items:
    - apiVersion: bpfman.io/v1alpha1
      kind: FexitProgram
      metadata: {name: g}
      spec: {bpffunctionname: g, func_name: f, nodeselector: {}, bytecode: {path: /g.o}}
    """
    (doc,) = read(text)
    assert doc.kind == "FexitProgram"
    assert doc.check() == []
    (other,) = yaml_io.read_text("kind: NopeList\nitems: []\n", "t.yaml")
    assert other.data == {"kind": "NopeList", "items": []}


def test_json_input_is_yaml_too():
    tree = yaml.safe_load(XDP)
    (doc,) = read(json.dumps(tree, indent=2))
    assert doc.data == tree
    assert doc.lines["spec.priority"] > 1


def test_timestamps_stay_text_and_hex_numbers_are_numbers():
    (doc,) = read("a: 2024-01-01T00:00:00Z\nb: 0x0D\nc: '0x0D'\nd: yes\n")
    assert doc.data == {"a": "2024-01-01T00:00:00Z", "b": 13, "c": "0x0D", "d": True}


def test_duplicate_fields_are_errors_with_both_lines():
    (doc,) = read(
        XDP.replace("  priority: 1001\n", "  priority: 1001\n  priority: 5\n")
    )
    (dup,) = [p for p in doc.check() if "duplicate" in p.message]
    assert (dup.path, dup.line) == ("spec.priority", 9)
    assert "first set on line 8" in dup.message
    assert dup.kind == "XdpProgram"
    assert dup.name == "edge-filter"


# --- refusing dangerous or broken input ---------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (billion_laughs(), "aliases expand to more than"),
        ("a: &a [*a]\n", "alias refers to its own ancestor"),
        ("a: &a {b: *a}\n", "alias refers to its own ancestor"),
        ("[" * 200 + "]" * 200, "nested deeper than 64 levels"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 100)), "deeper than 64"),
        ("!!python/object/apply:os.system [ls]\n", "unsupported YAML tag"),
        ("a: !!python/name:os.system\n", "unsupported YAML tag"),
        ("a: !!set {x}\n", "unsupported YAML tag"),
        ("a: !!binary AQ==\n", "unsupported YAML tag"),
        ("a: !custom x\n", "unsupported YAML tag"),
        ("a: 1\n b: 2\n", "t.yaml:2: not valid YAML"),
        ("a: [1,\n", "not valid YAML"),
        ("a: *nowhere\n", "not valid YAML"),
        ("a: \x00\n", "t.yaml:1: not valid YAML: the character U+0000"),
        ("a: " + "9" * 5000 + "\n", "cannot read"),
        ("? [a, b]\n: c\n", "a field name must be a plain value"),
        ("<<: [1]\n", "a merge (<<) takes a mapping"),
        ("a: !!int x\n", "cannot read"),
        ("!!int \n", "cannot read"),
        ("a: !!float ''\n", "cannot read"),
        ("a: !!bool maybe\n", "cannot read"),
    ],
)
def test_refused_input_gives_a_clear_input_error(text, words):
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        yaml_io.read_text(text, "t.yaml")
    assert words in str(err.value)
    assert str(err.value).startswith("t.yaml")
    assert time.monotonic() - started < 2


def test_alias_reuse_within_the_limits_is_fine():
    (doc,) = read("a: &a {x: 1}\nb: *a\nc: [*a, *a]\n")
    assert doc.data["c"] == [{"x": 1}, {"x": 1}]


def test_huge_input_is_refused_before_parsing():
    with pytest.raises(InputError, match="larger than"):
        yaml_io.read_bytes(b"a: 1\n" * 10, "big.yaml", limit=20)
    with pytest.raises(InputError, match="larger than"):
        yaml_io.read_stream(io.BytesIO(b"#" * 100), "big.yaml", limit=50)


def test_invalid_utf8_names_the_line_and_byte():
    with pytest.raises(InputError) as err:
        yaml_io.read_bytes(b"a: 1\nb: \xff\n", "u.yaml")
    assert str(err.value) == "u.yaml:2: not UTF-8 text (byte 0xff)"


def test_a_utf8_byte_order_mark_is_accepted():
    (doc,) = yaml_io.read_bytes(b"\xef\xbb\xbfa: 1\n", "bom.yaml")
    assert doc.data == {"a": 1}


def test_unreadable_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read: No such file"):
        yaml_io.read_file(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="cannot read"):
        yaml_io.read_file(tmp_path)


def test_dash_reads_standard_input(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(XDP.encode()))
    monkeypatch.setattr("sys.stdin", fake)
    (doc,) = yaml_io.read_file("-")
    assert doc.source == "<stdin>"
    assert doc.kind == "XdpProgram"


def test_an_empty_source_has_no_documents():
    assert yaml_io.read_text("", "e.yaml") == []
    assert yaml_io.read_text("---\n...\n# nothing\n", "e.yaml") == []


# --- whole files into records -------------------------------------------------------


def test_load_file_returns_records(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(SAMPLES[0].read_text() + "---\n" + SAMPLES[1].read_text())
    objects = yaml_io.load_file(path)
    assert [o.kind for o in objects] == ["FentryProgram", "FexitProgram"]


def test_load_file_raises_every_error_with_lines(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(XDP)
    with pytest.raises(ValidationError) as err:
        yaml_io.load_file(path)
    assert [(p.path, p.line) for p in err.value.problems] == [
        ("spec.priority", 8),
        ("spec.interfaceselector.interfaces[1]", 10),
    ]
    assert str(err.value).startswith(f"{path}:8: XdpProgram/edge-filter: spec.priority")


def test_to_object_raises_with_lines():
    (doc,) = read(XDP)
    with pytest.raises(ValidationError) as err:
        doc.to_object()
    assert err.value.problems[0].line == 8


# --- writing ----------------------------------------------------------------------


def test_several_objects_become_several_documents():
    objects = [yaml_io.load_file(p)[0] for p in SAMPLES[:3]]
    text = yaml_io.dump_yaml(objects)
    assert text.count("\n---\n") == 2
    assert [d.to_object() for d in yaml_io.read_text(text, "out")] == objects


def test_json_of_several_objects_is_a_list():
    objects = [yaml_io.load_file(p)[0] for p in SAMPLES[:2]]
    tree = json.loads(yaml_io.dump_json(objects))
    assert (tree["apiVersion"], tree["kind"]) == ("v1", "List")
    assert [api.from_dict(item) for item in tree["items"]] == objects
    docs = yaml_io.read_text(yaml_io.dump_json(objects), "list.json")
    assert [d.to_object() for d in docs] == objects


def test_dump_takes_raw_trees_and_record_pieces():
    tree = {
        "kind": api.BpfProgramConditionType.LOADED,
        "names": ("a", "b"),
        "labels": api.FrozenMap({"x": "y"}),
        "data": b"\x01",
        "note": "two\nlines",
        "looks_like_bool": "yes",
    }
    text = yaml_io.dump_yaml([tree])
    assert yaml.safe_load(text) == {
        "kind": "Loaded",
        "names": ["a", "b"],
        "labels": {"x": "y"},
        "data": "AQ==",
        "note": "two\nlines",
        "looks_like_bool": "yes",
    }
    assert "note: |" in text
    assert json.loads(yaml_io.dump_json([tree]))["names"] == ["a", "b"]


def test_strings_that_look_like_numbers_stay_strings():
    doc = {"a": "0x0D", "b": "10", "c": "true", "d": "null", "e": "2024-01-01"}
    (again,) = yaml_io.read_text(yaml_io.dump_yaml([doc]), "s")
    assert again.data == doc
