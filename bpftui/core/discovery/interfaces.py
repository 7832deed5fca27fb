"""Network interfaces over netlink (pyroute2), with what is attached to them.

One listing is a handful of netlink dumps: links (with ``IFLA_XDP``),
addresses, the default routes, the qdiscs, and the cls_bpf filters of the
interfaces that have a clsact qdisc. Program names, TCX links and
dispatcher slots need the kernel's BPF tables, which only the native
backend reads; without one those parts stay empty and :attr:`notes` says so.

pyroute2 is imported on first use: importing it costs about 0.2 s.
"""

from __future__ import annotations

import logging
import os
import re
import select
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bpftui.core.dispatchers import (
    TC_DISPATCHER_NAME,
    XDP_CONFIG_SIZE,
    XDP_DISPATCHER_NAME,
    DispatcherConfig,
    Hook,
    HookKind,
    proceed_on_names,
    slot_pins,
    xdp_dispatch_dir,
)
from bpftui.core.errors import BpftuiError, InputError, KernelError
from bpftui.core.session import ChainView, InterfaceView, SlotView

log = logging.getLogger(__name__)

BPFFS = "/sys/fs/bpf"
_RTN_UNICAST = 1
_IFF_LOOPBACK = 0x8
_XDP_MODES = {"xdp": "native", "xdpgeneric": "generic", "xdpoffload": "offload"}
_XDP_MODE_IDS = (
    ("IFLA_XDP_DRV_PROG_ID", "native"),
    ("IFLA_XDP_SKB_PROG_ID", "generic"),
    ("IFLA_XDP_HW_PROG_ID", "offload"),
)
_MAX_SLOTS = 10
_SETTLE_S = 0.05  # notifications come in bursts; one listing per burst


def ifindex(name: str) -> int:
    """Return the index of interface ``name`` in this network namespace.

    Raises:
        InputError: no interface has that name.
    """
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise InputError(
            f"interface '{name}': not found",
            hint="list interfaces with 'bpftui list interfaces'",
        ) from None


def primary_interface(netns: str | None = None) -> str | None:
    """Return the interface holding the default route, or None if none does.

    IPv4 is preferred over IPv6, then the route with the lowest metric.
    """
    with _iproute(netns) as ipr:
        index = _primary_index(ipr)
        return _link_name(ipr, index) if index is not None else None


def _primary_index(ipr: Any) -> int | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        index = _default_route_oif(ipr.get_default_routes(family=family))
        if index is not None:
            return index
    return None


def _default_route_oif(routes: Iterable[Any]) -> int | None:
    best: tuple[int, int] | None = None
    for route in routes:
        if route.get("type") != _RTN_UNICAST:
            continue  # unreachable, blackhole and prohibit hold no interface
        oif = route.get_attr("RTA_OIF") or _first_nexthop_oif(route)
        metric = route.get_attr("RTA_PRIORITY") or 0
        if oif and (best is None or metric < best[0]):
            best = (metric, oif)
    return best[1] if best else None


def _first_nexthop_oif(route: Any) -> int | None:
    hops = route.get_attr("RTA_MULTIPATH") or []
    return next((hop.get("oif") for hop in hops if hop.get("oif")), None)


def _link_name(ipr: Any, index: int) -> str | None:
    links = ipr.get_links(index)
    return links[0].get_attr("IFLA_IFNAME") if links else None


def _iproute(netns: str | None = None, **options: Any) -> Any:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return IPRoute(netns=netns, **options) if netns else IPRoute(**options)
    except NetlinkError as exc:
        raise KernelError("netlink", "open route socket", exc.code) from None
    except OSError as exc:
        where = f"network namespace '{netns}'" if netns else "netlink"
        raise KernelError(where, "open route socket", exc.errno or 0) from None


# ---------------------------------------------------------------- programs


@dataclass
class _Programs:
    """The kernel's program and link tables, as far as the backend reads them."""

    names: dict[int, str] = field(default_factory=dict)
    by_pin: dict[str, int] = field(default_factory=dict)
    maps: dict[int, tuple[int, ...]] = field(default_factory=dict)
    tcx: list[tuple[int, int, str]] = field(default_factory=list)  # id, prog, where

    @classmethod
    def read(cls, backend: Any, notes: list[str]) -> _Programs:
        found = cls()
        if backend is None:
            notes.append("program names, TCX links and dispatcher slots: no backend")
            return found
        try:
            for prog in backend.programs():
                found.names[prog.id] = prog.name
                found.maps[prog.id] = tuple(prog.map_ids)
                found.by_pin.update(dict.fromkeys(prog.pinned, prog.id))
            for link in backend.links():
                if link.link_type == "tcx":
                    found.tcx.append((link.id, link.prog_id, link.attach_point))
        except BpftuiError as exc:
            notes.append(f"BPF program and link tables: {exc}")
        return found


