"""``bpftui apply/delete/status/doctor/restore/list`` on the demo node."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from bpftui.cli import main
from bpftui.core import node_session, session

NOW = 1_767_225_600.0

GOOD = """\
apiVersion: bpfman.io/v1alpha1
kind: TracepointProgram
metadata:
  name: opens
spec:
  bpffunctionname: enter_openat
  nodeselector: {}
  names: [syscalls/sys_enter_openat, syscalls/sys_enter_close]
  bytecode: {path: /opt/tp.o}
---
apiVersion: bpfman.io/v1alpha1
kind: XdpProgram
metadata:
  name: edge
spec:
  bpffunctionname: xdp_pass
  nodeselector: {matchLabels: {kubernetes.io/os: linux}}
  interfaceselector: {interfaces: [eth0]}
  priority: 10
  bytecode: {path: /opt/xdp.o}
---
apiVersion: bpfman.io/v1alpha1
kind: FentryProgram
metadata:
  name: elsewhere
spec:
  bpffunctionname: f
  nodeselector: {matchLabels: {zone: far}}
  func_name: do_unlinkat
  bytecode: {path: /opt/f.o}
"""

BAD = """\
apiVersion: bpfman.io/v1alpha1
kind: KprobeProgram
metadata:
  name: wake
spec:
  bpffunctionname: bad_probe
  nodeselector: {}
  func_name: try_to_wake_up
  bytecode: {path: /opt/k.o}
