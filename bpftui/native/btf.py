"""A small reader for the BTF an ELF object carries in its ``.BTF`` section.

Only what inspecting an object needs: type names, sizes, the members of the
``.maps`` definitions and the variables of each data section. The layout is
the kernel's (``include/uapi/linux/btf.h``): a header, a block of types, a
block of NUL-terminated strings. Input is untrusted: every offset is checked
before it is read, and every walk through the type graph is depth-limited, so
a damaged section ends in :class:`BtfError`, never a hang or a huge
allocation.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BTF_MAGIC = 0xEB9F
MAX_DEPTH = 32

KIND_INT = 1
KIND_PTR = 2
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FWD = 7
KIND_TYPEDEF = 8
KIND_VOLATILE = 9
KIND_CONST = 10
KIND_RESTRICT = 11
KIND_FUNC = 12
KIND_FUNC_PROTO = 13
KIND_VAR = 14
KIND_DATASEC = 15
KIND_FLOAT = 16
KIND_DECL_TAG = 17
KIND_TYPE_TAG = 18
KIND_ENUM64 = 19

# Bytes that follow ``struct btf_type``: (fixed, per vlen item).
_TAIL = {
    KIND_INT: (4, 0),
    KIND_PTR: (0, 0),
    KIND_ARRAY: (12, 0),
    KIND_STRUCT: (0, 12),
    KIND_UNION: (0, 12),
    KIND_ENUM: (0, 8),
    KIND_FWD: (0, 0),
    KIND_TYPEDEF: (0, 0),
    KIND_VOLATILE: (0, 0),
    KIND_CONST: (0, 0),
    KIND_RESTRICT: (0, 0),
    KIND_FUNC: (0, 0),
    KIND_FUNC_PROTO: (0, 8),
    KIND_VAR: (4, 0),
    KIND_DATASEC: (0, 12),
    KIND_FLOAT: (0, 0),
    KIND_DECL_TAG: (4, 0),
    KIND_TYPE_TAG: (0, 0),
    KIND_ENUM64: (0, 12),
}
_MODIFIERS = {
    KIND_TYPEDEF: "",
    KIND_VOLATILE: "volatile ",
    KIND_CONST: "const ",
    KIND_RESTRICT: "restrict ",
    KIND_TYPE_TAG: "",
}
_SIZED = {KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_DATASEC, KIND_FLOAT}


class BtfError(ValueError):
    """The BTF data is damaged; the message says where."""


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member, enum value, parameter or data section entry.

    ``type_id`` is the member's type (0 for enum values); ``value`` is the bit
    offset of a member, the value of an enumerator, or the byte offset of a
    data section entry; ``size`` is only set for data section entries.
    """

    name: str
    type_id: int
    value: int
    size: int = 0


@dataclass(frozen=True, slots=True)
class BtfType:
    """One ``struct btf_type`` with what follows it."""

    kind: int
    name: str
    size_or_type: int
    members: tuple[Member, ...] = ()
    nelems: int = 0  # ARRAY: element count; ``size_or_type`` is the element


@dataclass(frozen=True, slots=True)
class DatasecVar:
    """A variable of a data section: name, type and place as BTF states them."""

    name: str
    type_id: int
    offset: int
    size: int


