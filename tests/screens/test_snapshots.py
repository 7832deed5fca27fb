"""Pictures of every screen on the demo node, for reviewers.

Each test says in its docstring what the picture must show. The demo node
runs the demo scenario under a fixed clock, so the pictures do not change
between runs. Update with ``--snapshot-update`` and look at each change.
"""

from __future__ import annotations

from typing import Any

import pytest
from _screens_support import SIZE, SMALL, Clock, demo_app, settle
from textual.widgets import DataTable

from bpftui.screens.compose import ComposeScreen
from bpftui.screens.programs import ProgramsScreen


@pytest.fixture(autouse=True)
def _no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screens read the node once on mount; their periodic refresh must not
    fire while a picture is taken on a slow machine (the live refresh has its
    own interaction tests)."""
    from bpftui.screens.details import DetailsScreen
    from bpftui.screens.interfaces import InterfacesScreen

    for screen in (ProgramsScreen, DetailsScreen, InterfacesScreen):
        monkeypatch.setattr(screen, "REFRESH_SECONDS", 3600.0)


# A DataTable measures its columns when its screen goes idle; on a loaded
# machine a picture can still, rarely, catch a table before that (seen as
# columns as narrow as their headers). A wrong picture fails all three tries.
pytestmark = [pytest.mark.snapshot, pytest.mark.flaky(reruns=2)]


async def select_program(pilot: Any, ref: str, attach_point: str = "") -> None:
    """Put the Programs cursor on the row of ``ref`` (and attach point)."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ProgramsScreen)
    table = screen.query_one(DataTable)
    for index, row_key in enumerate(table.rows):
        row = next(r for r in screen.rows if r.key == row_key.value)
        if row.ref == ref and attach_point in row.attach_point:
            table.move_cursor(row=index, animate=False)
            await pilot.pause()
            return
    raise AssertionError(f"{ref} is not in the Programs table")


async def open_compose(pilot: Any, kind: str, edits: dict[str, str]) -> None:
    """Open the form for ``kind`` and type into fields by path."""
    await settle(pilot)
    pilot.app.compose_program(kind)
    await pilot.pause()
    for path, text in edits.items():
        field = pilot.app.screen.query_one(f"#f-{path.replace('.', '-')}")
        field.focus()
        await pilot.pause()
        field.value = text
        await pilot.pause()
    await settle(pilot)


# ---------------------------------------------------------------- Programs


def test_programs(snap_compare: Any) -> None:
    """Programs: every demo object with its condition as symbol and word
    (Loaded, NotLoaded, NotSelected, MapOwnerNotFound ...), then the kernel's
    own programs owned by systemd and xdp-loader."""
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=settle)


def test_programs_small_terminal(snap_compare: Any) -> None:
    """Programs at 80x24: the mode bar, the summary line, the table and the
    footer keys all fit; wide columns are cut, not wrapped."""
    assert snap_compare(demo_app(), terminal_size=SMALL, run_before=settle)


def test_programs_bpf_stats(snap_compare: Any) -> None:
    """Programs with BPF stats on: RUNS, AVG NS and EV/S columns filled for
    loaded programs after 10 s of (simulated) traffic, '-' for the rest."""
    clock = Clock()

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("b")
        for _ in range(2):
            await settle(pilot)
            clock.now += 10
            pilot.app.screen.refresh_now()
        await settle(pilot)

    app = demo_app(clock)
    assert snap_compare(app, terminal_size=(140, 30), run_before=run_before)


def test_programs_filtered_and_sorted(snap_compare: Any) -> None:
    """Programs filtered with '/' to 'xdp' and sorted by condition: only the
    XDP rows, NotLoaded ones grouped, the summary saying 'showing N of M'."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("slash", *"xdp", "enter", "s")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


# ---------------------------------------------------------------- Details


def test_details_loaded(snap_compare: Any) -> None:
    """Details of tracepoint/exec-watch: the object condition ReconcileSuccess
    and each attach point Loaded with its time, program id and message."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "TracepointProgram/exec-watch")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_details_not_loaded_verifier_log(snap_compare: Any) -> None:
    """Details of xdp/bad-parser opened on the Verifier log tab: the whole log
    ending in 'invalid access to packet' and 'processed 3 insns'."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "XdpProgram/bad-parser")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_details_yaml(snap_compare: Any) -> None:
    """Details, YAML tab of xdp/edge-firewall: the object as exported, with
    globaldata in base64 and the schema's field order."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "XdpProgram/edge-firewall")
        await pilot.press("enter", "right_square_bracket")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_details_maps(snap_compare: Any) -> None:
    """Details, Maps tab of tc/egress-shaper: its map with keys and values in
    hex, 8-byte values also as numbers."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "TcProgram/egress-shaper")
        await pilot.press("enter", *["right_square_bracket"] * 3)
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_details_links_and_pins(snap_compare: Any) -> None:
    """Details, Links & pins tab of kprobe/tcp-connect: its kprobe link and
    the bpffs pins of the program, its maps and its link."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "KprobeProgram/tcp-connect")
        await pilot.press("enter", "left_square_bracket")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


# ---------------------------------------------------------------- browse


