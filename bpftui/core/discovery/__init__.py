"""Attach points of this node: interfaces, tracepoints, kernel functions, uprobes.

Importing this package is cheap: pyroute2 and pyelftools are imported by the
functions that need them.

Modules: ``btf`` (the BTF reader), ``functions`` (the cached, filterable
catalogue), ``interfaces`` (netlink), ``tracefs``, ``uprobe`` (ld.so.cache
and ELF symbols), ``processes``, ``real`` (:class:`RealDiscovery`).
"""

from __future__ import annotations

from bpftui.core.discovery.real import RealDiscovery, open_discovery

__all__ = ["RealDiscovery", "open_discovery"]
