"""Splitting shell text into commands, and coloring it."""

from __future__ import annotations

import pytest

from bpftui.core.errors import UsageError
from bpftui.shell import commands  # noqa: F401 - fills the registry for highlight
from bpftui.shell.highlight import fragments, lines
from bpftui.shell.parser import (
    current_words,
    is_incomplete,
    split_commands,
    split_text,
)


def argvs(text: str) -> list[tuple[str, ...]]:
    return [c.argv for c in split_text(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new xdp edge", [("new", "xdp", "edge")]),
        (
            "new xdp edge; set priority 10",
            [("new", "xdp", "edge"), ("set", "priority", "10")],
        ),
        ("a;;b ;", [("a",), ("b",)]),
        ("set name 'a b'", [("set", "name", "a b")]),
        ('set x "a;b"', [("set", "x", "a;b")]),
        ("set x a\\;b", [("set", "x", "a;b")]),
        ("show # a comment; not a command", [("show",)]),
        ("# only a comment\n\n", []),
        ("set x a#b", [("set", "x", "a#b")]),
        ("show \\\n  -o json", [("show", "-o", "json")]),
        ("set x 'one\ntwo'", [("set", "x", "one\ntwo")]),
    ],
)
def test_split_text(text: str, expected: list[tuple[str, ...]]) -> None:
    assert argvs(text) == expected


def test_line_numbers_follow_the_script() -> None:
    script = "new xdp a\n\n# comment\nset priority 1; show\nlist \\\n interfaces\n"
    found = [(c.argv[0], c.lineno) for c in split_text(script)]
    assert found == [("new", 1), ("set", 4), ("show", 4), ("list", 5)]


def test_commands_come_as_soon_as_complete() -> None:
    """A piped script runs while it is written: the first command is yielded
    before the second line is read."""
    read: list[str] = []

    def source():
        for line in ["status\n", "doctor\n"]:
            read.append(line)
            yield line

    stream = split_commands(source())
    assert next(stream).argv == ("status",)
    assert read == ["status\n"]


def test_open_quote_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="line 2: no closing quotation"):
        split_text("show\nset x 'abc\n")


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("set x 1", False),
        ("set x \\", True),
        ("set x 'a", True),
        ('set x "a\\"', True),
        ("set x 'a\\'", False),
        ("set x 1 # it's fine", False),
    ],
)
def test_is_incomplete(text: str, incomplete: bool) -> None:
    assert is_incomplete(text) is incomplete


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ([], "")),
        ("se", ([], "se")),
        ("set ", (["set"], "")),
        ("new xdp e; set prio", (["set"], "prio")),
        ('set name "my ob', (["set", "name"], "my ob")),
        ("show # comm", None),
    ],
)
def test_current_words(text: str, expected: tuple[list[str], str] | None) -> None:
    assert current_words(text) == expected


@pytest.mark.parametrize(
    "text",
    ["set priority 10 # c", 'new xdp e; set "a b" -o', "x \\\n y", "set x 'a\nb'", ""],
)
def test_fragments_cover_the_text(text: str) -> None:
    assert "".join(t for _, t in fragments(text)) == text


def test_fragments_name_what_each_word_is() -> None:
    styles = {t: s for s, t in fragments("set priority 10 -o 'x' # c; bogus")}
    assert styles == {
        "set": "command",
        " ": "space",
        "priority": "field",
        "10": "number",
        "-o": "option",
        "'x'": "string",
        "# c; bogus": "comment",
    }


def test_second_command_after_separator_is_a_command() -> None:
    found = [(s, t) for s, t in fragments("show; bogus x") if s != "space"]
    assert found == [
        ("command", "show"),
        ("separator", ";"),
        ("unknown", "bogus"),
        ("text", "x"),
    ]


def test_lines_split_at_newlines() -> None:
    assert lines("show \\\n-o json") == [
        [("command", "show"), ("space", " "), ("space", "\\")],
        [("option", "-o"), ("space", " "), ("text", "json")],
    ]
