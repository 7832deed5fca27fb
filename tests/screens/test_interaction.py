"""Driving the TUI with keys, as a user would, on the demo node."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from _screens_support import SIZE, Clock, demo_app, demo_session, settle
from textual.widgets import DataTable, Static

from bpftui.core import api, rules, yaml_io
from bpftui.core.errors import PermissionProblem
from bpftui.screens.app import BpftuiApp
from bpftui.screens.apply import ApplyScreen
from bpftui.screens.browse import FunctionsScreen
from bpftui.screens.compose import ComposeScreen, FieldRow
from bpftui.screens.dialogs import ConfirmScreen, ErrorScreen, SaveScreen
from bpftui.screens.programs import ProgramsScreen


class Notes:
    """Records what the app tells the user in toasts."""

    def __init__(self, app: BpftuiApp) -> None:
        self.messages: list[tuple[str, str]] = []
        self._notify = app.notify
        app.notify = self  # type: ignore[method-assign]

    def __call__(self, message: str, **kwargs: Any) -> None:
        self.messages.append((str(message), kwargs.get("severity", "information")))
        self._notify(message, **kwargs)

    def errors(self) -> list[str]:
        return [m for m, severity in self.messages if severity == "error"]


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(
        *[
            {
                " ": "space",
                ",": "comma",
                "/": "slash",
                ".": "full_stop",
                "_": "underscore",
                "-": "minus",
            }.get(c, c)
            for c in text
        ]
    )


def problem_of(screen: ComposeScreen, path: str) -> str:
    row = next(r for r in screen.query(FieldRow) if r.field.path == path)
    return str(row.query_one(".field-problem", Static).content)


async def fill_xdp_form(pilot: Any, priority: str) -> None:
    """From the focused interfaces field, fill a whole XdpProgram with keys."""
    await type_text(pilot, "eth0")
    await pilot.press("tab", "tab")  # primary interface select -> priority
    await type_text(pilot, priority)
    await pilot.press("tab", "tab")  # proceedon keeps its default
    await type_text(pilot, "xdp_pass")
    await pilot.press("tab")
    await type_text(pilot, "/opt/bpf/xdp_pass.bpf.o")
    await settle(pilot)


async def test_compose_xdp_with_keys_only_and_export(tmp_path: Path) -> None:
    app = demo_app()
    target = tmp_path / "edge.yaml"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "enter")  # the kind chooser starts on XdpProgram
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ComposeScreen) and form.kind == "XdpProgram"

        await fill_xdp_form(pilot, "10")
        assert form.blocking() == []

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SaveScreen)
        await type_text(pilot, str(target))
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form

    docs = yaml_io.read_file(target)
    assert len(docs) == 1
    assert [p for p in rules.check(docs[0].data) if p.is_error] == []
    obj = api.from_dict(docs[0].data)
    assert (obj.kind, obj.spec.priority) == ("XdpProgram", 10)
    assert tuple(obj.spec.interfaceselector.interfaces) == ("eth0",)


async def test_invalid_priority_blocks_export_and_names_the_field() -> None:
    app = demo_app()
    notes = Notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ComposeScreen)
        await fill_xdp_form(pilot, "1001")

        assert "1000" in problem_of(form, "spec.priority")
        await pilot.press("ctrl+s")
        await settle(pilot)

        assert app.screen is form, "no save dialog may open"
        assert any("spec.priority" in m for m in notes.errors())
        assert app.focused is not None and app.focused.id == "f-spec-priority"


async def test_unreadable_text_is_shown_beside_its_field() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.compose_program("KprobeProgram", {"func_name": "tcp_v4_connect"})
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ComposeScreen)
        form.query_one("#f-spec-offset").focus()
        await pilot.press("ctrl+u")
        await type_text(pilot, "ten")
        await settle(pilot)
        assert "not an integer" in problem_of(form, "spec.offset")
        assert ("spec.offset", '"ten" is not an integer') in form.blocking()


class GatedSession:
    """A demo session whose apply waits until the test lets it go on."""

    def __init__(self, clock: Clock) -> None:
        self._session = demo_session(clock)
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def apply(self, objects: Any) -> Any:
        assert self.gate.wait(10), "the test never opened the gate"
        return self._session.apply(objects)


def condition_of(programs: ProgramsScreen, ref: str) -> set[str]:
    return {r.condition for r in programs.rows if r.ref == ref}


async def wait_for(pilot: Any, check: Any, tries: int = 100) -> None:
    for _ in range(tries):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("the screen never got there")


async def test_apply_shows_the_condition_changing() -> None:
    clock = Clock()
    session = GatedSession(clock)
    app = demo_app(clock, session=session)  # type: ignore[arg-type]
    ref = "TracepointProgram/tracepoint-sched-sched-switch"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        programs = app.screen
        assert isinstance(programs, ProgramsScreen)
        app.compose_program("TracepointProgram", {"names": "sched/sched_switch"})
        await settle(pilot)
        app.screen.query_one("#f-spec-bpffunctionname").focus()
        await type_text(pilot, "trace_switch")
        await pilot.press("tab")
        await type_text(pilot, "/opt/bpf/switch.bpf.o")
        await settle(pilot)

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ApplyScreen))
        await wait_for(pilot, lambda: condition_of(programs, ref) == {"Applying"})

        session.gate.set()
        await wait_for(pilot, lambda: app.screen.done)
        await wait_for(pilot, lambda: condition_of(programs, ref) == {"Loaded"})
        outcome = app.screen.programs
        assert [bp.condition.type for bp in outcome] == ["Loaded"]

        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is programs


async def test_delete_asks_first() -> None:
    app = demo_app()
    ref = "XdpProgram/edge-counter"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        programs = app.screen
        assert isinstance(programs, ProgramsScreen)
        table = programs.query_one(DataTable)
        index = next(i for i, r in enumerate(programs._visible_rows()) if r.ref == ref)
        table.move_cursor(row=index, animate=False)

        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert ref in {f"{s.kind}/{s.name}" for s in app.session.status()}

        await pilot.press("d", "y")
        await settle(pilot)
        await wait_for(pilot, lambda: not condition_of(programs, ref))
        assert ref not in {f"{s.kind}/{s.name}" for s in app.session.status()}


async def test_function_filter_counts_matches() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FunctionsScreen)
        await pilot.press("slash")
        await type_text(pilot, "tcp_v4")
        await settle(pilot)
        assert screen.shown_query == "tcp_v4"
        count = str(screen.query_one("#count", Static).content).strip()
        assert count == f"2 of {screen.total:,}"
        assert [f.name for f in screen.query_one("#rows").rows] == [
            "tcp_v4_connect",
            "tcp_v4_rcv",
        ]


async def test_session_that_cannot_open_shows_an_error_screen() -> None:
    def refuse() -> Any:
        raise PermissionProblem("bpftui needs root", hint="run it with sudo")

    app = BpftuiApp(refuse)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "run it with sudo" in app.screen.message
        await pilot.press("enter")
    assert app.return_code == 1


@pytest.mark.parametrize("mode", ["interfaces", "tracepoints", "functions"])
async def test_every_mode_reaches_compose_by_keys(mode: str) -> None:
    app = demo_app()
    keys = {"interfaces": "x", "tracepoints": "c", "functions": "k"}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.switch_mode(mode)
        await settle(pilot)
        await pilot.press(keys[mode])
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        assert app.screen.doc["spec"], "the form starts from the highlighted row"


async def test_command_palette_composes_a_kind() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await type_text(pilot, "New TcProgram")
        await pilot.pause(0.3)  # the palette searches asynchronously
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ComposeScreen)
        assert app.screen.kind == "TcProgram"


async def test_help_lists_the_screens_own_keys() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        rows = app.screen.key_rows()
        assert ("/", "Filter") in rows
        assert ("b", "BPF stats") in rows
        assert not any(what == "Cursor up" for _, what in rows)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ProgramsScreen)
