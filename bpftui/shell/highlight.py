"""Coloring of shell input: which word is a command, option, field, string.

Pure Python, split from the prompt_toolkit lexer in ``repl`` so that it is
tested on plain strings. Every fragment is ``(style class, text)``; joined
back together the fragments give the input unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

from bpftui.shell.registry import ALIASES, REGISTRY

Fragment = tuple[str, str]

# Commands whose first argument is a field path of the current object.
FIELD_COMMANDS = frozenset({"set", "unset"})


def fragments(text: str) -> list[Fragment]:
    """Split ``text`` into styled fragments covering all of it."""
    out: list[Fragment] = []
    index = 0  # word number within the current command
    command = ""
    for kind, word in _scan(text):
        if kind == "word":
            style = _word_style(word, index, command)
            command = _unquote(word) if index == 0 else command
            index += 1
        else:
            style = kind
            index = 0 if kind == "separator" else index
        out.append((style, word))
    return out


def lines(text: str) -> list[list[Fragment]]:
    """:func:`fragments` cut at newlines, one list per line of ``text``."""
    result: list[list[Fragment]] = [[]]
    for style, chunk in fragments(text):
        first, *rest = chunk.split("\n")
        if first:
            result[-1].append((style, first))
        for part in rest:
            result.append([(style, part)] if part else [])
    return result


def _word_style(word: str, index: int, command: str) -> str:
    bare = _unquote(word)
    if index == 0:
        known = bare in REGISTRY or bare in ALIASES
        return "command" if known else "unknown"
    if index == 1 and command in FIELD_COMMANDS:
        return "field"
    if word[0] in "'\"":
        return "string"
    if bare.startswith("-") and not _is_number(bare):
        return "option"
    if _is_number(bare):
        return "number"
    return "text"


def _is_number(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def _unquote(word: str) -> str:
    return word.strip("'\"")


def _scan(text: str) -> Iterator[Fragment]:
    """Raw pieces: words (quotes kept), spaces, comments, separators."""
    i = 0
    while i < len(text):
        end, kind = _piece(text, i)
        yield kind, text[i:end]
        i = end


def _piece(text: str, i: int) -> tuple[int, str]:
    """Where the piece starting at ``i`` ends, and what it is."""
    if text.startswith("\\\n", i):  # a continued line
        return i + 2, "space"
    char = text[i]
    if char in ";\n":
        return i + 1, "separator"
    if char.isspace():
        end = i
        while end < len(text) and text[end].isspace() and text[end] != "\n":
            end += 1
        return end, "space"
    if char == "#":
        end = text.find("\n", i)
        return (len(text) if end < 0 else end), "comment"
    return _word_end(text, i), "word"


def _word_end(text: str, start: int) -> int:
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char.isspace() or char == ";":
            break
        i += 1
    return min(i, len(text))
