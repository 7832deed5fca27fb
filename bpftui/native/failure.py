"""The one place where an errno becomes a bpftui exception.

libbpf (1.x) reports failure two ways: functions returning ``int`` return
``-errno``; functions returning a pointer return NULL and leave the code in
``errno``, which ctypes keeps per thread when the library is loaded with
``use_errno=True``. Netlink errors carry the same codes. :func:`check` handles
the first two, :func:`error_for` builds the exception for all three.
"""

from __future__ import annotations

import ctypes
import errno
import os

from bpftui.core.errors import BpftuiError, ElfError, KernelError, PermissionProblem

ROOT_HINT = "run as root (bpftui needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)"
REFUSED_AS_ROOT_HINT = (
    "the kernel refused it even to root: lockdown, an LSM or seccomp policy"
)

# Codes whose meaning does not depend on what was tried.
_GENERIC_HINTS = {
    errno.ENOMEM: "the kernel is out of memory or the memlock limit is too low",
    errno.E2BIG: "the kernel is older than what this request needs",
    524: "the kernel does not support this (ENOTSUPP)",
}

# libbpf's own codes (enum libbpf_errno in libbpf.h), beyond the errno range.
_LIBBPF_ERRNO = {
    4000: "libelf could not read the object",
    4001: "not a valid BPF ELF object",
    4002: "the object lacks a kernel version section",
    4003: "the object's byte order differs from this machine's",
    4004: "internal libbpf error",
    4005: "a relocation of the object failed",
    4006: "the kernel refused the program",
    4007: "the verifier refused the program",
    4008: "the program is too large",
    4009: "the object names a different kernel version",
    4010: "the kernel does not support the program type",
    4011: "netlink reply from an unexpected sender",
    4012: "netlink reply out of sequence",
    4013: "netlink reply could not be parsed",
}
_LIBBPF_OBJECT_ERRNO = frozenset({4000, 4001, 4003, 4005})


def error_for(
    err: int, entity: str, action: str, *, hint: str | None = None
) -> BpftuiError:
    """Return the exception for ``err`` raised while ``action`` on ``entity``.

    Args:
        err: a positive errno value.
        entity: what was acted on, such as ``"program 'xdp_pass'"``.
        action: what was tried, such as ``"attach to eth0"``.
        hint: what the user can do; a generic one is used when omitted.
    """
    if err in _LIBBPF_ERRNO:
        return _libbpf_error(err, entity, action, hint)
    if err in (errno.EPERM, errno.EACCES) and os.geteuid() != 0:
        cause = os.strerror(err)
        return PermissionProblem(
            f"{entity}: {action} failed: {cause}", hint=hint or ROOT_HINT
        )
    if hint is None and err == errno.EPERM:
        hint = REFUSED_AS_ROOT_HINT
    return KernelError(entity, action, err, hint=hint or _GENERIC_HINTS.get(err))


def _libbpf_error(err: int, entity: str, action: str, hint: str | None) -> BpftuiError:
    message = f"{entity}: {action} failed: {_LIBBPF_ERRNO[err]}"
    if err in _LIBBPF_OBJECT_ERRNO:
        return ElfError(message, hint=hint)
    exc = KernelError(entity, action, err, hint=hint)
    # KernelError words the cause with strerror(), which knows no libbpf codes.
    exc.message = message
    exc.args = (message,)
    return exc


def check(
    result: int | None, entity: str, action: str, *, hint: str | None = None
) -> int:
    """Return ``result`` if it reports success, else raise the matching error.

    Args:
        result: what a libbpf function returned: an ``int`` (negative means
            ``-errno``) or a pointer (``None`` means NULL, the code is in
            ``errno``).
        entity: what was acted on.
        action: what was tried.
        hint: what the user can do about a failure.

    Raises:
        KernelError: the call failed.
        PermissionProblem: the call failed for lack of privileges.
    """
    if result is None:
        err = ctypes.get_errno()  # 0 would read as "unknown error"
    elif result < 0:
        err = -result
    else:
        return result
    raise error_for(err, entity, action, hint=hint)