# ---------------------------------------------------------------- listing


@dataclass
class InterfaceReader:
    """Lists interfaces and what is attached, in one network namespace.

    Args:
        netns: a name under ``/run/netns``; None for this process's namespace.
        backend: the native backend, for program names, TCX links and the
            dispatchers' config maps (``programs``, ``links``,
            ``map_entries``); None leaves those out.
        dispatchers: bpftui's dispatcher engine (``core.revisions``), which
            reads a dispatcher's slots exactly as it writes them.
        owner_of: names the applied object a program belongs to.
        bpffs: where bpffs is mounted (libxdp's pins).
    """

    netns: str | None = None
    backend: Any = None
    dispatchers: Any = None
    owner_of: Callable[[int], str | None] | None = None
    bpffs: str = BPFFS
    notes: list[str] = field(default_factory=list)

    def list(self) -> list[InterfaceView]:
        """Every interface, sorted by index; :attr:`notes` says what is left out.

        Raises:
            KernelError: netlink cannot be opened or a dump fails.
        """
        from pyroute2.netlink.exceptions import NetlinkError

        notes: list[str] = []
        listing = _Listing(self, _Programs.read(self.backend, notes), notes)
        try:
            with _iproute(self.netns) as ipr:
                views = listing.views(ipr)
        except NetlinkError as exc:
            raise KernelError("netlink", "dump interfaces", exc.code) from None
        self.notes = notes
        return views