def test_interfaces(snap_compare: Any) -> None:
    """Interfaces: eth0 marked ★ primary and highlighted, its XDP and TC
    chains below with slot, priority, program, proceed-on and owner."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_interfaces_xdp_loader_chain(snap_compare: Any) -> None:
    """Interfaces with eth1 highlighted: xdp-loader's dispatcher with its
    revision and one slot, and bpftui's NotLoaded program absent from it."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("2", "down")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_tracepoints(snap_compare: Any) -> None:
    """Tracepoints: categories with counts on the left, 'N of N' above the
    list, and the first tracepoint's own fields in the detail pane."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_tracepoints_filter_typed(snap_compare: Any) -> None:
    """Tracepoints filtered by 'exec': only matching rows, the count '3 of 430'
    style, and the query in the filter line."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("slash", *"exec")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_functions_filter_typed(snap_compare: Any) -> None:
    """Kernel functions filtered by 'tcp_v4': matches with module and what can
    attach, the count 'N of 4,xxx', and the prototype of the highlighted one."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("slash", *"tcp_v4", "enter")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_functions_small_terminal(snap_compare: Any) -> None:
    """Kernel functions at 80x24: categories, filter line, rows and the
    detail pane with the prototype all visible."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SMALL, run_before=run_before)


# ---------------------------------------------------------------- Compose

INVALID = {
    "XdpProgram": {"spec.priority": "1001"},
    "TcProgram": {"spec.proceedon": "pass,drop"},
    "TracepointProgram": {"spec.names": "sched_switch"},
    "KprobeProgram": {
        "spec.func_name": "tcp_v4_connect",
        "spec.offset": "8",
        "spec.retprobe": "true",
    },
    "UprobeProgram": {"spec.target": "libc", "spec.pid": "-4"},
    "FentryProgram": {"spec.func_name": "not a symbol"},
    "FexitProgram": {
        "spec.func_name": "vfs_read",
        "spec.bytecode.path": "x.o",
        "spec.bytecode.image.url": "quay.io/a/b:c",
    },
}


@pytest.mark.parametrize("kind", list(INVALID))
def test_compose_form_with_invalid_field(snap_compare: Any, kind: str) -> None:
    """The compose form of each kind with one invalid field: the problem in
    red on that field's line, and the status line counting the problems."""

    async def run_before(pilot: Any) -> None:
        await open_compose(pilot, kind, INVALID[kind])

    assert snap_compare(demo_app(), terminal_size=(110, 40), run_before=run_before)


VALID_XDP = {
    "metadata.name": "edge-new",
    "spec.interfaceselector.interfaces": "eth0,eth1",
    "spec.priority": "25",
    "spec.bpffunctionname": "xdp_pass",
    "spec.bytecode.path": "/opt/bpf/xdp_pass.bpf.o",
    "spec.globaldata": "threshold=0x10,0x00",
}


def test_compose_small_terminal(snap_compare: Any) -> None:
    """The XdpProgram form at 80x24: label, input and problem columns fit,
    the help line shows the focused field's description."""

    async def run_before(pilot: Any) -> None:
        await open_compose(pilot, "XdpProgram", {"spec.priority": "1001"})

    assert snap_compare(demo_app(), terminal_size=SMALL, run_before=run_before)


def test_compose_wide_live_preview(snap_compare: Any) -> None:
    """A valid XdpProgram form on a wide terminal: the YAML preview beside the
    form, normalised (proceedon default, globaldata base64), status valid."""

    async def run_before(pilot: Any) -> None:
        await open_compose(pilot, "XdpProgram", VALID_XDP)

    assert snap_compare(demo_app(), terminal_size=(150, 36), run_before=run_before)


def test_yaml_preview(snap_compare: Any) -> None:
    """The YAML preview screen (ctrl+o) of a valid XdpProgram: line numbers,
    'valid' status, and save/copy/apply keys in the footer."""

    async def run_before(pilot: Any) -> None:
        await open_compose(pilot, "XdpProgram", VALID_XDP)
        await pilot.press("ctrl+o")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_compose_from_function(snap_compare: Any) -> None:
    """Pressing f on tcp_v4_connect in Kernel functions opens an FentryProgram
    form with func_name and a name derived from it already filled in."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("slash", *"tcp_v4_connect", "enter", "f")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ComposeScreen)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


# ---------------------------------------------------------------- the rest


def test_help(snap_compare: Any) -> None:
    """The help screen over Programs: its keys, the global keys, and the
    legend of condition symbols and words."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_kind_chooser(snap_compare: Any) -> None:
    """'n' opens the list of the seven kinds, each with what it attaches to."""
    assert snap_compare(demo_app(), terminal_size=SIZE, press=["n"], run_before=settle)


def test_delete_confirmation(snap_compare: Any) -> None:
    """'d' on xdp/ddos-guard asks before deleting, naming the object and
    what deleting does; Cancel is focused."""

    async def run_before(pilot: Any) -> None:
        await select_program(pilot, "XdpProgram/ddos-guard")
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=run_before)


def test_no_color(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With NO_COLOR set, Programs has no colour at all and each condition is
    still readable from its symbol and word."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=settle)
