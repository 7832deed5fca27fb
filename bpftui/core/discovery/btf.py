"""A reader of the kernel's BTF: types, names, and functions rendered as C.

BTF (``/sys/kernel/btf/vmlinux``) is a header, a type section and a string
section. The type section is a run of variable-length records, each a
``btf_type`` (name offset, info word, size-or-type) followed by data whose
length depends on the kind and on ``vlen``. Records have no index, so type
ids are found by walking the section once; everything after that is a lookup.

Module BTF (``/sys/kernel/btf/<module>``) is *split* BTF: its type ids and
string offsets continue those of vmlinux, which must be given as ``base``.

Speed matters, the whole vmlinux is read at start-up. The type section is an
``array`` of 32-bit words; the walk finds each record's length by its info
word in a dict; C text is memoized at three levels that repeat a lot in a
kernel: a type's prefix (``"const char *"``), a (name, type) parameter
(``"struct sk_buff *skb"``) and a prototype's text around the function name.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

from bpftui.core.errors import InputError

BTF_MAGIC: Final = 0xEB9F
_HEADER = struct.Struct("HBBIIIII")  # magic version flags hdr_len type/str off+len
_HEADER_MIN_LEN: Final = 24
_NATIVE_ORDER: Final = "<" if sys.byteorder == "little" else ">"

# Kinds (include/uapi/linux/btf.h).
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19

KIND_NAMES: Final = {
    INT: "INT", PTR: "PTR", ARRAY: "ARRAY", STRUCT: "STRUCT", UNION: "UNION",
    ENUM: "ENUM", FWD: "FWD", TYPEDEF: "TYPEDEF", VOLATILE: "VOLATILE",
    CONST: "CONST", RESTRICT: "RESTRICT", FUNC: "FUNC", FUNC_PROTO: "FUNC_PROTO",
    VAR: "VAR", DATASEC: "DATASEC", FLOAT: "FLOAT", DECL_TAG: "DECL_TAG",
    TYPE_TAG: "TYPE_TAG", ENUM64: "ENUM64",
}  # fmt: skip

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

_QUALIFIERS: Final = {CONST: "const", VOLATILE: "volatile", RESTRICT: "restrict"}
_TAGGED: Final = {STRUCT: "struct ", UNION: "union ", ENUM: "enum ", ENUM64: "enum "}
_MAX_DEPTH: Final = 64  # far deeper than any real declarator; stops loops
_NAME_MARK: Final = "\0"  # where the function name goes in a prototype

_CORRUPT_HINT: Final = (
    "the data is damaged or not BTF; 'bpftool btf dump file PATH' shows more"
)

_V = TypeVar("_V")


def btf_error(source: str, detail: str) -> InputError:
    """The error for BTF data that cannot be read."""
    return InputError(f"BTF {source}: {detail}", hint=_CORRUPT_HINT)


class _Memo(dict[int, _V]):
    """A dict that computes a missing value once, on first lookup.

    A value is stored only once computed, so an error half-way (damaged
    BTF) leaves nothing behind.
    """

    def __init__(self, compute: Callable[[int], _V]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: int) -> _V:
        value = self[key] = self._compute(key)
        return value


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


class Btf:
    """One BTF blob, with its base when it is split BTF.

    Args:
        data: the raw blob.
        source: a name for messages (the module name or file path).
        base: the BTF this one is split from (vmlinux for modules).

    Raises:
        InputError: the blob is not BTF, or is truncated or inconsistent.
    """

    end_id: int
    str_end: int

    def __init__(self, data: bytes, source: str = "blob", base: Btf | None = None):
        self.source = source
        self.base = base
        self.start_id = base.end_id if base else 1
        self.str_base = base.str_end if base else 0
        self.words, self._strings = self._sections(memoryview(data))
        self._offsets, self.function_ids = self._walk(self.words)
        self.end_id = self.start_id + len(self._offsets)
        self.str_end = self.str_base + len(self._strings)
        # ASCII (every kernel so far) keeps byte offsets equal to character
        # offsets, so names are sliced out of one decoded str.
        ascii_ = self._strings.isascii()
        self._text = self._strings.decode("ascii") if ascii_ else None
        self._prefixes = _Memo(self._prefix_of)
        self._params = _Memo(self._compute_params)
        self._param_text = _Memo(self._compute_param)
        self._shapes = _Memo(self._compute_shape)
        self._pairs: tuple[memoryview, memoryview] | None = None

    # ------------------------------------------------------------ parsing

    def _sections(self, data: memoryview) -> tuple[array.array[int], bytes]:
        if len(data) < _HEADER_MIN_LEN:
            raise btf_error(self.source, f"{len(data)} bytes is too short for a header")
        order = self._byte_order(data)
        fields = struct.unpack_from(order + _HEADER.format, data)
        _, version, _, hdr_len, type_off, type_len, str_off, str_len = fields
        if version != 1:
            raise btf_error(self.source, f"version {version} is not supported (1 is)")
        if hdr_len < _HEADER_MIN_LEN or type_len % 4:
            raise btf_error(self.source, "header lengths are inconsistent")
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
        raise btf_error(self.source, f"bad magic {magic:#06x}, not BTF")

    def _section(
        self, data: memoryview, what: str, start: int, size: int
    ) -> memoryview:
        if start + size > len(data):
            detail = f"{what} section ends at byte {start + size} of {len(data)}"
            raise btf_error(self.source, detail + ": truncated")
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
            raise btf_error(self.source, f"type {type_id}: {exc}") from None
        if index != end:
            raise btf_error(self.source, "type section ends inside a type: truncated")
        return offsets, functions

    # ------------------------------------------------------------ lookups

    def __len__(self) -> int:
        """Types in this blob (not counting the base or void)."""
        return len(self._offsets)

    def _owner(self, type_id: int) -> tuple[Btf, int]:
        """The blob holding ``type_id`` and the word where its record starts."""
        btf: Btf | None = self
        while btf is not None and type_id < btf.start_id:
            btf = btf.base
        if btf is None or type_id >= btf.end_id:
            raise btf_error(self.source, f"type {type_id} does not exist")
        return btf, btf._offsets[type_id - btf.start_id]

    def string(self, offset: int) -> str:
        """The name at ``offset`` of the string section (continuing the base's)."""
        btf: Btf | None = self
        while btf is not None and offset < btf.str_base:
            btf = btf.base
        if btf is None:
            raise btf_error(self.source, f"string offset {offset} out of range")
        try:
            return btf._local_string(offset - btf.str_base)
        except ValueError:
            raise btf_error(
                btf.source, f"string offset {offset} out of range"
            ) from None

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
        """The type a PTR, TYPEDEF, qualifier, FUNC, FUNC_PROTO or VAR refers to."""
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

    # ------------------------------------------------------------ functions

    def functions(self) -> list[tuple[str, str]]:
        """Every FUNC of this blob (not of its base): ``(name, C prototype)``.

        Raises:
            InputError: a FUNC or a type it uses is malformed.
        """
        names = self.function_names()
        return list(zip(names, self.prototypes(self.function_ids, names), strict=True))

    def prototypes(self, func_ids: Sequence[int], names: Sequence[str]) -> list[str]:
        """The prototypes of many FUNCs at once, given their names.

        Raises:
            InputError: a FUNC or a type it uses is malformed.
        """
        words, offsets, first = self.words, self._offsets, self.start_id
        shapes, found = self._shapes, []
        with self._reading():
            # The hot loop of rendering: one memo lookup per function.
            for type_id, name in zip(func_ids, names, strict=True):
                head, tail = shapes[words[offsets[type_id - first] + 2]]
                found.append(head + name + tail)
        return found

    def prototype(self, func_id: int) -> str:
        """A FUNC rendered as a C declaration: ``int do_unlinkat(int dfd, ...)``.

        Raises:
            InputError: the FUNC or a type it uses is malformed.
        """
        if self.kind(func_id) != FUNC:
            raise btf_error(self.source, f"type {func_id} is no FUNC")
        with self._reading():
            head, tail = self._shape(self.referenced(func_id))
        return head + self.name(func_id) + tail

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn what damaged BTF makes Python raise into one clear error.

        Loops among types (legal BTF has none outside structs, which are
        never followed here) end in RecursionError: found at no cost on the
        hot path, where counting depth at every step would cost 10 %.
        """
        try:
            yield
        except RecursionError:
            raise btf_error(
                self.source, "types refer to each other in a loop"
            ) from None
        except (ValueError, IndexError, TypeError):
            raise btf_error(self.source, "a name or type is out of range") from None

    def function_names(self) -> list[str]:
        """The names of :attr:`function_ids`, in the same order.

        Raises:
            InputError: a name is out of range.
        """
        words, offsets, first = self.words, self._offsets, self.start_id
        text, str_base = self._text, self.str_base
        if text is None:
            return [self.name(type_id) for type_id in self.function_ids]
        names = []
        try:
            # The hot loop of start-up: each name sliced out of one str.
            for type_id in self.function_ids:
                name_off = words[offsets[type_id - first]] - str_base
                if name_off < 0:  # split BTF naming a function with a base string
                    names.append(self.string(name_off + str_base))
                else:
                    names.append(text[name_off : text.index("\0", name_off)])
        except ValueError:
            raise btf_error(self.source, "a function name is out of range") from None
        return names

    def _shape(self, proto: int) -> tuple[str, str]:
        if proto < self.start_id and self.base is not None:
            return self.base._shape(proto)
        return self._shapes[proto]

    def _compute_shape(self, proto: int) -> tuple[str, str]:
        """The text of a prototype before and after the function's name."""
        if proto < self.start_id and self.base is not None:
            return self.base._shape(proto)
        btf, at = self._owner(proto)
        if btf.words[at + 1] >> 24 & 0x1F != FUNC_PROTO:
            raise btf_error(self.source, f"type {proto} is no FUNC_PROTO")
        call = f"({self._render_params(btf, at)})"
        prefix = self._prefix(btf.words[at + 2])
        if prefix is not None:
            return prefix, call
        # A function returning a pointer to a function or an array: the name
        # sits inside the return type's declaration.
        text = self._declare(btf.words[at + 2], _NAME_MARK + call)
        head, _, tail = text.partition(_NAME_MARK)
        return head, tail

    def _param_list(self, proto: int) -> str:
        if proto < self.start_id and self.base is not None:
            return self.base._param_list(proto)
        return self._params[proto]

    def _compute_params(self, proto: int) -> str:
        btf, at = self._owner(proto)
        return self._render_params(btf, at)

    def _render_params(self, btf: Btf, at: int) -> str:
        first, count = at + 3, btf.words[at + 1] & 0xFFFF
        # Each (name, type) pair is one 64-bit word of a view that starts on
        # the pair's parity, so a parameter list is a slice mapped through
        # the memo of rendered pairs: ``struct sk_buff *skb`` is rendered
        # once and found thousands of times.
        pairs = btf._pair_views()[first & 1][first >> 1 : (first >> 1) + count]
        return ", ".join(map(self._param_text.__getitem__, pairs)) or "void"

    def _pair_views(self) -> tuple[memoryview, memoryview]:
        if self._pairs is None:
            raw = memoryview(self.words).cast("B")
            even = raw[: len(raw) // 8 * 8].cast("Q")
            odd = raw[4 : 4 + (len(raw) - 4) // 8 * 8].cast("Q")
            self._pairs = (even, odd)
        return self._pairs

    def _compute_param(self, pair: int) -> str:
        name_off, param_type = _unpair(pair)
        if param_type == 0 and name_off == 0:
            return "..."
        name = self.string(name_off) if name_off else ""
        prefix = self._prefix(param_type)
        if prefix is None:
            return self._declare(param_type, name)
        return prefix + name if name else prefix.rstrip()

    # ------------------------------------------------------------ declarations

    def declaration(self, type_id: int, declarator: str = "") -> str:
        """``type_id`` declared as ``declarator`` in C (the bare type if empty).

        Raises:
            InputError: the type or one it refers to is malformed or loops.
        """
        with self._reading():
            return self._declare(type_id, declarator)

    def _declare(self, type_id: int, declarator: str) -> str:
        prefix = self._prefix(type_id)
        if prefix is not None:
            return prefix + declarator if declarator else prefix.rstrip()
        return self._wrapped_declaration(type_id, declarator)

    def _wrapped_declaration(self, type_id: int, inner: str) -> str:
        """Declarations whose declarator sits inside: arrays, function types."""
        kind = self.kind(type_id)
        if kind == ARRAY:
            elem, count = self.array_info(type_id)
            return self._declare(elem, f"{inner}[{count}]")
        if kind == FUNC_PROTO:
            call = f"{inner}({self._param_list(type_id)})"
            return self._declare(self.referenced(type_id), call)
        target = self.referenced(type_id)
        if kind == PTR:
            wrap = self.kind(self._skip_tags(target)) in (ARRAY, FUNC_PROTO)
            return self._declare(target, f"(*{inner})" if wrap else f"*{inner}")
        if kind in _QUALIFIERS:
            word = _QUALIFIERS[kind]
            if self.kind(self._skip_tags(target)) == PTR:
                return self._declare(target, f"{word} {inner}".rstrip())
            return f"{word} " + self._declare(target, inner)
        if kind == TYPE_TAG:
            return self._declare(target, inner)
        raise btf_error(self.source, f"type {type_id}: {_kind_name(kind)} is no C type")

    def _prefix(self, type_id: int) -> str | None:
        """Text that declares ``type_id`` when the declarator is appended.

        None when the declarator must go inside the declaration (arrays,
        function prototypes and pointers to them).
        """
        if type_id < self.start_id:
            if type_id == 0:
                return "void "
            if self.base is None:
                raise btf_error(self.source, f"type {type_id} does not exist")
            return self.base._prefix(type_id)
        return self._prefixes[type_id]

    def _prefix_of(self, type_id: int) -> str | None:
        btf, at = self._owner(type_id)
        name_off, info, target = btf.words[at : at + 3]
        kind = info >> 24 & 0x1F
        if kind in (INT, FLOAT, TYPEDEF):
            return self.string(name_off) + " "
        if kind in _TAGGED:
            return _TAGGED[kind] + (self.string(name_off) or "{...}") + " "
        if kind == FWD:
            tag = "union " if info >> 31 else "struct "
            return tag + self.string(name_off) + " "
        if kind == PTR:
            inner = self._prefix(target)
            return None if inner is None else inner + "*"
        if kind in _QUALIFIERS:
            return self._qualified_prefix(_QUALIFIERS[kind], target)
        if kind == TYPE_TAG:
            return self._prefix(target)
        if kind in (ARRAY, FUNC_PROTO):
            return None
        raise btf_error(self.source, f"type {type_id}: {_kind_name(kind)} is no C type")

    def _qualified_prefix(self, word: str, target: int) -> str | None:
        inner = self._prefix(target)
        if inner is None:
            return None
        if self.kind(self._skip_tags(target)) == PTR:
            return f"{inner}{word} "  # the pointer itself: ``char *const p``
        return f"{word} {inner}"

    def _skip_tags(self, type_id: int) -> int:
        for _ in range(_MAX_DEPTH):
            if self.kind(type_id) != TYPE_TAG:
                return type_id
            type_id = self.referenced(type_id)
        raise btf_error(self.source, f"type {type_id}: reference loop")


def _unpair(pair: int) -> tuple[int, int]:
    """(name offset, type) of a btf_param read as one native 64-bit word."""
    low, high = pair & 0xFFFFFFFF, pair >> 32
    return (low, high) if _NATIVE_ORDER == "<" else (high, low)


def _kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, f"kind {kind}")
