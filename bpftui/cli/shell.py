"""``bpftui shell``: the REPL, or shell commands from ``-c``, a file or stdin.

Scripted runs never create a prompt: prompt_toolkit is imported only when
standard input is a terminal and no commands were given.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from bpftui.cli.output import add_output_flag
from bpftui.core.errors import UsageError

EPILOG = """\
examples:
  bpftui shell                                 the interactive shell
  bpftui --demo shell -c "list interfaces; status -o wide"
  bpftui shell deploy.bpftui --keep-going      run a script of commands
  echo "list programs -o json" | bpftui shell  commands on standard input

exit status: 0 when every command succeeded, 1 when one failed (the script
stops there unless --keep-going), 2 for a usage error.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "shell",
        help="an interactive shell with completion, or run shell commands",
        description="Browse, compose, apply and watch from a prompt, or run the "
        "same commands from -c, a FILE or standard input.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c", dest="commands", metavar="COMMANDS", help="commands separated by ';'"
    )
    parser.add_argument(
        "file", nargs="?", metavar="FILE", help="a script of commands ('-': stdin)"
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run past failed commands"
    )
    # A second --demo after "shell"; its own dest, so it cannot reset the
    # global one given before the command.
    parser.add_argument(
        "--demo", dest="shell_demo", action="store_true", help=argparse.SUPPRESS
    )
    add_output_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the shell as the arguments say; return the exit status."""
    from bpftui.shell.state import Shell

    if args.commands is not None and args.file is not None:
        raise UsageError("shell: give -c COMMANDS or FILE, not both")
    shell = Shell(lambda: _open_session(args), output=args.output)
    try:
        return _dispatch(shell, args)
    finally:
        shell.close()


def _dispatch(shell: Any, args: argparse.Namespace) -> int:
    from bpftui.shell.runner import run_script

    keep_going = args.keep_going
    if args.commands is not None:
        lines = args.commands.splitlines(keepends=True)
        return run_script(shell, lines, source="-c", keep_going=keep_going)
    if args.file not in (None, "-"):
        with _open_script(args.file) as stream:
            return run_script(shell, stream, source=args.file, keep_going=keep_going)
    if args.file == "-" or not sys.stdin.isatty():
        return run_script(shell, sys.stdin, source="<stdin>", keep_going=keep_going)
    from bpftui.shell.repl import run_repl

    shell.interactive = True
    return run_repl(shell)


def _open_script(path: str) -> Any:
    try:
        return open(os.path.expanduser(path), encoding="utf-8", errors="replace")
    except OSError as err:
        raise UsageError(f"shell: {path}: cannot read: {err.strerror}") from None


def _open_session(args: argparse.Namespace) -> Any:
    from bpftui.core.session import open_session

    demo = bool(args.demo or getattr(args, "shell_demo", False))
    return open_session(demo=demo, config_path=args.config)
