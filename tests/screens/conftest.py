"""Snapshot set-up of the screen tests.

Snapshot SVGs live in the top-level ``snapshots/`` folder, one sub-folder per
test module, so reviewers find every picture in one place; update them with
``pytest tests/screens --snapshot-update`` and look at each one changed.
"""

from __future__ import annotations

import asyncio
import inspect
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "snapshots"


class TopLevelSVG(SVGImageExtension):
    """pytest-textual-snapshot's SVG files, kept under ``snapshots/<module>/``."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(SNAPSHOTS / Path(test_location.filepath).stem)


class _Assertion(SnapshotAssertion):
    """A syrupy assertion that swaps the plugin's SVG extension for ours."""

    def use_extension(self, extension_class: Any = None) -> SnapshotAssertion:
        if extension_class is SVGImageExtension:
            extension_class = TopLevelSVG
        return super().use_extension(extension_class)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return _Assertion(
        session=snapshot.session,
        extension_class=snapshot.extension_class,
        test_location=snapshot.test_location,
        update_snapshots=snapshot.update_snapshots,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Write the snapshot failure report outside the repository."""
    if config.getoption("--snapshot-report") == "snapshot_report.html":
        config.option.snapshot_report = str(
            Path(tempfile.gettempdir()) / "bpftui-snapshots.html"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Pilot) on a fresh event loop, no plugin needed."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
