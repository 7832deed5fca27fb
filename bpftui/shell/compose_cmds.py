"""Commands that compose objects: new, set, unset, show, validate, export,
load, use, discard.

Objects are raw trees, edited with ``core.compose`` and judged by
``core.rules`` after every change, exactly as the TUI's forms do. An edit
that breaks a rule at the field being edited is refused and leaves the
object as it was.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from bpftui.cli.output import print_json
from bpftui.core import api, compose, rules, yaml_io
from bpftui.core.errors import InputError, UsageError, ValidationError
from bpftui.shell.registry import arg, command
from bpftui.shell.state import Doc, Shell, short_ref


def problems_of(doc: Doc) -> list[rules.Problem]:
    return rules.check(doc)


def errors_of(doc: Doc) -> list[rules.Problem]:
    return rules.errors(rules.check(doc))


def is_valid(doc: Doc) -> bool:
    return not errors_of(doc)


def full_path(kind: str, path: str) -> str:
    """``priority`` -> ``spec.priority``, as problems name fields."""
    segments, _ = compose.resolve_path(kind, path)
    return rules.format_path(segments)


def _related(problem_path: str, field: str) -> bool:
    """Whether a problem concerns ``field``: the field itself, inside it, or
    a rule on an object that holds it (exactly one of, CEL rules)."""
    if problem_path == field or problem_path.startswith((f"{field}.", f"{field}[")):
        return True
    return field.startswith((f"{problem_path}.", f"{problem_path}["))


def _new_errors(before: Doc, after: Doc, field: str) -> list[rules.Problem]:
    """Errors the edit of ``field`` brought in, about values that are there.

    A field still missing is how composing goes, one field at a time, so
    an edit is never refused for what is absent.
    """
    old = {(p.path, p.message) for p in errors_of(before)}
    return [
        p
        for p in errors_of(after)
        if (p.path, p.message) not in old
        and _related(p.path, field)
        and _present(after, p.path)
    ]


def _present(doc: Doc, path: str) -> bool:
    if not path:
        return True
    try:
        return compose.get_path(doc, path) is not None
    except InputError:  # a path rules know and compose does not: keep it
        return True


def refuse(problems: Sequence[rules.Problem]) -> ValidationError:
    """The error for an edit that breaks rules; its message is the rule's."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ValidationError(f"{problems[0]}{more}", problems)


def edit(shell: Shell, path: str, change: Callable[[Doc], Doc]) -> Doc:
    """Apply ``change(doc) -> doc`` to the current object unless it breaks a
    rule at ``path``; return the new object."""
    ref = shell.workspace.resolve(None)
    before = shell.workspace.doc(None)
    kind = ref.partition("/")[0]
    after = change(shell.workspace.doc(None))
    broken = _new_errors(before, after, full_path(kind, path))
    if broken:
        raise refuse(broken)
    shell.workspace.replace(ref, after)
    return after


# ---------------------------------------------------------------- commands


@command(
    "new",
    "start composing an object (it becomes the current one)",
    arg(
        "kind",
        metavar="KIND",
        help="xdp, tc, tracepoint, kprobe, uprobe, fentry, fexit",
    ),
    arg("name", metavar="NAME"),
    details="KIND is any name of a kind: xdp, XdpProgram, xdpprogram ...\n\n"
    "example:\n  new xdp edge\n  set priority 10\n"
    "  set interfaceselector.interfaces eth0",
)
def new_command(shell: Shell, args: argparse.Namespace) -> None:
    kind = api.resolve_kind(args.kind)
    if api.KINDS[kind].per_node:
        raise InputError(f"{kind} objects are written by the agent, not composed")
    ref = f"{kind}/{args.name}"
    if ref in shell.workspace.docs:
        raise InputError(
            f"{short_ref(ref)} already exists in the workspace",
            hint=f"'use {short_ref(ref)}' to edit it or 'discard {short_ref(ref)}'",
        )
    shell.workspace.put(compose.new_doc(kind, args.name))
    _say_what_is_missing(shell)


def _say_what_is_missing(shell: Shell) -> None:
    """In the REPL, after ``new``: how many errors are left, and the first."""
    if shell.interactive:
        problems = errors_of(shell.workspace.doc(None))
        if problems:
            shell.echo(f"{len(problems)} to go, first: {problems[0]}")


@command(
    "set",
    "set a field of the current object; refused if it breaks a rule",
    arg("field", metavar="FIELD"),
    arg("values", nargs="+", metavar="VALUE"),
    details="A list field takes its items separated by commas or as several\n"
    "VALUEs. Fields are written without 'spec.'.\n\nexamples:\n"
    "  set priority 10\n  set proceedon pass,drop,dispatcher_return\n"
    "  set interfaceselector.interfaces eth0 eth1\n  set bytecode.path /opt/xdp.o",
)
def set_command(shell: Shell, args: argparse.Namespace) -> None:
    ref = shell.workspace.resolve(None)
    text = _value_text(ref.partition("/")[0], args.field, args.values)
    edit(shell, args.field, lambda doc: compose.set_path(doc, args.field, text))


