"""Least surprise on permissions, against the real kernel and real users.

What bpftui keeps (the state directory and its files, the pin directories
it makes, the pins) is root's alone: the modes say so, and user ``nobody``
is shown to be unable to read any of it. Every command that needs
privileges, run as ``nobody`` or as root without a capability, says which
one is missing and exits 1; the commands that need none still work.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _nodebed import Bed, documents, pin_files, tc_yaml, tracepoint_yaml, xdp_yaml

pytestmark = pytest.mark.kernel

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
PRIVILEGED = [
    ["apply", "-f", "{yaml}"],
    ["delete", "xdp/perm-xdp"],
    ["status"],
    ["status", "-o", "json"],
    ["doctor"],
    ["restore"],
    ["list", "programs"],
    ["list", "links"],
    ["list", "maps"],
]


@pytest.fixture
def bed(bpffs_root, netns, bpf_objects) -> Iterator[Bed]:
    with tempfile.TemporaryDirectory(prefix="bpftui-perm-") as workdir:
        made = Bed(Path(workdir), bpffs_root, netns)
        try:
            yield made
        finally:
            made.cleanup()


@pytest.fixture
def public() -> Iterator[Path]:
    """A directory user nobody may read (for the YAML it is handed)."""
    directory = Path(tempfile.mkdtemp(prefix="bpftui-public-"))
    try:
        directory.chmod(0o755)
        for parent in directory.parents:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                pytest.skip(f"{parent} is closed to other users")
        yield directory
    finally:
        shutil.rmtree(directory)


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_state_and_pins_are_root_only(bed, bpf_objects):
    obj = bpf_objects["crash"]
    path = bed.write(
        "all",
        documents(
            xdp_yaml(bed, "perm-xdp", obj),
            tc_yaml(bed, "perm-tc", obj, "ingress"),
            tracepoint_yaml(bed, "perm-tp", obj),
        ),
    )
    assert bed.run("apply", "-f", str(path)).code == 0

    assert _mode(bed.state_dir) == 0o700
    for name in os.listdir(bed.state_dir):
        assert _mode(bed.state_dir / name) & 0o077 == 0, name
    assert _mode(bed.pins) == 0o700
    with bed.session() as session:
        made = [a.pin_dir for a in session.store.attachments()]
    for pin_dir in made:
        directory = Path(pin_dir)
        while str(directory) != bed.pins:
            assert _mode(directory) == 0o700, directory
            directory = directory.parent
    pins = pin_files(bed.bpffs_root)
    assert len(pins) >= 6  # programs, maps, the tracepoint's link
    for pin in pins:
        assert _mode(pin) & 0o077 == 0, f"{pin}: {oct(_mode(pin))}"

    # and for real: nobody reads none of it
    for tool, target in [
        ("stat", pins[0]),
        ("cat", str(bed.state_dir / "state.db")),
        ("ls", str(bed.state_dir)),
        ("ls", bed.pins),
    ]:
        done = subprocess.run(
            [*AS_NOBODY, tool, target], capture_output=True, text=True, check=False
        )
        assert done.returncode != 0 and "Permission denied" in done.stderr, target


@pytest.mark.parametrize("command", PRIVILEGED, ids=lambda c: " ".join(c[:2]))
def test_a_command_as_nobody_names_what_is_missing(bed, public, command):
    yaml_file = public / "obj.yaml"
    yaml_file.write_text(tracepoint_yaml(bed, "nobodys", "/opt/none.o"))
    yaml_file.chmod(0o644)
    args = [a.replace("{yaml}", str(yaml_file)) for a in command]
    done = subprocess.run(
        [*AS_NOBODY, sys.executable, "-m", "bpftui", *bed.argv(*args)],
        capture_output=True,
        text=True,
        cwd=public,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr
    assert "needs root" in message and "not running as root" in message, message
    for capability in ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"):
        assert capability in message, message
    assert "Traceback" not in message


@pytest.mark.parametrize("capability", ["net_admin", "bpf", "perfmon"])
def test_root_without_a_capability_names_it(bed, capability):
    drop = f"-{capability}" + (",-sys_admin" if capability != "net_admin" else "")
    done = subprocess.run(
        [
            "setpriv",
            f"--bounding-set={drop}",
            f"--inh-caps={drop}",
            sys.executable,
            "-m",
            "bpftui",
            *bed.argv("status"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"running as root, missing CAP_{capability.upper()}" in done.stderr
    assert "--cap-add" in done.stderr


def test_commands_that_need_no_privilege_work_as_nobody(public, bpf_objects):
    obj = public / "crash.o"
    obj.write_bytes(bpf_objects["crash"].read_bytes())
    obj.chmod(0o644)
    yaml_file = public / "obj.yaml"
    yaml_file.write_text(
        "apiVersion: bpfman.io/v1alpha1\nkind: TracepointProgram\n"
        "metadata: {name: fine}\nspec:\n  bpffunctionname: bt_crash_tp\n"
        "  nodeselector: {}\n  names: [syscalls/sys_enter_getppid]\n"
        f"  bytecode: {{path: {obj}}}\n"
    )
    yaml_file.chmod(0o644)
    for args in (["validate", "-f", str(yaml_file)], ["inspect", str(obj)]):
        done = subprocess.run(
            [*AS_NOBODY, sys.executable, "-m", "bpftui", *args],
            capture_output=True,
            text=True,
            cwd=public,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
