"""``bpftui inspect PATH|IMAGE``: what a BPF object holds, without loading it.

Lists the programs (function, section, the type the section implies,
instruction count), the maps, the global variables of ``.rodata``, ``.data``
and ``.bss`` with their BTF types, the license and whether the object
carries BTF. An argument that is not an existing file but reads like an
image reference (``quay.io/bpfman-bytecode/xdp_pass:latest``) is pulled, or
taken from the image cache, first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any

from bpftui.cli.output import add_output_flag, print_json, print_table
from bpftui.core.errors import InputError

EPILOG = """\
examples:
  bpftui inspect ./xdp_pass.o
  bpftui inspect ./xdp_pass.o -o json | jq '.programs[].name'
  bpftui inspect quay.io/bpfman-bytecode/xdp_pass:latest
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "inspect",
        help="list the programs, maps and globals of a BPF object or image",
        description="Read a BPF ELF object (or the one in a bytecode image) "
        "and list what it holds. Nothing is loaded; root is not needed for a "
        "file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH|IMAGE", help="ELF object or image")
    add_output_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bpftui.core.bytecode import inspect_bytecode

    spec = inspect_bytecode(_object_path(args))
    if args.output == "json":
        print_json(spec.to_dict())
    else:
        print_spec(spec)
    return 0


def looks_like_image(text: str) -> bool:
    """Whether ``text`` reads as an image reference rather than a file name."""
    if os.path.exists(text) or text.startswith(("/", "./", "../", "~")):
        return False
    if text.endswith(".o"):
        return False
    return ":" in text or "/" in text


def _object_path(args: argparse.Namespace) -> str:
    text: str = args.path
    if not looks_like_image(text):
        return text
    if importlib.util.find_spec("bpftui.core.images") is None:
        raise InputError(
            f"{text}: no such file, and image references need bpftui.core.images"
        )
    from bpftui.core.config import load_config
    from bpftui.core.images import inspect_image

    settings = load_config(getattr(args, "config", None)).image_settings()
    return str(inspect_image(text, settings))


def print_spec(spec: Any, out: Any = None) -> None:
    """Print an ObjectSpec as a header line and three tables."""
    stream = out or sys.stdout
    btf = "BTF" if spec.has_btf else "no BTF"
    if spec.has_btf_ext:
        btf += " (with .BTF.ext)"
    license_ = spec.license or "none"
    stream.write(f"{spec.path}: license {license_}, {btf}, {spec.byte_order}-endian\n")
    _section(stream, "PROGRAMS", _program_rows(spec),
             ("name", "section", "type", "attach_to", "insns"),
             ("FUNCTION", "SECTION", "TYPE", "ATTACH TO", "INSNS"))  # fmt: skip
    _section(stream, "MAPS", _map_rows(spec),
             ("name", "type", "key", "value", "max_entries", "pinning"),
             ("NAME", "TYPE", "KEY", "VALUE", "MAX ENTRIES", "PINNING"))  # fmt: skip
    _section(stream, "GLOBALS", _global_rows(spec),
             ("name", "section", "offset", "size", "type"),
             ("NAME", "SECTION", "OFFSET", "SIZE", "TYPE"))  # fmt: skip


def _section(
    stream: Any,
    title: str,
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    headers: tuple[str, ...],
) -> None:
    stream.write(f"\n{title}\n")
    if rows:
        print_table(rows, columns, out=stream, headers=headers)
    else:
        stream.write("  (none)\n")


def _program_rows(spec: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "section": p.section,
            "type": (p.prog_type or "unknown") + (" (return)" if p.retprobe else ""),
            "attach_to": p.attach_to or "-",
            "insns": p.insn_count,
        }
        for p in spec.programs
    ]


def _map_rows(spec: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "type": m.map_type,
            "key": _sized(m.key_size, m.key_type),
            "value": _sized(m.value_size, m.value_type),
            "max_entries": m.max_entries,
            "pinning": "internal" if m.internal else m.pinning,
        }
        for m in spec.maps
    ]


def _global_rows(spec: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": g.name,
            "section": g.section,
            "offset": g.offset,
            "size": g.size,
            "type": g.type_name or "-",
        }
        for g in spec.globals
    ]


def _sized(size: int, type_name: str) -> str:
    return f"{size} ({type_name})" if type_name else str(size)
