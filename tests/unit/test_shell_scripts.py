"""``bpftui shell`` without a terminal: -c, script files, piped stdin.

Most tests call the command line's ``main`` in this process (fast); the
ones about piped input and start-up run it in a subprocess, as a user's
script would.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bpftui.cli import main

CRDS = Path(__file__).resolve().parents[1] / "data" / "crds"


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def bpftui(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``bpftui ARGS`` in this process, with ``stdin`` as standard input."""

    def run(*args: str, stdin: str = "") -> Done:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(list(args))
        captured = capsys.readouterr()
        return Done(status, captured.out, captured.err)

    return run


def subprocess_bpftui(
    *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bpftui", *args],
        check=False,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_c_runs_commands_in_order(bpftui: Any) -> None:
    done = bpftui("shell", "-c", "new xdp edge; set priority 7; show")
    assert done.returncode == 0, done.stderr
    assert "priority: 7" in done.stdout
    assert done.stderr == ""


def test_failure_stops_the_script_with_status_1(bpftui: Any) -> None:
    """The refused value is reported with the rule's message on stderr and
    nothing after it runs."""
    done = bpftui("shell", "-c", "new xdp edge; set priority 1001; show")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "bpftui: -c:1: XdpProgram/edge: spec.priority: 1001 is above the maximum 1000"
    )


def test_keep_going_runs_past_failures(bpftui: Any) -> None:
    done = bpftui(
        "shell",
        "--keep-going",
        "-c",
        "new xdp e; set priority 1001; set priority 9; show",
    )
    assert done.returncode == 1
    assert "priority: 9" in done.stdout
    assert "1001 is above the maximum" in done.stderr


@pytest.mark.parametrize(
    "command",
    ["bogus", "list nothing", "set", "status -o bogus", "inspect program"],
)
def test_usage_errors_exit_2(bpftui: Any, command: str) -> None:
    done = bpftui("--demo", "shell", "-c", command)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("bpftui: -c:1: ")
    assert "Traceback" not in done.stderr


def test_open_quote_is_a_usage_error(bpftui: Any) -> None:
    done = bpftui("shell", "-c", "show 'oops")
    assert done.returncode == 2
    assert "no closing quotation" in done.stderr


