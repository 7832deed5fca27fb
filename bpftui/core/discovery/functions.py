"""The catalogue of kernel functions: BTF read once, cached, filtered per keystroke.

Start-up has two paths. Cold: vmlinux and module BTF are read by the C
twin (``bpftui.native._cbtf``, every name and prototype of a 5 MB vmlinux
in about 20 ms); without it, or for a blob it leaves to Python, they are
parsed and the names listed (about 50 ms), each prototype rendered when
first shown. Either way the catalogue is usable at once while a background
thread renders what is left and writes the cache. Warm: the cache, keyed by
the identity of every BTF file, is read back (about 25 ms) and no BTF is
parsed.

Filtering is :mod:`bpftui.core.discovery.search`; :class:`FunctionView`
records are built only for the rows asked for.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import itertools
import logging
import marshal
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bpftui.core.discovery.search import SEP as _SEP
from bpftui.core.discovery.search import NameIndex
from bpftui.core.errors import BpftuiError, InputError, NotSupported
from bpftui.core.session import FunctionView
from bpftui.native import speedups

if TYPE_CHECKING:  # imported when first needed: the C twin needs no Python BTF
    from bpftui.core.discovery.btf import Btf

log = logging.getLogger(__name__)

BTF_DIR = "/sys/kernel/btf"
FILTER_FUNCTIONS = "available_filter_functions"
CACHE_FORMAT = 3  # bump when the cache layout or the C rendering changes
_IDENTITY_BYTES = 4096
_RENDER_CHUNK = 2000  # prototypes rendered per hold of the lock

_NO_BTF = "a kernel built with CONFIG_DEBUG_INFO_BTF (/sys/kernel/btf/vmlinux)"


# ---------------------------------------------------------------- kprobes


class KprobeTargets:
    """Which functions kprobes can attach to, read once on first question.

    The kernel's answer is ``available_filter_functions`` in tracefs. When it
    cannot be read (lockdown, no ftrace, not root) every answer is None:
    unknown, never guessed from BTF.
    """

    def __init__(self, path: str | None = None) -> None:
        self._path = path
        self._names: frozenset[str] | None = None
        self._loaded = False
        self._lock = threading.Lock()
        self.problem: str | None = None

    def __call__(self, name: str) -> bool | None:
        names = self._load()
        return None if names is None else name in names

    def _load(self) -> frozenset[str] | None:
        with self._lock:
            if not self._loaded:
                self._names = self._read()
                self._loaded = True
            return self._names

    def _read(self) -> frozenset[str] | None:
        try:
            path = self._path or _filter_functions_path()
            with open(path) as file:
                # Lines read "name" or "name [module]".
                return frozenset(
                    line.split(None, 1)[0] for line in file if line.strip()
                )
        except (OSError, BpftuiError) as exc:
            self.problem = f"{FILTER_FUNCTIONS}: {_reason(exc)}; kprobe support unknown"
            log.info("%s", self.problem)  # front ends show it: kprobe_problem
            return None


def _filter_functions_path() -> str:
    from bpftui.core.discovery.tracefs import tracefs_root

    return os.path.join(tracefs_root(), FILTER_FUNCTIONS)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


# ---------------------------------------------------------------- catalogue


class Renderer(Protocol):
    """Renders prototypes from BTF for a catalogue built cold."""

    def one(self, index: int) -> str: ...

    def many(self, start: int, stop: int, names: Sequence[str]) -> list[str]: ...


@dataclass
class _Prototypes:
    """Prototypes by index: rendered text, or BTF to render them from."""

    text: list[str | None]
    renderer: Renderer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __getitem__(self, index: int) -> str:
        found = self.text[index]
        if found is None:
            with self.lock:
                found = self.text[index]
                if found is None and self.renderer is not None:
                    found = self.text[index] = self.renderer.one(index)
        return found or ""


class KernelFunctions:
    """All kernel functions with BTF; implements ``core.session.FunctionCatalog``.

    Args:
        names: function names, vmlinux first, then each module's.
        modules: ``(module, count)`` runs matching ``names``.
        prototypes: the C prototype of each name, or None where it is still
            to be rendered by ``renderer``.
        renderer: renders prototypes still missing from BTF.
        kprobe: answers whether kprobes can attach to a name (None: unknown).
    """

    def __init__(
        self,
        names: list[str],
        modules: Sequence[tuple[str, int]],
        prototypes: list[str | None],
        renderer: Renderer | None = None,
        kprobe: Callable[[str], bool | None] | None = None,
    ) -> None:
        self._names = names
        self._module_runs = list(modules)
        self._module_ends = list(itertools.accumulate(n for _, n in self._module_runs))
        self._prototypes = _Prototypes(prototypes, renderer)
        self._kprobe = kprobe or KprobeTargets()
        self._search: NameIndex | None = None  # made on the first filter
        self._index: dict[str, int] | None = None
        self.problems: list[str] = []
        self._saved = threading.Event()

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[FunctionView]:
        return (self._view(i) for i in range(len(self._names)))

    @property
    def names(self) -> Sequence[str]:
        return self._names

    @property
    def kprobe_problem(self) -> str | None:
        """Why kprobe support shows as unknown, once a view has asked."""
        problem = getattr(self._kprobe, "problem", None)
        return problem if isinstance(problem, str) else None

    def module_counts(self) -> dict[str, int]:
        """Functions per module (``vmlinux`` first)."""
        return dict(self._module_runs)

    def get(self, name: str) -> FunctionView | None:
        """The function called ``name`` (the first one, if modules repeat it)."""
        if self._index is None:
            self._index = {}
            for i, each in enumerate(self._names):
                self._index.setdefault(each, i)
        index = self._index.get(name)
        return None if index is None else self._view(index)

    def filter(
        self, text: str, *, fuzzy: bool = False, limit: int | None = None
    ) -> tuple[Sequence[FunctionView], int]:
        """Return up to ``limit`` matches and the total number of matches.

        Matching ignores case. Matches come ordered: the exact name, names
        starting with ``text``, names containing it, in catalogue order
        within each. ``fuzzy`` also matches the characters of ``text`` in
        order with anything between (``tcpv4c`` finds ``tcp_v4_connect``);
        those come last, the ones whose match ends earliest in the name first.
        """
        wanted = len(self._names) if limit is None else max(limit, 0)
        shown, total = self.search_index.search(text, fuzzy=fuzzy, wanted=wanted)
        return [self._view(i) for i in shown], total

    @property
    def search_index(self) -> NameIndex:
        """The names arranged for search, made on first use."""
        if self._search is None:
            self._search = NameIndex(self._names)
        return self._search

    def _view(self, index: int) -> FunctionView:
        name = self._names[index]
        return FunctionView(
            name=name,
            module=self.module_of(index),
            prototype=self._prototypes[index],
            fentry=True,  # every function listed here has BTF
            kprobe=self._kprobe(name),
        )

    def module_of(self, index: int) -> str:
        run = bisect.bisect_right(self._module_ends, index)
        return self._module_runs[run][0]

    def prototype(self, index: int) -> str:
        return self._prototypes[index]

    # ------------------------------------------------------------ rendering

    def render_all(self) -> None:
        """Render every prototype still missing, a chunk per hold of the lock."""
        protos = self._prototypes
        if protos.renderer is None:
            return
        for start in range(0, len(protos.text), _RENDER_CHUNK):
            stop = min(start + _RENDER_CHUNK, len(protos.text))
            with protos.lock:
                if protos.renderer is not None:
                    rendered = protos.renderer.many(start, stop, self._names)
                    protos.text[start:stop] = rendered
        protos.renderer = None  # drops the BTF: its memos are no longer needed

    def all_prototypes(self) -> list[str]:
        self.render_all()
        return [text or "" for text in self._prototypes.text]

    def mark_saved(self) -> None:
        """Every prototype is rendered and the cache written (or not wanted)."""
        self._saved.set()

    def wait_saved(self, timeout: float | None = None) -> bool:
        """Wait for the background render-and-cache of a cold start."""
        return self._saved.wait(timeout)


# ---------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class BtfSource:
    """One BTF file and what identifies its content."""

    module: str
    path: str
    identity: str


def btf_sources(btf_dir: str = BTF_DIR) -> list[BtfSource]:
    """vmlinux then every module with BTF, each with its identity.

    Raises:
        NotSupported: there is no ``vmlinux`` BTF.
    """
    vmlinux = os.path.join(btf_dir, "vmlinux")
    if not os.path.exists(vmlinux):
        raise NotSupported("BTF", needs=_NO_BTF, detail=f"{vmlinux} does not exist")
    try:
        modules = sorted(n for n in os.listdir(btf_dir) if n != "vmlinux")
    except OSError:
        modules = []
    paths = [("vmlinux", vmlinux)] + [(m, os.path.join(btf_dir, m)) for m in modules]
    return [BtfSource(m, p, _identity(p)) for m, p in paths]


def _identity(path: str) -> str:
    # sysfs gives every BTF file the time it appeared (boot, module load);
    # with the size and the first and last bytes that pins its content.
    try:
        with open(path, "rb") as file:
            head = file.read(_IDENTITY_BYTES)
            stat = os.fstat(file.fileno())
            if stat.st_size > _IDENTITY_BYTES:
                file.seek(max(stat.st_size - _IDENTITY_BYTES, _IDENTITY_BYTES))
            tail = file.read(_IDENTITY_BYTES)
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    digest = hashlib.blake2b(head + tail, digest_size=16).hexdigest()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{digest}"


def cache_key(sources: Sequence[BtfSource]) -> str:
    text = "\n".join(f"{s.module}={s.identity}" for s in sources)
    return hashlib.blake2b(
        f"{CACHE_FORMAT}\n{text}".encode(), digest_size=20
    ).hexdigest()


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "bpftui")


def load_functions(
    btf_dir: str = BTF_DIR,
    cache_dir: str | None = None,
    *,
    use_cache: bool = True,
    background: bool = True,
    kprobe: Callable[[str], bool | None] | None = None,
) -> KernelFunctions:
    """The function catalogue: from the cache when it matches, else from BTF.

    Args:
        btf_dir: where the kernel exposes BTF.
        cache_dir: where the cache lives (``$XDG_CACHE_HOME/bpftui``).
        use_cache: read and write the cache.
        background: on a cold start, render prototypes and write the cache
            on a thread instead of before returning.
        kprobe: answers kprobe support per name (tracefs by default).

    Raises:
        NotSupported: the kernel has no vmlinux BTF.
        InputError: vmlinux BTF cannot be read or is damaged.
    """
    sources = btf_sources(btf_dir)
    key = cache_key(sources)
    path = os.path.join(cache_dir or default_cache_dir(), "kernel-functions.cache")
    if use_cache:
        cached = _read_cache(path, key, kprobe)
        if cached is not None:
            return cached
    catalogue = _from_btf(sources, kprobe)
    finish = (lambda: _save_cache(catalogue, path, key)) if use_cache else None
    _finish_cold_start(catalogue, finish, background)
    return catalogue


def _finish_cold_start(
    catalogue: KernelFunctions, save: Callable[[], None] | None, background: bool
) -> None:
    def work() -> None:
        try:
            catalogue.render_all()
            if save is not None:
                save()
        finally:
            catalogue.mark_saved()

    if background:
        threading.Thread(target=work, name="bpftui-btf-render").start()
    else:
        work()


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A blob the C twin read: its function names and their prototypes."""

    module: str
    names: list[str]
    prototypes: list[str]


