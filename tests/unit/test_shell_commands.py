"""Shell commands run in-process against the demo node."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bpftui.core.errors import InputError, UsageError, ValidationError
from bpftui.core.session import open_session
from bpftui.shell.commands import execute
from bpftui.shell.runner import run_script
from bpftui.shell.state import Shell


@pytest.fixture
def shell() -> Iterator[Shell]:
    made = Shell(
        lambda: open_session(demo=True, config_path=None),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    yield made
    made.close()


def run(shell: Shell, line: str) -> str:
    """Run one command; return what it printed."""
    out = shell.out
    assert isinstance(out, io.StringIO)
    start = len(out.getvalue())
    execute(shell, line.split())
    return out.getvalue()[start:]


def doc(shell: Shell) -> dict:
    return shell.workspace.doc()


XDP_READY = (
    "new xdp edge",
    "set priority 10",
    "set interfaceselector.interfaces eth0",
    "set bytecode.path /opt/xdp.o",
    "set bpffunctionname xdp_pass",
)


def compose(shell: Shell, *lines: str) -> None:
    for line in lines:
        run(shell, line)


# ---------------------------------------------------------------- composing


@pytest.mark.parametrize("kind", ["xdp", "XdpProgram", "xdpprogram", "XDPPROGRAMS"])
def test_new_accepts_any_name_of_a_kind(shell: Shell, kind: str) -> None:
    run(shell, f"new {kind} edge")
    assert shell.workspace.current == "XdpProgram/edge"
    assert doc(shell)["spec"]["proceedon"] == ["pass", "dispatcher_return"]


def test_new_refuses_an_unknown_kind_with_a_hint(shell: Shell) -> None:
    with pytest.raises(InputError, match='unknown kind "xpd"') as caught:
        run(shell, "new xpd edge")
    assert caught.value.hint == 'did you mean "XdpProgram"?'


def test_new_refuses_a_taken_name(shell: Shell) -> None:
    run(shell, "new xdp edge")
    with pytest.raises(InputError, match="xdp/edge already exists"):
        run(shell, "new xdp edge")


def test_a_refused_set_leaves_the_object_unchanged(shell: Shell) -> None:
    compose(shell, "new xdp edge", "set priority 10")
    before = doc(shell)
    with pytest.raises(ValidationError) as caught:
        run(shell, "set priority 1001")
    assert str(caught.value) == (
        "XdpProgram/edge: spec.priority: 1001 is above the maximum 1000"
    )
    assert doc(shell) == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("set proceedon pass,bogus", 'spec.proceedon[1]: "bogus" is not one of'),
        ("set priority ten", 'spec.priority: "ten" is not an integer'),
        ("set interfaceselector.primarynodeinterface false", "primarynodeinterface"),
        ("set prio 1", 'has no field "prio"'),
    ],
)
def test_set_refuses_what_breaks_a_rule(shell: Shell, line: str, message: str) -> None:
    run(shell, "new xdp edge")
    before = doc(shell)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        run(shell, line)
    assert doc(shell) == before


def test_set_refuses_a_conflict_with_a_sibling(shell: Shell) -> None:
    """Exactly one of interfaces and primarynodeinterface: the second is
    refused, naming the rule on the object that holds both."""
    compose(shell, "new tc t", "set interfaceselector.interfaces eth0")
    with pytest.raises(
        ValidationError, match=r"spec\.interfaceselector: set exactly one"
    ):
        run(shell, "set interfaceselector.primarynodeinterface true")


def test_set_allows_half_built_objects(shell: Shell) -> None:
    """Required fields still missing elsewhere do not block an edit."""
    compose(shell, "new xdp edge", "set bytecode.image.imagepullpolicy Always")
    assert doc(shell)["spec"]["bytecode"] == {"image": {"imagepullpolicy": "Always"}}


def test_list_values_as_several_words(shell: Shell) -> None:
    compose(shell, "new tracepoint t")
    execute(shell, ["set", "names", "sched/sched_switch,", "sched/sched_wakeup"])
    assert doc(shell)["spec"]["names"] == ["sched/sched_switch", "sched/sched_wakeup"]


def test_several_words_for_a_single_value_is_a_usage_error(shell: Shell) -> None:
    run(shell, "new kprobe k")
    with pytest.raises(UsageError, match="one value expected, got 2"):
        run(shell, "set func_name a b")


def test_unset_removes_a_field(shell: Shell) -> None:
    compose(shell, "new xdp edge", "set priority 3", "unset priority")
    assert "priority" not in doc(shell)["spec"]


def test_switching_between_exclusive_fields(shell: Shell) -> None:
    compose(
        shell,
        "new xdp edge",
        "set interfaceselector.interfaces eth0",
        "unset interfaceselector.interfaces",
        "set interfaceselector.primarynodeinterface true",
    )
    assert doc(shell)["spec"]["interfaceselector"] == {"primarynodeinterface": True}


def test_setting_an_object_with_a_member_missing_is_allowed(shell: Shell) -> None:
    compose(shell, "new xdp edge")
    execute(shell, ["set", "bytecode.image", "{imagepullpolicy: Never}"])
    assert doc(shell)["spec"]["bytecode"]["image"] == {"imagepullpolicy": "Never"}


def test_renaming_keeps_the_place_in_the_workspace(shell: Shell) -> None:
    compose(shell, "new xdp a", "new tc b", "use xdp/a", "set metadata.name c")
    assert list(shell.workspace.docs) == ["XdpProgram/c", "TcProgram/b"]
    assert shell.workspace.current == "XdpProgram/c"


def test_use_and_discard(shell: Shell) -> None:
    compose(shell, "new xdp a", "new tc a", "new kprobe k")
    with pytest.raises(InputError, match='"a" is ambiguous: xdp/a, tc/a'):
        run(shell, "use a")
    run(shell, "use tc/a")
    assert shell.workspace.current == "TcProgram/a"
    assert run(shell, "discard") == "discarded tc/a\n"
    assert shell.workspace.current == "KprobeProgram/k"
    with pytest.raises(InputError, match="no object named"):
        run(shell, "use nothing")


def test_show_prints_yaml_and_json(shell: Shell) -> None:
    compose(shell, "new fentry f", "set func_name do_unlinkat")
    assert yaml.safe_load(run(shell, "show"))["spec"]["func_name"] == "do_unlinkat"
    assert json.loads(run(shell, "show -o json"))["kind"] == "FentryProgram"


def test_validate_lists_every_problem(shell: Shell) -> None:
    run(shell, "new fentry f")
    with pytest.raises(ValidationError, match="3 problem"):
        run(shell, "validate")
    printed = shell.out.getvalue()  # type: ignore[attr-defined]
    assert (
        "error: FentryProgram/f: spec.func_name: required field is missing" in printed
    )


def test_validate_a_valid_object(shell: Shell) -> None:
    compose(shell, *XDP_READY)
    assert run(shell, "validate") == "xdp/edge: valid\n"


def test_export_and_load(shell: Shell, tmp_path: Path) -> None:
    compose(shell, *XDP_READY)
    target = tmp_path / "edge.yaml"
    assert run(shell, f"export {target}") == f"wrote 1 object(s) to {target}\n"
    written = yaml.safe_load(target.read_text())
    assert written["spec"]["nodeselector"] == {}

    other = Shell(lambda: None, out=io.StringIO())  # type: ignore[arg-type, return-value]
    assert run(other, f"load {target}") == "loaded xdp/edge (valid)\n"
    assert other.workspace.doc() == doc(shell)


def test_export_force_writes_invalid_objects(shell: Shell, tmp_path: Path) -> None:
    run(shell, "new kprobe k")
    target = tmp_path / "draft.yaml"
    with pytest.raises(ValidationError):
        run(shell, f"export {target}")
    run(shell, f"export {target} --force")
    assert yaml.safe_load(target.read_text())["kind"] == "KprobeProgram"


def test_load_refuses_objects_it_cannot_compose(shell: Shell, tmp_path: Path) -> None:
    source = tmp_path / "bpf.yaml"
    source.write_text(
        "apiVersion: bpfman.io/v1alpha1\nkind: BpfProgram\nmetadata: {name: x}\n"
    )
    with pytest.raises(InputError, match="kind 'BpfProgram' cannot be composed"):
        run(shell, f"load {source}")
    assert not shell.workspace.docs


def test_load_reports_unreadable_yaml(shell: Shell, tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text("kind: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml"):
        run(shell, f"load {source}")


# ---------------------------------------------------------------- the node


@pytest.mark.parametrize(
    "target",
    [
        "interfaces",
        "tracepoints",
        "functions",
        "processes",
        "programs",
        "links",
        "maps",
        "objects",
    ],
)
def test_every_listing_has_json(shell: Shell, target: str) -> None:
    assert isinstance(json.loads(run(shell, f"list {target} -o json")), list)


def test_symbols_need_a_target(shell: Shell) -> None:
    with pytest.raises(UsageError, match="which binary"):
        run(shell, "list symbols")
    assert "malloc" in run(shell, "list symbols libc --filter malloc")


def test_listing_filter(shell: Shell) -> None:
    rows = run(shell, "list tracepoints --filter sched_switch").splitlines()
    assert rows == ["TRACEPOINT", "sched/sched_switch"]


def test_apply_status_inspect_delete(shell: Shell) -> None:
    compose(shell, *XDP_READY)
    assert run(shell, "apply").startswith("xdpprogram.bpfman.io/edge eth0: Loaded")
    listing = json.loads(run(shell, "status -o json"))
    (bpf,) = [i for i in listing["items"] if i["kind"] == "BpfProgram"]
    prog_id = int(bpf["metadata"]["annotations"]["bpfman.io/ProgramId"])

    wide = run(shell, "status -o wide")
    assert "PRIORITY" in wide
    assert "xdpprogram.bpfman.io/edge" in wide

    shown = json.loads(run(shell, f"inspect program {prog_id} -o json"))
    assert shown["owner"] == "XdpProgram/edge"
    (map_id,) = shown["map_ids"]
    values = json.loads(run(shell, f"inspect map {map_id} --limit 2 -o json"))
    assert len(values["entries"]) == 2
    assert "ReconcileSuccess" in run(shell, "inspect object xdp/edge")

    assert run(shell, "delete xdp/edge") == "xdpprogram.bpfman.io/edge deleted\n"
    assert run(shell, "status") == ""
    assert shell.err.getvalue().endswith("No resources found\n")  # type: ignore[attr-defined]


def test_apply_refuses_an_invalid_object(shell: Shell) -> None:
    run(shell, "new xdp edge")
    with pytest.raises(ValidationError, match="XdpProgram/edge: spec"):
        run(shell, "apply")


def test_inspect_an_unknown_id(shell: Shell) -> None:
    with pytest.raises(InputError, match="map 999: not found"):
        run(shell, "inspect map 999")
    with pytest.raises(InputError, match='program id "x" is not a number'):
        run(shell, "inspect program x")


def test_watch_prints_the_conditions(shell: Shell) -> None:
    compose(shell, *XDP_READY, "apply")
    printed = run(shell, "watch --count 2 --interval 0.01")
    assert printed.count("conditions (2 rows") == 1  # unchanged: printed once
    assert "xdp/edge   ReconcileSuccess" in printed


def test_doctor(shell: Shell) -> None:
    features = json.loads(run(shell, "doctor -o json"))
    assert {"name", "available", "detail", "needs"} <= set(features[0])
    assert " yes " in run(shell, "doctor")


# ---------------------------------------------------------------- help and errors


def test_help_lists_every_command(shell: Shell) -> None:
    printed = run(shell, "help")
    names = "list inspect new set unset show validate export load use apply delete"
    for name in [*names.split(), "status", "watch", "doctor", "help", "exit"]:
        assert f"\n  {name} " in printed


def test_help_for_one_command(shell: Shell) -> None:
    printed = run(shell, "help set")
    assert printed.startswith("usage: set FIELD VALUE [VALUE ...]")
    assert "set proceedon pass,drop,dispatcher_return" in printed
    assert run(shell, "set --help") == printed


def test_unknown_command_suggests_the_closest(shell: Shell) -> None:
    with pytest.raises(UsageError, match="unknown command 'doctr'") as caught:
        run(shell, "doctr")
    assert caught.value.hint == "did you mean 'doctor'?"


def test_bad_arguments_name_the_usage(shell: Shell) -> None:
    with pytest.raises(UsageError) as caught:
        run(shell, "status -o bogus")
    assert "usage: status [-o {table,wide,json,yaml}]" in str(caught.value)


def test_a_script_reports_bugs_without_a_traceback(shell: Shell, monkeypatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(shell.session, "doctor", broken)
    status = run_script(shell, ["doctor\n", "help\n"], source="t", keep_going=True)
    assert status == 1
    assert shell.err.getvalue().startswith(  # type: ignore[attr-defined]
        "bpftui: t:1: internal error: RuntimeError: boom"
    )
    assert "commands:" in shell.out.getvalue()  # type: ignore[attr-defined]


def test_ctrl_c_in_a_script_stops_it_with_130(shell: Shell, monkeypatch) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shell.session, "doctor", interrupted)
    status = run_script(shell, ["doctor\n", "help\n"], source="t", keep_going=True)
    assert status == 130
    assert shell.err.getvalue() == "bpftui: t:1: doctor: cancelled\n"  # type: ignore[attr-defined]
    assert shell.out.getvalue() == ""  # type: ignore[attr-defined]