def _value_text(kind: str, field: str, values: Sequence[str]) -> str:
    if len(values) == 1:
        return values[0]
    spec = rules.field_spec(kind, field)
    if spec is not None and spec.type == "array":
        # "a, b" and "a,\<newline> b" arrive as words "a," and "b".
        return ",".join(v.strip(",") for v in values if v.strip(","))
    raise UsageError(
        f"set {field}: one value expected, got {len(values)}",
        hint="quote a value that holds spaces",
    )


@command(
    "unset",
    "remove a field from the current object",
    arg("field", metavar="FIELD"),
)
def unset_command(shell: Shell, args: argparse.Namespace) -> None:
    # Never refused: taking a value out leaves at most something missing,
    # and switching between exclusive fields goes through that state.
    ref = shell.workspace.resolve(None)
    shell.workspace.replace(
        ref, compose.unset_path(shell.workspace.doc(None), args.field)
    )


@command(
    "show",
    "print an object as YAML (the current one by default)",
    arg("name", nargs="?", metavar="NAME"),
    arg("-o", "--output", choices=["yaml", "json"], default="yaml"),
)
def show_command(shell: Shell, args: argparse.Namespace) -> None:
    doc = shell.workspace.doc(args.name)
    if args.output == "json":
        print_json(doc, out=shell.out)
    else:
        shell.out.write(yaml_io.dump_yaml([doc]))


@command(
    "validate",
    "check objects against every API rule (the current one by default)",
    arg("names", nargs="*", metavar="NAME"),
    arg("--all", action="store_true", help="every object in the workspace"),
)
def validate_command(shell: Shell, args: argparse.Namespace) -> None:
    refs = _chosen(shell, args.names, args.all)
    broken: list[rules.Problem] = []
    for ref in refs:
        problems = problems_of(shell.workspace.docs[ref])
        for problem in problems:
            shell.echo(f"{problem.severity}: {problem}")
        if not rules.errors(problems):
            shell.echo(f"{short_ref(ref)}: valid")
        broken += rules.errors(problems)
    if broken:
        raise ValidationError(f"{len(broken)} problem(s) found", broken)


def _chosen(shell: Shell, names: Sequence[str], every: bool) -> list[str]:
    if every:
        if not shell.workspace.docs:
            raise InputError(
                "the workspace is empty", hint="'new KIND NAME' or 'load FILE'"
            )
        return list(shell.workspace.docs)
    if not names:
        return [shell.workspace.resolve(None)]
    return [shell.workspace.resolve(n) for n in names]


@command(
    "export",
    "write objects to a YAML file (every object in the workspace by default)",
    arg("file", metavar="FILE"),
    arg("names", nargs="*", metavar="NAME"),
    arg("--force", action="store_true", help="write invalid objects too"),
)
def export_command(shell: Shell, args: argparse.Namespace) -> None:
    refs = _chosen(shell, args.names, not args.names)
    docs = [shell.workspace.docs[r] for r in refs]
    broken = [p for d in docs for p in errors_of(d)]
    if broken and not args.force:
        raise refuse(broken)
    # Valid objects are written normalised: defaults filled in, schema order.
    text = yaml_io.dump_yaml(d if errors_of(d) else api.from_dict(d) for d in docs)
    try:
        with open(os.path.expanduser(args.file), "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as err:
        raise InputError(f"{args.file}: cannot write: {err.strerror}") from None
    shell.echo(f"wrote {len(docs)} object(s) to {args.file}")


@command(
    "load",
    "read objects from a YAML file into the workspace",
    arg("file", metavar="FILE"),
)
def load_command(shell: Shell, args: argparse.Namespace) -> None:
    documents = yaml_io.read_file(os.path.expanduser(args.file))
    for document in documents:
        _composable(document)
    for document in documents:
        ref = shell.workspace.put(document.data)
        state = "valid" if is_valid(document.data) else "invalid"
        shell.echo(f"loaded {short_ref(ref)} ({state})")


def _composable(document: yaml_io.Document) -> None:
    """Refuse what the workspace cannot hold: no kind, no name, BpfProgram."""
    where = f"{document.source}:{document.line}"
    kind, name = document.kind, document.name
    if kind not in api.PROGRAM_KINDS:
        known = ", ".join(api.PROGRAM_KINDS)
        raise InputError(
            f"{where}: kind {kind!r} cannot be composed", hint=f"kinds: {known}"
        )
    if not name:
        raise InputError(f"{where}: {kind} has no metadata.name")


@command(
    "use",
    "make another object of the workspace the current one",
    arg("name", metavar="NAME"),
)
def use_command(shell: Shell, args: argparse.Namespace) -> None:
    shell.workspace.current = shell.workspace.resolve(args.name)


@command(
    "discard",
    "drop objects from the workspace (the current one by default)",
    arg("names", nargs="*", metavar="NAME"),
)
def discard_command(shell: Shell, args: argparse.Namespace) -> None:
    for ref in [shell.workspace.resolve(n) for n in args.names or [None]]:
        del shell.workspace.docs[ref]
        if shell.workspace.current == ref:
            shell.workspace.current = next(reversed(shell.workspace.docs), None)
        shell.echo(f"discarded {short_ref(ref)}")