def _from_btf(
    sources: Sequence[BtfSource], kprobe: Callable[[str], bool | None] | None
) -> KernelFunctions:
    vmlinux, modules = sources[0], sources[1:]
    data = _read(vmlinux)
    module_data = [_read_module(source) for source in modules]
    readable = [data, *(d if isinstance(d, bytes) else None for d in module_data)]
    rendered = _render_in_c(sources, readable)
    # The Python reader needs vmlinux as the base of any module it reads.
    python_base = functools.cache(lambda: _python_btf(data, vmlinux.module, None))
    blobs: list[Btf | _Rendered] = [rendered[0] or python_base()]
    problems: list[str] = []
    for source, blob, done in zip(modules, module_data, rendered[1:], strict=True):
        try:
            blobs.append(done or _module_btf(source, blob, python_base()))
        except BpftuiError as exc:
            problems.append(str(exc))
            log.warning("%s", exc)
    catalogue = _catalogue(blobs, kprobe)
    catalogue.problems = problems
    return catalogue


def _catalogue(
    blobs: list[Btf | _Rendered], kprobe: Callable[[str], bool | None] | None
) -> KernelFunctions:
    names: list[str] = []
    prototypes: list[str | None] = []
    runs: list[tuple[str, int]] = []
    owners: list[tuple[Btf | _Rendered, int]] = []  # (blob, first index) per run
    for blob in blobs:
        owners.append((blob, len(names)))
        if isinstance(blob, _Rendered):
            names += blob.names
            prototypes += blob.prototypes
            runs.append((blob.module, len(blob.names)))
            continue
        module_names = blob.function_names()
        names += module_names
        prototypes += [None] * len(module_names)
        runs.append((blob.source, len(module_names)))
    python = not all(isinstance(blob, _Rendered) for blob in blobs)
    renderer = _BtfRenderer(owners) if python else None
    return KernelFunctions(names, runs, prototypes, renderer, kprobe)


