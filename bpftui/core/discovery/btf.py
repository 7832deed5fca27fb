"""Kernel BTF rendered as C: each function's prototype, each type's declaration.

The format itself is read by :class:`bpftui.native.btf.BtfBlob`, the one BTF
parser; this view adds what kernel function discovery shows. Module BTF is
split BTF, read with vmlinux as ``base``.

Speed matters, the whole vmlinux is read at start-up. C text is memoized at
three levels that repeat a lot in a kernel: a type's prefix
(``"const char *"``), a (name, type) parameter (``"struct sk_buff *skb"``) and
a prototype's text around the function name.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Final, TypeVar

from bpftui.native.btf import (
    ARRAY,
    CONST,
    DATASEC,
    DECL_TAG,
    ENUM,
    ENUM64,
    FLOAT,
    FUNC,
    FUNC_PROTO,
    FWD,
    INT,
    PTR,
    RESTRICT,
    STRUCT,
    TYPE_TAG,
    TYPEDEF,
    UNION,
    VAR,
    VOLATILE,
    BtfBlob,
    BtfError,
)

KIND_NAMES: Final = {
    INT: "INT", PTR: "PTR", ARRAY: "ARRAY", STRUCT: "STRUCT", UNION: "UNION",
    ENUM: "ENUM", FWD: "FWD", TYPEDEF: "TYPEDEF", VOLATILE: "VOLATILE",
    CONST: "CONST", RESTRICT: "RESTRICT", FUNC: "FUNC", FUNC_PROTO: "FUNC_PROTO",
    VAR: "VAR", DATASEC: "DATASEC", FLOAT: "FLOAT", DECL_TAG: "DECL_TAG",
    TYPE_TAG: "TYPE_TAG", ENUM64: "ENUM64",
}  # fmt: skip

_QUALIFIERS: Final = {CONST: "const", VOLATILE: "volatile", RESTRICT: "restrict"}
_TAGGED: Final = {STRUCT: "struct ", UNION: "union ", ENUM: "enum ", ENUM64: "enum "}
_MAX_DEPTH: Final = 64  # far deeper than any real declarator; stops loops
_NAME_MARK: Final = "\0"  # where the function name goes in a prototype
# The longest prototype of a 6.18 vmlinux is 465 characters. Parameters that
# are pointers to functions taking pointers to functions ... can double the
# text at each level: damaged BTF stops here instead of filling memory.
MAX_TEXT: Final = 1 << 16
# Function names longer than this are refused (the kernel's KSYM_NAME_LEN is
# 512), and all the text rendered from a blob may take BUDGET_BASE plus
# BUDGET_PER_BYTE per byte of it: BTF naming one long string from many
# records cannot fill memory either. The C twin keeps the same limits.
MAX_NAME: Final = 1024
BUDGET_BASE: Final = 32 << 20
BUDGET_PER_BYTE: Final = 16

_LITTLE_ENDIAN: Final = sys.byteorder == "little"

_V = TypeVar("_V")


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


class Btf(BtfBlob):
    """Kernel BTF that renders C; arguments and errors as :class:`BtfBlob`'s."""

    def __init__(self, data: bytes, source: str = "blob", base: Btf | None = None):
        super().__init__(data, source, base)
        self._prefixes = _Memo(self._prefix_of)
        self._params = _Memo(self._compute_params)
        self._param_text = _Memo(self._compute_param)
        self._shapes = _Memo(self._compute_shape)
        self._pairs: tuple[memoryview, memoryview] | None = None

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
        with self._reading():
            # The hot loops of rendering, as comprehensions: each FUNC's
            # FUNC_PROTO, its memoized shape, then the name put in it.
            protos = [words[offsets[type_id - first] + 2] for type_id in func_ids]
            self._fill_shapes(protos)
            self._check_budget(protos, names)
            shapes = map(self._shapes.__getitem__, protos)
            return [h + n + t for (h, t), n in zip(shapes, names, strict=True)]

    def _check_budget(self, protos: list[int], names: Sequence[str]) -> None:
        """Refuse to render more text than this blob's size allows."""
        size = sum(map(len, names))
        for proto, uses in Counter(protos).items():
            head, tail = self._shapes[proto]
            size += uses * (len(head) + len(tail))
        budget = BUDGET_BASE + BUDGET_PER_BYTE * (len(self.words) * 4 + self.str_end)
        if size > budget:
            detail = f"its prototypes would take {size} characters, over {budget}"
            raise BtfError(self.source, detail)

    def prototype(self, func_id: int) -> str:
        """A FUNC rendered as a C declaration: ``int do_unlinkat(int dfd, ...)``.

        Raises:
            InputError: the FUNC or a type it uses is malformed.
        """
        if self.kind(func_id) != FUNC:
            raise BtfError(self.source, f"type {func_id} is no FUNC")
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
            raise BtfError(self.source, "types refer to each other in a loop") from None
        except (ValueError, IndexError, TypeError):
            raise BtfError(self.source, "a name or type is out of range") from None

    def function_names(self) -> list[str]:
        """The names of :attr:`function_ids`, in the same order.

        Raises:
            InputError: a name is out of range.
        """
        words, offsets, first = self.words, self._offsets, self.start_id
        text, str_base = self._text, self.str_base
        if text is None:
            return [self.name(type_id) for type_id in self.function_ids]
        ids = self.function_ids
        local = [words[offsets[type_id - first]] - str_base for type_id in ids]
        string = self.string  # split BTF may name a function with a base string
        try:
            # The hot loop of start-up: each name sliced out of one str.
            return [
                text[at : text.index("\0", at, at + MAX_NAME + 1)]
                if at >= 0
                else string(at + str_base)
                for at in local
            ]
        except ValueError:
            detail = f"a function name is out of range or over {MAX_NAME} characters"
            raise BtfError(self.source, detail) from None

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
            raise BtfError(self.source, f"type {proto} is no FUNC_PROTO")
        call = f"({self._render_params(btf, at)})"
        prefix = self._prefix(btf.words[at + 2])
        if prefix is not None:
            return prefix, call
        # A function returning a pointer to a function or an array: the name
        # sits inside the return type's declaration.
        text = self._declare(btf.words[at + 2], _NAME_MARK + call)
        head, _, tail = text.partition(_NAME_MARK)
        return head, tail

    def _fill_shapes(self, protos: list[int]) -> None:
        """Memoize the shapes of ``protos`` in bulk, in order of first use.

        The common case is rendered inline: a FUNC_PROTO of this blob whose
        return type has a prefix. Its parameters are memoized in bulk first,
        so joining them is all memo hits. Anything else takes the general
        path when first looked up.
        """
        shapes = self._shapes
        pending = [
            found
            for proto in dict.fromkeys(protos)
            if proto not in shapes and (found := self._plain_proto(proto)) is not None
        ]
        self._fill_params(chain.from_iterable(pairs for _, _, pairs in pending))
        param, join = self._param_text.__getitem__, ", ".join
        for proto, prefix, pairs in pending:
            params = join(map(param, pairs))
            if len(params) > MAX_TEXT:
                raise self._too_long(proto)
            shapes[proto] = (prefix, f"({params or 'void'})")

    def _plain_proto(self, proto: int) -> tuple[int, str, memoryview] | None:
        """(proto, return prefix, param pairs) of a common FUNC_PROTO, or None."""
        if not self.start_id <= proto < self.end_id:
            return None
        at = self._offsets[proto - self.start_id]
        info, ret = self.words[at + 1], self.words[at + 2]
        if info >> 24 & 0x1F != FUNC_PROTO:
            return None
        prefix = self._prefixes[ret] if ret >= self.start_id else self._prefix(ret)
        if prefix is None:
            return None
        half = (at + 3) >> 1
        pairs = self._pair_views()[(at + 3) & 1][half : half + (info & 0xFFFF)]
        return proto, prefix, pairs

    def _fill_params(self, pairs: Iterable[int]) -> None:
        """Memoize the text of many (name, type) pairs, in order of first use.

        The common case inline: a named parameter whose type has a prefix and
        whose name is in this blob's ASCII strings. The memo computes the
        rest when first looked up.
        """
        params, prefixes, text = self._param_text, self._prefixes, self._text
        start, str_base = self.start_id, self.str_base
        for pair in dict.fromkeys(pairs):
            if pair in params:
                continue
            name_off, param_type = _unpair(pair)
            offset = name_off - str_base
            if text is None or offset <= 0 or param_type < start:
                continue
            prefix = prefixes[param_type]
            end = text.find("\0", offset)
            if prefix is None or end < 0:
                continue
            name = text[offset:end]
            params[pair] = prefix + name if name else prefix.rstrip()

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
        params = ", ".join(map(self._param_text.__getitem__, pairs))
        if len(params) > MAX_TEXT:
            raise self._too_long(btf.start_id + btf._offsets.index(at))
        return params or "void"

    def _too_long(self, proto: int) -> BtfError:
        detail = f"type {proto}: parameters longer than {MAX_TEXT} characters"
        return BtfError(self.source, f"{detail}, types nest without end")

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
        raise BtfError(self.source, f"type {type_id}: {_kind_name(kind)} is no C type")

    def _prefix(self, type_id: int) -> str | None:
        """Text that declares ``type_id`` when the declarator is appended.

        None when the declarator must go inside the declaration (arrays,
        function prototypes and pointers to them).
        """
        if type_id < self.start_id:
            if type_id == 0:
                return "void "
            if self.base is None:
                raise BtfError(self.source, f"type {type_id} does not exist")
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
        raise BtfError(self.source, f"type {type_id}: {_kind_name(kind)} is no C type")

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
        raise BtfError(self.source, f"type {type_id}: reference loop")


def _unpair(pair: int) -> tuple[int, int]:
    """(name offset, type) of a btf_param read as one native 64-bit word."""
    low, high = pair & 0xFFFFFFFF, pair >> 32
    return (low, high) if _LITTLE_ENDIAN else (high, low)


def _kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, f"kind {kind}")