def test_both_c_and_file_is_a_usage_error(bpftui: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.bpftui"
    script.write_text("help\n")
    done = bpftui("shell", "-c", "help", str(script))
    assert done.returncode == 2
    assert "not both" in done.stderr


def test_missing_script_is_a_usage_error(bpftui: Any, tmp_path: Path) -> None:
    done = bpftui("shell", str(tmp_path / "absent"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_script_file_with_comments_and_continuations(
    bpftui: Any, tmp_path: Path
) -> None:
    script = tmp_path / "compose.bpftui"
    script.write_text(
        "# compose one tracepoint program\n"
        "new tracepoint opens\n"
        "set names syscalls/sys_enter_openat,\\\n"
        "    syscalls/sys_enter_open   # two of them\n"
        'set bpffunctionname "count_opens"; set bytecode.path /opt/t.o\n'
        "validate\n"
    )
    done = bpftui("shell", str(script))
    assert done.returncode == 0, done.stderr
    assert "TracepointProgram/opens" not in done.stderr
    assert done.stdout.strip().endswith("tracepoint/opens: valid")


def test_errors_name_the_script_line(bpftui: Any, tmp_path: Path) -> None:
    script = tmp_path / "bad.bpftui"
    script.write_text("new kprobe k\n\nset offset -1\n")
    done = bpftui("shell", str(script))
    assert done.returncode == 1
    assert done.stderr.startswith(f"bpftui: {script}:3: KprobeProgram/k: spec.offset")


def test_stdin_pipe_runs_without_a_prompt() -> None:
    done = subprocess_bpftui(
        "--demo", "shell", stdin="list interfaces -o json\nstatus\n"
    )
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert "eth0" in [i["name"] for i in listing]
    assert done.stderr == "No resources found\n"


@pytest.mark.parametrize(
    ("script", "status"),
    [("help\nshow\nhelp\n", 1), ("help\nbogus\n", 2), ("help\n# done\n", 0)],
)
def test_piped_scripts_exit_status(script: str, status: int) -> None:
    done = subprocess_bpftui("shell", stdin=script)
    assert done.returncode == status
    assert done.stdout.count("commands:") == 1  # stopped at the failure
    assert "Traceback" not in done.stderr


def test_piped_script_keeps_going(bpftui: Any) -> None:
    done = bpftui("shell", "--keep-going", stdin="show\nnew xdp a; show\n")
    assert done.returncode == 1
    assert done.stderr.startswith("bpftui: <stdin>:1: no object is being composed")
    assert "name: a" in done.stdout


def test_dash_reads_the_script_from_stdin(bpftui: Any) -> None:
    done = bpftui("shell", "-", stdin="new kprobe k; show -o json\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "KprobeProgram"


def test_shell_output_flag_makes_listings_json(bpftui: Any) -> None:
    done = bpftui("--demo", "shell", "-o", "json", "-c", "list maps")
    assert done.returncode == 0, done.stderr
    assert all("map_type" in m for m in json.loads(done.stdout))


def test_demo_flag_after_the_command(bpftui: Any) -> None:
    done = bpftui("shell", "--demo", "-c", "list interfaces --filter cni")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[0] == "cni0"


def test_exit_sets_the_status(bpftui: Any) -> None:
    done = bpftui("shell", "-c", "help; exit 3; bogus")
    assert done.returncode == 3
    assert done.stderr == ""


def test_scripted_runs_do_not_import_prompt_toolkit() -> None:
    code = (
        "import sys; from bpftui.cli import main;"
        "rc = main(['--demo', 'shell', '-c', 'list interfaces; new xdp a; show']);"
        "print('prompt_toolkit' in sys.modules, rc, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr.strip() == "False 0"


def test_apply_and_delete_on_the_demo_node(bpftui: Any) -> None:
    script = (
        "new xdp edge; set priority 10; set interfaceselector.interfaces eth0;"
        "set bytecode.path /opt/xdp.o; set bpffunctionname xdp_pass; apply;"
        "status -o json; delete xdp/edge; status -o json"
    )
    done = bpftui("--demo", "shell", "-c", script)
    assert done.returncode == 0, done.stderr
    applied, rest = done.stdout.split("\n", 1)
    assert applied.startswith("xdpprogram.bpfman.io/edge eth0: Loaded")
    decoder = json.JSONDecoder()
    before, end = decoder.raw_decode(rest)
    deleted, _, after = rest[end:].strip().partition("\n")
    assert [i["kind"] for i in before["items"]] == ["XdpProgram", "BpfProgram"]
    assert before["items"][0]["status"]["conditions"][0]["type"] == "ReconcileSuccess"
    assert deleted == "xdpprogram.bpfman.io/edge deleted"
    assert json.loads(after)["items"] == []


def test_deleting_what_is_not_applied_fails(bpftui: Any) -> None:
    done = bpftui("--demo", "shell", "-c", "delete tc/nothing")
    assert done.returncode == 1
    assert "tcprogram.bpfman.io/nothing: not applied on this node" in done.stderr


def test_a_failed_load_fails_the_apply(bpftui: Any) -> None:
    """The demo kernel's verifier refuses functions named bad_*: apply must
    report it and exit 1."""
    script = (
        "new tc t; set priority 5; set direction ingress;"
        "set interfaceselector.interfaces eth0; set bytecode.path /opt/tc.o;"
        "set bpffunctionname bad_prog; apply"
    )
    done = bpftui("--demo", "shell", "-c", script)
    assert done.returncode == 1
    assert done.stdout.startswith("tcprogram.bpfman.io/t eth0: NotLoaded: ")
    assert "TcProgram/t eth0: NotLoaded" in done.stderr


# ---------------------------------------------------------------- every kind

EVERY_KIND = """\
new xdp edge
set priority 10; set interfaceselector.interfaces eth0,eth1
set proceedon pass,drop,dispatcher_return
set bytecode.image.url quay.io/bpfman-bytecode/xdp_pass:latest
set bytecode.image.imagepullpolicy Always
set bpffunctionname pass
set globaldata.GLOBAL_u8 0x01

new tc shaper
set priority 20; set direction egress
set interfaceselector.primarynodeinterface true
set bytecode.path /opt/tc.o; set bpffunctionname tc_pass

new tracepoint opens
set names syscalls/sys_enter_openat; set bytecode.path /opt/tp.o
set bpffunctionname enter_openat

new kprobe wake
set func_name try_to_wake_up; set retprobe false; set offset 0
set bytecode.path /opt/kp.o; set bpffunctionname my_kprobe

new uprobe mallocs
set target libc; set func_name malloc; set retprobe true; set pid 688
set bytecode.path /opt/up.o; set bpffunctionname my_uprobe

new fentry unlink
set func_name do_unlinkat; set bytecode.path /opt/fe.o
set bpffunctionname test_fentry

new fexit unlink-exit
set func_name do_unlinkat; set bytecode.path /opt/fx.o
set bpffunctionname test_fexit
set nodeselector.matchLabels.kubernetes.io/hostname demo-node

validate --all
export {out}
"""


def _crd_schema(kind: str) -> dict:
    path = CRDS / f"bpfman.io_{kind.lower()}s.yaml"
    crd = yaml.safe_load(path.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_one_object_of_each_kind_exports_valid_yaml(
    bpftui: Any, tmp_path: Path
) -> None:
    out = tmp_path / "all.yaml"
    script = tmp_path / "every-kind.bpftui"
    script.write_text(EVERY_KIND.format(out=out))

    done = bpftui("shell", str(script))

    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(out.read_text()))
    kinds = [d["kind"] for d in docs]
    assert kinds == [
        "XdpProgram",
        "TcProgram",
        "TracepointProgram",
        "KprobeProgram",
        "UprobeProgram",
        "FentryProgram",
        "FexitProgram",
    ]
    for doc in docs:
        jsonschema.validate(doc, _crd_schema(doc["kind"]))
    assert docs[0]["spec"]["globaldata"] == {"GLOBAL_u8": "AQ=="}
    assert docs[6]["spec"]["nodeselector"] == {
        "matchLabels": {"kubernetes.io/hostname": "demo-node"}
    }


def test_exported_yaml_loads_back(bpftui: Any, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    script = tmp_path / "every-kind.bpftui"
    script.write_text(EVERY_KIND.format(out=out))
    assert bpftui("shell", str(script)).returncode == 0

    done = bpftui("shell", "-c", f"load {out}; use tracepoint/opens; show -o json")

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(valid)") == 7
    shown = json.loads(done.stdout[done.stdout.index("{") :])
    assert shown["spec"]["names"] == ["syscalls/sys_enter_openat"]


def test_export_refuses_invalid_objects(bpftui: Any, tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    done = bpftui("shell", "-c", f"new fentry f; export {out}")
    assert done.returncode == 1
    assert "FentryProgram/f: spec" in done.stderr
    assert not out.exists()
