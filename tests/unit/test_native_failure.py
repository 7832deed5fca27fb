"""The one errno helper: every way libbpf and netlink report failure."""

from __future__ import annotations

import ctypes
import errno

import pytest

from bpftui.core.errors import ElfError, KernelError, PermissionProblem
from bpftui.native import failure
from bpftui.native.failure import check, error_for


def test_success_passes_the_value_through() -> None:
    assert check(7, "program 'x'", "load") == 7
    assert check(0, "program 'x'", "load") == 0


def test_a_negative_return_is_minus_errno() -> None:
    with pytest.raises(KernelError) as caught:
        check(-errno.EBUSY, "program 'xdp_pass'", "attach to eth0", hint="detach first")
    err = caught.value
    assert err.errno == errno.EBUSY
    assert err.errno_name == "EBUSY"
    assert str(err) == (
        "program 'xdp_pass': attach to eth0 failed: Device or resource busy; "
        "detach first"
    )


def test_a_null_pointer_reads_errno(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes, "get_errno", lambda: errno.ENOENT)
    with pytest.raises(KernelError) as caught:
        check(None, "object /x.o", "open")
    assert caught.value.errno == errno.ENOENT
    assert "No such file or directory" in str(caught.value)


def test_a_null_pointer_without_errno_says_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ctypes, "get_errno", lambda: 0)
    with pytest.raises(KernelError, match="unknown error"):
        check(None, "object /x.o", "open")


def test_permission_errors_of_non_root_say_run_as_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failure.os, "geteuid", lambda: 1000)
    err = error_for(errno.EPERM, "program 'x'", "load")
    assert isinstance(err, PermissionProblem)
    assert "run as root" in str(err)


def test_eperm_as_root_points_at_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failure.os, "geteuid", lambda: 0)
    err = error_for(errno.EPERM, "program 'x'", "load")
    assert isinstance(err, KernelError)
    assert "lockdown" in str(err)


@pytest.mark.parametrize(
    ("code", "kind", "text"),
    [
        (4001, ElfError, "not a valid BPF ELF object"),
        (4003, ElfError, "the object's byte order differs"),
        (4007, KernelError, "the verifier refused the program"),
        (4010, KernelError, "the kernel does not support the program type"),
    ],
)
def test_libbpf_codes_are_worded(code: int, kind: type, text: str) -> None:
    err = error_for(code, "object /x.o", "open")
    assert isinstance(err, kind)
    assert str(err).startswith(f"object /x.o: open failed: {text}")
    assert "Unknown error" not in str(err)


def test_generic_hints_apply_when_the_caller_has_none() -> None:
    assert "memlock" in str(error_for(errno.ENOMEM, "map 'm'", "create"))
    assert "memlock" not in str(error_for(errno.ENOMEM, "map 'm'", "create", hint="h"))
