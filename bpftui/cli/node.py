"""``bpftui apply``, ``delete``, ``status``, ``doctor``, ``restore``, and the
kernel lists: this node, as the bpfman agent would run it.

Every command opens a session (:func:`bpftui.core.session.open_session`):
the real kernel as root, or the simulated node with the global ``--demo``.
In demo mode each command starts from a fresh simulated node.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from bpftui.cli import rows as cli_rows
from bpftui.cli.output import (
    add_command,
    add_files_flag,
    add_output_flag,
    print_json,
    print_table,
)
from bpftui.core import api, node, yaml_io
from bpftui.core.errors import UsageError
from bpftui.core.session import (
    BpfProgramView,
    ObjectStatusView,
    Session,
    _condition_dict,
)

APPLY_EPILOG = """\
Prints one line per object and attach point with its condition, as the
BpfProgram object on this node would carry it.

examples:
  bpftui apply -f xdp.yaml
  bpftui apply -f tracepoint.yaml -f uprobe.yaml
  bpftui export -f draft.yaml | bpftui apply -f -
  bpftui --demo apply -f xdp.yaml          try it on a simulated node

exit status: 0 when every attach point is Loaded or rightly not here
(NotSelected, NoContainersOnNode), 1 otherwise, 2 for a usage error.
"""

DELETE_EPILOG = """\
examples:
  bpftui delete -f xdp.yaml
  bpftui delete xdp/edge-filter tracepoint/opens
  bpftui delete XdpProgram/edge-filter

exit status: 0 when every named object was deleted, 1 when one was not
applied here or could not be taken down completely.
"""

STATUS_EPILOG = """\
Columns are kubectl's: NAME, BPFFUNCTIONNAME, NODESELECTOR, STATUS (the
reason of the condition); -o wide adds the kind's own fields. Programs that
vanished from the kernel since they were applied show as NotLoaded.

examples:
  bpftui status
  bpftui status -o wide
  bpftui status -o json | jq '.items[].status.conditions[0].type'
"""

DOCTOR_EPILOG = """\
examples:
  bpftui doctor
  bpftui doctor -o json
"""

RESTORE_EPILOG = """\
After a reboot bpffs is empty while the state store still holds what was
applied; restore applies it all again. Run it from the bpftui-restore
systemd unit at boot.

examples:
  bpftui restore

