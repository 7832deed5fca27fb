"""Helpers of the screen tests: the demo node, a fixed clock, settling."""

from __future__ import annotations

import contextlib
from typing import Any

from textual import events
from textual.widgets import DataTable, Input
from textual.worker import WorkerCancelled, WorkerFailed

from bpftui.core.demo_scenario import seed
from bpftui.core.node_session import DEMO_EPOCH
from bpftui.core.session import Session, open_session
from bpftui.screens.app import BpftuiApp

# An hour after the demo node's epoch: ages and times read the same in every run.
NOW = DEMO_EPOCH + 3600.0
SIZE = (100, 30)
SMALL = (80, 24)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def demo_session(clock: Clock | None = None) -> Session:
    """The demo node with the demo scenario applied."""
    session = open_session(demo=True, config_path=None, clock=clock or Clock())
    assert seed(session) == []
    return session


def demo_app(clock: Clock | None = None, session: Session | None = None) -> BpftuiApp:
    clock = clock or Clock()
    return BpftuiApp(session=session or demo_session(clock), clock=clock)


async def settle(pilot: Any) -> None:
    """Let every worker finish and every message be handled.

    Text cursors stop blinking too, so a picture never catches one half-way.
    A DataTable measures its columns when its screen goes idle, which a
    screen under a modal, or a busy machine, may not reach before the
    picture is taken; the measuring is done here, so pictures never depend
    on that timing.
    """
    for _ in range(20):
        workers = [w for w in pilot.app.workers if not w.is_finished]
        for worker in workers:
            # A timer may start an exclusive worker that cancels this one.
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        await pilot.pause()
        if not workers and not any(w for w in pilot.app.workers if not w.is_finished):
            break
    for screen in pilot.app.screen_stack:
        for table in screen.query(DataTable):
            await table._on_idle(events.Idle())
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()
