"""The revision engine against the in-memory kernel: order, swaps, rollback."""

from __future__ import annotations

import errno

import pytest

from bpftui.core import dispatchers as d
from bpftui.core.backend import LoadedProgram
from bpftui.core.demo import DemoBackend, DemoMap, DemoObject
from bpftui.core.dispatchers import Hook, HookKind
from bpftui.core.errors import KernelError, NotSupported, StateError
from bpftui.core.revisions import Dispatchers, HookState, NewProgram

XDP_HOOK = Hook(HookKind.XDP, 4, "veth0")
TC_HOOK = Hook(HookKind.TC, 4, "veth0", "ingress")
USER_OBJ = "/srv/prog.o"


class DispatchDemo(DemoBackend):
    """The demo kernel with a user object, an optional ``ingress`` qdisc, and
    a view of its freplace links."""

    def __init__(self, **kw):
        objects = {USER_OBJ: DemoObject(maps=(DemoMap("counters"),), globals={})}
        super().__init__(interfaces={4: "veth0"}, objects=objects, **kw)
        self.qdisc: str | None = None

    @property
    def locks(self):
        return self.locked

    def hook_state(self, hook):
        state = super().hook_state(hook)
        if hook.kind is HookKind.TC and self.qdisc:
            return HookState(state.programs, self.qdisc)
        return state

    def freplace_links(self):
        return [r for r in self.hook_holders() if r.kind == "freplace"]


def _new(function, priority=50, proceedon=(), key=None):
    return NewProgram(
        key=key or function,
        object_path=USER_OBJ,
        function=function,
        priority=priority,
        map_pin_dir=f"/sys/fs/bpf/bpftui/maps/{key or function}",
        proceedon=tuple(proceedon),
    )


@pytest.fixture
def kernel():
    return DispatchDemo()


@pytest.fixture
def engine(kernel):
    return Dispatchers(kernel)


def _names(revision):
    return [m.name for m in revision.members]


def _user_pins(kernel):
    return [p for p in kernel.pins() if "/maps/" not in p]


# ------------------------------------------------------------------- XDP


def test_first_program_gets_a_dispatcher_with_libxdp_pins(kernel, engine):
    change = engine.change(XDP_HOOK, add=[_new("first")])
    rev = change.revision
    assert _names(rev) == ["first"]
    assert rev.dispatcher_id is not None
    directory = f"/sys/fs/bpf/xdp/dispatch-4-{rev.dispatcher_id}"
    assert _user_pins(kernel) == [f"{directory}/prog0-link", f"{directory}/prog0-prog"]
    assert change.added["first"].id == rev.members[0].prog_id
    assert change.added["first"].pin_path == f"{directory}/prog0-prog"
    # a lone program with the default proceed-on replaces the dispatcher itself
    (link,) = kernel.freplace_links()
    assert link.detail["func_name"] == "xdp_dispatcher"
    assert kernel.locks == ["/sys/fs/bpf/xdp"]


def test_adding_builds_a_new_revision_and_keeps_program_ids(kernel, engine):
    first = engine.change(XDP_HOOK, add=[_new("b", 20)]).revision
    second = engine.change(XDP_HOOK, add=[_new("a", 10), _new("c", 30)]).revision
    assert _names(second) == ["a", "b", "c"]
    assert second.members[1].prog_id == first.members[0].prog_id
    assert second.dispatcher_id != first.dispatcher_id
    # the old dispatcher and its pins are gone; only the new layout is left
    assert kernel.program_info(first.dispatcher_id) is None
    directory = f"/sys/fs/bpf/xdp/dispatch-4-{second.dispatcher_id}"
    assert _user_pins(kernel) == sorted(
        f"{directory}/prog{i}-{kind}" for i in range(3) for kind in ("link", "prog")
    )
    assert [link.detail["func_name"] for link in kernel.freplace_links()] == [
        "prog0",
        "prog1",
        "prog2",
    ]


def test_the_config_is_read_back_from_the_kernel(kernel, engine):
    engine.change(
        XDP_HOOK,
        add=[_new("a", 10, ["drop", "pass"]), _new("b", 700, ["aborted"])],
    )
    fresh = Dispatchers(kernel).read(XDP_HOOK)
    assert [(m.name, m.priority, m.chain_mask) for m in fresh.members] == [
        ("a", 10, 0x6),
        ("b", 700, 0x1),
    ]
    assert {m.owner for m in fresh.members} == {"libxdp"}


