"""``bpftui tui`` (and plain ``bpftui``): root check, demo offer, errors."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bpftui.cli import main
from bpftui.screens.app import BpftuiApp


class FakeTTY(io.StringIO):
    def __init__(self, text: str = "", tty: bool = True) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[BpftuiApp]:
    """Apps the command started, without drawing them."""
    started: list[BpftuiApp] = []

    def run(self: BpftuiApp, *args: Any, **kwargs: Any) -> None:
        started.append(self)

    monkeypatch.setattr(BpftuiApp, "run", run)
    return started


def as_user(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    tty = answer is not None
    monkeypatch.setattr("sys.stdin", FakeTTY(answer or "", tty=tty))
    monkeypatch.setattr("sys.stdout", FakeTTY(tty=tty))


def test_without_root_and_without_a_terminal_it_says_so_and_hints_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], runs: list
) -> None:
    as_user(monkeypatch, None)
    assert main(["tui"]) == 1
    err = capsys.readouterr().err
    assert "not running as root" in err
    assert "bpftui --demo" in err
    assert runs == []


def test_without_root_on_a_terminal_it_offers_demo_mode(
    monkeypatch: pytest.MonkeyPatch, runs: list
) -> None:
    as_user(monkeypatch, "\n")  # Enter takes the default: yes
    assert main(["tui"]) == 0
    assert len(runs) == 1


def test_declining_demo_mode_stops(monkeypatch: pytest.MonkeyPatch, runs: list) -> None:
    as_user(monkeypatch, "n\n")
    assert main(["tui"]) == 1
    assert runs == []


def test_demo_flag_needs_no_question(
    monkeypatch: pytest.MonkeyPatch, runs: list
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["--demo"]) == 0
    assert len(runs) == 1


def test_unknown_theme_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], runs: list
) -> None:
    assert main(["--demo", "tui", "--theme", "no-such-theme"]) == 2
    assert "no-such-theme" in capsys.readouterr().err


def test_a_crash_inside_the_app_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(self: BpftuiApp, *args: Any, **kwargs: Any) -> None:
        self.crash = RuntimeError("boom")

    monkeypatch.setattr(BpftuiApp, "run", run)
    assert main(["--demo"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err
