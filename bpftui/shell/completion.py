"""What Tab offers: commands, fields, values and names from the live node.

Pure Python, so it is tested without a terminal; ``repl`` wraps it in a
prompt_toolkit completer. Every source is bounded: kernel functions come
from :meth:`FunctionCatalog.filter` with a limit, so a node with tens of
thousands of them still completes on each keystroke.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bpftui.core import api
from bpftui.core.errors import BpftuiError
from bpftui.shell import commands  # noqa: F401 - fills the registry
from bpftui.shell import fields as fieldinfo
from bpftui.shell.parser import current_words
from bpftui.shell.registry import ALIASES, REGISTRY, Command
from bpftui.shell.state import Shell, short_ref

log = logging.getLogger(__name__)

# Most candidates shown for one Tab; more would not fit a menu anyway.
LIMIT = 200

# Kernel functions read from the catalog for one Tab, before ranking.
FUNCTION_SCAN = 2000

Pair = tuple[str, str]  # (text, meta)
Source = Callable[[Shell, list[str], str], Iterable[Pair]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: ``text`` replaces the ``-start`` characters before the
    cursor; ``display`` is what the menu shows when it differs."""

    text: str
    start: int
    meta: str = ""
    display: str = ""


def complete(shell: Shell, before_cursor: str) -> list[Candidate]:
    """Candidates for the word under the cursor; never raises."""
    parsed = current_words(before_cursor)
    if parsed is None:
        return []
    words, partial = parsed
    try:
        pairs = _candidates(shell, words, partial)
        return _rank(pairs, partial)
    except (BpftuiError, OSError) as err:
        log.debug("completion failed: %s", err)
        return []
    except Exception:
        # An error escaping here would be printed by prompt_toolkit over the
        # prompt, traceback and all; Tab offering nothing is the lesser harm.
        log.debug("completion of %r failed", before_cursor, exc_info=True)
        return []


def _candidates(shell: Shell, words: list[str], partial: str) -> Iterable[Pair]:
    if not words:
        return ((n, c.summary) for n, c in sorted(REGISTRY.items()))
    found = REGISTRY.get(ALIASES.get(words[0], words[0]))
    if found is None:
        return ()
    return _for_command(shell, found, words[1:], partial)


def _rank(pairs: Iterable[Pair], partial: str) -> list[Candidate]:
    """Keep the candidates that extend ``partial`` (list items after a comma
    count from the comma), at most :data:`LIMIT` of them."""
    head, _, tail = partial.rpartition(",")
    out: list[Candidate] = []
    seen: set[str] = set()
    for text, meta in pairs:
        if text in seen or not _extends(text, partial, tail):
            continue
        seen.add(text)
        shown = text.rpartition(",")[2] if head else ""
        out.append(Candidate(text, -len(partial), meta, shown))
        if len(out) >= LIMIT:
            break
    return out


def _extends(text: str, partial: str, tail: str) -> bool:
    if text.startswith(partial):
        return True
    return text.lower().startswith(partial.lower()) and partial == tail


# ---------------------------------------------------------------- arguments


def _for_command(
    shell: Shell, cmd: Command, args: list[str], partial: str
) -> Iterable[Pair]:
    """Options, option values and positionals, read from the command's parser."""
    option = _option_expecting_value(cmd.parser, args)
    if option is not None:
        return ((str(c), "") for c in option.choices or ())
    if partial.startswith("-"):
        return _option_names(cmd.parser)
    positionals = _positionals(cmd.parser, args)
    source = SOURCES.get(cmd.name)
    if source is not None:
        return source(shell, positionals, partial)
    return _positional_choices(cmd.parser, len(positionals))


def _option_expecting_value(
    parser: argparse.ArgumentParser, args: list[str]
) -> argparse.Action | None:
    if not args:
        return None
    action = parser._option_string_actions.get(args[-1])
    if action is None or action.nargs == 0:
        return None
    return action