def test_an_equal_priority_program_never_jumps_ahead(kernel, engine):
    engine.change(XDP_HOOK, add=[_new("zzz", 50)])
    rev = engine.change(XDP_HOOK, add=[_new("aaa", 50)]).revision
    assert _names(rev) == ["zzz", "aaa"]


def test_ten_programs_fit_and_the_eleventh_is_refused(kernel, engine):
    engine.change(XDP_HOOK, add=[_new(f"p{i}", i) for i in range(10)])
    before = kernel.pins()
    with pytest.raises(d.DispatcherFull, match="already holds 10 of 10"):
        engine.change(XDP_HOOK, add=[_new("eleventh", 5)])
    assert kernel.pins() == before


@pytest.mark.parametrize(
    ("method", "nth"),
    [
        ("load", 0),
        ("load", 1),
        ("attach_freplace", 0),
        ("attach_freplace", 2),
        ("attach_xdp", 0),
    ],
)
def test_a_failure_half_way_leaves_the_old_revision_and_nothing_else(
    kernel, engine, method, nth
):
    engine.change(XDP_HOOK, add=[_new("a", 10), _new("b", 20)])
    old = engine.read(XDP_HOOK)
    pins, programs = kernel.pins(), [p.id for p in kernel.programs()]
    holders = kernel.hook_holders()
    original = getattr(kernel, method)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == nth + 1:
            raise KernelError("test", method, errno.EIO)
        return original(*args, **kwargs)

    kernel.__dict__[method] = failing
    with pytest.raises(KernelError, match="Input/output error"):
        engine.change(XDP_HOOK, add=[_new("c", 15)])
    del kernel.__dict__[method]
    assert kernel.pins() == pins
    assert [p.id for p in kernel.programs()] == programs
    assert kernel.hook_holders() == holders
    assert engine.read(XDP_HOOK) == old


def test_removing_keeps_order_and_the_last_removal_detaches(kernel, engine):
    rev = engine.change(
        XDP_HOOK, add=[_new(n, p) for n, p in (("a", 1), ("b", 2), ("c", 3))]
    ).revision
    ids = [m.prog_id for m in rev.members]
    rev = engine.change(XDP_HOOK, remove=[ids[1]]).revision
    assert _names(rev) == ["a", "c"]
    assert kernel.program_info(ids[1]) is None
    change = engine.change(XDP_HOOK, remove=[ids[0], ids[2]])
    assert change.revision.is_empty
    assert change.removed == (ids[0], ids[2])
    assert _user_pins(kernel) == []
    assert kernel.hook_holders() == []
    assert [p.name for p in kernel.programs()] == []


def test_removing_an_unknown_id_names_what_is_there(engine):
    engine.change(XDP_HOOK, add=[_new("a")])
    with pytest.raises(StateError, match="program id 999 is not in the dispatcher"):
        engine.change(XDP_HOOK, remove=[999])


def test_a_foreign_lone_program_is_left_alone(kernel, engine):
    foreign = kernel.add_foreign_program("ip_link_xdp", "xdp")
    record = LoadedProgram(foreign, "ip_link_xdp", "xdp", "", "")
    kernel.attach_xdp(record, 4, "native")
    with pytest.raises(StateError, match="without a dispatcher"):
        engine.change(XDP_HOOK, add=[_new("a")])


def test_known_programs_are_labelled(kernel, engine):
    rev = engine.change(XDP_HOOK, add=[_new("a"), _new("b")]).revision
    ours = rev.members[0].prog_id
    rev = engine.change(XDP_HOOK, add=[_new("c", 99)], known={ours: "XdpProgram/a"})
    assert [m.owner for m in rev.revision.members] == [
        "XdpProgram/a",
        "libxdp",
        "bpftui",
    ]


# -------------------------------------------------------------------- TC


