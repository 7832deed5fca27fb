"""Interface listing logic on fake netlink messages and a fake bpffs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bpftui.core.backend import KernelLink, KernelProgram
from bpftui.core.discovery import interfaces as ifs
from bpftui.core.dispatchers import (
    DispatcherConfig,
    Hook,
    HookKind,
    Member,
    Revision,
    SlotConfig,
    proceed_on_mask,
)
from bpftui.core.errors import InputError, StateError
from bpftui.core.session import SlotView


class Msg(dict[str, Any]):
    """A netlink message as pyroute2 hands it out: fields plus attributes."""

    def __init__(self, attrs: dict[str, Any] | None = None, **fields: Any) -> None:
        super().__init__(fields)
        self["attrs"] = list((attrs or {}).items())

    def get_attr(self, name: str) -> Any:
        return dict(self["attrs"]).get(name)


def route(
    oif: int | None, metric: int | None = None, kind: int = 1, hops: Any = None
) -> Msg:
    attrs = {"RTA_OIF": oif, "RTA_PRIORITY": metric, "RTA_MULTIPATH": hops}
    return Msg({k: v for k, v in attrs.items() if v is not None}, type=kind)


def test_default_route_with_the_lowest_metric_wins() -> None:
    routes = [route(4, 200), route(7, 100), route(9, 50, kind=6)]  # 6: prohibit
    assert ifs._default_route_oif(routes) == 7


def test_multipath_default_route_uses_its_first_hop() -> None:
    assert ifs._default_route_oif([route(None, hops=[{"oif": 0}, {"oif": 3}])]) == 3


def test_no_default_route() -> None:
    assert ifs._default_route_oif([]) is None


def test_xdp_modes_from_ifla_xdp() -> None:
    generic = Msg(
        {"IFLA_XDP": Msg({"IFLA_XDP_ATTACHED": "xdpgeneric", "IFLA_XDP_PROG_ID": 12})}
    )
    multi = Msg(
        {
            "IFLA_XDP": Msg(
                {
                    "IFLA_XDP_ATTACHED": "xdpmulti",
                    "IFLA_XDP_DRV_PROG_ID": 3,
                    "IFLA_XDP_HW_PROG_ID": 5,
                }
            )
        }
    )
    none = Msg({"IFLA_XDP": Msg({"IFLA_XDP_ATTACHED": None})})
    assert ifs._xdp_programs(generic) == [("generic", 12)]
    assert ifs._xdp_programs(multi) == [("native", 3), ("offload", 5)]
    assert ifs._xdp_programs(none) == []


def test_link_kinds() -> None:
    assert (
        ifs._kind(Msg({"IFLA_LINKINFO": Msg({"IFLA_INFO_KIND": "veth"})}, flags=0))
        == "veth"
    )
    assert ifs._kind(Msg(flags=0x8)) == "loopback"
    assert ifs._kind(Msg(flags=0x1003)) == "device"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("eth0 ingress", True),
        ("tcx ingress on eth0", True),
        ("ifindex 4 ingress", True),
        ("ifindex=4 egress", False),
        ("eth01 ingress", False),
        ("ifindex 44 ingress", False),
        ("eth0", False),
    ],
)
def test_tcx_attach_point_text(where: str, expected: bool) -> None:
    hook = Hook(HookKind.TC, 4, "eth0", "ingress")
    assert ifs._names_hook(where, hook) is expected


def test_unknown_interface_name() -> None:
    with pytest.raises(InputError, match="interface 'no-such-if0': not found"):
        ifs.ifindex("no-such-if0")
    assert ifs.ifindex("lo") == 1


# ------------------------------------------------------------ dispatchers


class FakeBackend:
    """The backend calls the listing makes: programs, links, map_entries."""

    def __init__(
        self, programs: list[KernelProgram], config: bytes | None = None
    ) -> None:
        self._programs = programs
        self._config = config
        self.links_: list[KernelLink] = []

    def programs(self) -> list[KernelProgram]:
        return self._programs

    def links(self) -> list[KernelLink]:
        return self.links_

    def map_entries(
        self, map_id: int, *, limit: int = 1000
    ) -> list[tuple[bytes, bytes]]:
        if self._config is None:
            raise StateError("map gone")
        return [(b"\0\0\0\0", self._config + bytes(8))]  # .rodata may be longer


def _libxdp_pins(bpffs: Path, ifindex: int, dispatcher: int, slots: int) -> list[str]:
    directory = bpffs / "xdp" / f"dispatch-{ifindex}-{dispatcher}"
    directory.mkdir(parents=True)
    pins = []
    for slot in range(slots):
        (directory / f"prog{slot}-prog").write_text("")
        (directory / f"prog{slot}-link").write_text("")
        pins.append(str(directory / f"prog{slot}-prog"))
    return pins


def _listing(reader: ifs.InterfaceReader) -> ifs._Listing:
    notes: list[str] = []
    return ifs._Listing(reader, ifs._Programs.read(reader.backend, notes), notes)


def test_libxdp_dispatcher_slots_from_pins_and_config(tmp_path: Path) -> None:
    pins = _libxdp_pins(tmp_path, 3, 40, 2)
    config = DispatcherConfig(
        HookKind.XDP,
        (
            SlotConfig(proceed_on_mask(HookKind.XDP, ["pass", "drop"]), 10),
            SlotConfig(proceed_on_mask(HookKind.XDP), 50),
        ),
    ).encode()
    backend = FakeBackend(
        [
            KernelProgram(40, "xdp_dispatcher", "xdp", "aa", map_ids=(9,)),
            KernelProgram(41, "filter_a", "ext", "bb", pinned=(pins[0],)),
            KernelProgram(42, "counter", "ext", "cc", pinned=(pins[1],)),
        ],
        config,
    )
    reader = ifs.InterfaceReader(
        backend=backend, bpffs=str(tmp_path), owner_of={41: "XdpProgram/edge"}.get
    )
    chain = _listing(reader)._xdp_chain(Hook(HookKind.XDP, 3, "veth0"), "native", 40)
    assert (chain.hook, chain.mode, chain.dispatcher_id) == ("xdp", "native", 40)
    assert chain.slots == (
        SlotView(0, 41, "filter_a", 10, ("drop", "pass"), "XdpProgram/edge"),
        SlotView(1, 42, "counter", 50, ("pass", "dispatcher_return"), None),
    )


def test_dispatcher_without_backend_lists_pinned_slots_and_says_why(
    tmp_path: Path,
) -> None:
    _libxdp_pins(tmp_path, 3, 40, 3)
    listing = _listing(ifs.InterfaceReader(bpffs=str(tmp_path)))
    chain = listing._xdp_chain(Hook(HookKind.XDP, 3, "veth0"), "generic", 40)
    assert [(s.slot, s.prog_id, s.priority) for s in chain.slots] == [
        (0, 0, 0),
        (1, 0, 0),
        (2, 0, 0),
    ]
    assert any("no backend" in n for n in listing.notes)
    assert any("priorities shown as 0" in n for n in listing.notes)


def test_unreadable_config_keeps_the_slots(tmp_path: Path) -> None:
    pins = _libxdp_pins(tmp_path, 3, 40, 1)
    backend = FakeBackend(
        [
            KernelProgram(40, "xdp_dispatcher", "xdp", "aa", map_ids=(9,)),
            KernelProgram(41, "filter_a", "ext", "bb", pinned=(pins[0],)),
        ]
    )
    listing = _listing(ifs.InterfaceReader(backend=backend, bpffs=str(tmp_path)))
    chain = listing._xdp_chain(Hook(HookKind.XDP, 3, "veth0"), "native", 40)
    assert [(s.prog_id, s.name, s.priority) for s in chain.slots] == [
        (41, "filter_a", 0)
    ]
    assert any("config unread" in n for n in listing.notes)


def test_lone_xdp_program(tmp_path: Path) -> None:
    backend = FakeBackend([KernelProgram(7, "xdp_pass", "xdp", "aa")])
    listing = _listing(ifs.InterfaceReader(backend=backend, bpffs=str(tmp_path)))
    chain = listing._xdp_chain(Hook(HookKind.XDP, 3, "veth0"), "generic", 7)
    assert chain.dispatcher_id is None
    assert chain.slots == (SlotView(0, 7, "xdp_pass", 0, (), None),)


class FakeEngine:
    def __init__(self, revision: Revision | Exception) -> None:
        self.revision = revision

    def read(self, hook: Hook) -> Revision:
        if isinstance(self.revision, Exception):
            raise self.revision
        return self.revision


def test_tc_dispatcher_slots_come_from_the_engine(tmp_path: Path) -> None:
    hook = Hook(HookKind.TC, 3, "veth0", "ingress")
    members = (
        Member("shaper", 5, proceed_on_mask(HookKind.TC), prog_id=61, owner="bpftui"),
        Member("stats", 20, proceed_on_mask(HookKind.TC, ["ok"]), prog_id=62),
    )
    engine = FakeEngine(Revision(hook, members, 60))
    backend = FakeBackend(
        [
            KernelProgram(60, "tc_dispatcher", "tc", "aa"),
            KernelProgram(70, "lone", "tc", "bb"),
        ]
    )
    reader = ifs.InterfaceReader(
        backend=backend, dispatchers=engine, bpffs=str(tmp_path)
    )
    chains = _listing(reader)._tc_chains(
        hook, [(50, 60, "disp.o:[tc]"), (49152, 70, "x.o:[tc]")]
    )
    assert [(c.hook, c.mode, c.dispatcher_id) for c in chains] == [
        ("tc-ingress", "cls_bpf", 60),
        ("tc-ingress", "cls_bpf", None),
    ]
    assert chains[0].slots == (
        SlotView(0, 61, "shaper", 5, ("pipe", "dispatcher_return"), "bpftui"),
        SlotView(1, 62, "stats", 20, ("ok",), "bpftui"),
    )
    assert chains[1].slots == (SlotView(0, 70, "lone", 49152, (), None),)


def test_engine_failure_is_a_note_not_an_error(tmp_path: Path) -> None:
    hook = Hook(HookKind.TC, 3, "veth0", "egress")
    engine = FakeEngine(StateError("slot 0 has no program pinned"))
    backend = FakeBackend([KernelProgram(60, "tc_dispatcher", "tc", "aa")])
    listing = _listing(
        ifs.InterfaceReader(backend=backend, dispatchers=engine, bpffs=str(tmp_path))
    )
    chains = listing._tc_chains(hook, [(50, 60, "")])
    assert chains[0].dispatcher_id == 60
    assert chains[0].slots == ()
    assert any("slot 0 has no program pinned" in n for n in listing.notes)


def test_tcx_links_per_direction(tmp_path: Path) -> None:
    backend = FakeBackend(
        [
            KernelProgram(80, "tcx_in", "tc", "aa"),
            KernelProgram(81, "tcx_in2", "tc", "bb"),
        ]
    )
    backend.links_ = [
        KernelLink(9, "tcx", 81, "veth0 ingress"),
        KernelLink(5, "tcx", 80, "veth0 ingress"),
        KernelLink(6, "tcx", 80, "other ingress"),
        KernelLink(7, "xdp", 80, "veth0"),
    ]
    listing = _listing(ifs.InterfaceReader(backend=backend, bpffs=str(tmp_path)))
    (chain,) = listing._tcx_chains(Hook(HookKind.TC, 3, "veth0", "ingress"))
    assert chain.mode == "tcx"
    assert [(s.prog_id, s.name) for s in chain.slots] == [
        (80, "tcx_in"),
        (81, "tcx_in2"),
    ]
    assert listing._tcx_chains(Hook(HookKind.TC, 3, "veth0", "egress")) == []
