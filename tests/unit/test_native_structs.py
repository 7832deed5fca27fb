"""Every ctypes structure against the size and offsets its C header gives.

The expected numbers are what gcc says on x86-64 for the headers named in
each class's docstring (libbpf 1.1.2, linux-libc-dev 6.1, and the UAPI copy
of libbpf v1.7.0 for bpf_link_info). When a C compiler and the headers are
present, the sizes are also measured again.
"""

from __future__ import annotations

import ctypes
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from bpftui.native import structs

SIZES = {
    "bpf_prog_info": 232,
    "bpf_map_info": 88,
    "bpf_link_info": 64,
    "bpf_object_open_opts": 80,
    "bpf_kprobe_opts": 32,
    "bpf_uprobe_opts": 40,
    "bpf_link_create_opts": 64,
    "bpf_link_update_opts": 16,
    "bpf_test_run_opts": 80,
    "bpf_prog_load_opts": 104,
    "perf_event_attr": 128,
    "bpf_insn": 8,
}
OFFSETS = {
    ("bpf_prog_info", "name"): 64,
    ("bpf_prog_info", "run_time_ns"): 192,
    ("bpf_prog_info", "verified_insns"): 216,
    ("bpf_object_open_opts", "kernel_log_level"): 72,
    ("perf_event_attr", "wakeup_events"): 48,
    ("perf_event_attr", "config1"): 56,
    ("perf_event_attr", "sig_data"): 120,
}
X86_64 = platform.machine() == "x86_64"


@pytest.mark.skipif(not X86_64, reason="sizes measured on x86-64")
@pytest.mark.parametrize(("name", "size"), sorted(SIZES.items()))
def test_size_matches_the_header(name: str, size: int) -> None:
    assert ctypes.sizeof(getattr(structs, name)) == size


@pytest.mark.skipif(not X86_64, reason="offsets measured on x86-64")
@pytest.mark.parametrize(("where", "offset"), sorted(OFFSETS.items()))
def test_offset_matches_the_header(where: tuple[str, str], offset: int) -> None:
    struct_name, field = where
    assert getattr(getattr(structs, struct_name), field).offset == offset


def test_link_info_names_share_one_place() -> None:
    """link_info() aims one buffer at uprobe, kprobe and tracepoint names."""
    info = structs.bpf_link_info()
    base = ctypes.addressof(info)
    perf = info.perf_event
    places = {
        ctypes.addressof(perf.uprobe) - base,
        ctypes.addressof(perf.kprobe) - base,
        ctypes.addressof(perf.tracepoint) - base,
    }
    assert places == {24}


def test_opts_sets_sz_and_fields() -> None:
    update = structs.opts(structs.bpf_link_update_opts, flags=4, old_prog_fd=9)
    assert (update.sz, update.flags, update.old_prog_fd) == (16, 4, 9)


SIZE_PROGRAM = """
#include <stdio.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
int main(void) {
%s
    return 0;
}
"""
# bpf_link_info is left out: the system header is older than the mirror.
MEASURED = sorted(set(SIZES) - {"bpf_link_info"})


@pytest.mark.skipif(
    shutil.which("cc") is None or not Path("/usr/include/bpf/libbpf.h").exists(),
    reason="needs a C compiler and libbpf-dev to measure",
)
def test_sizes_measured_by_the_c_compiler(tmp_path: Path) -> None:
    lines = "\n".join(
        f'    printf("{name} %zu\\n", sizeof(struct {name}));' for name in MEASURED
    )
    source = tmp_path / "sizes.c"
    source.write_text(SIZE_PROGRAM % lines)
    binary = tmp_path / "sizes"
    subprocess.run(["cc", "-o", str(binary), str(source)], check=True)
    output = subprocess.run([str(binary)], capture_output=True, text=True, check=True)
    measured = dict(line.split() for line in output.stdout.splitlines())
    for name in MEASURED:
        assert ctypes.sizeof(getattr(structs, name)) == int(measured[name]), name
