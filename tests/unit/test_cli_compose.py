"""``bpftui validate``, ``export`` and ``new``: output lines and exit statuses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from bpftui.cli import main
from bpftui.core import api, rules

DATA = Path(__file__).parents[1] / "data" / "crds"
SAMPLES = sorted((DATA / "samples").glob("*.yaml"))

BAD = """\
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata:
  name: edge-filter
spec:
  bpffunctionname: xdp_pass
  nodeselector: {}
  priority: 1001
  interfaceselector:
    primarynodeinterface: false
  bytecode:
    path: /opt/x.o
---
apiVersion: bpfman.io/v1alpha1
kind: UprobeProgram
metadata:
  name: ret
spec:
  bpffunctionname: my_uprobe
  nodeselector: {}
  target: libc
  retprobe: true
  offset: 8
  bytecode:
    path: /opt/u.o
"""

WARN_ONLY = BAD.split("---\n")[1]

NEW_XDP = [
    "new",
    "xdp",
    "edge",
    "--set",
    "bpffunctionname=xdp_pass",
    "--set",
    "spec.priority=10",
    "--set",
    "interfaceselector.interfaces=eth0,eth1",
    "--set",
    "bytecode.image.url=quay.io/bpfman-bytecode/xdp_pass:latest",
    "--set",
    "globaldata.GLOBAL_u32=0x0D,0x0C,0x0B,0x0A",
]


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bpftui", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def crd_schema(kind: str) -> dict:
    manifest = yaml.safe_load((DATA / api.KINDS[kind].crd_file).read_text())
    return manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


# --- validate -------------------------------------------------------------------


def test_validate_accepts_every_sample(capsys):
    assert main(["validate", "-f", *map(str, SAMPLES)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{len(SAMPLES)} objects in {len(SAMPLES)} files: 0 invalid" in captured.err


def test_validate_prints_one_line_per_problem(bad_file, capsys):
    assert main(["validate", "-f", str(bad_file)]) == 1
    lines = capsys.readouterr().out.splitlines()
    xdp = f"{bad_file}:8: XdpProgram/edge-filter"
    assert lines == [
        f"{xdp}: spec.priority: 1001 is above the maximum 1000",
        f"{bad_file}:10: XdpProgram/edge-filter: "
        "spec.interfaceselector.primarynodeinterface: "
        "only true is accepted; to name interfaces, set interfaces instead",
        f"{bad_file}:23: warning: UprobeProgram/ret: spec.offset: offset is set "
        "on a uretprobe; the CRD allows it, but a return probe fires on return, "
        "so the offset is most likely a mistake",
    ]


def test_validate_line_format_is_file_line_kind_name_field_message(bad_file, capsys):
    main(["validate", "-f", str(bad_file)])
    pattern = re.compile(r"^(.+):(\d+): (warning: )?(\w+)/([\w.-]+): ([\w.\[\]]+): .+$")
    for line in capsys.readouterr().out.splitlines():
        assert pattern.match(line), line


def test_warnings_do_not_fail(tmp_path, capsys):
    path = tmp_path / "warn.yaml"
    path.write_text(WARN_ONLY)
    assert main(["validate", "-f", str(path), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("warning:") == 1
    assert captured.err == ""


def test_validate_reads_many_files_and_stdin(bad_file, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    assert main(["validate", "-f", str(SAMPLES[0]), "-f", "-", str(SAMPLES[1])]) == 1
    out = capsys.readouterr().out
    assert out.startswith("<stdin>:8: XdpProgram/edge-filter: spec.priority")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"a: [\n", ":2: not valid YAML"),
        (b"a: \xff\n", ":1: not UTF-8 text"),
        (b"", "no objects found"),
        (b"- 1\n", ":1: object/<unnamed>: expected an object"),
    ],
)
def test_unreadable_or_odd_files_fail_with_a_line(tmp_path, capsys, content, words):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    assert main(["validate", "-f", str(path), str(SAMPLES[0])]) == 1
    out = capsys.readouterr().out
    assert out.startswith(str(path))
    assert words in out


def test_missing_file(tmp_path, capsys):
    assert main(["validate", "-f", str(tmp_path / "none.yaml")]) == 1
    assert "cannot read: No such file or directory" in capsys.readouterr().out


# --- export ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_normalises_every_sample_for_kubectl(fmt, capsys):
    assert main(["export", "-f", *map(str, SAMPLES), "-o", fmt]) == 0
    out = capsys.readouterr().out
    trees = json.loads(out)["items"] if fmt == "json" else list(yaml.safe_load_all(out))
    assert len(trees) == len(SAMPLES)
    for tree in trees:
        jsonschema.Draft7Validator(crd_schema(tree["kind"])).validate(tree)
        assert rules.check(tree) == []
        assert "0x" not in json.dumps(tree)


def test_export_fills_defaults_in_schema_order(capsys):
    sample = next(p for p in SAMPLES if "tc_pass" in p.name)
    assert main(["export", "-f", str(sample)]) == 0
    tree = yaml.safe_load(capsys.readouterr().out)
    assert tree["spec"]["proceedon"] == ["pipe", "dispatcher_return"]
    assert tree["spec"]["bytecode"]["image"]["imagepullpolicy"] == "IfNotPresent"
    assert list(tree["spec"]) == sorted(tree["spec"])  # the CRD's order


def test_export_refuses_invalid_objects(bad_file, capsys):
    assert main(["export", "-f", str(bad_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{bad_file}:8: XdpProgram/edge-filter: spec.priority" in captured.err


# --- new ------------------------------------------------------------------------


def test_new_prints_a_valid_normalised_object(capsys):
    assert main(NEW_XDP) == 0
    tree = yaml.safe_load(capsys.readouterr().out)
    jsonschema.Draft7Validator(crd_schema("XdpProgram")).validate(tree)
    assert rules.check(tree) == []
    assert tree["spec"]["priority"] == 10
    assert tree["spec"]["interfaceselector"] == {"interfaces": ["eth0", "eth1"]}
    assert tree["spec"]["globaldata"] == {"GLOBAL_u32": "DQwLCg=="}
    assert tree["spec"]["proceedon"] == ["pass", "dispatcher_return"]


def test_new_as_json(capsys):
    assert main([*NEW_XDP, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "XdpProgram"


@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        ("tc", ["direction=egress", "priority=5", "interfaceselector.interfaces=lo"]),
        ("TracepointProgram", ["names=syscalls/sys_enter_openat"]),
        ("kprobeprograms", ["func_name=try_to_wake_up", "retprobe=true"]),
        ("uprobe", ["target=libc", "func_name=malloc", "containers.pods={}"]),
        ("fentry", ["func_name=do_unlinkat"]),
        ("fexitprogram", ["func_name=do_unlinkat"]),
    ],
)  # fmt: skip
def test_new_composes_every_program_kind(kind, settings, capsys):
    common = ["bpffunctionname=prog", "bytecode.path=/opt/prog.o"]
    argv = ["new", kind, "prog"]
    for setting in [*common, *settings]:
        argv += ["--set", setting]
    assert main(argv) == 0
    tree = yaml.safe_load(capsys.readouterr().out)
    jsonschema.Draft7Validator(crd_schema(tree["kind"])).validate(tree)
    assert rules.check(tree) == []


def test_new_incomplete_prints_problems_and_fails(capsys):
    assert main(["new", "xdp", "edge"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "XdpProgram/edge: spec.priority: required field is missing" in captured.err
    assert "--draft" in captured.err


def test_new_draft_prints_the_template(capsys):
    assert main(["new", "kprobe", "wake", "--draft"]) == 0
    captured = capsys.readouterr()
    tree = yaml.safe_load(captured.out)
    assert tree["spec"]["offset"] == 0
    assert "spec.func_name: required field is missing" in captured.err


def test_new_fields_lists_paths_types_and_defaults(capsys):
    assert main(["new", "xdp", "--fields"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\* priority +integer", out)
    assert "proceedon" in out
    assert "default pass,dispatcher_return" in out


def test_new_bad_value_is_an_input_error(capsys):
    assert main(["new", "xdp", "edge", "--set", "priority=ten"]) == 1
    assert 'spec.priority: "ten" is not an integer' in capsys.readouterr().err


def test_new_unknown_field_names_the_closest(capsys):
    assert main(["new", "xdp", "edge", "--set", "prority=1"]) == 1
    assert 'did you mean "priority"' in capsys.readouterr().err


# --- exit statuses and help through the real entry point -------------------------


def test_exit_statuses_from_a_subprocess(bad_file):
    assert run("validate", "-f", str(SAMPLES[0])).returncode == 0
    assert run("validate", "-f", str(bad_file)).returncode == 1
    assert run("validate").returncode == 2
    assert run("validate", "-f", "-", stdin=BAD).returncode == 1
    assert run("export", "-f", str(SAMPLES[0]), "-o", "toml").returncode == 2
    assert run(*NEW_XDP).returncode == 0
    assert run("new", "xdp", "edge").returncode == 1
    assert run("new", "xpd", "edge").returncode == 2
    assert run("new", "xdp", "edge", "--set", "priority").returncode == 2
    assert run("new", "xdp").returncode == 2


def test_user_errors_never_show_a_traceback(bad_file):
    for argv in (
        ["validate", "-f", "/nonexistent/x.yaml"],
        ["new", "xdp", "e", "--set", "nodeselector={a: ["],
        ["new", "zzz", "e"],
        ["export", "-f", str(bad_file)],
    ):
        result = run(*argv)
        assert "Traceback" not in result.stderr
        assert result.returncode in (1, 2)


@pytest.mark.parametrize("command", ["validate", "export", "new"])
def test_every_command_has_help_with_examples(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert f"bpftui {command}" in result.stdout