def _read(source: BtfSource) -> bytes:
    try:
        with open(source.path, "rb") as file:
            return file.read()
    except OSError as exc:
        what = f"BTF of {source.module} ({source.path})"
        raise InputError(f"{what}: read failed: {exc.strerror}") from None


def _read_module(source: BtfSource) -> bytes | InputError:
    """A module's BTF, or why it cannot be read (reported in module order)."""
    try:
        return _read(source)
    except InputError as exc:
        return exc


def _module_btf(source: BtfSource, data: bytes | InputError, base: Btf) -> Btf:
    if isinstance(data, InputError):
        raise data
    return _python_btf(data, source.module, base)


def _python_btf(data: bytes, module: str, base: Btf | None) -> Btf:
    from bpftui.core.discovery.btf import Btf

    return Btf(data, module, base)


def _render_in_c(
    sources: Sequence[BtfSource], blobs: list[bytes | None]
) -> list[_Rendered | None]:
    """What the C twin makes of each blob; None where Python must read it.

    The C twin renders a whole vmlinux several times faster than Python,
    and gives None for any blob it cannot render exactly as the Python code
    would (damaged or unusual BTF): every blob is None when it is not built.
    """
    cbtf = speedups.load("_cbtf")
    if cbtf is None:
        return [None] * len(blobs)
    found: list[tuple[list[str], list[str]] | None] = cbtf.functions(blobs)
    return [
        None if done is None else _Rendered(source.module, *done)
        for source, done in zip(sources, found, strict=True)
    ]


