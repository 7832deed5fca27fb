"""``bpftui validate``, ``bpftui export`` and ``bpftui new``: objects as files.

None of them touches the kernel: they read, check, normalise and write
bpfman.io/v1alpha1 objects with :mod:`bpftui.core.rules` and
:mod:`bpftui.core.yaml_io`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from bpftui.cli.output import add_command, add_files_flag, add_output_flag
from bpftui.core import api, compose, rules, yaml_io
from bpftui.core.errors import InputError, UsageError
from bpftui.core.rules import Problem

EXIT_STATUS = """\
exit status: 0 when every object is valid, 1 when an object is invalid or a
file cannot be read, 2 for a usage error.
"""

VALIDATE_EPILOG = f"""\
Each problem is one line, FILE:LINE: KIND/NAME: FIELD: MESSAGE; warnings read
FILE:LINE: warning: KIND/NAME: FIELD: MESSAGE and do not fail the check. A
summary goes to standard error.

examples:
  bpftui validate -f xdp.yaml
  bpftui validate -f xdp.yaml tc.yaml -f more/*.yaml
  kubectl get xdpprograms -o yaml | bpftui validate -f -

{EXIT_STATUS}"""

EXPORT_EPILOG = f"""\
The output has defaults filled in, globaldata in base64 and fields in the CRD
schema's order: ready for kubectl apply. Invalid objects are reported on
standard error and nothing is written.

examples:
  bpftui export -f xdp.yaml
  bpftui export -f xdp.yaml -o json
  bpftui export -f a.yaml b.yaml > all.yaml

{EXIT_STATUS}"""

NEW_EPILOG = f"""\
KIND is xdp, tc, tracepoint, kprobe, uprobe, fentry or fexit (also the kind
itself, XdpProgram, or its CRD names, xdpprogram and xdpprograms).

PATH names a field; the spec. prefix may be left out. VALUE is text read as
the field's type: numbers, true/false, lists as a,b,c, maps as key=value,k=v,
globaldata bytes as base64 or as 0x01,0x02, objects as YAML flow ({{...}}).
Inside a map the rest of the path is the key: metadata.labels.app=web.

examples:
  bpftui new xdp edge-filter --set bpffunctionname=xdp_pass --set priority=10 \\
      --set interfaceselector.interfaces=eth0,eth1 \\
      --set bytecode.image.url=quay.io/bpfman-bytecode/xdp_pass:latest
  bpftui new tc ingress-count --set direction=ingress --set priority=50 \\
      --set interfaceselector.primarynodeinterface=true \\
      --set bytecode.path=/opt/bpf/tc_count.o --set bpffunctionname=count
  bpftui new tracepoint opens --set names=syscalls/sys_enter_openat \\
      --set bytecode.path=/opt/bpf/tp.o --set bpffunctionname=enter_openat \\
      --set globaldata.GLOBAL_u32=0x0D,0x0C,0x0B,0x0A
  bpftui new kprobe wake --draft        a template to finish in an editor
  bpftui new uprobe --fields            every field of a kind

{EXIT_STATUS}"""


def register(sub: Any) -> None:
    """Add ``validate``, ``export`` and ``new``."""
    _add_validate(sub)
    _add_export(sub)
    _add_new(sub)


def _add_validate(sub: Any) -> None:
    parser = add_command(
        sub,
        "validate",
        "check objects against every rule of the bpfman.io API",
        VALIDATE_EPILOG,
        description=(
            "Check bpfman.io/v1alpha1 objects against the CRD schemas and every\n"
            "rule of the API, reporting all problems of every object."
        ),
    )
    add_files_flag(parser, required=True)
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    parser.set_defaults(handler=run_validate)


def _add_export(sub: Any) -> None:
    parser = add_command(
        sub,
        "export",
        "print objects normalised, ready for kubectl apply",
        EXPORT_EPILOG,
        description=(
            "Print objects normalised: defaults filled in, globaldata as base64,\n"
            "fields in the schema's order."
        ),
    )
    add_files_flag(parser, required=True)
    add_output_flag(parser, ("yaml", "json"))
    parser.set_defaults(handler=run_export)


def _add_new(sub: Any) -> None:
    parser = add_command(
        sub,
        "new",
        "compose an object from scratch and print it",
        NEW_EPILOG,
        description=(
            "Compose a bpfman.io/v1alpha1 object from field settings and print it,\n"
            "checked and normalised."
        ),
    )
    parser.add_argument(
        "kind", metavar="KIND", help="the kind: xdp, tc, tracepoint ..."
    )
    parser.add_argument("name", metavar="NAME", nargs="?", help="metadata.name")
    parser.add_argument(
        "--set",
        dest="settings",
        metavar="PATH=VALUE",
        action="append",
        default=[],
        help="set one field (repeatable)",
    )
    parser.add_argument(
        "--draft",
        action="store_true",
        help="print the object even when it is incomplete (problems go to stderr)",
    )
    parser.add_argument(
        "--fields", action="store_true", help="list the fields of KIND and exit"
    )
    add_output_flag(parser, ("yaml", "json"))
    parser.set_defaults(handler=run_new)


# --- validate -----------------------------------------------------------------------


def problem_line(problem: Problem, source: str | None = None) -> str:
    """``FILE:LINE: KIND/NAME: FIELD: MESSAGE``, tagged when a warning."""
    where = ""
    if source is not None:
        where = f"{source}:{problem.line}: " if problem.line else f"{source}: "
    tag = "" if problem.is_error else "warning: "
    return f"{where}{tag}{problem}"


class _Tally:
    """What validate saw, for the summary and the exit status."""

    def __init__(self) -> None:
        self.files = self.objects = self.invalid = 0
        self.errors = self.warnings = self.unreadable = 0

    def add(self, problems: Sequence[Problem]) -> None:
        self.objects += 1
        found = len(rules.errors(problems))
        self.errors += found
        self.warnings += len(problems) - found
        self.invalid += bool(found)

    @property
    def failed(self) -> bool:
        return bool(self.invalid or self.unreadable)

    def summary(self) -> str:
        files = _plural(self.files, "file")
        text = f"{_plural(self.objects, 'object')} in {files}: {self.invalid} invalid"
        text += (
            f", {_plural(self.errors, 'error')}, {_plural(self.warnings, 'warning')}"
        )
        if self.unreadable:
            text += f", {self.unreadable} unreadable"
        return text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_validate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``bpftui validate``: print every problem; 1 when anything is invalid."""
    stream = out or sys.stdout
    tally = _Tally()
    for path in args.files:
        tally.files += 1
        _validate_file(path, tally, stream)
    if not args.quiet:
        print(f"bpftui validate: {tally.summary()}", file=sys.stderr)
    return 1 if tally.failed else 0


def _validate_file(path: str, tally: _Tally, out: TextIO) -> None:
    try:
        documents = yaml_io.read_file(path)
    except InputError as err:
        tally.unreadable += 1
        print(err, file=out)
        return
    if not documents:
        tally.unreadable += 1
        print(f"{_source(path)}: no objects found", file=out)
    for doc in documents:
        problems = doc.check()
        tally.add(problems)
        for problem in problems:
            print(problem_line(problem, doc.source), file=out)


def _source(path: str) -> str:
    return yaml_io.STDIN_NAME if path == yaml_io.STDIN else path


# --- export ---------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    """``bpftui export``: the objects normalised, or their problems."""
    documents: list[yaml_io.Document] = []
    for path in args.files:
        documents.extend(yaml_io.read_file(path))
    if not documents:
        raise InputError(f"{', '.join(map(_source, args.files))}: no objects found")
    problems = [(doc.source, p) for doc in documents for p in doc.check()]
    _report(problems)
    if any(p.is_error for _, p in problems):
        return 1
    _write([doc.to_object() for doc in documents], args.output)
    return 0


def _report(problems: Iterable[tuple[str | None, Problem]]) -> None:
    for source, problem in problems:
        print(problem_line(problem, source), file=sys.stderr)


def _write(objects: Sequence[api.ApiObject | dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(yaml_io.dump_json(objects))
    else:
        sys.stdout.write(yaml_io.dump_yaml(objects))


# --- new ------------------------------------------------------------------------


def run_new(args: argparse.Namespace) -> int:
    """``bpftui new``: compose from ``--set`` settings, check, print."""
    kind = _kind(args.kind)
    if args.fields:
        _print_fields(kind)
        return 0
    if not args.name:
        raise UsageError("new: NAME is required", hint="bpftui new KIND NAME --set ...")
    doc = compose.new_doc(kind, args.name)
    for setting in args.settings:
        doc = compose.set_path(doc, *_split_setting(setting))
    problems = rules.check(doc)
    _report((None, p) for p in problems)
    if args.draft:
        _write([rules.apply_defaults(doc)], args.output)
        return 0
    if rules.errors(problems):
        hint = "finish with --set PATH=VALUE, or print a template with --draft"
        print(
            f"bpftui new: {kind}/{args.name} is not valid yet; {hint}", file=sys.stderr
        )
        return 1
    _write([api.from_dict(doc)], args.output)
    return 0


def _kind(text: str) -> str:
    try:
        return api.resolve_kind(text)
    except InputError as err:
        raise UsageError(f"new: {err.message}", hint=err.hint) from None


def _split_setting(setting: str) -> tuple[str, str]:
    path, equals, value = setting.partition("=")
    if not equals or not path.strip():
        raise UsageError(
            f'new: --set "{setting}" is not PATH=VALUE',
            hint="for example --set priority=10",
        )
    return path.strip(), value


def _print_fields(kind: str) -> None:
    print(f"fields of {kind} (* required):")
    for spec in rules.fields(kind):
        if spec.path in ("metadata", "spec"):
            continue
        mark = "*" if spec.required else " "
        kind_text = spec.type + (f" of {spec.item_type}" if spec.item_type else "")
        extra = f" {{{', '.join(spec.enum)}}}" if spec.enum else ""
        if spec.default is not None:
            shown = compose.to_text(spec.default) or '""'
            extra += f" default {shown}"
        print(f" {mark} {spec.short_path:44} {kind_text}{extra}")
