"""Searching tens of thousands of names on every keystroke.

Python-level work per name is what costs (about 0.1 µs each, 56 000 kernel
functions), so each step pushes the per-name loop into C where it can:

* substring: ``query in name`` over a list, the one loop that stays;
* fuzzy: one regular expression over all names joined by NUL, its matches
  turned into positions and positions into indices by ``map`` over C
  callables (``Match.start``, ``bisect``), no bytecode per match;
* typing: a query that extends the last one only tests the last hits;
* ranking: only as many rows as are shown get ranked.

That reaches 10-30 ms a keystroke for the kernel's functions, so when the C
twin ``bpftui.native._csearch`` is built, it answers every ASCII query
instead: a full scan and ranking in 0.2-1.3 ms (2 under load), the same
results. The Python code stays as the fallback, and answers non-ASCII
queries, whose characters the C byte matching would not see whole.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Protocol

from bpftui.native import speedups

SEP = "\0"  # between names in the joined string; no name contains it
_START = operator.methodcaller("start")
# Narrow the last hits instead of scanning all names when they are fewer
# than a third: testing one name costs about three times what the scan does.
_NARROW_RATIO = 3


class _CompiledNames(Protocol):
    """What ``bpftui.native._csearch.Names`` offers."""

    def search(
        self, query: bytes, fuzzy: bool, wanted: int, /
    ) -> tuple[list[int], int]: ...


class NameIndex:
    """Names arranged for search; the C index or joined string made on first use."""

    def __init__(self, names: Sequence[str]) -> None:
        self.lower = [name.lower() for name in names]
        self._joined: str | None = None
        self._owner: functools.partial[int] | None = None
        self._last: tuple[str, bool, list[int]] | None = None
        self._compiled: _CompiledNames | None = None
        self._compiled_unusable = False

    def search(self, text: str, *, fuzzy: bool, wanted: int) -> tuple[list[int], int]:
        """Indices of up to ``wanted`` matches, best first, and the match count.

        Ranking: the exact name, names starting with the query, names
        containing it (catalogue order within each); with ``fuzzy`` then the
        names holding its characters in order, those whose match ends
        earliest first.
        """
        query = text.replace(SEP, "").strip().lower()
        if not query:
            return list(range(min(wanted, len(self.lower)))), len(self.lower)
        # Beyond the name count ``wanted`` changes nothing, and clamped it
        # fits islice and the C Py_ssize_t.
        wanted = min(wanted, len(self.lower))
        compiled = self._compiled_for(query, wanted)
        if compiled is not None:
            return compiled.search(query.encode("ascii"), fuzzy, wanted)
        hits = self._hits(query, fuzzy)
        self._last = (query, fuzzy, hits)
        return self._ranked(query, hits, fuzzy, wanted), len(hits)

    def _hits(self, query: str, fuzzy: bool) -> list[int]:
        candidates = self._narrowed(query, fuzzy)
        lower = self.lower
        if fuzzy and len(query) > 1:
            if candidates is None:
                return self._fuzzy_hits(query)
            search = re.compile(_subsequence(query)).search
            return [i for i in candidates if search(lower[i])]
        if candidates is None:
            return [i for i, name in enumerate(lower) if query in name]
        return [i for i in candidates if query in lower[i]]

    def _narrowed(self, query: str, fuzzy: bool) -> list[int] | None:
        """The last search's hits when they must hold all of this one's.

        Typing adds a character at a time, and a name matching the longer
        query matches the shorter one; testing only the last hits one by
        one beats a scan of everything once they are a fraction of it.
        """
        if self._last is None:
            return None
        last, was_fuzzy, hits = self._last
        if was_fuzzy != fuzzy or not query.startswith(last):
            return None
        return hits if len(hits) * _NARROW_RATIO < len(self.lower) else None

    def forget(self) -> None:
        """Forget the last search: the next one scans every name."""
        self._last = None

    # ------------------------------------------------------------ C twin

    def _compiled_for(self, query: str, wanted: int) -> _CompiledNames | None:
        """The C index when it gives this search's exact answer, else None.

        It matches bytes, which are whole characters only for an ASCII
        query; a negative ``wanted`` slices from the end in Python. Whether
        C is on is asked each time, so ``BPFTUI_PURE_PYTHON`` takes effect
        at once; the index is built on the first search it answers.
        """
        if not query.isascii() or wanted < 0 or self._compiled_unusable:
            return None
        module = speedups.load("_csearch")
        if module is None:
            return None
        if self._compiled is None:
            self._compiled = _compile(module, self.lower)
            self._compiled_unusable = self._compiled is None
        return self._compiled

    # ------------------------------------------------------------ matching

    def _fuzzy_hits(self, query: str) -> list[int]:
        # The pattern starts with a literal, so the engine jumps between
        # candidates in C; each gap is "anything but NUL and the next
        # character", so an attempt never leaves its name nor backtracks;
        # the match then eats the rest of its name: one match per name.
        joined, owner = self._joined_names()
        pattern = re.compile(_subsequence(query) + f"[^{SEP}]*")
        return list(map(owner, map(_START, pattern.finditer(joined))))

    def _joined_names(self) -> tuple[str, functools.partial[int]]:
        if self._joined is None or self._owner is None:
            self._joined = "".join(SEP + name for name in self.lower)
            lengths = itertools.accumulate(len(name) + 1 for name in self.lower)
            # bisect_right over the start of every name but the first gives
            # the index of the name a position falls in.
            starts = list(lengths)[:-1]
            self._owner = functools.partial(bisect.bisect_right, starts)
        return self._joined, self._owner

    # ------------------------------------------------------------ ranking

    def _ranked(
        self, query: str, hits: list[int], fuzzy: bool, wanted: int
    ) -> list[int]:
        lower = self.lower
        prefixed = [i for i in hits if lower[i].startswith(query)]
        exact = [i for i in prefixed if lower[i] == query]
        shown = exact + [i for i in prefixed if lower[i] != query]
        if len(shown) >= wanted:
            return shown[:wanted]
        inside = (
            i for i in hits if query in lower[i] and not lower[i].startswith(query)
        )
        shown += itertools.islice(inside, wanted - len(shown))
        if fuzzy and len(shown) < wanted:
            shown += itertools.islice(self._scattered(query, hits), wanted - len(shown))
        return shown

    def _scattered(self, query: str, hits: list[int]) -> Iterator[int]:
        """Fuzzy-only matches, those whose match ends earliest in the name first."""
        core = re.compile(_subsequence(query))
        lower = self.lower
        found = [i for i in hits if query not in lower[i]]
        ends = {i: _match_end(core, lower[i]) for i in found}
        return iter(sorted(found, key=ends.__getitem__))


def _compile(module: ModuleType, lower: list[str]) -> _CompiledNames | None:
    """The names in C, or None when one holds a NUL: C reads it as a name end."""
    # surrogatepass: a name decoded with surrogateescape still encodes, each
    # lone surrogate as one three-byte sequence, which C counts as one
    # character as Python does.
    text = SEP.join(lower) + SEP if lower else ""
    joined = text.encode("utf-8", "surrogatepass")
    if joined.count(0) != len(lower):
        return None
    names: _CompiledNames = module.Names(joined)
    return names


def _subsequence(query: str) -> str:
    gaps = (f"[^{SEP}{re.escape(c)}]*{re.escape(c)}" for c in query[1:])
    return re.escape(query[0]) + "".join(gaps)


def _match_end(pattern: re.Pattern[str], name: str) -> int:
    match = pattern.search(name)
    return match.end() if match else len(name)
