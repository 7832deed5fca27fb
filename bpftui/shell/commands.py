"""Running one command: look it up, parse its arguments, run it.

Importing this module fills the registry with every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bpftui.core.errors import UsageError
from bpftui.shell import compose_cmds, listing, node_cmds  # noqa: F401 - registers
from bpftui.shell.registry import REGISTRY, arg, command, lookup
from bpftui.shell.state import Shell, ShellExit

INTRO = """\
Lines may hold several commands separated by ';', continue on the next line
after a trailing '\\', and quote words like a POSIX shell; '#' starts a
comment. Tab completes commands, fields, values and names from this node;
Ctrl-R searches the history, Ctrl-C cancels, Ctrl-D leaves."""


def execute(shell: Shell, argv: Sequence[str]) -> None:
    """Run one command.

    Raises:
        BpftuiError: the command failed (UsageError for bad arguments).
        ShellExit: the command was ``exit``.
    """
    found = lookup(argv[0])
    if "-h" in argv[1:] or "--help" in argv[1:]:
        _help_one(shell, found.name)
        return
    try:
        args = found.parser.parse_args(list(argv[1:]))
    except argparse.ArgumentError as err:
        hint = f"usage: {found.usage}"
        raise UsageError(f"{found.name}: {err.message}", hint=hint) from None
    found.run(shell, args)


@command(
    "help",
    "list the commands, or explain one",
    arg("topic", nargs="?", metavar="COMMAND"),
)
def help_command(shell: Shell, args: argparse.Namespace) -> None:
    if args.topic:
        _help_one(shell, args.topic)
        return
    width = max(len(n) for n in REGISTRY) + 2
    shell.echo("commands:")
    for name in sorted(REGISTRY):
        shell.echo(f"  {name:{width}}{REGISTRY[name].summary}")
    shell.echo()
    shell.echo(INTRO)
    shell.echo("'help COMMAND' shows a command's arguments and examples.")


def _help_one(shell: Shell, name: str) -> None:
    found = lookup(name)
    shell.out.write(found.parser.format_help())
    if found.details:
        shell.echo()
        shell.echo(found.details)


@command(
    "exit",
    "leave the shell (Ctrl-D does too)",
    arg("status", nargs="?", type=int, metavar="STATUS"),
)
def exit_command(shell: Shell, args: argparse.Namespace) -> None:
    raise ShellExit(args.status)
