"""What a bytecode object holds, for the front ends: read, never loaded.

The records (:class:`ObjectSpec` with its programs, maps and globals) are the
*spec* half of the spec/live split: plain frozen data, the same on every
machine. The reading itself is :mod:`bpftui.native.elf` (pyelftools, no
libbpf, no root); front ends come here instead of importing it.
"""

from __future__ import annotations

import os

from bpftui.native.elf import (
    GlobalSpec,
    MapSpec,
    ObjectSpec,
    ProgramSpec,
    inspect_bytes,
    inspect_object,
    section_program_type,
)

__all__ = [
    "GlobalSpec",
    "MapSpec",
    "ObjectSpec",
    "ProgramSpec",
    "inspect_bytecode",
    "inspect_bytes",
    "section_program_type",
]


def inspect_bytecode(path: str | os.PathLike[str]) -> ObjectSpec:
    """Read the BPF ELF object at ``path``.

    Raises:
        ElfError: the file is missing, not a BPF ELF object, or damaged.
    """
    return inspect_object(path)
