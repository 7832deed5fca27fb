"""The one reader of BTF, the kernel's type format (``include/uapi/linux/btf.h``).

BTF is a header, a type section and a string section. The type section is a
run of variable-length records, each a ``btf_type`` (name offset, info word,
size-or-type) followed by data whose length depends on the kind and on
``vlen``. Records have no index, so :class:`BtfBlob` walks the section once
to find where each type starts; everything after that is a lookup.

Two views build on it: :class:`bpftui.core.discovery.btf.Btf` renders the
functions of vmlinux and module BTF as C, and :class:`Btf` here answers what
inspecting an ELF object asks of its ``.BTF`` section (map definitions, the
variables of each data section).

Module BTF (``/sys/kernel/btf/<module>``) is *split* BTF: its type ids and
string offsets continue those of vmlinux, which must be given as ``base``.

Speed matters, the whole vmlinux is read at start-up: the type section is an
``array`` of 32-bit words and the walk finds each record's length by its info
word in a dict. Input is untrusted: the header and every record's length are
checked against the data, and every walk through the type graph is bounded,
so damaged data ends in :class:`BtfError`, never a hang or a huge allocation.
"""

from __future__ import annotations

import array
import struct
import sys
from dataclasses import dataclass
from typing import Final, Self

from bpftui.core.errors import InputError

BTF_MAGIC: Final = 0xEB9F
_HEADER = struct.Struct("HBBIIIII")  # magic version flags hdr_len type/str off+len
_HEADER_MIN_LEN: Final = 24
_NATIVE_ORDER: Final = "<" if sys.byteorder == "little" else ">"
MAX_DEPTH: Final = 32  # far deeper than any real typedef chain; stops loops

# Kinds (include/uapi/linux/btf.h).
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19

# Words of a record: 3 for btf_type, plus fixed data, plus vlen times the
# size of one member/param/enumerator/secinfo.
_FIXED_WORDS: Final = {
    INT: 4, PTR: 3, ARRAY: 6, STRUCT: 3, UNION: 3, ENUM: 3, FWD: 3, TYPEDEF: 3,
    VOLATILE: 3, CONST: 3, RESTRICT: 3, FUNC: 3, FUNC_PROTO: 3, VAR: 4,
    DATASEC: 3, FLOAT: 3, DECL_TAG: 4, TYPE_TAG: 3, ENUM64: 3,
}  # fmt: skip
_WORDS_PER_ITEM: Final = {
    STRUCT: 3, UNION: 3, ENUM: 2, FUNC_PROTO: 2, DATASEC: 3, ENUM64: 3,
}  # fmt: skip

_CORRUPT_HINT: Final = (
    "the data is damaged or not BTF; 'bpftool btf dump file PATH' shows more"
)


