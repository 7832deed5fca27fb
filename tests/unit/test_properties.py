"""Properties: whatever text or tree comes in, the answer is clean.

The reader gives documents or an InputError; the validator gives a list of
problems; a tree without errors builds a record that exports to a tree the
CRD schema and the rules accept. Nothing else, ever: no other exception.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftui.core import api, compose, rules, yaml_io
from bpftui.core.errors import InputError

DATA = Path(__file__).parents[1] / "data" / "crds"
SAMPLES = [
    yaml.safe_load(p.read_text()) for p in sorted((DATA / "samples").glob("*.yaml"))
]
BOUNDED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

FIELD_NAMES = sorted(
    {f.name.removesuffix("[]") for kind in api.KINDS for f in rules.fields(kind)}
    | {"apiVersion", "kind", "metadata", "spec", "status", "items", "<<"}
)


def crd_validator(kind: str) -> jsonschema.protocols.Validator:
    manifest = yaml.safe_load((DATA / api.KINDS[kind].crd_file).read_text())
    return jsonschema.Draft7Validator(
        manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    )


VALIDATORS = {kind: crd_validator(kind) for kind in api.KINDS}


def assert_clean_problems(found: Any) -> None:
    assert isinstance(found, list)
    for problem in found:
        assert isinstance(problem, rules.Problem)
        assert isinstance(problem.path, str)
        assert problem.message
        assert str(problem)


def assert_builds_when_error_free(doc: Any) -> None:
    """No errors means: a record, an export both judges accept, a stable round trip."""
    found = rules.check(doc)
    assert_clean_problems(found)
    if rules.errors(found):
        return
    obj = api.from_dict(doc)
    tree = api.to_dict(obj)
    VALIDATORS[tree["kind"]].validate(tree)
    assert rules.errors(rules.check(tree)) == []
    (again,) = yaml_io.read_text(yaml_io.dump_yaml([obj]), "export")
    assert again.to_object() == obj
    assert json.loads(yaml_io.dump_json([obj])) == tree


def read_and_check(text: str) -> None:
    try:
        documents = yaml_io.read_text(text, "fuzz.yaml")
    except InputError as err:
        assert str(err)
        return
    for doc in documents:
        found = doc.check()
        assert_clean_problems(found)
        assert all(p.line is None or p.line >= 1 for p in found)


# --- text -------------------------------------------------------------------------

YAML_PIECES = [
    "a:", " b:", "kind: XdpProgram", "kind: List", "items:",
    "apiVersion: bpfman.io/v1alpha1", "metadata:", "  name: x", "spec:",
    "  priority: 5", "  proceedon: [pass, x]", "- ", "-", "[", "]", "{", "}", ",",
    ": ", "&a ", "*a", "&b ", "*b", "<<: ", "!!str ", "!!int ", "!!binary ",
    "!!set ", "!foo ", "? ", "'", '"', "---", "...", "#c", "\n", "\n  ", "  ",
    "0x0D", "1e3", ".nan", "~", "null", "yes", "2024-01-01", "|", ">", "\t",
    "%YAML 1.1", "\\", "\x00", "\ufeff", "é", "99999999999999999999",
]  # fmt: skip


@BOUNDED
@given(st.text(max_size=300))
def test_any_text_reads_cleanly(text):
    read_and_check(text)


@BOUNDED
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_yaml_like_text_reads_cleanly(text):
    read_and_check(text)


@BOUNDED
@given(st.binary(max_size=200))
def test_any_bytes_read_cleanly(data):
    try:
        documents = yaml_io.read_bytes(data, "fuzz.yaml")
    except InputError:
        return
    for doc in documents:
        assert_clean_problems(doc.check())


# --- trees ------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["pass", "ingress", "eth0", "AQ==", "syscalls/sys_enter_openat", ""]
    ),
    st.binary(max_size=4),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8), st.integers(0, 3))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=30,
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[Any, Any]:
    """An object that looks like one of ours, with arbitrary insides."""
    kind = draw(st.sampled_from([*api.KINDS, "xdp", "Nope"]))
    doc: dict[Any, Any] = {"apiVersion": api.API_VERSION, "kind": kind}
    doc["metadata"] = draw(st.one_of(st.just({"name": "x"}), trees))
    doc["spec"] = draw(st.one_of(st.dictionaries(keys, trees, max_size=8), trees))
    if draw(st.booleans()):
        doc["status"] = draw(trees)
    return doc


@BOUNDED
@given(trees)
def test_any_tree_gets_a_clean_problem_list(tree):
    assert_clean_problems(rules.check(tree))


@BOUNDED
@given(envelopes())
def test_any_object_shaped_tree_gets_a_clean_answer(doc):
    assert_builds_when_error_free(doc)


def paths_of(tree: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths_of(value, (*prefix, index))
    return found


@st.composite
def mutated_samples(draw: st.DrawFn) -> Any:
    """A valid sample with one to three of its fields changed or removed."""
    doc = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(doc)))
        if not path:
            continue
        parent = doc
        for seg in path[:-1]:
            parent = parent[seg]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(trees)
        doc = copy.deepcopy(doc)  # shared subtrees stay independent
    return doc


@BOUNDED
@given(mutated_samples())
def test_mutated_samples_get_a_clean_answer(doc):
    assert_builds_when_error_free(doc)


@BOUNDED
@given(mutated_samples())
def test_mutated_samples_read_back_from_yaml_alike(doc):
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return  # a value PyYAML cannot write (bytes keys ...)
    read_and_check(text)


# --- valid objects ----------------------------------------------------------------

dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
label_value = st.from_regex(
    r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?", fullmatch=True
)
labels = st.dictionaries(
    st.one_of(dns_label, st.builds("{}/{}".format, dns_label, dns_label)),
    label_value,
    max_size=3,
)
interface = st.from_regex(r"[a-z][a-z0-9.-]{0,14}", fullmatch=True)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    if draw(st.booleans()):
        tree["matchLabels"] = draw(labels)
    if draw(st.booleans()):
        op = draw(st.sampled_from(api.SELECTOR_OPERATORS))
        req = {"key": draw(dns_label), "operator": op}
        if op in ("In", "NotIn"):
            req["values"] = draw(st.lists(label_value, min_size=1, max_size=3))
        tree["matchExpressions"] = [req]
    return tree


@st.composite
def valid_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid object of any program kind, with optional fields drawn or left out."""
    kind = draw(st.sampled_from(api.PROGRAM_KINDS))
    code = draw(
        st.one_of(
            st.builds(lambda p: {"path": "/opt/" + p}, identifier),
            st.builds(
                lambda u, pol: {
                    "image": {"url": f"quay.io/{u}:v1", "imagepullpolicy": pol}
                },
                dns_label,
                st.sampled_from(api.IMAGE_PULL_POLICIES),
            ),
        )
    )
    spec: dict[str, Any] = {
        "bpffunctionname": draw(identifier),
        "nodeselector": draw(selectors()),
        "bytecode": code,
        "globaldata": draw(
            st.dictionaries(
                identifier,
                st.one_of(
                    st.binary(min_size=1, max_size=8).map(api.encode_bytes),
                    st.lists(st.integers(0, 255), min_size=1, max_size=8),
                ),
                max_size=3,
            )
        ),
    }
    spec.update(draw(KIND_FIELDS[kind]))
    meta = {"name": draw(dns_label), "labels": draw(labels)}
    return {"apiVersion": api.API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def _attach(values: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "priority": st.integers(api.PRIORITY_MIN, api.PRIORITY_MAX),
            "interfaceselector": st.one_of(
                st.just({"primarynodeinterface": True}),
                st.builds(
                    lambda names: {"interfaces": names},
                    st.lists(interface, min_size=1, max_size=3, unique=True),
                ),
            ),
        },
        optional={
            "proceedon": st.lists(
                st.sampled_from(values), max_size=len(values), unique=True
            )
        },
    )


