"""rtnetlink through pyroute2: interfaces, XDP through IFLA_XDP, clsact, cls_bpf.

Each function opens its own netlink socket and closes it before returning:
nothing stays open between calls, and a call made from a thread inside
another network namespace (:mod:`bpftui.native.netns`) acts there. Calls block
the calling thread; the TUI makes them from worker threads.

pyroute2 is imported inside the functions so that importing this module stays
cheap. Netlink error codes become bpftui exceptions through
:func:`bpftui.native.failure.error_for`, with the kernel's extended ack text
as the hint when it sent one.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bpftui.core.errors import BpftuiError, InputError, KernelError
from bpftui.native.failure import error_for

log = logging.getLogger(__name__)

# include/uapi/linux/pkt_sched.h
TC_H_CLSACT = 0xFFFFFFF1  # also TC_H_INGRESS: both qdiscs sit at this parent
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3
CLSACT_HANDLE = 0xFFFF0000
PARENTS = {
    "ingress": (CLSACT_HANDLE | TC_H_MIN_INGRESS),
    "egress": (CLSACT_HANDLE | TC_H_MIN_EGRESS),
}
# include/uapi/linux/pkt_cls.h: cls_bpf attributes pyroute2 does not decode.
TCA_BPF_ID = 11
ETH_P_ALL = 0x0003


@dataclass(frozen=True, slots=True)
class XdpState:
    """What IFLA_XDP reports for an interface."""

    mode: str | None  # "xdp" (native), "xdpgeneric", "xdpoffload", "xdpmulti"
    prog_id: int | None
    drv_prog_id: int | None = None
    skb_prog_id: int | None = None
    hw_prog_id: int | None = None


@dataclass(frozen=True, slots=True)
class BpfFilter:
    """A cls_bpf filter on a clsact hook."""

    parent: int
    priority: int
    handle: int
    prog_id: int | None
    name: str
    direct_action: bool


@contextmanager
def _rtnl(entity: str, action: str, hint: str | None = None) -> Iterator[Any]:
    """An rtnetlink socket for one request; netlink errors become ours."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute(ext_ack=True) as ipr:
            yield ipr
    except NetlinkError as err:
        extack = _extack_text(err)
        raise error_for(err.code, entity, action, hint=hint or extack) from None


def _extack_text(err: Any) -> str | None:
    text = err.args[1] if len(err.args) > 1 else None
    if isinstance(text, str) and text and text != _strerror(err.code):
        return text.rstrip(".")
    return None


def _strerror(code: int) -> str:
    try:
        return os.strerror(code)
    except ValueError:
        return ""


# ------------------------------------------------------------- interfaces


def ifindex_of(name: str) -> int:
    """Return the index of interface ``name`` in the caller's namespace.

    Raises:
        InputError: there is no such interface.
    """
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise InputError(
            f"interface {name!r}: not found on this node",
            hint="`bpftui list interfaces` shows the interfaces",
        ) from None


def ifname_of(ifindex: int) -> str | None:
    """Return the name of interface ``ifindex``, or None if there is none."""
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return None


def describe(ifindex: int) -> str:
    """Name an interface for a message: its name, or ``ifindex N``."""
    return ifname_of(ifindex) or f"ifindex {ifindex}"


# ------------------------------------------------------------------- XDP


def link_set_xdp(
    ifindex: int, fd: int, flags: int, *, expected_fd: int | None = None
) -> None:
    """Attach program ``fd`` (or detach, with -1) at the XDP hook of ``ifindex``.

    Args:
        ifindex: the interface.
        fd: the program, or -1 to detach.
        flags: ``XDP_FLAGS_*``: the mode, plus UPDATE_IF_NOEXIST or REPLACE.
        expected_fd: with ``XDP_FLAGS_REPLACE``, the program that must be
            attached now; the kernel refuses the swap otherwise.
    """
    attrs: list[tuple[str, int]] = [("IFLA_XDP_FD", fd), ("IFLA_XDP_FLAGS", flags)]
    if expected_fd is not None:
        attrs.append(("IFLA_XDP_EXPECTED_FD", expected_fd))
    action = "detach XDP program" if fd < 0 else "attach XDP program"
    log.debug("netlink: %s on ifindex %d, flags %#x", action, ifindex, flags)
    with _rtnl(f"interface {describe(ifindex)}", action) as ipr:
        ipr.link("set", index=ifindex, xdp={"attrs": attrs})


def link_xdp_state(ifindex: int) -> XdpState:
    """Return what is attached at the XDP hook of ``ifindex``."""
    with _rtnl(f"interface {describe(ifindex)}", "read XDP state") as ipr:
        links = ipr.get_links(ifindex)
    xdp = links[0].get("xdp") if links else None
    if not xdp:
        return XdpState(None, None)
    return XdpState(
        mode=xdp.get("IFLA_XDP_ATTACHED"),
        prog_id=xdp.get("IFLA_XDP_PROG_ID"),
        drv_prog_id=xdp.get("IFLA_XDP_DRV_PROG_ID"),
        skb_prog_id=xdp.get("IFLA_XDP_SKB_PROG_ID"),
        hw_prog_id=xdp.get("IFLA_XDP_HW_PROG_ID"),
    )


# ---------------------------------------------------------------- clsact