"""


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    return str(good), str(bad)


@pytest.fixture
def node(monkeypatch):
    """One demo node kept across commands, as a real node is."""
    shared = node_session.demo_session(clock=lambda: NOW)
    monkeypatch.setattr(shared, "close", lambda: None)
    monkeypatch.setattr(session, "open_session", lambda **_: shared)
    return shared


def run(capsys, *argv):
    code = main(["--demo", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_apply_prints_one_line_per_attach_point(capsys, files, node):
    code, out, _ = run(capsys, "apply", "-f", files[0])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "tracepointprogram.bpfman.io/opens syscalls/sys_enter_openat: Loaded"
    )
    assert lines[1].startswith(
        "tracepointprogram.bpfman.io/opens syscalls/sys_enter_close: Loaded"
    )
    assert lines[2].startswith("xdpprogram.bpfman.io/edge eth0: Loaded")
    assert lines[3] == (
        "fentryprogram.bpfman.io/elsewhere do_unlinkat: NotSelected: "
        "the nodeselector does not match this node's labels"
    )


def test_apply_exits_1_and_shows_the_verifier_log(capsys, files):
    code, out, _ = run(capsys, "apply", "-f", files[1])
    assert code == 1
    assert "kprobeprogram.bpfman.io/wake try_to_wake_up: NotLoaded:" in out
    assert "    verifier log (last lines):" in out
    assert "invalid access to packet" in out


def test_apply_reads_standard_input(capsys, monkeypatch, files):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    code, out, _ = run(capsys, "apply", "-f", "-")
    assert code == 1 and "NotLoaded" in out


def test_apply_refuses_bpfprogram_objects(capsys, tmp_path):
    path = tmp_path / "bp.yaml"
    path.write_text(
        "apiVersion: bpfman.io/v1alpha1\nkind: BpfProgram\nmetadata: {name: x}\n"
        "spec: {type: xdp}\n"
    )
    code, _, err = run(capsys, "apply", "-f", str(path))
    assert code == 2
    assert "written by the node agent" in err


def test_invalid_objects_are_refused_before_the_kernel(capsys, tmp_path, node):
    path = tmp_path / "x.yaml"
    path.write_text(GOOD.replace("priority: 10", "priority: 5000"))
    code, out, err = run(capsys, "apply", "-f", str(path))
    assert code == 1
    assert "priority" in err and out == ""
    assert node.status() == []


def test_status_table_and_wide(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "NAME",
        "BPFFUNCTIONNAME",
        "NODESELECTOR",
        "STATUS",
    ]
    assert "xdpprogram.bpfman.io/edge" in out
    assert '{"matchLabels":{"kubernetes.io/os":"linux"}}' in out
    assert "ReconcileSuccess" in out
    assert "bpfprogram.bpfman.io/opens-demo-node-syscalls-sys-enter-openat" in out
    assert "nodeNotSelected" in out
    _, wide, _ = run(capsys, "status", "-o", "wide")
    assert "PRIORITY" in wide and "PROCEEDON" in wide and "TRACEPOINT" in wide
    assert '["pass","dispatcher_return"]' in wide


def test_status_json_is_a_kubernetes_list(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    code, out, _ = run(capsys, "status", "-o", "json")
    listing = json.loads(out)
    assert code == 0
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    kinds = [i["kind"] for i in listing["items"]]
    assert kinds.count("BpfProgram") == 4
    for item in listing["items"]:
        assert set(item) >= {"apiVersion", "kind", "metadata", "spec", "status"}
        assert item["status"]["conditions"][0]["type"]
    edge = next(i for i in listing["items"] if i["metadata"]["name"] == "edge")
    assert edge["status"]["conditions"][0]["type"] == "ReconcileSuccess"
    bp = next(
        i for i in listing["items"] if i["metadata"]["name"] == "edge-demo-node-eth0"
    )
    assert bp["metadata"]["labels"]["bpfman.io/ownedByProgram"] == "edge"
    assert "bpfman.io/ProgramId" in bp["metadata"]["annotations"]


def test_status_yaml(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    _, out, _ = run(capsys, "status", "-o", "yaml")
    assert yaml.safe_load(out)["kind"] == "List"


def test_status_on_an_empty_node(capsys):
    code, out, err = run(capsys, "status")
    assert code == 0 and out == "" and "No resources found" in err


def test_delete_by_name_and_by_file(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    code, out, _ = run(capsys, "delete", "xdp/edge")
    assert code == 0 and out == "xdpprogram.bpfman.io/edge deleted\n"
    code, out, err = run(capsys, "delete", "-f", files[0])
    assert code == 1  # edge was already gone
    assert "tracepointprogram.bpfman.io/opens deleted" in out
    assert "xdpprogram.bpfman.io/edge: not applied on this node" in err
    assert node.status() == []


def test_delete_needs_something_to_delete(capsys):
    code, _, err = run(capsys, "delete")
    assert code == 2 and "-f FILE or KIND/NAME" in err
    code, _, err = run(capsys, "delete", "edge")
    assert code == 2 and "not a KIND/NAME" in err


def test_restore_reapplies(capsys, files, node):
    code, out, _ = run(capsys, "restore")
    assert code == 0 and "nothing to restore" in out
    run(capsys, "apply", "-f", files[0])
    code, out, _ = run(capsys, "restore")
    assert code == 0 and out.count(": Loaded") == 3


def test_doctor(capsys):
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and out.splitlines()[0].split() == [
        "NAME",
        "AVAILABLE",
        "DETAIL",
        "NEEDS",
    ]
    _, out, _ = run(capsys, "doctor", "-o", "json")
    names = {f["name"] for f in json.loads(out)}
    assert {"bpffs", "kprobes", "fentry", "freplace", "xdp-native"} <= names


def test_doctor_says_whether_the_c_twins_run(capsys, monkeypatch):
    monkeypatch.setenv("BPFTUI_PURE_PYTHON", "1")
    _, out, _ = run(capsys, "doctor", "-o", "json")
    found = {f["name"]: f for f in json.loads(out)}["c-speedups"]
    assert not found["available"]
    assert found["detail"] == "off: BPFTUI_PURE_PYTHON is set"


def test_list_programs_marks_bpftuis_own(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    code, out, _ = run(capsys, "list", "programs", "-o", "json")
    rows = json.loads(out)
    assert code == 0
    owners = {r["name"]: r["owner"] for r in rows}
    assert owners["enter_openat"] == "TracepointProgram/opens"
    assert owners["sd_devices"] == "systemd(1)"  # the process holding it
    assert owners["xdp_filter"] == "libxdp"  # an xdp-loader program on eth1
    dispatchers = {r["owner"] for r in rows if r["name"] == "xdp_dispatcher"}
    assert "libxdp" in dispatchers  # eth1's; bpftui's own has none
    opens = [r for r in rows if r["name"] == "enter_openat"]
    assert {tuple(r["attached"]) for r in opens} == {
        ("syscalls/sys_enter_openat",),
        ("syscalls/sys_enter_close",),
    }
    _, table, _ = run(capsys, "list", "programs", "--filter", "enter_close")
    assert table.splitlines()[0].split()[:3] == ["ID", "TYPE", "NAME"]
    assert len(table.splitlines()) == 2


def test_list_links_and_maps(capsys, files, node):
    run(capsys, "apply", "-f", files[0])
    _, out, _ = run(capsys, "list", "links", "-o", "json")
    points = {r["attach_point"]: r["owner"] for r in json.loads(out)}
    assert points["syscalls/sys_enter_openat"] == "TracepointProgram/opens"
    _, out, _ = run(capsys, "list", "maps")
    assert out.splitlines()[0].split() == [
        "ID",
        "TYPE",
        "NAME",
        "KEY",
        "VALUE",
        "MAX",
        "OWNER",
    ]
    assert "TracepointProgram/opens" in out


@pytest.mark.parametrize("command", ["apply", "delete", "status", "doctor", "restore"])
def test_every_command_has_help_with_examples(capsys, command):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    out, _ = capsys.readouterr()
    assert exited.value.code == 0
    assert "examples:" in out and f"bpftui {command}" in out


def test_without_privileges_the_command_says_what_is_missing(
    capsys, monkeypatch, tmp_path, files
):
    config = tmp_path / "bpftui.toml"
    config.write_text(f'[paths]\nstate_dir = "{tmp_path}/state"\n')
    monkeypatch.setattr(
        node_session, "missing_capabilities", lambda *_: ["CAP_BPF", "CAP_PERFMON"]
    )
    code = main(["--config", str(config), "apply", "-f", files[0]])
    _, err = capsys.readouterr()
    assert code == 1
    assert "needs root" in err and "missing CAP_BPF, CAP_PERFMON" in err
    assert "--demo" in err


def test_capabilities_are_read_from_capeff(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t0000000000001000\n")  # CAP_NET_ADMIN only
    assert node_session.missing_capabilities(str(status)) == [
        "CAP_BPF",
        "CAP_PERFMON",
    ]
    status.write_text("CapEff:\t0000000000201000\n")  # + CAP_SYS_ADMIN
    assert node_session.missing_capabilities(str(status)) == []
    status.write_text("CapEff:\t000000c000000000\n")  # CAP_BPF, CAP_PERFMON
    assert node_session.missing_capabilities(str(status)) == ["CAP_NET_ADMIN"]


def test_status_shows_the_slot_a_program_runs_in_now(capsys, tmp_path, node):
    """A program added later with a lower priority moves the first one down."""
    first = tmp_path / "first.yaml"
    first.write_text(GOOD.split("---\n")[1])
    ahead = tmp_path / "ahead.yaml"
    ahead.write_text(
        GOOD.split("---\n")[1]
        .replace("name: edge", "name: guard")
        .replace("priority: 10", "priority: 1")
    )
    assert run(capsys, "apply", "-f", str(first))[0] == 0
    assert run(capsys, "apply", "-f", str(ahead))[0] == 0

    slots = {
        view.owner_name: view.slot
        for status in node.status()
        for view in status.bpfprograms
    }
    assert slots == {"edge": 1, "guard": 0}
