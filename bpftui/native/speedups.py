"""Optional C twins of the hottest Python loops, and the switch between them.

``pip install`` compiles ``_cbtf.c`` (kernel function prototypes from BTF)
and ``_csearch.c`` (name filtering per keystroke) when a C compiler and the
Python headers are present; without them the install still succeeds and the
pure-Python code runs instead. Both paths give the same results (tested
side by side); the C ones are several times faster.

``BPFTUI_PURE_PYTHON=1`` in the environment turns the C twins off: for
benchmarks and tests of the Python path, or to rule them out of a bug hunt.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

PURE_PYTHON_ENV = "BPFTUI_PURE_PYTHON"
_MODULES = ("_cbtf", "_csearch")


def load(name: str) -> ModuleType | None:
    """The C module ``name`` of this package, or None to use Python.

    None when it was not built, fails to import, or the environment asks
    for pure Python. Checked on every call: cheap after the first import.
    """
    if name not in _MODULES:
        raise ValueError(f"unknown speed-up module {name!r}")
    if turned_off():
        return None
    try:
        return importlib.import_module(f"bpftui.native.{name}")
    except ImportError:
        return None


def turned_off() -> bool:
    """Whether the environment asks for pure Python (any value but "" or "0")."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


def report() -> dict[str, bool]:
    """Which C twins are in use now, by module name."""
    return {name: load(name) is not None for name in _MODULES}
