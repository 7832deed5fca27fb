"""``bpftui restore`` after a reboot, as the systemd unit runs it.

A reboot is simulated by what it does to bpftui's world: the interfaces go
(the test namespaces are deleted and made again, so the veth may get
another ifindex), bpffs is empty (every pin under the test's bpffs
directory is removed, which frees the programs and links), and the state
directory stays. ``bpftui restore`` then runs as a child process with the
command line of bpftui/packaging/bpftui-restore.service, and every object
must be Loaded and working again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _nodebed import (
    Bed,
    check_node,
    documents,
    exec_start,
    killed_at,
    pin_files,
    tc_yaml,
    tracepoint_yaml,
    xdp_yaml,
)
from _testbed import make_pair, wait_until

pytestmark = pytest.mark.kernel


@pytest.fixture
def bed(bpffs_root, netns, bpf_objects) -> Iterator[Bed]:
    with tempfile.TemporaryDirectory(prefix="bpftui-restore-") as workdir:
        made = Bed(Path(workdir), bpffs_root, netns)
        try:
            yield made
        finally:
            made.cleanup()


def _reboot(bed: Bed) -> None:
    """Interfaces and pins gone, the programs with them; the state kept."""
    assert bed.netns is not None
    for name in (bed.netns.peer_name, bed.netns.name):
        subprocess.run(["ip", "netns", "del", name], check=True)
    # Links first: unpinning a link's last pin is what detaches it.
    pins = sorted(pin_files(bed.bpffs_root), key=lambda p: not p.endswith("link"))
    for pin in pins:
        os.unlink(pin)
    for top, dirs, _ in os.walk(bed.bpffs_root, topdown=False):
        for name in dirs:
            os.rmdir(os.path.join(top, name))
    make_pair(bed.netns)


def _restore(bed: Bed) -> subprocess.CompletedProcess[str]:
    """``bpftui restore`` as the unit starts it: its program replaced by this
    installation's, the configuration from ``$BPFTUI_CONFIG``."""
    program, *args = exec_start()
    assert os.path.isabs(program) and os.path.basename(program) == "bpftui"
    installed = shutil.which("bpftui", path=os.path.dirname(sys.executable))
    command = [installed] if installed else [sys.executable, "-m", "bpftui"]
    assert bed.netns is not None
    return subprocess.run(
        ["nsenter", f"--net={bed.netns.path}", *command, *args],
        env={**os.environ, "BPFTUI_CONFIG": str(bed.config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_restore_brings_everything_back_after_a_reboot(bed, bpf_objects):
    obj = bpf_objects["crash"]
    path = bed.write(
        "all",
        documents(
            xdp_yaml(bed, "boot-xdp", obj),
            tc_yaml(bed, "boot-tc", obj, "egress"),
            tracepoint_yaml(bed, "boot-tp", obj),
        ),
    )
    assert bed.run("apply", "-f", str(path)).code == 0
    # An apply killed half-way just before the reboot leaves an intent whose
    # program ids mean nothing afterwards; restore must not trip over it.
    late = bed.write("late", tracepoint_yaml(bed, "boot-late", obj))
    killed_at(bed, "link-pin:1", "apply", "-f", str(late))
    before = check_node_ids(bed)

    _reboot(bed)
    status = bed.run("status", "-o", "wide")
    assert status.code == 0 and status.text.count("NotLoaded") >= 3, status.text

    done = _restore(bed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": Loaded") == 4, done.stdout
    states = check_node(bed)
    assert set(states.values()) == {"Loaded"} and len(states) == 4, states
    assert not check_node_ids(bed) & before  # all of them loaded anew
    assert wait_until(lambda: bed.netns.udp_delivered() == 3)
    assert sorted(pin_files(bed.pins))  # pinned again


def test_restore_with_nothing_applied_says_so(bed):
    done = _restore(bed)
    assert done.returncode == 0, done.stderr
    assert "nothing to restore" in done.stdout


def check_node_ids(bed: Bed) -> set[int]:
    with bed.session() as session:
        return {a.program.id for a in session.store.attachments() if a.program}