@dataclass
class _Listing:
    """One pass over the interfaces: the tables read once, notes gathered."""

    reader: InterfaceReader
    programs: _Programs
    notes: list[str]

    def views(self, ipr: Any) -> list[InterfaceView]:
        links = sorted(ipr.get_links(), key=lambda msg: msg["index"])
        addresses = _addresses(ipr.get_addr())
        primary = _primary_index(ipr)
        clsact = {q["index"] for q in ipr.get_qdiscs() if _is_clsact(q)}
        views = []
        for link in links:
            index = link["index"]
            chains = self._chains(ipr, link, index in clsact)
            views.append(self._view(link, addresses[index], index == primary, chains))
        return views

    def _view(
        self, link: Any, addresses: list[str], primary: bool, chains: list[ChainView]
    ) -> InterfaceView:
        return InterfaceView(
            name=link.get_attr("IFLA_IFNAME") or "",
            index=link["index"],
            kind=_kind(link),
            state=(link.get_attr("IFLA_OPERSTATE") or "unknown").lower(),
            mtu=link.get_attr("IFLA_MTU") or 0,
            mac=link.get_attr("IFLA_ADDRESS") or "",
            addresses=tuple(addresses),
            netns=self.reader.netns or "",
            primary=primary,
            chains=tuple(chains),
        )

    def _chains(self, ipr: Any, link: Any, has_clsact: bool) -> list[ChainView]:
        from bpftui.native.netlink import PARENTS

        index, ifname = link["index"], link.get_attr("IFLA_IFNAME") or ""
        chains = [
            self._xdp_chain(Hook(HookKind.XDP, index, ifname), mode, prog_id)
            for mode, prog_id in _xdp_programs(link)
        ]
        for direction, parent in PARENTS.items():
            hook = Hook(HookKind.TC, index, ifname, direction)
            if has_clsact:
                filters = _bpf_filters(ipr.get_filters(index=index, parent=parent))
                chains += self._tc_chains(hook, filters)
            chains += self._tcx_chains(hook)
        return chains

    def _slot(
        self, slot: int, prog_id: int, name: str = "", priority: int = 0
    ) -> SlotView:
        return SlotView(
            slot=slot,
            prog_id=prog_id,
            name=self.programs.names.get(prog_id, name),
            priority=priority,
            proceedon=(),
            owner=self._owner(prog_id),
        )

    def _owner(self, prog_id: int | None, found: str = "") -> str | None:
        owner_of = self.reader.owner_of
        mine = owner_of(prog_id) if owner_of and prog_id else None
        return mine or found or None

    # ------------------------------------------------------------ XDP

    def _xdp_chain(self, hook: Hook, mode: str, prog_id: int) -> ChainView:
        name = self.programs.names.get(prog_id, "")
        directory = xdp_dispatch_dir(self.reader.bpffs, hook.ifindex, prog_id)
        if name != XDP_DISPATCHER_NAME and not os.path.isdir(directory):
            return ChainView("xdp", mode, slots=(self._slot(0, prog_id),))
        slots = self._engine_slots(hook, prog_id)
        if slots is None:
            slots = self._pinned_slots(hook, prog_id, directory)
        return ChainView("xdp", mode, dispatcher_id=prog_id, slots=slots)

    def _engine_slots(
        self, hook: Hook, dispatcher_id: int
    ) -> tuple[SlotView, ...] | None:
        """The slots as bpftui's dispatcher engine reads them, or None without it."""
        engine = self.reader.dispatchers
        if engine is None:
            return None
        try:
            revision = engine.read(hook)
        except BpftuiError as exc:
            self.notes.append(f"{hook}: dispatcher {dispatcher_id}: {exc}")
            return None
        return tuple(
            SlotView(
                slot=slot,
                prog_id=member.prog_id or 0,
                name=member.name,
                priority=member.priority,
                proceedon=proceed_on_names(hook.kind, member.chain_mask),
                owner=self._owner(member.prog_id, member.owner),
            )
            for slot, member in enumerate(revision.members)
        )

    def _pinned_slots(
        self, hook: Hook, dispatcher_id: int, directory: str
    ) -> tuple[SlotView, ...]:
        """Slots from libxdp's pins, their config from the dispatcher's map."""
        config = self._config(hook, dispatcher_id)
        slots = []
        for slot in range(_MAX_SLOTS):
            pin, _ = slot_pins(directory, slot)
            if not os.path.exists(pin):
                continue
            view = self._slot(slot, self.programs.by_pin.get(pin, 0))
            if config is not None and slot < len(config.slots):
                mask, prio = config.slots[slot].chain_mask, config.slots[slot].run_prio
                proceedon = proceed_on_names(HookKind.XDP, mask)
                view = replace(view, priority=prio, proceedon=proceedon)
            slots.append(view)
        return tuple(slots)

    def _config(self, hook: Hook, dispatcher_id: int) -> DispatcherConfig | None:
        backend = self.reader.backend
        map_ids = self.programs.maps.get(dispatcher_id, ())
        if backend is None or len(map_ids) != 1:
            self.notes.append(
                f"{hook}: dispatcher config unread; priorities shown as 0"
            )
            return None
        try:
            entries = backend.map_entries(map_ids[0], limit=1)
            value = bytes(entries[0][1][:XDP_CONFIG_SIZE]) if entries else b""
            return DispatcherConfig.decode(HookKind.XDP, value)
        except BpftuiError as exc:
            self.notes.append(f"{hook}: dispatcher config unread ({exc}); priorities 0")
            return None

    # ------------------------------------------------------------ TC

    def _tc_chains(
        self, hook: Hook, filters: list[tuple[int, int, str]]
    ) -> list[ChainView]:
        name = f"tc-{hook.direction}"
        chains: list[ChainView] = []
        lone: list[SlotView] = []
        for pref, prog_id, filter_name in filters:
            if self.programs.names.get(prog_id, filter_name) == TC_DISPATCHER_NAME:
                slots = self._engine_slots(hook, prog_id)
                if slots is None:
                    self.notes.append(f"{hook}: dispatcher {prog_id}: slots unread")
                chains.append(ChainView(name, "cls_bpf", prog_id, slots=slots or ()))
            else:
                lone.append(self._slot(len(lone), prog_id, filter_name, pref))
        if lone:
            chains.append(ChainView(name, "cls_bpf", slots=tuple(lone)))
        return chains

    def _tcx_chains(self, hook: Hook) -> list[ChainView]:
        found = sorted(
            (link_id, prog_id)
            for link_id, prog_id, where in self.programs.tcx
            if _names_hook(where, hook)
        )
        if not found:
            return []
        slots = tuple(self._slot(i, prog_id) for i, (_, prog_id) in enumerate(found))
        return [ChainView(f"tc-{hook.direction}", "tcx", slots=slots)]


def _kind(link: Any) -> str:
    info = link.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info else None
    if kind:
        return str(kind)
    return "loopback" if link["flags"] & _IFF_LOOPBACK else "device"


def _addresses(messages: Iterable[Any]) -> defaultdict[int, list[str]]:
    found: defaultdict[int, list[str]] = defaultdict(list)
    ordered = sorted(messages, key=lambda m: m["family"] != socket.AF_INET)
    for msg in ordered:
        address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if address:
            found[msg["index"]].append(f"{address}/{msg['prefixlen']}")
    return found