exit status: as for apply.
"""

# -o wide columns of each kind: (header, spec field), from the CRDs.
WIDE_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "XdpProgram": (
        ("PRIORITY", "priority"),
        ("INTERFACESELECTOR", "interfaceselector"),
        ("PROCEEDON", "proceedon"),
    ),
    "TcProgram": (
        ("PRIORITY", "priority"),
        ("DIRECTION", "direction"),
        ("INTERFACESELECTOR", "interfaceselector"),
        ("PROCEEDON", "proceedon"),
    ),
    "TracepointProgram": (("TRACEPOINT", "names"),),
    "KprobeProgram": (
        ("FUNCTIONNAME", "func_name"),
        ("OFFSET", "offset"),
        ("RETPROBE", "retprobe"),
    ),
    "UprobeProgram": (
        ("FUNCTIONNAME", "func_name"),
        ("OFFSET", "offset"),
        ("TARGET", "target"),
        ("RETPROBE", "retprobe"),
        ("PID", "pid"),
    ),
    "FentryProgram": (("FUNCTIONNAME", "func_name"),),
    "FexitProgram": (("FUNCTIONNAME", "func_name"),),
}


def register(sub: Any) -> None:
    """Add ``apply``, ``delete``, ``status``, ``doctor`` and ``restore``."""
    apply = add_command(
        sub, "apply", "load and attach objects on this node", APPLY_EPILOG
    )
    add_files_flag(apply, required=True)
    apply.set_defaults(handler=run_apply)

    delete = add_command(
        sub, "delete", "detach, unload and unpin applied objects", DELETE_EPILOG
    )
    add_files_flag(delete, required=False)
    delete.add_argument(
        "refs", nargs="*", metavar="KIND/NAME", help="objects to delete by name"
    )
    delete.set_defaults(handler=run_delete)

    status = add_command(
        sub, "status", "applied objects and their conditions", STATUS_EPILOG
    )
    add_output_flag(status, ("table", "wide", "yaml", "json"))
    status.set_defaults(handler=run_status)

    doctor = add_command(
        sub, "doctor", "what this kernel allows, probed", DOCTOR_EPILOG
    )
    add_output_flag(doctor)
    doctor.set_defaults(handler=run_doctor)

    restore = add_command(
        sub,
        "restore",
        "apply every stored object again (after a reboot)",
        RESTORE_EPILOG,
    )
    restore.set_defaults(handler=run_restore)


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Session]:
    """The node session for a command, closed afterwards."""
    from bpftui.core.session import open_session

    session = open_session(demo=bool(args.demo), config_path=args.config)
    try:
        yield session
    finally:
        session.close()


# ---------------------------------------------------------------- apply


def run_apply(args: argparse.Namespace) -> int:
    objects = _read_programs(args.files)
    with opened(args) as session:
        views = session.apply(objects)
    return print_outcome(views)


def run_restore(args: argparse.Namespace) -> int:
    with opened(args) as session:
        restore: Callable[[], Sequence[BpfProgramView]] | None = getattr(
            session, "restore", None
        )
        if restore is None:
            raise UsageError("restore: not available on this node")
        views = restore()
    if not views:
        print("nothing to restore: no objects are applied")
        return 0
    return print_outcome(views)


def _read_programs(files: Sequence[str]) -> list[Any]:
    objects = [obj for path in files for obj in yaml_io.load_file(path)]
    refused = [o for o in objects if isinstance(o, api.BpfProgram)]
    if refused:
        raise UsageError(
            f"BpfProgram/{refused[0].metadata.name}: BpfProgram objects are written "
            "by the node agent and cannot be applied"
        )
    return objects


def print_outcome(views: Sequence[BpfProgramView], out: TextIO | None = None) -> int:
    """One line per attach point; return 0 when every one is fine."""
    stream = out or sys.stdout
    for view in views:
        stream.write(outcome_line(view) + "\n")
    fine = all(
        api.BpfProgramConditionType(v.condition.type) in node.APPLY_OK for v in views
    )
    return 0 if fine else 1


def outcome_line(view: BpfProgramView) -> str:
    """``kind.group/name attach point: Condition: message`` (more lines indented)."""
    ref = f"{view.owner_kind.lower()}.{api.API_GROUP}/{view.owner_name}"
    first, *rest = (view.condition.message or "").splitlines() or [""]
    text = f"{ref} {view.attach_point}: {view.condition.type}"
    if first:
        text += f": {first}"
    return "\n".join([text, *(f"    {line}" for line in rest)])


# ---------------------------------------------------------------- delete


def run_delete(args: argparse.Namespace) -> int:
    refs = [f"{o.kind}/{o.metadata.name}" for o in _read_programs(args.files)]
    refs += list(args.refs)
    if not refs:
        raise UsageError("delete: name objects with -f FILE or KIND/NAME")
    with opened(args) as session:
        keys = [_canonical(ref) for ref in refs]
        deleted = set(session.delete(keys))
    status = 0
    for ref in dict.fromkeys(keys):
        kind, name = ref.split("/", 1)
        shown = f"{kind.lower()}.{api.API_GROUP}/{name}"
        if ref in deleted:
            print(f"{shown} deleted")
        else:
            print(f"bpftui: {shown}: not applied on this node", file=sys.stderr)
            status = 1
    return status


def _canonical(ref: str) -> str:
    kind, sep, name = ref.partition("/")
    if not sep or not name:
        raise UsageError(f"'{ref}': not a KIND/NAME reference (for example xdp/edge)")
    return f"{api.resolve_kind(kind)}/{name}"


# ---------------------------------------------------------------- status


def run_status(args: argparse.Namespace) -> int:
    with opened(args) as session:
        objects = session.status()
    if args.output in ("json", "yaml"):
        listing = k8s_list(objects)
        if args.output == "json":
            print_json(listing)
        else:
            sys.stdout.write(yaml_io.dump_yaml([listing]))
        return 0
    if not objects:
        print("No resources found", file=sys.stderr)
        return 0
    print_status_tables(objects, wide=args.output == "wide")
    return 0


def k8s_list(objects: Sequence[ObjectStatusView]) -> dict[str, Any]:
    """A Kubernetes ``List`` of the objects and their BpfProgram objects."""
    items: list[dict[str, Any]] = [object_item(o) for o in objects]
    items += [bp.to_k8s() for o in objects for bp in o.bpfprograms]
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": items,
    }


def object_item(view: ObjectStatusView) -> dict[str, Any]:
    """One applied *Program object with its cluster-level condition."""
    item = api.to_dict(view.obj)
    item["status"] = {"conditions": [_condition_dict(view.condition)]}
    return item


def print_status_tables(objects: Sequence[ObjectStatusView], *, wide: bool) -> None:
    """One kubectl-style table per kind, then the BpfProgram objects."""
    first = True
    for kind in api.PROGRAM_KINDS:
        rows = [o for o in objects if o.kind == kind]
        if not rows:
            continue
        if not first:
            print()
        first = False
        extra = WIDE_COLUMNS[kind] if wide else ()
        columns = ["name", "bpffunctionname", "nodeselector", "status"]
        columns += [field for _, field in extra]
        headers = [c.upper() for c in columns[:4]] + [h for h, _ in extra]
        print_table([_object_row(o) for o in rows], columns, headers=headers)
    bpfprograms = [bp for o in objects for bp in o.bpfprograms]
    if bpfprograms:
        print()
        columns = ["name", "type", "status"]
        if wide:
            columns += ["attachpoint", "programid"]
        print_table([_bpfprogram_row(bp) for bp in bpfprograms], columns)


def _object_row(view: ObjectStatusView) -> dict[str, Any]:
    spec = api.to_dict(view.obj)["spec"]
    row = {f: _column(spec.get(f)) for _, f in WIDE_COLUMNS[view.kind]}
    row.update(
        name=f"{view.kind.lower()}.{api.API_GROUP}/{view.name}",
        bpffunctionname=spec.get("bpffunctionname"),
        nodeselector=_column(spec.get("nodeselector", {})),
        status=view.condition.reason,
    )
    return row


def _column(value: Any) -> Any:
    """A field as kubectl prints it in a custom column: JSON for structures."""
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value


def _bpfprogram_row(view: BpfProgramView) -> dict[str, Any]:
    return {
        "name": f"bpfprogram.{api.API_GROUP}/{view.name}",
        "type": view.prog_type,
        "status": view.condition.reason,
        "attachpoint": view.attach_point,
        "programid": view.program_id,
    }


# ---------------------------------------------------------------- doctor


def run_doctor(args: argparse.Namespace) -> int:
    with opened(args) as session:
        features = session.doctor()
    rows = [dataclasses.asdict(f) for f in features]
    if args.output == "json":
        print_json(rows)
        return 0
    for row in rows:
        row["available"] = "yes" if row["available"] else "no"
    print_table(rows, ["name", "available", "detail", "needs"])
    return 0


# ---------------------------------------------------------------- kernel lists


def list_programs(args: argparse.Namespace) -> int:
    """``bpftui list programs``: every program in the kernel."""
    with opened(args) as session:
        rows = cli_rows.program_rows(session)
    return _emit(args, rows, cli_rows.PROGRAM_COLUMNS, cli_rows.PROGRAM_HEADERS)


def list_links(args: argparse.Namespace) -> int:
    """``bpftui list links``: every BPF link in the kernel."""
    with opened(args) as session:
        rows = cli_rows.link_rows(session)
    return _emit(args, rows, cli_rows.LINK_COLUMNS, cli_rows.LINK_HEADERS)


def list_maps(args: argparse.Namespace) -> int:
    """``bpftui list maps``: every BPF map in the kernel."""
    with opened(args) as session:
        rows = cli_rows.map_rows(session)
    return _emit(args, rows, cli_rows.MAP_COLUMNS, cli_rows.MAP_HEADERS)


def _emit(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    headers: Sequence[str],
) -> int:
    rows = cli_rows.matching_rows(rows, getattr(args, "filter", None))
    if args.output == "json":
        print_json(rows)
    else:
        print_table(rows, columns, headers=headers)
    return 0
