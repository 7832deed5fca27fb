"""The pure side of the dispatchers: masks, config bytes, slot order, limits."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpftui.core import dispatchers as d
from bpftui.core.dispatchers import HookKind, Member, Revision, SlotConfig
from bpftui.core.errors import BpftuiError, InputError, StateError

XDP = HookKind.XDP
TC = HookKind.TC
BPF_DIR = Path(d.__file__).parents[1] / "native" / "bpf"


# ------------------------------------------------------------ proceed-on


@pytest.mark.parametrize(
    ("kind", "names", "mask"),
    [
        (XDP, None, 0x80000004),
        (XDP, [], 0x80000004),
        (XDP, ["pass", "dispatcher_return"], 0x80000004),
        (XDP, ["aborted"], 0x1),
        (XDP, ["drop"], 0x2),
        (XDP, ["pass"], 0x4),
        (XDP, ["tx"], 0x8),
        (XDP, ["redirect"], 0x10),
        (XDP, ["dispatcher_return"], 0x80000000),
        (XDP, ["aborted", "drop", "pass", "tx", "redirect"], 0x1F),
        (XDP, ["drop", "drop"], 0x2),
        (TC, None, 0x80000010),
        (TC, ["pipe", "dispatcher_return"], 0x80000010),
        (TC, ["unspec"], 0x1),
        (TC, ["ok"], 0x2),
        (TC, ["reclassify"], 0x4),
        (TC, ["shot"], 0x8),
        (TC, ["pipe"], 0x10),
        (TC, ["stolen"], 0x20),
        (TC, ["queued"], 0x40),
        (TC, ["repeat"], 0x80),
        (TC, ["redirect"], 0x100),
        (TC, ["trap"], 0x200),
        (TC, ["dispatcher_return"], 0x80000000),
        (TC, ["unspec", "ok", "trap", "dispatcher_return"], 0x80000203),
    ],
)
def test_proceed_on_mask(kind, names, mask):
    assert d.proceed_on_mask(kind, names) == mask


@pytest.mark.parametrize(
    ("kind", "name"), [(XDP, "pipe"), (XDP, "PASS"), (TC, "pass"), (TC, "abort")]
)
def test_proceed_on_mask_refuses_names_of_the_other_hook(kind, name):
    with pytest.raises(InputError, match=f"'{name}' is not a {kind} action"):
        d.proceed_on_mask(kind, [name])


@pytest.mark.parametrize(
    ("kind", "mask", "names"),
    [
        (XDP, 0x80000004, ("pass", "dispatcher_return")),
        (XDP, 0x3, ("aborted", "drop")),
        (XDP, 0x40, ()),
        (TC, 0x80000010, ("pipe", "dispatcher_return")),
        (TC, 0x201, ("unspec", "trap")),
    ],
)
def test_proceed_on_names(kind, mask, names):
    assert d.proceed_on_names(kind, mask) == names


@pytest.mark.parametrize(
    ("kind", "ret", "mask", "goes_on"),
    [
        (XDP, 2, 0x80000004, True),
        (XDP, 1, 0x80000004, False),
        (XDP, 31, 0x80000004, True),
        (XDP, 31, 0x4, False),
        (XDP, 32, 0xFFFFFFFF, False),
        (XDP, -1, 0xFFFFFFFF, False),
        (TC, -1, 0x1, True),
        (TC, 3, 0x80000010, True),
        (TC, 0, 0x80000010, False),
        (TC, 30, 0x80000010, True),
        (TC, 31, 0xFFFFFFFF, False),
        (TC, -2, 0xFFFFFFFF, False),
    ],
)
def test_proceeds(kind, ret, mask, goes_on):
    assert d.proceeds(kind, ret, mask) is goes_on


@pytest.mark.parametrize(
    ("kind", "returns", "masks", "result"),
    [
        (XDP, [], [], 2),
        (XDP, [2, 2], [0x4, 0x4], 2),
        (XDP, [2, 1, 2], [0x4, 0x4, 0x4], 1),
        (XDP, [1, 3], [0x2, 0x4], 3),
        (TC, [], [], 0),
        (TC, [3, 3], [0x10, 0x10], 0),
        (TC, [3, 2, 3], [0x10, 0x10, 0x10], 2),
        (TC, [-1], [0x1], 0),
    ],
)
def test_chain_result(kind, returns, masks, result):
    assert d.chain_result(kind, returns, masks) == result


# ---------------------------------------------------------------- config


def _xdp_bytes(count, masks, prios, flags, frags=0):
    head = bytes([236, 2, count, frags])

    def words(values):
        return b"".join(
            v.to_bytes(4, "little") for v in values + [0] * (10 - len(values))
        )

    return head + words(masks) + words(prios) + words(flags)


@pytest.mark.parametrize(
    ("slots", "frags", "expected"),
    [
        ((), False, _xdp_bytes(0, [], [], [])),
        (
            (SlotConfig(0x80000004, 50),),
            False,
            _xdp_bytes(1, [0x80000004], [50], [0]),
        ),
        (
            (SlotConfig(0x80000004, 10), SlotConfig(0x6, 20, 32)),
            False,
            _xdp_bytes(2, [0x80000004, 0x6], [10, 20], [0, 32]),
        ),
        (
            tuple(SlotConfig(0x80000000 | i, 1000 - i, 32) for i in range(10)),
            True,
            _xdp_bytes(
                10,
                [0x80000000 | i for i in range(10)],
                [1000 - i for i in range(10)],
                [32] * 10,
                1,
            ),
        ),
    ],
)
def test_xdp_config_encoding(slots, frags, expected):
    config = d.DispatcherConfig(XDP, slots, is_xdp_frags=frags)
    data = config.encode()
    assert len(data) == 124
    assert data == expected
    assert d.DispatcherConfig.decode(XDP, data) == config


def _tc_bytes(count, masks, prios):
    def words(values):
        return b"".join(
            v.to_bytes(4, "little") for v in values + [0] * (10 - len(values))
        )

    return bytes([count, 0, 0, 0]) + words(masks) + words(prios)


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        ((), _tc_bytes(0, [], [])),
        ((SlotConfig(0x80000010, 50),), _tc_bytes(1, [0x80000010], [50])),
        (
            (SlotConfig(0x80000010, 5), SlotConfig(0x201, 7)),
            _tc_bytes(2, [0x80000010, 0x201], [5, 7]),
        ),
        (
            tuple(SlotConfig(1 << i, i) for i in range(10)),
            _tc_bytes(10, [1 << i for i in range(10)], list(range(10))),
        ),
    ],
)
def test_tc_config_encoding(slots, expected):
    config = d.DispatcherConfig(TC, slots)
    data = config.encode()
    assert len(data) == 84
    assert data == expected
    assert d.DispatcherConfig.decode(TC, data) == config


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        (XDP, bytes(123), "123 bytes"),
        (XDP, bytes([1, 2]) + bytes(122), "magic 1, version 2"),
        (XDP, bytes([236, 3]) + bytes(122), "magic 236, version 3"),
        (XDP, bytes([236, 2, 11]) + bytes(121), "11 slots enabled"),
        (TC, bytes(83), "83 bytes"),
        (TC, bytes([12]) + bytes(83), "12 slots enabled"),
    ],
)
def test_config_decoding_refuses_what_it_does_not_speak(kind, data, message):
    with pytest.raises(StateError, match=message):
        d.DispatcherConfig.decode(kind, data)


def test_config_holds_at_most_ten_slots():
    with pytest.raises(d.DispatcherFull, match="11 slots"):
        d.DispatcherConfig(XDP, tuple(SlotConfig(0, 0) for _ in range(11)))


# ------------------------------------------------- the compiled objects


def _elf(name):
    return ELFFile((BPF_DIR / name).open("rb"))


@pytest.mark.parametrize(
    ("obj", "main", "config_size"),
    [
        ("xdp_dispatcher.o", "xdp_dispatcher", 124),
        ("tc_dispatcher.o", "tc_dispatcher", 84),
    ],
)
def test_shipped_object_has_the_protocol_symbols(obj, main, config_size):
    elf = _elf(obj)
    symbols = {s.name for s in elf.get_section_by_name(".symtab").iter_symbols()}
    stubs = {f"prog{i}" for i in range(10)} | {"compat_test", main}
    assert stubs <= symbols
    assert elf.get_section_by_name(".rodata").data_size == config_size
    # libxdp refuses a dispatcher with more than the one config map.
    data_sections = {
        s.name
        for s in elf.iter_sections()
        if s.name in (".data", ".bss", ".maps") or s.name.startswith(".data.")
    }
    assert data_sections == set()


def test_xdp_object_carries_the_version_in_xdp_metadata():
    elf = _elf("xdp_dispatcher.o")
    assert elf.get_section_by_name("xdp_metadata") is not None
    symbols = {s.name for s in elf.get_section_by_name(".symtab").iter_symbols()}
    assert "dispatcher_version" in symbols


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")
@pytest.mark.parametrize(
    ("obj", "struct_name", "members"),
    [
        (
            "xdp_dispatcher.o",
            "xdp_dispatcher_config",
            {
                "magic": 0,
                "dispatcher_version": 8,
                "num_progs_enabled": 16,
                "is_xdp_frags": 24,
                "chain_call_actions": 32,
                "run_prios": 352,
                "program_flags": 672,
            },
        ),
        (
            "tc_dispatcher.o",
            "tc_dispatcher_config",
            {"num_progs_enabled": 0, "chain_call_actions": 32, "run_prios": 352},
        ),
    ],
)
def test_c_struct_matches_the_python_layout(obj, struct_name, members):
    dump = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(BPF_DIR / obj)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    start = next(i for i, line in enumerate(dump) if f"'{struct_name}'" in line)
    size = 124 if obj.startswith("xdp") else 84
    assert f"size={size}" in dump[start]
    found = {}
    for line in dump[start + 1 : start + 1 + len(members)]:
        name = line.split("'")[1]
        found[name] = int(line.split("bits_offset=")[1])
    assert found == members


def test_host_byte_order_layout_sizes():
    assert struct.calcsize("=BBBB30I") == d.XDP_CONFIG_SIZE == 124
    assert d.TC_CONFIG_SIZE == 84


# ------------------------------------------------------------ slot order


def _m(name, priority=50, prog_id=None, **kw):
    return Member(
        name=name, priority=priority, chain_mask=0x80000004, prog_id=prog_id, **kw
    )


def _names(members):
    return [m.name for m in members]


@pytest.mark.parametrize(
    ("existing", "added", "order"),
    [
        # priority first, whoever is new
        ([_m("a", 10, 1), _m("b", 30, 2)], [_m("c", 20)], ["a", "c", "b"]),
        ([_m("a", 10, 1)], [_m("z", 0)], ["z", "a"]),
        # equal priority: the new one goes after the existing, even if its
        # name sorts first (where libxdp 1.3.1 would put it ahead)
        ([_m("b", 50, 1)], [_m("a", 50)], ["b", "a"]),
        ([_m("b", 50, 1), _m("a", 50, 2)], [_m("0", 50)], ["b", "a", "0"]),
        # existing members keep their current order among equals
        ([_m("z", 50, 1), _m("a", 50, 2)], [], ["z", "a"]),
        # several new of equal priority: name, then insn count, then tag
        ([], [_m("b"), _m("a")], ["a", "b"]),
        (
            [],
            [_m("x", insn_count=9, tag="00"), _m("x", insn_count=3, tag="ff")],
            ["x", "x"],
        ),
        # the new member of equal priority lands after all existing equals,
        # before the next priority
        (
            [_m("a", 10, 1), _m("b", 50, 2), _m("c", 90, 3)],
            [_m("aa", 50)],
            ["a", "b", "aa", "c"],
        ),
    ],
)
def test_slot_order(existing, added, order):
    assert _names(d.slot_order(existing, added)) == order


def test_new_members_tie_break_by_insn_count_then_tag_then_given_order():
    big = _m("x", insn_count=9, tag="00")
    small_b = _m("x", insn_count=3, tag="bb")
    small_a = _m("x", insn_count=3, tag="aa")
    first = _m("x", insn_count=3, tag="aa", key="first")
    second = _m("x", insn_count=3, tag="aa", key="second")
    assert d.slot_order([], [big, small_b, small_a]) == (small_a, small_b, big)
    assert [m.key for m in d.slot_order([], [first, second])] == ["first", "second"]
    assert [m.key for m in d.slot_order([], [second, first])] == ["second", "first"]


def test_slot_order_is_the_same_whatever_order_existing_members_are_found_in():
    # Priorities out of order (a dispatcher some other tool built): priority wins.
    assert _names(d.slot_order([_m("b", 60, 1), _m("a", 40, 2)])) == ["a", "b"]


# -------------------------------------------------------------- revisions

HOOK = d.Hook(XDP, 7, "veth0")


def test_revision_adding_and_removing_keep_order():
    rev = Revision(HOOK, dispatcher_id=99).adding(_m("a", 10, 1), _m("c", 30, 3))
    assert rev.dispatcher_id is None
    rev = rev.adding(_m("b", 20, 2))
    assert _names(rev.members) == ["a", "b", "c"]
    assert rev.slot_of(3) == 2
    assert rev.slot_of(42) is None
    rev = rev.removing(2)
    assert _names(rev.members) == ["a", "c"]
    assert rev.removing(1, 3).is_empty


def test_revision_removing_an_unknown_program_names_what_is_there():
    rev = Revision(HOOK).adding(_m("a", 10, 1))
    with pytest.raises(StateError, match=r"program id 5 is not in the dispatcher.*0:a"):
        rev.removing(5)


def test_the_eleventh_program_is_refused_with_a_clear_error():
    rev = Revision(HOOK).adding(*(_m(f"p{i}", i, i + 1) for i in range(10)))
    assert len(rev.members) == 10
    with pytest.raises(d.DispatcherFull) as caught:
        rev.adding(_m("eleventh", 5))
    err = caught.value
    assert isinstance(err, BpftuiError)
    assert str(err) == (
        "XDP on veth0: cannot add 'eleventh' (new, priority 5): the dispatcher "
        "already holds 10 of 10 programs; remove a program from this hook first"
    )


def test_revision_config_follows_slot_order():
    rev = Revision(d.Hook(TC, 3, "eth0", "ingress")).adding(
        Member("b", 20, 0x10, prog_id=2), Member("a", 10, 0x8, prog_id=1)
    )
    config = rev.config()
    assert config.kind is TC
    assert config.slots == (SlotConfig(0x8, 10), SlotConfig(0x10, 20))


@pytest.mark.parametrize("frags", [[True, True], [True, False], []])
def test_slots_keep_their_frags_flag_and_the_dispatcher_has_none(frags):
    members = [_m(f"p{i}", i, i + 1, frags=f) for i, f in enumerate(frags)]
    config = Revision(HOOK, tuple(members)).config()
    assert config.is_xdp_frags is False
    assert [s.flags for s in config.slots] == [32 if f else 0 for f in frags]


def test_hook_descriptions():
    assert str(d.Hook(XDP, 7, "veth0")) == "XDP on veth0"
    assert str(d.Hook(XDP, 7)) == "XDP on ifindex 7"
    assert str(d.Hook(TC, 7, "veth0", "egress")) == "TC egress on veth0"


# ----------------------------------------------------- attach functions


@pytest.mark.parametrize(
    ("kind", "masks", "slot", "func"),
    [
        (XDP, [0x80000004], 0, "xdp_dispatcher"),
        (XDP, [0x4], 0, "xdp_dispatcher"),
        (XDP, [0x80000000], 0, "xdp_dispatcher"),
        # proceeding on drop would turn a drop into XDP_PASS: keep the stub
        (XDP, [0x80000006], 0, "prog0"),
        (XDP, [0x80000004, 0x80000004], 1, "prog1"),
        (TC, [0x80000010], 0, "prog0"),
    ],
)
def test_attach_func(kind, masks, slot, func):
    hook = d.Hook(kind, 1, "lo", "ingress" if kind is TC else None)
    members = tuple(Member(f"p{i}", i, m, prog_id=i + 1) for i, m in enumerate(masks))
    assert d.attach_func(Revision(hook, members), slot) == func


def test_stub_names_and_pins():
    assert d.stub_name(0) == "prog0"
    assert d.stub_name(9) == "prog9"
    with pytest.raises(ValueError):
        d.stub_name(10)
    directory = d.xdp_dispatch_dir("/sys/fs/bpf/", 4, 123)
    assert directory == "/sys/fs/bpf/xdp/dispatch-4-123"
    assert d.slot_pins(directory, 3) == (
        "/sys/fs/bpf/xdp/dispatch-4-123/prog3-prog",
        "/sys/fs/bpf/xdp/dispatch-4-123/prog3-link",
    )
