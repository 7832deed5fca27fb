"""The node's real attach points: :class:`RealDiscovery`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from bpftui.core.discovery import processes as _processes
from bpftui.core.discovery import tracefs as _tracefs
from bpftui.core.discovery import uprobe as _uprobe
from bpftui.core.discovery.functions import BTF_DIR, KernelFunctions, load_functions
from bpftui.core.discovery.interfaces import (
    BPFFS,
    InterfaceReader,
    InterfaceWatch,
    primary_interface,
)
from bpftui.core.session import (
    InterfaceView,
    ProcessView,
    SymbolView,
    TracepointField,
    TracepointView,
)


class RealDiscovery:
    """Attach points of this node, read from the kernel; a ``core.session.Discovery``.

    Each method fails alone: without tracefs ``tracepoints`` raises
    ``NotSupported`` while interfaces and functions still work.

    Args:
        backend: the native backend, for program names, TCX links and
            dispatcher config maps; None leaves those out (see :attr:`notes`).
        dispatchers: bpftui's dispatcher engine, to read dispatcher slots.
        owner_of: names the applied object a kernel program belongs to.
        netns: list the interfaces of this network namespace (``/run/netns``).
        bpffs: the bpffs mount (libxdp's pins).
        btf_dir: where the kernel exposes BTF.
        tracefs: where tracefs is (or gets) mounted.
        cache_dir: where the function catalogue is cached.
        proc: where procfs is mounted.
    """

    def __init__(
        self,
        backend: Any = None,
        *,
        dispatchers: Any = None,
        owner_of: Callable[[int], str | None] | None = None,
        netns: str | None = None,
        bpffs: str = BPFFS,
        btf_dir: str = BTF_DIR,
        tracefs: str = _tracefs.TRACEFS,
        cache_dir: str | None = None,
        proc: str = _processes.PROC,
    ) -> None:
        self._reader = InterfaceReader(netns, backend, dispatchers, owner_of, bpffs)
        self._btf_dir = btf_dir
        self._tracefs = tracefs
        self._cache_dir = cache_dir
        self._proc = proc
        self._catalogue: KernelFunctions | None = None
        self._catalogue_lock = threading.Lock()
        self._lock = threading.Lock()  # guards the list of watches
        self._watches: list[InterfaceWatch] = []

    @property
    def notes(self) -> list[str]:
        """What the last listings had to leave out, and why."""
        found = list(self._reader.notes)
        if self._catalogue is not None:
            found += self._catalogue.problems
        return found

    # ------------------------------------------------------------ interfaces

    def interfaces(self) -> Sequence[InterfaceView]:
        return self._reader.list()

    def watch_interfaces(
        self, callback: Callable[[Sequence[InterfaceView]], None]
    ) -> Callable[[], None]:
        """Call ``callback`` on every netlink change until the returned
        function is called; the callback runs on a worker thread."""
        watch = InterfaceWatch(self._reader, callback)
        with self._lock:
            self._watches.append(watch)

        def stop() -> None:
            with self._lock:
                if watch in self._watches:
                    self._watches.remove(watch)
            watch.stop()

        return stop

    def changed(self) -> None:
        """Tell the watchers something changed that netlink does not report."""
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.poke()

    def primary_interface(self) -> str | None:
        return primary_interface(self._reader.netns)

    # ------------------------------------------------------------ tracepoints

    def tracepoints(self) -> Sequence[TracepointView]:
        return _tracefs.tracepoints(self._tracefs)

    def tracepoint_fields(self, category: str, name: str) -> Sequence[TracepointField]:
        return _tracefs.tracepoint_fields(category, name, self._tracefs)

    # ------------------------------------------------------------ functions

    def functions(self) -> KernelFunctions:
        """The kernel function catalogue, read once (from the cache if it fits)."""
        with self._catalogue_lock:
            if self._catalogue is None:
                self._catalogue = load_functions(self._btf_dir, self._cache_dir)
            return self._catalogue

    # ------------------------------------------------------------ uprobes

    def resolve_library(self, name: str) -> str:
        return _uprobe.resolve_library(name)

    def symbols(self, target: str) -> Sequence[SymbolView]:
        return _uprobe.symbols(target)

    def processes(self) -> Sequence[ProcessView]:
        return _processes.processes(self._proc)


def open_discovery(backend: Any = None, **options: Any) -> RealDiscovery:
    """The discovery of this node (what ``core.node_session`` looks for)."""
    return RealDiscovery(backend, **options)