class Btf:
    """The types of one ``.BTF`` section; type id 0 is ``void``.

    Raises:
        BtfError: the data is not BTF or is damaged.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._endian = _endian_of(data)
        types_start, types_len, self._str_start, self._str_len = self._header()
        self.types: list[BtfType] = [BtfType(0, "void", 0)]
        self._parse_types(types_start, types_start + types_len)

    # ---------------------------------------------------------- parsing

    def _header(self) -> tuple[int, int, int, int]:
        if len(self._data) < 24:
            raise BtfError("BTF header truncated")
        hdr_len, type_off, type_len, str_off, str_len = self._unpack("5I", 4)
        end = len(self._data)
        if hdr_len < 24 or hdr_len > end:
            raise BtfError(f"BTF header length {hdr_len} is invalid")
        types_start = hdr_len + type_off
        str_start = hdr_len + str_off
        if types_start + type_len > end or str_start + str_len > end:
            raise BtfError("BTF type or string block extends past the section")
        return types_start, type_len, str_start, str_len

    def _parse_types(self, pos: int, end: int) -> None:
        while pos < end:
            if pos + 12 > end:
                raise BtfError(f"BTF type {len(self.types)} truncated")
            name_off, info, size_or_type = self._unpack("3I", pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            if kind not in _TAIL:
                raise BtfError(f"BTF type {len(self.types)} has unknown kind {kind}")
            fixed, per_item = _TAIL[kind]
            tail_end = pos + 12 + fixed + per_item * vlen
            if tail_end > end:
                raise BtfError(f"BTF type {len(self.types)} truncated")
            self.types.append(self._make(kind, name_off, size_or_type, vlen, pos + 12))
            pos = tail_end

    def _make(
        self, kind: int, name_off: int, size_or_type: int, vlen: int, tail: int
    ) -> BtfType:
        name = self.string(name_off)
        if kind == KIND_ARRAY:
            elem, _index, nelems = self._unpack("3I", tail)
            return BtfType(kind, name, elem, nelems=nelems)
        members = self._members(kind, vlen, tail)
        return BtfType(kind, name, size_or_type, members)

    def _members(self, kind: int, vlen: int, tail: int) -> tuple[Member, ...]:
        if kind in (KIND_STRUCT, KIND_UNION):
            rows = (self._unpack("3I", tail + 12 * i) for i in range(vlen))
            return tuple(Member(self.string(n), t, off) for n, t, off in rows)
        if kind == KIND_DATASEC:
            rows = (self._unpack("3I", tail + 12 * i) for i in range(vlen))
            return tuple(Member("", t, off, size) for t, off, size in rows)
        if kind == KIND_FUNC_PROTO:
            pairs = (self._unpack("2I", tail + 8 * i) for i in range(vlen))
            return tuple(Member(self.string(n), t, 0) for n, t in pairs)
        if kind == KIND_ENUM:
            pairs = (self._unpack("Ii", tail + 8 * i) for i in range(vlen))
            return tuple(Member(self.string(n), 0, v) for n, v in pairs)
        if kind == KIND_ENUM64:
            rows = (self._unpack("3I", tail + 12 * i) for i in range(vlen))
            return tuple(Member(self.string(n), 0, lo | hi << 32) for n, lo, hi in rows)
        return ()

    def _unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        return struct.unpack_from(self._endian + fmt, self._data, offset)

    def string(self, offset: int) -> str:
        """Return the string at ``offset`` of the string block."""
        if offset >= self._str_len:
            if offset == 0:
                return ""
            raise BtfError(f"BTF string offset {offset} is out of range")
        start = self._str_start + offset
        end = self._data.find(b"\0", start, self._str_start + self._str_len)
        if end < 0:
            raise BtfError(f"BTF string at {offset} is not terminated")
        return self._data[start:end].decode("utf-8", "replace")

    # ---------------------------------------------------------- queries

    def get(self, type_id: int) -> BtfType:
        """Return type ``type_id``."""
        if not 0 <= type_id < len(self.types):
            raise BtfError(f"BTF type id {type_id} is out of range")
        return self.types[type_id]

    def resolve(self, type_id: int) -> BtfType:
        """Follow typedefs and qualifiers to the underlying type."""
        for _ in range(MAX_DEPTH):
            btf_type = self.get(type_id)
            if btf_type.kind not in _MODIFIERS and btf_type.kind != KIND_VAR:
                return btf_type
            type_id = btf_type.size_or_type
        raise BtfError(f"BTF type chain at id {type_id} is too deep")

    def size_of(self, type_id: int, depth: int = 0) -> int:
        """Return the size in bytes of type ``type_id``."""
        if depth > MAX_DEPTH:
            raise BtfError(f"BTF type chain at id {type_id} is too deep")
        btf_type = self.resolve(type_id)
        if btf_type.kind in _SIZED or btf_type.kind == KIND_ENUM64:
            return btf_type.size_or_type
        if btf_type.kind == KIND_PTR:
            return 8
        if btf_type.kind == KIND_ARRAY:
            return btf_type.nelems * self.size_of(btf_type.size_or_type, depth + 1)
        return 0

    def type_name(self, type_id: int, depth: int = 0) -> str:
        """Return a C-like spelling of type ``type_id``: ``const volatile __u32``."""
        if depth > MAX_DEPTH:
            return "..."
        btf_type = self.get(type_id)
        kind, target = btf_type.kind, btf_type.size_or_type
        if kind in _MODIFIERS and not (kind == KIND_TYPEDEF and btf_type.name):
            return _MODIFIERS[kind] + self.type_name(target, depth + 1)
        if kind == KIND_PTR:
            return self.type_name(target, depth + 1) + " *"
        if kind == KIND_ARRAY:
            return f"{self.type_name(target, depth + 1)}[{btf_type.nelems}]"
        if kind == KIND_VAR:
            return self.type_name(target, depth + 1)
        return _tagged_name(btf_type)

    def array_length(self, type_id: int) -> int | None:
        """``__uint(name, N)`` is ``int (*name)[N]``: return N, else None."""
        pointer = self.resolve(type_id)
        if pointer.kind != KIND_PTR:
            return None
        array = self.resolve(pointer.size_or_type)
        return array.nelems if array.kind == KIND_ARRAY else None

    def pointee(self, type_id: int) -> int | None:
        """``__type(name, T)`` is ``T *name``: return T's id, else None."""
        pointer = self.resolve(type_id)
        return pointer.size_or_type if pointer.kind == KIND_PTR else None

    def datasec(self, name: str) -> list[DatasecVar] | None:
        """Return the variables of data section ``name``, or None if absent."""
        for btf_type in self.types:
            if btf_type.kind == KIND_DATASEC and btf_type.name == name:
                return [self._datasec_var(m) for m in btf_type.members]
        return None

    def datasec_names(self) -> list[str]:
        """Return the names of every data section BTF describes."""
        return [t.name for t in self.types if t.kind == KIND_DATASEC]

    def _datasec_var(self, member: Member) -> DatasecVar:
        var = self.get(member.type_id)
        if var.kind != KIND_VAR:
            raise BtfError(f"BTF data section entry {member.type_id} is not a VAR")
        return DatasecVar(var.name, var.size_or_type, member.value, member.size)


def _endian_of(data: bytes) -> str:
    if len(data) < 4:
        raise BtfError("BTF header truncated")
    if struct.unpack_from("<H", data)[0] == BTF_MAGIC:
        return "<"
    if struct.unpack_from(">H", data)[0] == BTF_MAGIC:
        return ">"
    raise BtfError("no BTF magic")


def _tagged_name(btf_type: BtfType) -> str:
    tags = {KIND_STRUCT: "struct ", KIND_UNION: "union ", KIND_FWD: "struct "}
    tags |= {KIND_ENUM: "enum ", KIND_ENUM64: "enum "}
    if btf_type.kind == KIND_FUNC_PROTO:
        return "function"
    tag = tags.get(btf_type.kind, "")
    return tag + (btf_type.name or "<anon>")
