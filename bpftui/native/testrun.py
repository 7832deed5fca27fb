"""Running a loaded program on a packet of our own: ``BPF_PROG_TEST_RUN``.

The kernel runs the program (and, for a dispatcher, every extension that
replaced its slots) on a copy of ``data`` and hands back the verdict, the
packet as the programs left it and the mean time per run. The guest-lane
tests use it to prove slot order and proceed-on; the dispatcher benchmark
uses ``repeat`` to time the data path without a NIC.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from bpftui.native.failure import check
from bpftui.native.info import fd_by_id, owned
from bpftui.native.libbpf import libbpf
from bpftui.native.structs import bpf_test_run_opts, opts

# Headroom for programs that grow the packet (bpf_xdp_adjust_tail and the like).
_OUT_SLACK = 256


@dataclass(frozen=True, slots=True)
class TestRun:
    """What one ``BPF_PROG_TEST_RUN`` returned.

    Attributes:
        retval: the program's verdict (an ``int``: TC_ACT_UNSPEC is -1).
        data: the packet after the run.
        duration_ns: mean nanoseconds per run, as the kernel measured them.
    """

    __test__ = False  # not a pytest test class, whatever imports it

    retval: int
    data: bytes
    duration_ns: int


def prog_test_run(prog_id: int, data: bytes, *, repeat: int = 1) -> TestRun:
    """Run program ``prog_id`` on ``data``, ``repeat`` times.

    Raises:
        KernelError: the program is gone, or its type cannot be test-run.
    """
    packet = ctypes.create_string_buffer(bytes(data), len(data))
    out = ctypes.create_string_buffer(len(data) + _OUT_SLACK)
    # SAFETY: packet and out are locals that outlive the syscall; the kernel
    # writes at most data_size_out bytes into out.
    run = opts(
        bpf_test_run_opts,
        data_in=ctypes.cast(packet, ctypes.c_void_p),
        data_size_in=len(data),
        data_out=ctypes.cast(out, ctypes.c_void_p),
        data_size_out=len(out),
        repeat=repeat,
    )
    with owned(fd_by_id("prog", prog_id)) as fd:
        check(
            libbpf().bpf_prog_test_run_opts(fd, ctypes.byref(run)),
            f"program {prog_id}",
            "test run",
        )
    retval = ctypes.c_int32(run.retval).value
    return TestRun(retval, out.raw[: run.data_size_out], int(run.duration))
