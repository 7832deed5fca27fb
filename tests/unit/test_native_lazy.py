"""bpftui.native opens libbpf on first use only, and libbpf never prints.

Import-time checks run in a fresh interpreter so that what other tests
loaded does not count.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bpftui.core.errors import ElfError, KernelError

NATIVE_MODULES = [
    path.stem
    for path in (Path(__file__).resolve().parents[2] / "bpftui" / "native").glob("*.py")
    if path.stem != "__init__"
]
LIBBPF = Path("/usr/lib/x86_64-linux-gnu/libbpf.so.1")


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_importing_native_does_not_open_libbpf() -> None:
    imports = "; ".join(f"import bpftui.native.{name}" for name in NATIVE_MODULES)
    out = _run(
        f"{imports}\n"
        "import sys\n"
        "maps = open('/proc/self/maps').read()\n"
        "print('libbpf' in maps, 'textual' in sys.modules,"
        " 'prompt_toolkit' in sys.modules)"
    )
    assert out.split() == ["False", "False", "False"]


@pytest.mark.skipif(not LIBBPF.exists(), reason="libbpf.so.1 is not installed")
def test_libbpf_messages_go_to_logging_not_the_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from bpftui.native.libbpf import libbpf
    from bpftui.native.loading import BpfObject

    not_elf = tmp_path / "junk.o"
    not_elf.write_text("junk")
    caplog.set_level(logging.DEBUG, logger="bpftui.native.libbpf")
    with pytest.raises((ElfError, KernelError)):
        BpfObject(str(not_elf), None)
    captured = capfd.readouterr()
    assert "libbpf" not in captured.err and "libbpf" not in captured.out
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("libbpf")]
    assert any("junk.o" in m for m in messages), messages
    assert libbpf().version.major >= 1


@pytest.mark.skipif(not LIBBPF.exists(), reason="libbpf.so.1 is not installed")
def test_version_is_read_and_named() -> None:
    out = _run(
        "from bpftui.native.libbpf import libbpf\n"
        "v = libbpf().version\n"
        "print(v.major, v.minor, v)"
    )
    major, minor, *words = out.split()
    assert int(major) >= 1
    assert words[0] == "libbpf" and words[1].startswith(f"{major}.{minor}")


def test_a_missing_function_is_named_with_the_version() -> None:
    from bpftui.core.errors import NotSupported
    from bpftui.native.libbpf import Libbpf, Version

    class _Empty:
        pass

    lib = Libbpf(_Empty(), Version(1, 0, "1.0.0", "/x"))  # type: ignore[arg-type]
    with pytest.raises(NotSupported, match=r"libbpf 1\.0\.0 does not export it"):
        lib.bpf_link_create(0, 0, 0, None)
