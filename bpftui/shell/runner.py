"""Running commands without a prompt: ``-c``, script files and piped input.

Nothing here imports prompt_toolkit, so a scripted run starts as fast as the
commands it runs allow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from bpftui.core.errors import BpftuiError
from bpftui.shell.commands import execute
from bpftui.shell.parser import split_commands
from bpftui.shell.state import Shell, ShellExit

log = logging.getLogger(__name__)

INTERRUPTED = 130


def run_one(shell: Shell, argv: Sequence[str], where: str = "") -> int:
    """Run one command and return its status; report a failure on stderr.

    Raises:
        ShellExit: the command was ``exit``.
    """
    prefix = f"bpftui: {where}: " if where else "error: "
    try:
        execute(shell, argv)
    except BpftuiError as err:
        shell.out.flush()  # results before the message, when both go to a pipe
        print(f"{prefix}{err}", file=shell.err)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{prefix}{argv[0]}: cancelled", file=shell.err)
        return INTERRUPTED
    except (ShellExit, SystemExit):
        raise
    except Exception as err:  # a bug of ours: one line, details with -vv
        log.debug("command %r failed", list(argv), exc_info=True)
        print(
            f"{prefix}internal error: {type(err).__name__}: {err}; "
            "run again with -vv for details and report it",
            file=shell.err,
        )
        return 1
    return 0


def run_script(
    shell: Shell, lines: Iterable[str], *, source: str, keep_going: bool = False
) -> int:
    """Run every command of a script; return the exit status.

    The status is 0 when all succeeded, else the highest status of a failed
    command (1, or 2 for a usage error). Without ``keep_going`` the script
    stops at the first failure. ``exit N`` ends it with status N.
    """
    status = 0
    try:
        for command in split_commands(lines):
            code = run_one(shell, command.argv, f"{source}:{command.lineno}")
            status = max(status, code)
            if code and (code == INTERRUPTED or not keep_going):
                break
    except ShellExit as stop:
        return status if stop.status is None else stop.status
    except BpftuiError as err:  # the script itself does not parse
        print(f"bpftui: {source}: {err}", file=shell.err)
        return max(status, err.exit_code)
    except KeyboardInterrupt:
        return INTERRUPTED
    return status
