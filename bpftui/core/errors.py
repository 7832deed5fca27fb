"""The one exception hierarchy of bpftui.

Every error a user can cause or fix is a :class:`BpftuiError`; front ends
catch that one class, print ``str(err)`` and exit non-zero. A message reads
entity, action, cause, hint::

    program 'xdp_pass': attach to eth0 failed: Device or resource busy;
    another XDP program is attached without a dispatcher

The tree::

    Exception
     └── BpftuiError                 anything a user can cause or fix (exit 1)
          ├── UsageError             bad command line (exit 2)
          ├── InputError             bad YAML, TOML, JSON or arguments
          │    └── ValidationError   an object breaks API rules (has .problems)
          ├── ElfError               not a BPF ELF object, or a broken one
          ├── ImageError             OCI image pull, push, cache or labels
          ├── PermissionProblem      missing root or a capability
          ├── NotSupported           the kernel lacks a feature (.feature, .needs)
          ├── StateError             state store, lock or pins disagree
          └── KernelError            a syscall or netlink request failed (.errno)
               └── VerifierError     the verifier refused a program (.log)
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Sequence
from typing import Any


class BpftuiError(Exception):
    """Root of every error a user can cause or fix."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class UsageError(BpftuiError):
    """The command line itself is wrong."""

    exit_code = 2


class InputError(BpftuiError):
    """A file or argument could not be read as what it should be."""


class ValidationError(InputError):
    """An object breaks rules of the API; ``problems`` lists every one."""

    def __init__(self, message: str, problems: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class ElfError(BpftuiError):
    """A file is not a BPF ELF object, or is a damaged one."""


class ImageError(BpftuiError):
    """An OCI bytecode image could not be pulled, pushed, cached or read."""


class PermissionProblem(BpftuiError):
    """The process lacks root or a capability the action needs."""


class NotSupported(BpftuiError):
    """The running kernel or libbpf lacks a feature.

    Args:
        feature: what is missing, in the kernel's words (``"freplace"``).
        needs: what would provide it (``"kernel >= 5.10 without lockdown"``).
        detail: what was observed, such as the errno text.
    """

    def __init__(self, feature: str, *, needs: str, detail: str | None = None) -> None:
        self.feature = feature
        self.needs = needs
        message = f"{feature} is not supported here"
        if detail:
            message += f": {detail}"
        super().__init__(message, hint=f"needs {needs}")


class StateError(BpftuiError):
    """The state store, the lock or the pins do not agree."""


class KernelError(BpftuiError):
    """A syscall or netlink request failed.

    Args:
        entity: what was acted on (``"program 'xdp_pass'"``).
        action: what was tried (``"attach to eth0"``).
        err: the errno value.
        hint: what the user can do about it.
    """

    def __init__(
        self, entity: str, action: str, err: int, *, hint: str | None = None
    ) -> None:
        self.entity = entity
        self.action = action
        self.errno = err
        cause = os.strerror(err) if err else "unknown error"
        super().__init__(f"{entity}: {action} failed: {cause}", hint=hint)

    @property
    def errno_name(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


class VerifierError(KernelError):
    """The verifier refused a program; ``log`` holds the whole verifier log."""

    def __init__(self, entity: str, err: int, log: str) -> None:
        self.log = log
        super().__init__(entity, "load", err)

    def __str__(self) -> str:
        base = super().__str__()
        tail = [line for line in self.log.splitlines() if line.strip()][-4:]
        if not tail:
            return base
        return base + "\nverifier log (last lines):\n  " + "\n  ".join(tail)
