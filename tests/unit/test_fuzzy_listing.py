"""``--fuzzy`` on ``list functions``, in the CLI and the shell, on the demo node."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from bpftui.cli import main
from bpftui.core.errors import UsageError
from bpftui.core.session import open_session
from bpftui.shell.commands import execute
from bpftui.shell.state import Shell


def _names(capsys, *argv: str) -> list[str]:
    assert main(["--demo", "list", "functions", *argv, "-o", "json"]) == 0
    return [row["name"] for row in json.loads(capsys.readouterr().out)]


def test_fuzzy_finds_scattered_characters_after_the_substring_matches(capsys):
    plain = _names(capsys, "--filter", "tcpv4conn")
    fuzzy = _names(capsys, "--filter", "tcpv4conn", "--fuzzy")
    assert plain == []
    assert "tcp_v4_connect" in fuzzy and "tcp_v6_connect" not in fuzzy
    holding = _names(capsys, "--filter", "connect")
    ranked = _names(capsys, "--filter", "connect", "--fuzzy")
    assert ranked[: len(holding)] == holding  # substring matches come first
    assert len(ranked) >= len(holding)


def test_fuzzy_on_another_list_is_a_usage_error(capsys):
    code = main(["--demo", "list", "tracepoints", "--filter", "x", "--fuzzy"])
    err = capsys.readouterr().err
    assert code == 2
    assert "list tracepoints: --fuzzy is for functions only" in err


@pytest.fixture
def shell() -> Iterator[Shell]:
    made = Shell(
        lambda: open_session(demo=True, config_path=None),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    yield made
    made.close()


def test_the_shell_takes_fuzzy_too(shell: Shell):
    execute(
        shell, ["list", "functions", "--filter", "tcpv4conn", "--fuzzy", "-o", "json"]
    )
    out = shell.out
    assert isinstance(out, io.StringIO)
    assert "tcp_v4_connect" in {r["name"] for r in json.loads(out.getvalue())}
    with pytest.raises(UsageError, match="--fuzzy is for functions only"):
        execute(shell, ["list", "interfaces", "--fuzzy"])
