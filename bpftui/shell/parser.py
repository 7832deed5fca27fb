"""Turning shell text into commands: quoting, comments, ``;`` and ``\\``.

One scanner serves the script runner, the REPL (to know when a line needs a
continuation) and the completer. Words are split by :func:`shlex.split`, so
quoting follows the POSIX shell; the scanner only decides where a command
ends, which shlex cannot do for ``;`` inside quotes.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bpftui.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a script, with the line it started on (1-based)."""

    argv: tuple[str, ...]
    lineno: int


@dataclass(slots=True)
class _Scan:
    """Where the scanner stands after reading some text."""

    quote: str = ""  # the open quote character, "" when outside quotes
    escaped: bool = False  # the previous character was an unquoted backslash
    comment: bool = False  # inside a ``#`` comment, until the end of the line


def split_commands(lines: Iterable[str], *, first_lineno: int = 1) -> Iterator[Command]:
    """Yield the commands of a script as soon as each one is complete.

    Lines are consumed lazily, so a script piped on standard input runs while
    it is still being written.

    Raises:
        UsageError: a quote is left open at the end of the input.
    """
    pending: list[str] = []
    start: int | None = None  # the line where the pending command began
    state = _Scan()
    for lineno, line in enumerate(lines, start=first_lineno):
        for piece, ended in _pieces(line, state):
            pending.append(piece)
            if start is None and piece.strip():
                start = lineno
            if ended:
                yield from _command("".join(pending), start or lineno)
                pending, start = [], None
    if state.quote:
        raise UsageError(f"line {start}: no closing quotation ({state.quote})")
    yield from _command("".join(pending), start or first_lineno)


def split_text(text: str) -> list[Command]:
    """All commands of ``text`` (``-c`` arguments, whole files)."""
    return list(split_commands(text.splitlines(keepends=True)))


def is_incomplete(text: str) -> bool:
    """Whether ``text`` ends inside quotes or with a continuing backslash."""
    state = _Scan()
    for _ in _pieces(text, state):
        pass
    return bool(state.quote) or state.escaped


def current_words(text: str) -> tuple[list[str], str] | None:
    """Split the command being typed into finished words and the partial one.

    Only the text after the last command separator counts. The partial word
    has its quotes removed; an empty string means the cursor follows a space.
    Returns None inside a comment, where nothing completes.
    """
    state = _Scan()
    tail = ""
    for piece, _ in _pieces(text, state):
        tail = piece
    if state.comment:
        return None
    try:
        words = shlex.split(tail + state.quote, comments=False)
    except ValueError:
        return None
    if tail and not tail[-1].isspace() and words:
        return words[:-1], words[-1]
    return words, ""


def _pieces(text: str, state: _Scan) -> Iterator[tuple[str, bool]]:
    """Cut ``text`` at unquoted ``;`` and newlines; say which cuts end a command.

    Comments and backslash-newline pairs are dropped from the pieces.
    """
    out: list[str] = []
    for char in text:
        ended = _step(char, state, out)
        if ended:
            yield "".join(out), True
            out.clear()
    yield "".join(out), False


def _step(char: str, state: _Scan, out: list[str]) -> bool:
    """Feed one character; return True when it ends a command."""
    if state.comment:
        state.comment = char != "\n"
        return char == "\n"
    if state.escaped:
        state.escaped = False
        if char != "\n" or state.quote:
            out.append("\\" + char)
        return False
    if state.quote:
        state.quote = "" if char == state.quote else state.quote
        if char == "\\" and state.quote == '"':
            state.escaped = True
            return False
        out.append(char)
        return False
    return _step_unquoted(char, state, out)


def _step_unquoted(char: str, state: _Scan, out: list[str]) -> bool:
    if char == "\\":
        state.escaped = True
    elif char in "'\"":
        state.quote = char
        out.append(char)
    elif char == "#" and (not out or out[-1].isspace()):
        state.comment = True
    elif char in ";\n":
        return True
    else:
        out.append(char)
    return False


def _command(text: str, lineno: int) -> Iterator[Command]:
    if not text.strip():
        return
    try:
        argv = shlex.split(text, comments=False)
    except ValueError as err:
        raise UsageError(f"line {lineno}: {err}") from None
    if argv:
        yield Command(tuple(argv), lineno)