class BtfError(InputError):
    """BTF data that cannot be read; ``detail`` says where, without the source."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"BTF {source}: {detail}", hint=_CORRUPT_HINT)
        self.detail = detail


class _Steps(dict[int, int]):
    """info word -> words in the record; FUNC records come back negative.

    Records with the same info word have the same length, and a vmlinux has
    only a few thousand distinct info words, so the walk costs one dict
    lookup per type.
    """

    def __missing__(self, info: int) -> int:
        kind = info >> 24 & 0x1F
        if kind not in _FIXED_WORDS:
            raise ValueError(f"unknown kind {kind}")
        words = _FIXED_WORDS[kind] + _WORDS_PER_ITEM.get(kind, 0) * (info & 0xFFFF)
        step = self[info] = -words if kind == FUNC else words
        return step


class BtfBlob:
    """One BTF blob, with its base when it is split BTF; type id 0 is void.

    Args:
        data: the raw blob.
        source: a name for messages (the module name or file path).
        base: the BTF this one is split from (vmlinux for modules).

    Raises:
        BtfError: the blob is not BTF, or is truncated or inconsistent.
    """

    end_id: int
    str_end: int

    def __init__(self, data: bytes, source: str = "blob", base: Self | None = None):
        self.source = source
        self.base = base
        self.start_id = base.end_id if base is not None else 1
        self.str_base = base.str_end if base is not None else 0
        self.words, self._strings = self._sections(memoryview(data))
        self._offsets, self.function_ids = self._walk(self.words)
        self.end_id = self.start_id + len(self._offsets)
        self.str_end = self.str_base + len(self._strings)
        # ASCII (every kernel so far) keeps byte offsets equal to character
        # offsets, so names are sliced out of one decoded str.
        ascii_ = self._strings.isascii()
        self._text = self._strings.decode("ascii") if ascii_ else None

    # ------------------------------------------------------------ parsing

    def _sections(self, data: memoryview) -> tuple[array.array[int], bytes]:
        if len(data) < _HEADER_MIN_LEN:
            detail = f"header truncated: {len(data)} bytes is too short for one"
            raise BtfError(self.source, detail)
        order = self._byte_order(data)
        fields = struct.unpack_from(order + _HEADER.format, data)
        _, version, _, hdr_len, type_off, type_len, str_off, str_len = fields
        if version != 1:
            raise BtfError(self.source, f"version {version} is not supported (1 is)")
        if hdr_len < _HEADER_MIN_LEN or type_len % 4:
            raise BtfError(self.source, "header lengths are inconsistent")
        types = self._section(data, "type", hdr_len + type_off, type_len)
        strings = bytes(self._section(data, "string", hdr_len + str_off, str_len))
        words = array.array("I")
        words.frombytes(types)
        if order != _NATIVE_ORDER:
            words.byteswap()
        return words, strings

    def _byte_order(self, data: memoryview) -> str:
        magic = data[0] | data[1] << 8
        if magic == BTF_MAGIC:
            return "<"
        if magic == 0x9FEB:
            return ">"
        raise BtfError(self.source, f"bad magic {magic:#06x}, no BTF magic: not BTF")

    def _section(
        self, data: memoryview, what: str, start: int, size: int
    ) -> memoryview:
        if start + size > len(data):
            detail = f"{what} block extends past the section, to byte {start + size}"
            raise BtfError(self.source, f"{detail} of {len(data)}: truncated")
        return data[start : start + size]

    def _walk(self, words: array.array[int]) -> tuple[list[int], list[int]]:
        offsets: list[int] = []
        functions: list[int] = []
        add, add_function = offsets.append, functions.append
        steps = _Steps()
        end, index, first = len(words), 0, self.start_id
        try:
            while index < end:
                add(index)
                step = steps[words[index + 1]]
                if step < 0:
                    add_function(first + len(offsets) - 1)
                    step = -step
                index += step
        except (ValueError, IndexError) as exc:
            type_id = first + len(offsets) - 1
            raise BtfError(self.source, f"type {type_id}: {exc}") from None
        if index != end:
            raise BtfError(self.source, "type section ends inside a type: truncated")
        return offsets, functions

    # ------------------------------------------------------------ lookups

    def __len__(self) -> int:
        """Types in this blob (not counting the base or void)."""
        return len(self._offsets)

    def _owner(self, type_id: int) -> tuple[Self, int]:
        """The blob holding ``type_id`` and the word where its record starts."""
        btf: Self | None = self
        while btf is not None and type_id < btf.start_id:
            btf = btf.base
        if btf is None or type_id >= btf.end_id:
            raise BtfError(self.source, f"type {type_id} is out of range")
        return btf, btf._offsets[type_id - btf.start_id]

    def string(self, offset: int) -> str:
        """The name at ``offset`` of the string section (continuing the base's)."""
        btf: BtfBlob | None = self
        while btf is not None and offset < btf.str_base:
            btf = btf.base
        if btf is None:
            raise BtfError(self.source, f"string offset {offset} out of range")
        try:
            return btf._local_string(offset - btf.str_base)
        except ValueError:
            raise BtfError(btf.source, f"string offset {offset} out of range") from None

    def _local_string(self, offset: int) -> str:
        text = self._text
        if text is not None:
            return text[offset : text.index("\0", offset)]
        raw = self._strings
        return raw[offset : raw.index(b"\0", offset)].decode(errors="replace")

    def kind(self, type_id: int) -> int:
        """The kind of a type (0 for void)."""
        if type_id == 0:
            return 0
        btf, at = self._owner(type_id)
        return btf.words[at + 1] >> 24 & 0x1F

    def name(self, type_id: int) -> str:
        """The name of a type, or ``""`` for anonymous ones and void."""
        if type_id == 0:
            return ""
        btf, at = self._owner(type_id)
        return self.string(btf.words[at])

    def referenced(self, type_id: int) -> int:
        """The type a PTR, TYPEDEF, qualifier, FUNC, FUNC_PROTO or VAR refers to.

        For the other kinds, this word of the record is their size.
        """
        btf, at = self._owner(type_id)
        return btf.words[at + 2]

    def items(self, type_id: int) -> list[tuple[int, ...]]:
        """The members, params, enumerators or secinfos of a type, as words."""
        btf, at = self._owner(type_id)
        kind, vlen = btf.words[at + 1] >> 24 & 0x1F, btf.words[at + 1] & 0xFFFF
        width = _WORDS_PER_ITEM.get(kind, 0)
        first = at + _FIXED_WORDS[kind]
        return [
            tuple(btf.words[first + i * width : first + (i + 1) * width])
            for i in range(vlen if width else 0)
        ]

    def array_info(self, type_id: int) -> tuple[int, int]:
        """(element type, number of elements) of an ARRAY."""
        btf, at = self._owner(type_id)
        return btf.words[at + 3], btf.words[at + 5]


# ---------------------------------------------------------------- objects

_MODIFIERS = {
    TYPEDEF: "",
    VOLATILE: "volatile ",
    CONST: "const ",
    RESTRICT: "restrict ",
    TYPE_TAG: "",
}
_SIZED = {INT, STRUCT, UNION, ENUM, DATASEC, FLOAT, ENUM64}


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


class Btf(BtfBlob):
    """The ``.BTF`` section of an ELF object, every type decoded up front.

    Only what inspecting an object needs: type names, sizes, the members of
    the ``.maps`` definitions and the variables of each data section. Object
    BTF is small, so every name is read here: a damaged one fails at once.

    Raises:
        BtfError: the data is not BTF or is damaged.
    """

    def __init__(self, data: bytes, source: str = ".BTF") -> None:
        super().__init__(data, source)
        self.types = [BtfType(0, "void", 0)]
        self.types += [self._decode(i) for i in range(1, self.end_id)]

    def _decode(self, type_id: int) -> BtfType:
        kind, name = self.kind(type_id), self.name(type_id)
        if kind == ARRAY:
            elem, nelems = self.array_info(type_id)
            return BtfType(kind, name, elem, nelems=nelems)
        members = self._members(kind, self.items(type_id))
        return BtfType(kind, name, self.referenced(type_id), members)

    def _members(self, kind: int, items: list[tuple[int, ...]]) -> tuple[Member, ...]:
        if kind in (STRUCT, UNION):
            return tuple(Member(self.string(n), t, off) for n, t, off in items)
        if kind == DATASEC:
            return tuple(Member("", t, off, size) for t, off, size in items)
        if kind == FUNC_PROTO:
            return tuple(Member(self.string(n), t, 0) for n, t in items)
        if kind == ENUM:
            # Enumerators are signed 32-bit values, read here as unsigned words.
            signed = ((n, v - (1 << 32) if v >> 31 else v) for n, v in items)
            return tuple(Member(self.string(n), 0, v) for n, v in signed)
        if kind == ENUM64:
            return tuple(
                Member(self.string(n), 0, lo | hi << 32) for n, lo, hi in items
            )
        return ()

    # ---------------------------------------------------------- queries

    def get(self, type_id: int) -> BtfType:
        """Return type ``type_id``."""
        if not 0 <= type_id < len(self.types):
            raise BtfError(self.source, f"type {type_id} is out of range")
        return self.types[type_id]

    def resolve(self, type_id: int) -> BtfType:
        """Follow typedefs and qualifiers to the underlying type."""
        for _ in range(MAX_DEPTH):
            btf_type = self.get(type_id)
            if btf_type.kind not in _MODIFIERS and btf_type.kind != VAR:
                return btf_type
            type_id = btf_type.size_or_type
        raise BtfError(self.source, f"type chain at id {type_id} is too deep")

    def size_of(self, type_id: int, depth: int = 0) -> int:
        """Return the size in bytes of type ``type_id``."""
        if depth > MAX_DEPTH:
            raise BtfError(self.source, f"type chain at id {type_id} is too deep")
        btf_type = self.resolve(type_id)
        if btf_type.kind in _SIZED:
            return btf_type.size_or_type
        if btf_type.kind == PTR:
            return 8
        if btf_type.kind == ARRAY:
            return btf_type.nelems * self.size_of(btf_type.size_or_type, depth + 1)
        return 0

    def type_name(self, type_id: int, depth: int = 0) -> str:
        """Return a C-like spelling of type ``type_id``: ``const volatile __u32``."""
        if depth > MAX_DEPTH:
            return "..."
        btf_type = self.get(type_id)
        kind, target = btf_type.kind, btf_type.size_or_type
        if kind in _MODIFIERS and not (kind == TYPEDEF and btf_type.name):
            return _MODIFIERS[kind] + self.type_name(target, depth + 1)
        if kind == PTR:
            return self.type_name(target, depth + 1) + " *"
        if kind == ARRAY:
            return f"{self.type_name(target, depth + 1)}[{btf_type.nelems}]"
        if kind == VAR:
            return self.type_name(target, depth + 1)
        return _tagged_name(btf_type)

    def array_length(self, type_id: int) -> int | None:
        """``__uint(name, N)`` is ``int (*name)[N]``: return N, else None."""
        pointer = self.resolve(type_id)
        if pointer.kind != PTR:
            return None
        array_ = self.resolve(pointer.size_or_type)
        return array_.nelems if array_.kind == ARRAY else None

    def pointee(self, type_id: int) -> int | None:
        """``__type(name, T)`` is ``T *name``: return T's id, else None."""
        pointer = self.resolve(type_id)
        return pointer.size_or_type if pointer.kind == PTR else None

    def datasec(self, name: str) -> list[DatasecVar] | None:
        """Return the variables of data section ``name``, or None if absent."""
        for btf_type in self.types:
            if btf_type.kind == DATASEC and btf_type.name == name:
                return [self._datasec_var(m) for m in btf_type.members]
        return None

    def datasec_names(self) -> list[str]:
        """Return the names of every data section BTF describes."""
        return [t.name for t in self.types if t.kind == DATASEC]

    def _datasec_var(self, member: Member) -> DatasecVar:
        var = self.get(member.type_id)
        if var.kind != VAR:
            detail = f"data section entry {member.type_id} is not a VAR"
            raise BtfError(self.source, detail)
        return DatasecVar(var.name, var.size_or_type, member.value, member.size)


def _tagged_name(btf_type: BtfType) -> str:
    tags = {STRUCT: "struct ", UNION: "union ", FWD: "struct "}
    tags |= {ENUM: "enum ", ENUM64: "enum "}
    if btf_type.kind == FUNC_PROTO:
        return "function"
    tag = tags.get(btf_type.kind, "")
    return tag + (btf_type.name or "<anon>")
