"""What every command shares: its parser, common flags, tables and JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json")


def add_command(
    sub: Any, name: str, help_: str, epilog: str, description: str | None = None
) -> Any:
    """Add subcommand ``name``; its epilog keeps its line breaks.

    The description defaults to ``help_`` written as a sentence.
    """
    return sub.add_parser(
        name,
        help=help_,
        description=description or help_[0].upper() + help_[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_files_flag(parser: Any, *, required: bool) -> None:
    """Add ``-f/--filename FILE...`` (repeatable) collecting into ``files``."""
    parser.add_argument(
        "-f",
        "--filename",
        dest="files",
        metavar="FILE",
        action="extend",
        nargs="+",
        required=required,
        default=[],
        help="YAML or JSON file with one or more objects; - reads standard input",
    )


def add_output_flag(parser: Any, choices: Sequence[str] = FORMATS) -> None:
    """Add ``-o/--output`` with the given formats, the first the default."""
    parser.add_argument(
        "-o",
        "--output",
        choices=list(choices),
        default=choices[0],
        help=f"output format (default: {choices[0]})",
    )


def print_json(data: Any, out: TextIO | None = None) -> None:
    """Print ``data`` as indented JSON; dataclasses must be turned into dicts first."""
    stream = out or sys.stdout
    json.dump(data, stream, indent=2, sort_keys=False, default=str)
    stream.write("\n")


def print_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    out: TextIO | None = None,
    headers: Sequence[str] | None = None,
) -> None:
    """Print rows as aligned columns with upper-case headers, like kubectl."""
    stream = out or sys.stdout
    heads = list(headers or [c.upper() for c in columns])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [len(h) for h in heads]
    for line in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, line, strict=True)]
    for line in [heads, *cells]:
        text = "   ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
        stream.write(text.rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "<none>"
    return str(value)
