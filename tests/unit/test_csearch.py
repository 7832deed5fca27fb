"""The C name filter (bpftui.native._csearch) against its Python original.

Three answers are compared: NameIndex with the C twin, NameIndex in pure
Python, and a plain reading of the ranking rules written here, so that a
fault shared by both engines still shows.
"""

from __future__ import annotations

import contextlib
import os
import random
import string
import struct
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpftui.core.discovery.search import NameIndex
from bpftui.native import speedups

csearch = speedups.load("_csearch")
needs_c = pytest.mark.skipif(
    csearch is None,
    reason="the C twin bpftui.native._csearch is not in use: not built (no C "
    f"compiler or Python headers at install) or {speedups.PURE_PYTHON_ENV} is set",
)
VMLINUX = Path("/sys/kernel/btf/vmlinux")
HUGE = 10**30  # beyond Py_ssize_t

Result = tuple[list[int], int]


# ------------------------------------------------------------ helpers


@contextlib.contextmanager
def _engine(*, pure: bool) -> Iterator[None]:
    """Runs the block with the C twin switched off (pure) or on."""
    before = os.environ.pop(speedups.PURE_PYTHON_ENV, None)
    if pure:
        os.environ[speedups.PURE_PYTHON_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(speedups.PURE_PYTHON_ENV, None)
        if before is not None:
            os.environ[speedups.PURE_PYTHON_ENV] = before


def _search(
    index: NameIndex, text: str, fuzzy: bool, wanted: int, *, pure: bool
) -> Result:
    with _engine(pure=pure):
        return index.search(text, fuzzy=fuzzy, wanted=wanted)


def _both(
    names: Sequence[str], text: str, fuzzy: bool, wanted: int
) -> tuple[Result, Result]:
    """The C answer and the Python one, each from a fresh index."""
    c = _search(NameIndex(names), text, fuzzy, wanted, pure=False)
    python = _search(NameIndex(names), text, fuzzy, wanted, pure=True)
    return c, python


def _joined(names: Sequence[str]) -> bytes:
    return "".join(name.lower() + "\0" for name in names).encode(
        "utf-8", "surrogatepass"
    )


def _earliest_end(name: str, query: str) -> int | None:
    """Where the query's characters, taken in order, end at the earliest."""
    at = 0
    for char in query:
        at = name.find(char, at)
        if at < 0:
            return None
        at += 1
    return at


def _by_the_rules(names: Sequence[str], text: str, fuzzy: bool) -> list[int]:
    """Every hit, ranked as NameIndex.search documents it."""
    query = text.replace("\0", "").strip().lower()
    lower = [name.lower() for name in names]
    if not query:
        return list(range(len(lower)))
    exact = [i for i, name in enumerate(lower) if name == query]
    prefix = [i for i, name in enumerate(lower) if name.startswith(query)]
    inside = [i for i, name in enumerate(lower) if query in name and i not in prefix]
    scattered: dict[int, int] = {}
    if fuzzy and len(query) > 1:
        for i, name in enumerate(lower):
            end = _earliest_end(name, query)
            if end is not None and query not in name:
                scattered[i] = end
    ordered = sorted(scattered, key=scattered.__getitem__)  # stable: ties keep order
    return exact + [i for i in prefix if i not in exact] + inside + ordered


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


# ------------------------------------------------------------ properties

# A small alphabet so that matches happen. Beyond ASCII: é (two bytes in
# UTF-8), the Kelvin sign (lowercases to ASCII k) and İ (lowercases to two
# characters, i and a combining dot).
NAME_CHARS = "abkAK_ é\u212a\u0130"
QUERY_CHARS = "abkAK_ \0é\u212a"
names_lists = st.lists(st.text(NAME_CHARS, max_size=7), max_size=25)
queries = st.text(QUERY_CHARS, max_size=5)
wanteds = st.integers(min_value=0, max_value=30) | st.just(HUGE)


@given(names_lists, queries, st.booleans())
def test_python_ranks_by_the_rules(names, text, fuzzy):
    everything = _search(NameIndex(names), text, fuzzy, HUGE, pure=True)
    expected = _by_the_rules(names, text, fuzzy)
    assert everything == (expected, len(expected))


@needs_c
@settings(max_examples=300)
@given(names_lists, queries, st.booleans(), wanteds)
def test_c_answers_as_python_does(names, text, fuzzy, wanted):
    c, python = _both(names, text, fuzzy, wanted)
    assert c == python
    expected = _by_the_rules(names, text, fuzzy)
    assert c == (expected[:wanted], len(expected))


@needs_c
@given(names_lists, st.text("abkAK_", min_size=1, max_size=6), st.booleans())
def test_c_answers_each_keystroke_as_python_narrowing_does(names, word, fuzzy):
    # The Python index narrows the last hits while a word is typed; C scans.
    python, c = NameIndex(names), NameIndex(names)
    for typed in range(1, len(word) + 1):
        text = word[:typed]
        assert _search(c, text, fuzzy, 10, pure=False) == _search(
            python, text, fuzzy, 10, pure=True
        )


@needs_c
@given(names_lists, st.text("abk_", max_size=5), st.booleans(), wanteds)
def test_the_c_type_alone_ranks_by_the_rules(names, query, fuzzy, wanted):
    assert csearch is not None
    index = csearch.Names(_joined(names))
    expected = _by_the_rules(names, query, fuzzy)
    shown = min(wanted, len(names))
    assert index.search(query.encode(), fuzzy, shown) == (
        expected[:wanted],
        len(expected),
    )


# ------------------------------------------------------------ edge cases


@needs_c
@pytest.mark.parametrize("fuzzy", [False, True])
@pytest.mark.parametrize(
    "names",
    [[], [""], ["", "", "a"], ["a", "a", "ab", "ba", "a_b"]],
    ids=["none", "one empty", "empty and a", "repeats"],
)
@pytest.mark.parametrize("text", ["", " ", "a", "ab", "\0a\0b", "A B"])
@pytest.mark.parametrize("wanted", [0, 1, 2, HUGE])
def test_small_and_empty_lists(names, text, fuzzy, wanted):
    c, python = _both(names, text, fuzzy, wanted)
    assert c == python


@needs_c
def test_wanted_zero_still_counts_the_hits():
    names = ["tcp_connect", "udp_sendmsg", "tcp_close", "x_tcp"]
    assert _both(names, "tcp", False, 0) == (([], 3), ([], 3))
    assert _both(names, "tcpcl", True, 0) == (([], 1), ([], 1))


@needs_c
def test_a_negative_wanted_is_answered_as_python_does():
    names = ["ab", "abc", "xab", "a_b"]
    for wanted in (-1, -3):
        c, python = _both(names, "ab", True, wanted)
        assert c == python


@needs_c
def test_match_ends_count_characters_not_bytes():
    # Both fuzzy-only hits end their match at byte 5; in characters the
    # second ends at 4, since é is one character in two bytes.
    names = ["xxa_b", "éa_b"]
    assert _both(names, "ab", True, 10) == (([1, 0], 2), ([1, 0], 2))


@needs_c
def test_a_lone_surrogate_is_one_character():
    # What surrogateescape makes of a name that is not UTF-8.
    names = ["xxa_b", "\udc80a_b", "a\udc80\udc81b"]
    c, python = _both(names, "ab", True, 10)
    assert c == python == ([1, 2, 0], 3)


@needs_c
def test_names_are_lowercased_in_python_beyond_ascii():
    names = ["TCP_É", "\u212aPROBE", "İX"]  # the Kelvin sign lowercases to k
    assert _both(names, "k", False, 10)[0] == ([1], 1)
    assert _both(names, "tcp_é", False, 10) == (([0], 1), ([0], 1))
    assert _both(names, "ix", True, 10) == (([2], 1), ([2], 1))


@needs_c
@pytest.mark.parametrize("text", ["é", "tcp_é", "\u212a", "İ"])
def test_non_ascii_queries_take_the_python_path(text):
    names = ["tcp_é", "\u212aprobe", "kprobe", "i\u0307x", "İx", "eé"]
    for fuzzy in (False, True):
        c, python = _both(names, text, fuzzy, 10)
        assert c == python


@needs_c
def test_a_name_holding_nul_leaves_the_search_to_python():
    # C would read the NUL as a name end and count one name too many.
    names = ["a\0b", "ab", "b"]
    for text in ("b", "ab"):
        c, python = _both(names, text, False, 10)
        assert c == python


@needs_c
def test_the_first_character_repeated_before_a_match():
    # The match starts at the first 't' whatever follows; the ends are
    # 10, 5 and 9, so the order is 1, 2, 0.
    names = ["t_t_t_c__p", "tt_cp_", "xx_t_c__p"]
    c, python = _both(names, "tcp", True, 10)
    assert c == python == ([1, 2, 0], 3)


# ------------------------------------------------------------ the C type


@needs_c
def test_the_c_type_checks_its_input():
    assert csearch is not None
    with pytest.raises(ValueError, match="must end with a NUL"):
        csearch.Names(b"a\0b")
    with pytest.raises(TypeError):
        csearch.Names("a\0")
    index = csearch.Names(b"a\0b\0")
    with pytest.raises(ValueError, match="ASCII without NUL"):
        index.search("é".encode(), False, 1)
    with pytest.raises(ValueError, match="ASCII without NUL"):
        index.search(b"a\0", False, 1)
    with pytest.raises(ValueError, match="wanted must be >= 0"):
        index.search(b"a", False, -1)
    with pytest.raises(OverflowError):
        index.search(b"a", False, HUGE)
    with pytest.raises(TypeError):
        index.search("a", False, 1)


@needs_c
def test_the_c_type_counts_names_and_holds_them_once():
    assert csearch is not None
    joined = _joined(["alpha", "", "beta"])
    references = sys.getrefcount(joined)
    index = csearch.Names(joined)
    assert len(index) == 3 and len(csearch.Names(b"")) == 0
    assert sys.getrefcount(joined) == references + 1  # the same object, kept
    offsets = index.__sizeof__() - csearch.Names(b"").__sizeof__()
    assert offsets == 3 * struct.calcsize("n")
    del index
    assert sys.getrefcount(joined) == references
    assert csearch.Names(b"\0").search(b"", False, 5) == ([0], 1)


@needs_c
def test_searches_on_threads_agree():
    # The scan runs without the GIL, several at once on one object.
    assert csearch is not None
    rng = random.Random(5)
    names = ["".join(rng.choices("abcdt_", k=rng.randint(0, 12))) for _ in range(3000)]
    index = csearch.Names(_joined(names))
    queries = [(b"tc", True), (b"ab", False), (b"a_d", True), (b"t", False)]
    expected = [index.search(q, fuzzy, 50) for q, fuzzy in queries]
    failures: list[int] = []

    def run() -> None:
        for _ in range(100):
            for n, (q, fuzzy) in enumerate(queries):
                if index.search(q, fuzzy, 50) != expected[n]:
                    failures.append(n)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


@needs_c
def test_ten_thousand_searches_leak_nothing():
    assert csearch is not None
    rng = random.Random(7)
    names = ["".join(rng.choices("abcdt_é", k=rng.randint(0, 16))) for _ in range(5000)]
    index = csearch.Names(_joined(names))
    queries = [b"t", b"tc", b"ab_d", b"", b"zz"]
    query_references = [sys.getrefcount(q) for q in queries]

    def searches(count: int) -> None:
        for n in range(count):
            index.search(queries[n % 5], n % 2 == 0, (0, 50, 5000)[n % 3])
            with contextlib.suppress(ValueError):
                index.search(b"\xff", True, 1)

    searches(1000)
    before = _rss_kib()
    searches(10_000)
    grown = _rss_kib() - before
    assert grown < 1024, f"RSS grew by {grown} KiB over 10 000 searches"
    assert [sys.getrefcount(q) for q in queries] == query_references


# ------------------------------------------------------------ real kernel


@pytest.fixture(scope="module")
def kernel_names() -> list[str]:
    if not VMLINUX.exists():
        pytest.skip(f"no kernel BTF at {VMLINUX} (CONFIG_DEBUG_INFO_BTF)")
    from bpftui.core.discovery.functions import load_functions

    return list(load_functions(use_cache=False, background=False).names)


TYPED = ["tcp_v4_connect", "bpf_prog_load", "__x64_sys_openat"]
SINGLE = ["t", "tcp", "xyzzy", "tcpv4c", "sysopen", "TCP_V4", "  vfs_read ", "é"]


def _random_queries(count: int) -> list[str]:
    rng = random.Random(11)
    chars = string.ascii_lowercase + "_" + string.digits
    return ["".join(rng.choices(chars, k=rng.randint(1, 4))) for _ in range(count)]


@needs_c
@pytest.mark.parametrize("fuzzy", [False, True], ids=["substring", "fuzzy"])
def test_kernel_functions_every_query_and_wanted(kernel_names, fuzzy):
    c, python = NameIndex(kernel_names), NameIndex(kernel_names)
    for text in SINGLE + _random_queries(20):
        full = _search(python, text, fuzzy, len(kernel_names), pure=True)
        python.forget()
        for wanted in (0, 1, 200, len(kernel_names), HUGE):
            assert _search(c, text, fuzzy, wanted, pure=False) == (
                full[0][:wanted],
                full[1],
            ), (text, wanted)


@needs_c
@pytest.mark.parametrize("fuzzy", [False, True], ids=["substring", "fuzzy"])
def test_kernel_functions_typed_a_key_at_a_time(kernel_names, fuzzy):
    c = NameIndex(kernel_names)
    for word in TYPED:
        python = NameIndex(kernel_names)  # narrows as the word grows
        for typed in range(1, len(word) + 1):
            text = word[:typed]
            expected = _search(python, text, fuzzy, 200, pure=True)
            assert _search(c, text, fuzzy, 200, pure=False) == expected, text
