"""Whether a file may decide what the node runs.

Bytecode and the configuration choose what root loads into the kernel. A
file that any user can write, or that sits in a directory any user can write
to without the sticky bit (where anyone can replace it), would let any user
choose instead; such files are refused.
"""

from __future__ import annotations

import os
import stat


def untrusted_reason(path: str) -> str | None:
    """Why ``path`` cannot be trusted, or None when it can.

    Checks the file itself and every directory above it, both as written and
    after symbolic links are resolved. A directory writable by every user is
    fine with the sticky bit (``/tmp``): others cannot replace a file there.

    Raises:
        OSError: the file or a directory above it cannot be examined.
    """
    if os.stat(path).st_mode & stat.S_IWOTH:
        return "the file is writable by every user"
    for directory in _directories_above(path):
        mode = os.stat(directory).st_mode
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            return f"its directory {directory} is writable by every user"
    return None


def fix_hint(path: str, reason: str) -> str:
    """The command that makes ``path`` trusted again."""
    if reason.startswith("its directory "):
        directory = reason.removeprefix("its directory ").split(" is ", 1)[0]
        return f"run 'chmod o-w {directory}' or move the file elsewhere"
    return f"run 'chmod o-w {path}'"


def _directories_above(path: str) -> list[str]:
    found: list[str] = []
    for start in (os.path.abspath(path), os.path.realpath(path)):
        directory = os.path.dirname(start)
        while directory not in found:
            found.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return found