class _BtfRenderer:
    """Prototypes of a cold catalogue, rendered from the BTF blobs it came from.

    A blob whose types turn out damaged gets a placeholder prototype for its
    functions; the names stay listed and the rest of the catalogue works.
    Blobs the C twin rendered already are only copied from.
    """

    def __init__(self, owners: list[tuple[Btf | _Rendered, int]]) -> None:
        self._owners = owners
        self._firsts = [first for _, first in owners]

    def one(self, index: int) -> str:
        btf, first = self._owners[bisect.bisect_right(self._firsts, index) - 1]
        if isinstance(btf, _Rendered):
            return btf.prototypes[index - first]
        try:
            return btf.prototype(btf.function_ids[index - first])
        except InputError as exc:
            return _unreadable(btf, exc)

    def many(self, start: int, stop: int, names: Sequence[str]) -> list[str]:
        rendered: list[str] = []
        for blob, first in self._owners:
            lo, hi = max(start, first), min(stop, first + _count(blob))
            if lo < hi:
                rendered += _span(blob, lo - first, hi - first, names[lo:hi])
        return rendered


def _count(blob: Btf | _Rendered) -> int:
    return len(blob.names if isinstance(blob, _Rendered) else blob.function_ids)


def _span(blob: Btf | _Rendered, lo: int, hi: int, names: Sequence[str]) -> list[str]:
    """Prototypes ``lo:hi`` of one blob's functions, called ``names``."""
    if isinstance(blob, _Rendered):
        return blob.prototypes[lo:hi]
    try:
        return blob.prototypes(blob.function_ids[lo:hi], names)
    except InputError as exc:
        return [_unreadable(blob, exc)] * (hi - lo)


def _unreadable(btf: Btf, exc: InputError) -> str:
    log.warning("%s", exc)
    return f"<unreadable BTF of {btf.source}>"


# ---------------------------------------------------------------- the cache


def _read_cache(
    path: str, key: str, kprobe: Callable[[str], bool | None] | None
) -> KernelFunctions | None:
    try:
        with open(path, "rb") as file:
            data = marshal.load(file)
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        names = data["names"].split(_SEP)
        protos: list[str | None] = list(data["prototypes"].split(_SEP))
        runs = [(str(m), int(n)) for m, n in data["modules"]]
    except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
        return None  # absent, stale or damaged: rebuilt from BTF
    if len(names) != len(protos) or sum(n for _, n in runs) != len(names):
        return None
    catalogue = KernelFunctions(names, runs, protos, None, kprobe)
    catalogue.problems = list(data.get("problems", []))
    catalogue.mark_saved()
    return catalogue


def _save_cache(catalogue: KernelFunctions, path: str, key: str) -> None:
    data = {
        "key": key,
        "names": _SEP.join(catalogue.names),
        "prototypes": _SEP.join(catalogue.all_prototypes()),
        "modules": list(catalogue.module_counts().items()),
        "problems": catalogue.problems,
    }
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as file:
            marshal.dump(data, file)
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("function cache %s: write failed: %s", path, exc.strerror)
        _remove_quietly(temporary)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):  # never created, or already gone
        os.remove(path)