def qdisc_clsact_ensure(ifindex: int) -> bool:
    """Make sure ``ifindex`` has a clsact qdisc; return True if one was added.

    Raises:
        KernelError: the interface has an ``ingress`` qdisc, which holds the
            same place and cannot coexist with clsact.
    """
    name = describe(ifindex)
    kind = qdisc_ingress_kind(ifindex)
    if kind == "clsact":
        return False
    if kind is not None:
        raise KernelError(
            f"interface {name}",
            "add clsact qdisc",
            errno.EEXIST,
            hint=f"it has an {kind!r} qdisc in that place; remove it with "
            f"`tc qdisc del dev {name} {kind}` if nothing needs it",
        )
    log.debug("netlink: add clsact qdisc on %s", name)
    with _rtnl(f"interface {name}", "add clsact qdisc") as ipr:
        ipr.tc("add", "clsact", ifindex)
    return True


def qdisc_clsact_del(ifindex: int) -> None:
    """Remove the clsact qdisc of ``ifindex`` (and any filter left on it)."""
    log.debug("netlink: delete clsact qdisc on ifindex %d", ifindex)
    with _rtnl(f"interface {describe(ifindex)}", "delete clsact qdisc") as ipr:
        ipr.tc("del", "clsact", ifindex)


def qdisc_ingress_kind(ifindex: int) -> str | None:
    """Return the kind of qdisc at the ingress place (clsact, ingress) or None."""
    with _rtnl(f"interface {describe(ifindex)}", "list qdiscs") as ipr:
        for qdisc in ipr.get_qdiscs(index=ifindex):
            if qdisc["parent"] == TC_H_CLSACT:
                return str(qdisc.get("TCA_KIND"))
    return None


# --------------------------------------------------------------- filters


def filter_bpf_add(
    ifindex: int, parent: int, fd: int, name: str, *, priority: int, handle: int
) -> None:
    """Add a direct-action cls_bpf filter running program ``fd``.

    Raises:
        KernelError: EEXIST when a filter with that priority and handle is
            already there.
    """
    entity = f"interface {describe(ifindex)}"
    log.debug("netlink: add bpf filter %s prio %d handle %d", name, priority, handle)
    with _rtnl(entity, f"add TC filter {name!r} at priority {priority}") as ipr:
        ipr.tc(
            "add-filter",
            "bpf",
            ifindex,
            handle,
            fd=fd,
            name=name,
            parent=parent,
            prio=priority,
            protocol=ETH_P_ALL,
            direct_action=True,
        )


def filter_bpf_del(ifindex: int, parent: int, *, priority: int, handle: int) -> None:
    """Delete the cls_bpf filter at ``priority``/``handle`` under ``parent``."""
    entity = f"interface {describe(ifindex)}"
    log.debug("netlink: delete bpf filter prio %d handle %d", priority, handle)
    with _rtnl(entity, f"delete TC filter at priority {priority}") as ipr:
        ipr.tc(
            "del-filter",
            "bpf",
            ifindex,
            handle,
            parent=parent,
            prio=priority,
            protocol=ETH_P_ALL,
        )


def filters_bpf(ifindex: int, parent: int) -> list[BpfFilter]:
    """Return the cls_bpf filters under ``parent`` (a clsact hook) of ``ifindex``.

    A missing clsact qdisc means no filters, not an error.
    """
    return [f for f in map(bpf_filter, _filter_dump(ifindex, parent)) if f]


def filter_count(ifindex: int, parent: int) -> int:
    """Count the filters of any kind (bpf, u32, flower ...) under ``parent``."""
    return sum(1 for m in _filter_dump(ifindex, parent) if m.get("TCA_OPTIONS"))


def _filter_dump(ifindex: int, parent: int) -> list[Any]:
    try:
        with _rtnl(f"interface {describe(ifindex)}", "list TC filters") as ipr:
            return list(ipr.get_filters(index=ifindex, parent=parent))
    except KernelError as err:
        if err.errno in (errno.EINVAL, errno.ENOENT):
            return []
        raise


def bpf_filter(message: Any) -> BpfFilter | None:
    """Read one message of a filter dump; None if it is no cls_bpf filter."""
    options = message.get("TCA_OPTIONS")
    if message.get("TCA_KIND") != "bpf" or not options:
        return None  # the first reply of a dump names the chain, not a filter
    info = message["info"]
    return BpfFilter(
        parent=message["parent"],
        priority=(info >> 16) & 0xFFFF,
        handle=message["handle"],
        prog_id=_unknown_u32(options, TCA_BPF_ID),
        name=options.get("TCA_BPF_NAME") or "",
        direct_action=bool((options.get("TCA_BPF_FLAGS") or 0) & 1),
    )


def _unknown_u32(nested: Any, nla_type: int) -> int | None:
    """Read a u32 attribute pyroute2's tables do not know (it keeps the bytes)."""
    for slot in nested["attrs"]:
        if slot.name != "UNKNOWN":
            continue
        nla = slot.nla
        if nla["header"]["type"] == nla_type and nla.length >= 8:
            return int(struct.unpack_from("=I", nla.data, nla.offset + 4)[0])
    return None


def is_gone(err: BpftuiError) -> bool:
    """Whether a netlink failure says the thing to remove is already gone."""
    return isinstance(err, KernelError) and err.errno in (
        errno.ENOENT,
        errno.ENODEV,
        errno.EINVAL,
    )
