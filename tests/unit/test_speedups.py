"""The switch between the C twins and their pure-Python originals."""

from __future__ import annotations

import os
import shutil
import sysconfig

import pytest

from bpftui.core.node_session import speedups_feature
from bpftui.native import speedups

_HEADERS = os.path.join(sysconfig.get_paths()["include"], "Python.h")


@pytest.mark.skipif(
    shutil.which("cc") is None or not os.path.exists(_HEADERS),
    reason="no C compiler or Python headers: pip install builds no C twins here",
)
def test_with_a_compiler_the_install_built_every_c_twin(monkeypatch):
    # Guards the tests that compare C with Python: they skip when a twin
    # is missing, so a broken build must fail here instead.
    monkeypatch.delenv(speedups.PURE_PYTHON_ENV, raising=False)
    assert speedups.report() == {"_cbtf": True, "_csearch": True}
    assert speedups_feature().available


@pytest.mark.parametrize("value", ["1", "yes"])
def test_the_environment_turns_the_c_twins_off(monkeypatch, value):
    monkeypatch.setenv(speedups.PURE_PYTHON_ENV, value)
    assert speedups.report() == {"_cbtf": False, "_csearch": False}
    assert speedups.load("_cbtf") is None


@pytest.mark.parametrize("value", ["", "0"])
def test_an_empty_or_zero_switch_leaves_them_on(monkeypatch, value):
    monkeypatch.setenv(speedups.PURE_PYTHON_ENV, value)
    built = speedups.load("_csearch") is not None
    monkeypatch.delenv(speedups.PURE_PYTHON_ENV)
    assert built == (speedups.load("_csearch") is not None)


def test_an_unknown_twin_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown speed-up module"):
        speedups.load("_nothing")