def _is_clsact(qdisc: Any) -> bool:
    return bool(qdisc.get_attr("TCA_KIND") == "clsact")


def _xdp_programs(link: Any) -> list[tuple[str, int]]:
    """(mode, program id) of each XDP program on the link."""
    xdp = link.get_attr("IFLA_XDP")
    attached = xdp.get_attr("IFLA_XDP_ATTACHED") if xdp else None
    if not attached:
        return []
    if attached == "xdpmulti":
        return [(mode, xdp.get_attr(a)) for a, mode in _XDP_MODE_IDS if xdp.get_attr(a)]
    return [(_XDP_MODES.get(attached, attached), xdp.get_attr("IFLA_XDP_PROG_ID") or 0)]


def _bpf_filters(messages: Iterable[Any]) -> list[tuple[int, int, str]]:
    """(priority, program id, name) of each cls_bpf filter, by priority."""
    from bpftui.native.netlink import bpf_filter

    found = [f for f in map(bpf_filter, messages) if f is not None]
    return sorted((f.priority, f.prog_id or 0, f.name) for f in found)


def _names_hook(where: str, hook: Hook) -> bool:
    """Whether a link's attach point text names this interface and direction."""
    if not hook.direction or hook.direction not in where:
        return False
    words = set(re.split(r"[\s:/,()=]+", where))
    named = hook.ifname and hook.ifname in words
    return bool(named) or re.search(rf"\bifindex\W*{hook.ifindex}\b", where) is not None


# ---------------------------------------------------------------- watching


class InterfaceWatch:
    """Lists interfaces again after every netlink notification, on a thread.

    Links, IPv4 and IPv6 addresses and TC changes are listened to; a burst
    of notifications gives one listing. :meth:`poke` asks for a listing
    without a notification (TCX links change without one).

    Raises:
        KernelError: the notification socket cannot be opened.
    """

    def __init__(
        self,
        reader: InterfaceReader,
        callback: Callable[[Sequence[InterfaceView]], None],
    ) -> None:
        self._reader = reader
        self._callback = callback
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._started = threading.Event()
        self._failure: BpftuiError | None = None
        self._thread = threading.Thread(
            target=self._run, name="bpftui-netlink-watch", daemon=True
        )
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            self._closed = True
            os.close(self._wake_w)
            raise self._failure

    def poke(self) -> None:
        """List and call back now, as if netlink had reported a change."""
        if not self._closed:
            os.write(self._wake_w, _POKE)

    def stop(self) -> None:
        """Stop watching and wait for the thread; calling it twice is harmless."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, _STOP)
        self._thread.join(timeout=5)
        os.close(self._wake_w)

    def _run(self) -> None:
        # pyroute2 (0.9) keeps one socket per thread: the subscribed socket
        # must be made and read on this thread.
        try:
            self._monitor = _subscribe(self._reader.netns)
        except BpftuiError as exc:
            self._failure = exc
            os.close(self._wake_r)
            return
        finally:
            self._started.set()
        try:
            while self._wait_for_change():
                self._report()
        finally:
            self._monitor.close()
            os.close(self._wake_r)

    def _report(self) -> None:
        try:
            views = self._reader.list()
        except BpftuiError as exc:
            log.warning("interfaces: listing after a change failed: %s", exc)
            return
        try:
            self._callback(views)
        except Exception:  # a front end's bug must not end the watch
            log.exception("interfaces: the change callback failed")

    def _wait_for_change(self) -> bool:
        """Block until a change (True) or a stop (False); drain each burst."""
        sources = [self._monitor.fileno(), self._wake_r]
        ready, _, _ = select.select(sources, [], [])
        changed = False
        while ready:
            if self._wake_r in ready:
                if _STOP in os.read(self._wake_r, 64):
                    return False
                changed = True
            if self._monitor.fileno() in ready:
                self._monitor.get()
                changed = True
            ready, _, _ = select.select(sources, [], [], _SETTLE_S)
        return changed


_POKE, _STOP = b"p", b"s"


def _subscribe(netns: str | None) -> Any:
    from pyroute2.netlink.rtnl import (
        RTMGRP_IPV4_IFADDR,
        RTMGRP_IPV6_IFADDR,
        RTMGRP_LINK,
        RTMGRP_TC,
    )

    groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_TC
    monitor = _iproute(netns)
    try:
        monitor.bind(groups=groups)
    except OSError as exc:
        monitor.close()
        raise KernelError(
            "netlink", "subscribe to link changes", exc.errno or 0
        ) from None
    return monitor