def _option_names(parser: argparse.ArgumentParser) -> Iterator[Pair]:
    for action in parser._actions:
        for name in action.option_strings:
            yield name, action.help or ""


def _positionals(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """The positional words among ``args``, skipping options and their values."""
    out: list[str] = []
    skip = False
    for word in args:
        if skip:
            skip = False
        elif word.startswith("-") and len(word) > 1:
            action = parser._option_string_actions.get(word)
            skip = action is not None and action.nargs != 0
        else:
            out.append(word)
    return out


def _positional_choices(parser: argparse.ArgumentParser, index: int) -> Iterator[Pair]:
    actions = [a for a in parser._actions if not a.option_strings]
    if index < len(actions) and actions[index].choices:
        yield from ((str(c), "") for c in actions[index].choices or ())


# ---------------------------------------------------------------- sources


def _list(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    from bpftui.shell.listing import TARGETS

    if not args:
        return ((name, help_) for name, (help_, _) in TARGETS.items())
    if len(args) == 1 and args[0] == "symbols":
        return _uprobe_targets(partial)
    return ()


def _new(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    if args:
        return ()
    return ((api.KINDS[k].short, k) for k in api.PROGRAM_KINDS)


def _set(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    kind = _current_kind(shell)
    if kind is None:
        return ()
    if not args:
        if partial.startswith("globaldata."):
            return fieldinfo.global_names(_bytecode(shell))
        return fieldinfo.field_pairs(kind)
    return _values(shell, kind, args[0], partial)


def _unset(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    current = shell.workspace.current
    if args or current is None:
        return ()
    doc = shell.workspace.docs[current]
    kind = str(doc.get("kind"))
    return ((p, "set") for p in fieldinfo.set_paths(kind, doc))


def _workspace(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    for ref in shell.workspace.docs:
        yield short_ref(ref), "workspace"
        yield ref.partition("/")[2], short_ref(ref)


def _one_workspace(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    return () if args else _workspace(shell, args, partial)


def _files(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    return _paths(partial) if not args else _workspace(shell, args, partial)


def _delete(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    for view in shell.cached("status", shell.session.status):
        yield short_ref(f"{view.kind}/{view.name}"), view.condition.reason
    for ref in shell.workspace.docs:
        yield short_ref(ref), "workspace"


def _inspect(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    if not args:
        return ((w, "") for w in ("program", "map", "link", "object", "bytecode"))
    if len(args) > 1:
        return ()
    if args[0] == "bytecode":
        return _paths(partial)
    session = shell.session
    if args[0] == "program":
        progs = shell.cached("programs", session.kernel_programs)
        return ((str(p.id), f"{p.prog_type} {p.name}") for p in progs)
    if args[0] == "map":
        maps = shell.cached("maps", session.kernel_maps)
        return ((str(m.id), f"{m.map_type} {m.name}") for m in maps)
    if args[0] == "link":
        links = shell.cached("links", session.kernel_links)
        return ((str(k.id), f"{k.link_type} {k.attach_point}") for k in links)
    return _delete(shell, [], partial)


def _help(shell: Shell, args: list[str], partial: str) -> Iterable[Pair]:
    return () if args else ((n, c.summary) for n, c in sorted(REGISTRY.items()))


SOURCES: dict[str, Source] = {
    "list": _list,
    "new": _new,
    "set": _set,
    "unset": _unset,
    "use": _one_workspace,
    "show": _one_workspace,
    "validate": _workspace,
    "apply": _workspace,
    "discard": _workspace,
    "export": _files,
    "load": _files,
    "delete": _delete,
    "inspect": _inspect,
    "help": _help,
}


# ---------------------------------------------------------------- field values


def _current_kind(shell: Shell) -> str | None:
    current = shell.workspace.current
    return current.partition("/")[0] if current else None


def _values(shell: Shell, kind: str, path: str, partial: str) -> Iterable[Pair]:
    """Values for ``set PATH``: enums, booleans, then names from the node."""
    known = fieldinfo.enum_values(kind, path)
    if known:
        return _list_items(known, partial, fieldinfo.is_list(kind, path))
    leaf = path.rpartition(".")[2]
    node = _NODE_VALUES.get(leaf)
    if node is None:
        return ()
    return node(shell, kind, partial)


def _list_items(values: Iterable[str], partial: str, is_list: bool) -> Iterator[Pair]:
    """Whole values, or for a list field, ``chosen,chosen,value``."""
    if not is_list or "," not in partial:
        yield from ((v, "") for v in values)
        return
    head = partial.rpartition(",")[0]
    chosen = set(head.split(","))
    yield from ((f"{head},{v}", "") for v in values if v not in chosen)


def _interfaces(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    views = shell.cached("interfaces", shell.session.discovery.interfaces)
    names = [v.name for v in views if not v.netns]
    return _list_items(dict.fromkeys(names), partial, True)


def _tracepoints(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    views = shell.cached("tracepoints", shell.session.discovery.tracepoints)
    return _list_items((v.full_name for v in views), partial, True)


def _functions(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    if kind == "UprobeProgram":
        return _uprobe_symbols(shell, partial)
    catalog = shell.cached("functions", shell.session.discovery.functions)
    # The catalog matches anywhere in the name; completion wants prefixes
    # first, so it asks for more than it shows and sorts.
    views, _ = catalog.filter(partial, limit=FUNCTION_SCAN)
    usable = [v for v in views if kind == "KprobeProgram" or v.fentry]
    usable.sort(key=lambda v: not v.name.startswith(partial))
    return ((v.name, v.module) for v in usable)


def _uprobe_symbols(shell: Shell, partial: str) -> Iterable[Pair]:
    current = shell.workspace.current
    doc = shell.workspace.docs.get(current or "", {})
    target = (doc.get("spec") or {}).get("target")
    if not target:
        return ()
    symbols = shell.cached(
        f"symbols:{target}", lambda: shell.session.discovery.symbols(target)
    )
    return ((s.name, hex(s.offset)) for s in symbols if s.name.startswith(partial))


def _processes(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    views = shell.cached("processes", shell.session.discovery.processes)
    return ((str(p.pid), p.comm) for p in views)


def _bytecode_path(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    return _paths(partial)


def _target(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    return _uprobe_targets(partial)


def _bytecode(shell: Shell) -> Any:
    """What the current object's bytecode file holds, cached like node data."""
    current = shell.workspace.current
    path = fieldinfo.bytecode_path(shell.workspace.docs.get(current or "", {}))
    if path is None:
        return None
    return shell.cached(f"bytecode:{path}", lambda: fieldinfo.read_bytecode(path))


def _function_names(shell: Shell, kind: str, partial: str) -> Iterable[Pair]:
    return fieldinfo.program_names(_bytecode(shell), kind)


_NODE_VALUES: dict[str, Callable[[Shell, str, str], Iterable[Pair]]] = {
    "interfaces": _interfaces,
    "names": _tracepoints,
    "func_name": _functions,
    "pid": _processes,
    "path": _bytecode_path,
    "target": _target,
    "bpffunctionname": _function_names,
}


def _uprobe_targets(partial: str) -> Iterable[Pair]:
    if partial.startswith(("/", ".", "~")):
        return _paths(partial)
    return (("libc", "library"), ("libpthread", "library"), ("libssl", "library"))


def _paths(partial: str) -> Iterator[Pair]:
    """Files and directories starting with ``partial``."""
    folder, _, stem = partial.rpartition("/")
    where = os.path.expanduser(folder) if folder else "."
    prefix = f"{folder}/" if folder or partial.startswith("/") else ""
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(stem) and not entry.name.startswith("."):
            slash = "/" if entry.is_dir() else ""
            yield f"{prefix}{entry.name}{slash}", "dir" if slash else ""