_probe = st.fixed_dictionaries(
    {"func_name": identifier},
    optional={"retprobe": st.just(False), "offset": st.integers(0, 4096)},
)
KIND_FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "XdpProgram": _attach(api.XDP_PROCEED_ON),
    "TcProgram": st.builds(
        lambda d, a: {"direction": d, **a},
        st.sampled_from(api.DIRECTIONS),
        _attach(api.TC_PROCEED_ON),
    ),
    "TracepointProgram": st.builds(
        lambda names: {"names": names},
        st.lists(
            st.builds("{}/{}".format, identifier, identifier),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    ),
    "KprobeProgram": st.one_of(_probe, st.just({"func_name": "f", "retprobe": True})),
    "UprobeProgram": st.fixed_dictionaries(
        {"target": st.sampled_from(["libc", "/usr/bin/bash"])},
        optional={
            "func_name": identifier,
            "offset": st.integers(0, 64),
            "retprobe": st.booleans(),
            "pid": st.integers(1, 2**31 - 1),
            "containers": st.builds(
                lambda pods, ns: {"pods": pods, "namespace": ns}, selectors(), dns_label
            ),
        },
    ),
    "FentryProgram": st.fixed_dictionaries({"func_name": identifier}),
    "FexitProgram": st.fixed_dictionaries({"func_name": identifier}),
}


@BOUNDED
@given(valid_docs())
def test_valid_objects_round_trip_and_export_for_kubectl(doc):
    found = rules.check(doc)
    assert rules.errors(found) == [], [str(p) for p in found]
    assert_builds_when_error_free(doc)


# --- composing --------------------------------------------------------------------


@st.composite
def settings_for(draw: st.DrawFn) -> tuple[str, str, str]:
    kind = draw(st.sampled_from(api.PROGRAM_KINDS))
    specs = [f for f in rules.fields(kind) if f.path not in ("metadata", "spec")]
    path = draw(st.sampled_from(specs)).short_path.replace("[]", "[0]")
    text = draw(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(
                ["0", "10", "true", "a,b", "k=v", "{}", "[]", "0x01,0x02", "AQ=="]
            ),
        )
    )
    return kind, path, text


@BOUNDED
@given(settings_for(), st.lists(settings_for(), max_size=4))
def test_set_path_gives_a_tree_or_an_input_error(first, more):
    doc = compose.new_doc(first[0], "x")
    for _, path, text in [first, *more]:
        try:
            doc = compose.set_path(doc, path, text)
        except InputError as err:
            assert str(err)
    assert_clean_problems(rules.check(doc))
    for _, path, _ in more:
        with contextlib.suppress(InputError):
            doc = compose.unset_path(doc, path)
    assert_builds_when_error_free(doc)
