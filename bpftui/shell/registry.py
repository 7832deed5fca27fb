"""The table of shell commands and the argument parser they share.

A command is a function ``run(shell, args)`` registered with :func:`command`;
its arguments are declared on an :class:`ArgParser` that raises
:class:`~bpftui.core.errors.UsageError` instead of exiting, so a mistyped
command fails that command only, never the whole shell.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from bpftui.core.errors import UsageError

if TYPE_CHECKING:
    from bpftui.shell.state import Shell

Runner = Callable[["Shell", argparse.Namespace], None]


class ArgParser(argparse.ArgumentParser):
    """argparse for one shell command: errors raise, nothing exits."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        super().__init__(prog=prog, add_help=False, exit_on_error=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"usage: {self.usage_line()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"{self.prog}: invalid arguments")

    def usage_line(self) -> str:
        """``prog ARGS`` on one line, without argparse's ``usage:`` prefix."""
        return " ".join(self.format_usage().split()[1:])


@dataclass(frozen=True, slots=True)
class Command:
    """One shell command.

    Attributes:
        name: what the user types.
        summary: one line for ``help``.
        parser: declares the arguments.
        run: does the work; raises ``BpftuiError`` on failure.
        details: more lines for ``help NAME`` (examples).
    """

    name: str
    summary: str
    parser: ArgParser
    run: Runner
    details: str = ""

    @property
    def usage(self) -> str:
        return self.parser.usage_line()


REGISTRY: dict[str, Command] = {}
ALIASES: dict[str, str] = {"quit": "exit", "?": "help", "ls": "list"}


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument, as ``ArgumentParser.add_argument`` takes it."""

    names: tuple[str, ...]
    options: dict[str, Any]


def arg(*names: str, **options: Any) -> Arg:
    """Declare an argument of a command (same parameters as argparse)."""
    return Arg(names, options)


def command(
    name: str, summary: str, *args: Arg, details: str = ""
) -> Callable[[Runner], Runner]:
    """Register the decorated function as the command ``name``."""
    parser = ArgParser(name, description=summary)
    for declared in args:
        parser.add_argument(*declared.names, **declared.options)

    def register(run: Runner) -> Runner:
        REGISTRY[name] = Command(name, summary, parser, run, details.strip("\n"))
        return run

    return register


def lookup(name: str) -> Command:
    """The command called ``name`` (or one of its aliases).

    Raises:
        UsageError: no such command; the hint names the closest one.
    """
    found = REGISTRY.get(ALIASES.get(name, name))
    if found is not None:
        return found
    close = difflib.get_close_matches(name, list(REGISTRY), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "'help' lists the commands"
    raise UsageError(f"unknown command '{name}'", hint=hint)