def test_tc_swaps_make_before_break_between_two_priorities(kernel, engine):
    rev = engine.change(TC_HOOK, add=[_new("a", 10, ["pipe"])]).revision
    (filt,) = [r for r in kernel.hook_holders() if r.kind == "tc"]
    assert filt.detail["priority"] == 50
    assert filt.prog_id == rev.dispatcher_id
    # TC never takes the lone-program shortcut: the chain semantics differ
    assert kernel.freplace_links()[0].detail["func_name"] == "prog0"
    rev = engine.change(TC_HOOK, add=[_new("b", 5)]).revision
    (filt,) = [r for r in kernel.hook_holders() if r.kind == "tc"]
    assert filt.detail["priority"] == 51
    assert _names(rev) == ["b", "a"]
    directory = f"/sys/fs/bpf/bpftui/tc/dispatch-4-ingress-{rev.dispatcher_id}"
    assert f"{directory}/prog1-link" in kernel.pins()
    assert kernel.locks[-1] == "/sys/fs/bpf/bpftui/tc"
    fresh = Dispatchers(kernel).read(TC_HOOK)
    assert [(m.name, m.chain_mask) for m in fresh.members] == [
        ("b", 0x80000010),
        ("a", 0x10),
    ]


def test_tc_refuses_an_ingress_qdisc(kernel, engine):
    kernel.qdisc = "ingress"
    with pytest.raises(KernelError, match="'ingress' qdisc is installed on veth0"):
        engine.change(TC_HOOK, add=[_new("a")])
    assert _user_pins(kernel) == []


def test_tc_failure_at_the_swap_keeps_the_old_filter(kernel, engine):
    engine.change(TC_HOOK, add=[_new("a")])
    before = (kernel.pins(), kernel.hook_holders())
    kernel.fail_next["attach_tc"] = KernelError("filter", "add", errno.EBUSY)
    with pytest.raises(KernelError):
        engine.change(TC_HOOK, add=[_new("b")])
    assert (kernel.pins(), kernel.hook_holders()) == before


def test_tc_last_removal_deletes_the_filter(kernel, engine):
    rev = engine.change(TC_HOOK, add=[_new("a")]).revision
    engine.change(TC_HOOK, remove=[rev.members[0].prog_id])
    assert kernel.hook_holders() == []
    assert _user_pins(kernel) == []


# ------------------------------------------------------ without freplace


@pytest.fixture
def locked_down():
    kernel = DispatchDemo(unsupported={"freplace"})
    return kernel, Dispatchers(kernel)


@pytest.mark.parametrize("hook", [XDP_HOOK, TC_HOOK])
def test_without_freplace_one_program_attaches_alone(locked_down, hook):
    kernel, engine = locked_down
    change = engine.change(hook, add=[_new("only")])
    assert change.revision.dispatcher_id is None
    assert "multi-program mode is unavailable" in change.note
    assert "kernel >= 5.10 without lockdown" in change.note
    (holder,) = kernel.hook_holders()
    assert holder.prog_id == change.added["only"].id
    assert kernel.program_info(holder.prog_id).prog_type == hook.kind.value


@pytest.mark.parametrize("hook", [XDP_HOOK, TC_HOOK])
def test_without_freplace_a_second_program_is_not_supported(locked_down, hook):
    kernel, engine = locked_down
    engine.change(hook, add=[_new("only")])
    before = kernel.pins()
    with pytest.raises(NotSupported) as caught:
        engine.change(hook, add=[_new("second")])
    message = str(caught.value)
    assert message.startswith("multi-program mode is not supported here")
    assert "already runs 'only'" in message
    assert message.endswith("needs kernel >= 5.10 without lockdown")
    assert kernel.pins() == before


def test_without_freplace_two_at_once_are_not_supported(locked_down):
    _, engine = locked_down
    with pytest.raises(NotSupported, match="'a', 'b' on XDP on veth0"):
        engine.change(XDP_HOOK, add=[_new("a"), _new("b")])


def test_without_freplace_the_lone_program_is_removed(locked_down):
    kernel, engine = locked_down
    change = engine.change(XDP_HOOK, add=[_new("only")])
    engine.change(XDP_HOOK, remove=[change.added["only"].id])
    assert kernel.hook_holders() == []
    assert _user_pins(kernel) == []


def test_freplace_probe_is_asked_once(kernel):
    calls = []
    original = kernel.features

    def counting():
        calls.append(1)
        return original()

    kernel.features = counting
    engine = Dispatchers(kernel)
    engine.change(XDP_HOOK, add=[_new("a")])
    engine.change(XDP_HOOK, add=[_new("b")])
    assert len(calls) == 1


def test_the_demo_backend_satisfies_the_protocol(kernel):
    from bpftui.core.revisions import DispatcherBackend

    assert isinstance(kernel, DispatcherBackend)
