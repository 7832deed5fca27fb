"""The interactive shell driven by keys through prompt_toolkit's pipe input.

Completion and history loading in prompt_toolkit are asynchronous: the test
thread types chunks of keys and waits for their effect where needed while
the REPL runs in another thread.
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from bpftui.core.session import open_session
from bpftui.shell.commands import execute
from bpftui.shell.repl import (
    ShellLexer,
    history_path,
    make_session,
    open_history,
    prompt_message,
    run_repl,
    toolbar,
)
from bpftui.shell.state import Shell

TAB, ENTER, CTRL_C, CTRL_D, CTRL_R, UP = "\t", "\r", "\x03", "\x04", "\x12", "\x1b[A"


@pytest.fixture
def shell() -> Iterator[Shell]:
    made = Shell(
        lambda: open_session(demo=True, config_path=None),
        out=io.StringIO(),
        err=io.StringIO(),
        interactive=True,
    )
    yield made
    made.close()


def drive(shell: Shell, *chunks: str, history: Any = None) -> int:
    """Type ``chunks`` into a REPL, one after another; return its status.

    What comes asynchronously is waited for: before Up and Ctrl-R, the next
    prompt with its history; after a Tab, the completion changing the line.
    """
    status: list[int] = []
    with create_pipe_input() as pipe:
        session = make_session(
            shell,
            history=history or InMemoryHistory(),
            input=pipe,
            output=DummyOutput(),
        )
        prompts: list[object] = []
        session.app.on_reset += prompts.append  # once at the start of each prompt
        repl = threading.Thread(
            target=lambda: status.append(run_repl(shell, session, prefetch=False)),
            daemon=True,
        )
        repl.start()
        typed = ""
        for chunk in chunks:
            if chunk in (UP, CTRL_R) and not typed.endswith((UP, CTRL_R)):
                # Every Enter so far accepted a line, so this is prompt number
                # count + 1, which must have loaded the history.
                wanted = typed.count(ENTER) + 1
                wait_for(
                    lambda n=wanted: len(prompts) == n and _history_ready(session),
                    "history",
                )
            _type(session, pipe, chunk, typed)
            typed += chunk
        repl.join(10)
    assert not repl.is_alive(), "the REPL did not stop"
    return status[0]


def _history_ready(session: Any) -> bool:
    """Whether the prompt has loaded the history into its buffer.

    Each prompt loads it in a background task on its first drawing, after
    it handled the keys typed ahead; an Up typed before that finds nothing.
    prompt_toolkit has no public flag for this, hence ``_working_lines``.
    """
    return len(session.default_buffer._working_lines) > 1


def _type(session: Any, pipe: Any, chunk: str, typed: str) -> None:
    buffer = session.default_buffer
    if chunk == TAB and not typed.endswith(TAB):
        # The keys typed since the last Tab or Enter must be in the line.
        last = typed.rsplit(ENTER, 1)[-1].rsplit(TAB, 1)[-1]
        wait_for(lambda: buffer.text.endswith(last), f"{last!r} typed")
    before = buffer.text
    pipe.send_text(chunk)
    if chunk == TAB:
        wait_for(lambda: buffer.text != before, f"completion of {before!r}")


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def out(shell: Shell) -> str:
    return shell.out.getvalue()  # type: ignore[attr-defined]


def err(shell: Shell) -> str:
    return shell.err.getvalue()  # type: ignore[attr-defined]


def test_ctrl_d_leaves_with_status_0(shell: Shell) -> None:
    assert drive(shell, CTRL_D) == 0
    assert "Ctrl-D leaves" in out(shell)


def test_ctrl_c_drops_the_line_being_typed(shell: Shell) -> None:
    status = drive(shell, "new xdp edge", CTRL_C, "show" + ENTER, CTRL_D)
    assert status == 0
    assert "no object is being composed" in err(shell)


def test_ctrl_d_on_a_non_empty_line_does_not_leave(shell: Shell) -> None:
    drive(shell, "new xdp edge", CTRL_D, ENTER, "show" + ENTER, CTRL_D)
    assert "name: edge" in out(shell)


def test_exit_command_sets_the_status(shell: Shell) -> None:
    assert drive(shell, "exit 4" + ENTER) == 4


def test_failures_do_not_end_the_repl(shell: Shell) -> None:
    drive(
        shell,
        "bogus" + ENTER,
        "new xdp e; set priority 1001" + ENTER,
        "show" + ENTER,
        CTRL_D,
    )
    assert "error: unknown command 'bogus'" in err(shell)
    assert "error: XdpProgram/e: spec.priority: 1001 is above the maximum 1000" in err(
        shell
    )
    assert "priority" not in out(shell).split("name: e")[1]


def test_tab_completes_a_field_path(shell: Shell) -> None:
    drive(
        shell,
        "new xdp edge" + ENTER,
        "set prio",
        TAB,
        " 5" + ENTER,
        "show" + ENTER,
        CTRL_D,
    )
    assert "priority: 5" in out(shell)


def test_tab_completes_enum_values_in_a_list(shell: Shell) -> None:
    drive(
        shell,
        "new xdp edge" + ENTER,
        "set proceedon pa",
        TAB,
        ",dr",
        TAB,
        ENTER,
        "show" + ENTER,
        CTRL_D,
    )
    assert "proceedon:\n  - pass\n  - drop\n" in out(shell)


def test_tab_twice_picks_the_first_interface(shell: Shell) -> None:
    """eth0 and eth1 share "eth": the first Tab inserts it, the second picks."""
    drive(
        shell,
        "new tc t" + ENTER,
        "set interfaceselector.interfaces e",
        TAB,
        TAB,
        ENTER,
        "show" + ENTER,
        CTRL_D,
    )
    assert "interfaces:\n    - eth0\n" in out(shell)


def test_tab_completes_a_kernel_function(shell: Shell) -> None:
    drive(
        shell,
        "new kprobe k" + ENTER,
        "set func_name tcp_v4_con",
        TAB,
        ENTER,
        "show" + ENTER,
        CTRL_D,
    )
    assert "func_name: tcp_v4_connect" in out(shell)


def test_tab_completes_a_command_name(shell: Shell) -> None:
    drive(shell, "doc", TAB, ENTER, CTRL_D)
    assert "xdp-native" in out(shell)


def test_trailing_backslash_continues_the_line(shell: Shell) -> None:
    drive(shell, "new xdp edge" + ENTER, "show \\" + ENTER, "-o json" + ENTER, CTRL_D)
    assert '"kind": "XdpProgram"' in out(shell)


def test_open_quote_continues_the_line(shell: Shell) -> None:
    drive(
        shell,
        "new uprobe u" + ENTER,
        "set target '/usr/lib/my" + ENTER,
        "lib.so'" + ENTER,
        "show -o json" + ENTER,
        CTRL_D,
    )
    assert '"target": "/usr/lib/my\\nlib.so"' in out(shell)


def test_history_is_kept_in_a_file(shell: Shell, tmp_path: Path) -> None:
    path = tmp_path / "history"
    drive(
        shell,
        "new xdp edge" + ENTER,
        "set priority 42" + ENTER,
        CTRL_D,
        history=FileHistory(str(path)),
    )
    assert "set priority 42" in path.read_text()

    again = Shell(lambda: None, out=io.StringIO(), err=io.StringIO())  # type: ignore[arg-type, return-value]
    # The first Up recalls this session's "new xdp edge", the second the
    # previous session's last line.
    drive(
        again,
        "new xdp edge" + ENTER,
        UP,
        UP,
        ENTER,
        "show" + ENTER,
        CTRL_D,
        history=FileHistory(str(path)),
    )
    assert "priority: 42" in out(again)


def test_ctrl_r_searches_the_history(shell: Shell, tmp_path: Path) -> None:
    path = tmp_path / "history"
    drive(
        shell,
        "new xdp edge" + ENTER,
        "set priority 42" + ENTER,
        "show" + ENTER,
        CTRL_D,
        history=FileHistory(str(path)),
    )
    again = Shell(lambda: None, out=io.StringIO(), err=io.StringIO())  # type: ignore[arg-type, return-value]
    drive(
        again,
        "new xdp edge" + ENTER,
        CTRL_R,
        "prio",
        ENTER,
        ENTER,
        "show" + ENTER,
        CTRL_D,
        history=FileHistory(str(path)),
    )
    assert "priority: 42" in out(again)


def test_history_path_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "bpftui" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "state" / "bpftui" / "history"


def test_unwritable_history_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert isinstance(open_history(blocker / "bpftui" / "history"), InMemoryHistory)


# ---------------------------------------------------------------- prompt and lexer


def text_of(fragments: Any) -> str:
    return "".join(t for _, t, *_ in fragments)


def test_prompt_shows_the_object_and_its_validity(shell: Shell) -> None:
    assert text_of(prompt_message(shell)) == "bpftui> "
    execute(shell, ["new", "fentry", "probe"])
    assert text_of(prompt_message(shell)) == "bpftui fentry/probe ✗> "
    assert "spec.bpffunctionname: required field is missing" in text_of(toolbar(shell))
    for line in (
        "set func_name do_unlinkat",
        "set bytecode.path /o.o",
        "set bpffunctionname f",
    ):
        execute(shell, line.split())
    assert text_of(prompt_message(shell)) == "bpftui fentry/probe ✓> "
    assert text_of(toolbar(shell)) == " fentry/probe is valid"


def test_lexer_styles_each_line() -> None:
    from prompt_toolkit.document import Document

    get_line = ShellLexer().lex_document(Document("set priority 10 \\\n# done"))
    assert get_line(0)[:3] == [
        ("class:command", "set"),
        ("class:space", " "),
        ("class:field", "priority"),
    ]
    assert get_line(1) == [("class:comment", "# done")]
    assert get_line(5) == []


# ---------------------------------------------------------------- a real terminal


def read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{wanted!r} never came; got {seen[-400:]!r}")
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
    return seen


# Run in a new session, the child opens its pty: as a session leader without
# a terminal it thereby gets the pty as its controlling terminal, so Ctrl-C
# typed there becomes SIGINT as in a real terminal.
IN_TERMINAL = """\
import os, runpy, sys
os.close(os.open(os.ttyname(0), os.O_RDWR))
sys.argv = ["bpftui", "--demo", "shell"]
runpy.run_module("bpftui", run_name="__main__")
"""


def test_ctrl_c_cancels_a_running_watch_in_a_terminal(tmp_path: Path) -> None:
    """In a pty the prompt is real: Ctrl-C stops `watch` and the shell goes
    on; Ctrl-D leaves with status 0 and the history file is written."""
    main, child = pty.openpty()
    # The pty answers no cursor position request; without this prompt_toolkit
    # waits for the answer before drawing each prompt.
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path),
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", IN_TERMINAL],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    seen = b""
    try:
        seen += read_until(main, b"bpftui>")
        os.write(main, b"watch --interval 0.2\r")
        seen += read_until(main, b"Ctrl-C to stop")
        os.write(main, b"\x03")
        seen += read_until(main, b"bpftui>")
        os.write(main, b"new xdp edge\r")
        seen += read_until(main, b"xdp/edge")
        os.write(main, b"\x04")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert b"Traceback" not in seen
    history = (tmp_path / "bpftui" / "history").read_text()
    assert "+watch --interval 0.2" in history
    assert "+new xdp edge" in history
