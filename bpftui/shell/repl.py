"""The interactive prompt: history, completion, highlighting, key handling.

The only module of the shell that imports prompt_toolkit; scripted runs never
import it. The prompt names the object being composed and whether it breaks
a rule (``bpftui xdp/edge ✓>``); the toolbar shows the first problem.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from bpftui.core.errors import BpftuiError
from bpftui.shell import highlight
from bpftui.shell.commands import execute  # noqa: F401 - fills the registry
from bpftui.shell.completion import complete
from bpftui.shell.compose_cmds import errors_of
from bpftui.shell.parser import is_incomplete, split_text
from bpftui.shell.runner import run_one
from bpftui.shell.state import Shell, ShellExit, short_ref

log = logging.getLogger(__name__)

STYLE = Style.from_dict(
    {
        "command": "bold ansiblue",
        "unknown": "ansired",
        "option": "ansicyan",
        "field": "ansiyellow",
        "string": "ansigreen",
        "number": "ansimagenta",
        "comment": "italic ansibrightblack",
        "separator": "bold",
        "prompt.object": "bold",
        "prompt.valid": "ansigreen bold",
        "prompt.invalid": "ansired bold",
        "bottom-toolbar": "noreverse ansibrightblack",
    }
)

WELCOME = "bpftui shell: 'help' lists the commands, Tab completes, Ctrl-D leaves."


def history_path() -> Path:
    """``$XDG_STATE_HOME/bpftui/history``, or ``~/.local/state/bpftui/history``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "bpftui" / "history"


def open_history(path: Path | None) -> History:
    """A file history, or a memory one (with a warning) if the file is out of
    reach: losing history must not stop the shell."""
    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError as err:
        log.warning("history not kept: %s: %s", path, err.strerror)
        return InMemoryHistory()
    return FileHistory(str(path))


class ShellCompleter(Completer):
    """prompt_toolkit's face of :func:`bpftui.shell.completion.complete`."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        for found in complete(self.shell, document.text_before_cursor):
            yield Completion(
                found.text,
                start_position=found.start,
                display=found.display or None,
                display_meta=found.meta or None,
            )


class ShellLexer(Lexer):
    """Colors commands, options, field paths, strings and comments."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        styled = [
            [(f"class:{style}", text) for style, text in line]
            for line in highlight.lines(document.text)
        ]

        def line(number: int) -> StyleAndTextTuples:
            return list(styled[number]) if number < len(styled) else []

        return line


def key_bindings() -> KeyBindings:
    """Enter continues a line that ends in ``\\`` or inside quotes."""
    bindings = KeyBindings()

    @Condition
    def unfinished() -> bool:
        from prompt_toolkit.application import get_app

        return is_incomplete(get_app().current_buffer.text)

    @bindings.add("enter", filter=unfinished)
    def _continue(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


def prompt_message(shell: Shell) -> StyleAndTextTuples:
    """``bpftui xdp/edge ✓> `` or ``bpftui> `` when nothing is composed."""
    ref = shell.workspace.current
    if ref is None:
        return [("class:prompt", "bpftui> ")]
    valid = not errors_of(shell.workspace.docs[ref])
    mark = ("class:prompt.valid", "✓") if valid else ("class:prompt.invalid", "✗")
    return [
        ("class:prompt", "bpftui "),
        ("class:prompt.object", short_ref(ref)),
        ("", " "),
        mark,
        ("class:prompt", "> "),
    ]


def toolbar(shell: Shell) -> StyleAndTextTuples | None:
    """The first rule the current object breaks, as the forms show it."""
    ref = shell.workspace.current
    if ref is None:
        return None
    problems = errors_of(shell.workspace.docs[ref])
    if not problems:
        return [("class:prompt.valid", f" {short_ref(ref)} is valid")]
    more = (
        f"  (+{len(problems) - 1} more; 'validate' lists all)" if problems[1:] else ""
    )
    first = problems[0]
    return [
        ("class:prompt.invalid", f" {first.path or 'object'}: {first.message}{more}")
    ]


def warm_up(shell: Shell) -> threading.Thread:
    """Read the node's lists in the background so the first Tab is instant."""

    def load() -> None:
        try:
            discovery = shell.session.discovery
            shell.cached("interfaces", discovery.interfaces)
            shell.cached("tracepoints", discovery.tracepoints)
            shell.cached("functions", discovery.functions)
        except (BpftuiError, OSError) as err:
            log.debug("completion data not loaded: %s", err)

    thread = threading.Thread(target=load, name="bpftui-shell-warm-up", daemon=True)
    thread.start()
    return thread


def make_session(
    shell: Shell,
    *,
    history: History,
    input: Input | None = None,
    output: Output | None = None,
) -> PromptSession[str]:
    return PromptSession(
        completer=ShellCompleter(shell),
        lexer=ShellLexer(),
        history=history,
        key_bindings=key_bindings(),
        style=STYLE,
        prompt_continuation="... ",
        enable_history_search=False,
        complete_while_typing=False,
        input=input,
        output=output,
    )


def run_repl(
    shell: Shell, session: PromptSession[str] | None = None, *, prefetch: bool = True
) -> int:
    """Read and run commands until ``exit`` or Ctrl-D; return the status.

    Args:
        shell: the state commands work on.
        session: the prompt; by default one on the terminal with the history
            file of :func:`history_path`.
        prefetch: read the node's lists in the background for completion.
    """
    if session is None:
        session = make_session(shell, history=open_history(history_path()))
    if prefetch:
        warm_up(shell)
    print(WELCOME, file=shell.out)
    while True:
        try:
            text = session.prompt(
                prompt_message(shell), bottom_toolbar=lambda: toolbar(shell)
            )
        except KeyboardInterrupt:
            continue  # Ctrl-C drops the line being typed
        except EOFError:
            return 0
        try:
            run_text(shell, text)
        except ShellExit as stop:
            return stop.status or 0


def run_text(shell: Shell, text: str) -> None:
    """Run every command of one accepted input; failures are reported."""
    try:
        commands = split_text(text)
    except BpftuiError as err:
        print(f"error: {err}", file=shell.err)
        return
    for command in commands:
        if run_one(shell, command.argv):
            return
