"""Attach points of this node: interfaces, tracepoints, kernel functions, uprobes.

Importing this package is cheap: each module is imported when first named,
and pyroute2 and pyelftools by the functions that need them. ``bpftui list
functions`` so pays for BTF and nothing else.

Modules: ``btf`` (the BTF reader), ``functions`` (the cached, filterable
catalogue), ``search`` (filtering names per keystroke), ``interfaces``
(netlink), ``tracefs``, ``uprobe`` (ld.so.cache and ELF symbols),
``processes``, ``real`` (:class:`RealDiscovery`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bpftui.core.discovery.real import RealDiscovery, open_discovery

__all__ = ["RealDiscovery", "open_discovery"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bpftui.core.discovery import real

        return getattr(real, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
