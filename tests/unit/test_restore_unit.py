"""The systemd unit that runs ``bpftui restore`` at boot
(bpftui/packaging/bpftui-restore.service); the restore itself is tested in
tests/kernel/test_restore.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from _nodebed import RESTORE_UNIT, exec_start

from bpftui.cli import build_parser


def test_the_unit_starts_bpftui_restore_by_an_absolute_path():
    program, *args = exec_start()
    assert os.path.isabs(program) and os.path.basename(program) == "bpftui"
    assert args == ["restore"]
    assert build_parser().parse_args(args).command == "restore"


def test_the_unit_is_installed_with_the_package():
    import bpftui

    packaged = os.path.join(os.path.dirname(bpftui.__file__), "packaging")
    assert os.path.samefile(os.path.dirname(RESTORE_UNIT), packaged)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing"
)
def test_systemd_accepts_the_unit_once_installed(tmp_path):
    """``systemd-analyze verify`` passes once ExecStart names an installed
    bpftui, as the unit's comment says to set it."""
    installed = shutil.which("bpftui", path=os.path.dirname(sys.executable))
    if installed is None:
        pytest.skip("no bpftui program in this installation")
    text = RESTORE_UNIT.read_text().replace("/usr/local/bin/bpftui", installed)
    unit = tmp_path / "bpftui-restore.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "bpftui" not in done.stderr, done.stderr
