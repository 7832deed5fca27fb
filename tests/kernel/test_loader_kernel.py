"""The node loader against the real kernel, driven through the CLI.

Each test writes an object as YAML, runs ``bpftui apply`` with a config that
puts the state store in a temporary directory and the pins in a fresh bpffs
directory, shows the program working by an observable effect, runs
``bpftui delete`` and checks that nothing is left: no pins, no programs, no
links, no qdiscs. XDP and TC run on a veth pair between two test network
namespaces; the commands run with this thread inside the first one.

Types this host refuses (kprobes, fentry, fexit) are tested for the
condition the loader reports; the same objects are loaded for real by the
tests marked ``guest``, which the guest-kernel lane runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from _nodebed import program_yaml as _yaml
from _testbed import leftovers

from bpftui.cli import main

pytestmark = pytest.mark.kernel


class Node:
    """One node's worth of bpftui: a config, a state dir, a pin directory."""

    def __init__(self, workdir: Path, bpffs_root: str) -> None:
        self.workdir = workdir
        self.pins = f"{bpffs_root}/bpftui"
        self.bpffs_root = bpffs_root
        self.config = workdir / "bpftui.toml"
        self.config.write_text(
            "[node]\n"
            'name = "kernel-test"\n'
            "[paths]\n"
            f'state_dir = "{workdir}/state"\n'
            f'bpffs_root = "{self.pins}"\n'
        )
        self.config.chmod(0o644)
        self.applied: list[Path] = []

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["--config", str(self.config), *argv])
        out, err = capsys.readouterr()
        return code, out + err

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / f"{name}.yaml"
        path.write_text(text)
        self.applied.append(path)
        return path

    def session(self):
        from bpftui.core.session import open_session

        return open_session(demo=False, config_path=str(self.config))

    def map_value(self, prog_id: int, map_name: str, key: int = 0) -> int:
        """A u64 counter of the program's map, read through a fresh session."""
        session = self.session()
        try:
            for obj in session.status():
                for bp in obj.bpfprograms:
                    if bp.program_id == prog_id:
                        entries = dict(session.map_entries(bp.map_ids[map_name]))
                        return struct.unpack("<Q", entries[struct.pack("<I", key)])[0]
        finally:
            session.close()
        raise AssertionError(f"program {prog_id} is not in the status")

    def programs(self) -> set[int]:
        session = self.session()
        try:
            return {p.id for p in session.kernel_programs()}
        finally:
            session.close()

    def link_progs(self) -> set[int]:
        session = self.session()
        try:
            return {link.prog_id for link in session.kernel_links()}
        finally:
            session.close()

    def pins_left(self) -> list[str]:
        return [p for p in leftovers(self.bpffs_root) if not os.path.isdir(p)]


@pytest.fixture
def node(bpffs_root, capsys):
    with tempfile.TemporaryDirectory(prefix="bpftui-kernel-") as workdir:
        made = Node(Path(workdir), bpffs_root)
        try:
            yield made
        finally:
            # whatever a failed test left applied goes before the pins do
            for path in made.applied:
                with contextlib.suppress(Exception):
                    made.run(capsys, "delete", "-f", str(path))


def _prog_id(out: str) -> int:
    line = next(line for line in out.splitlines() if ": Loaded" in line)
    return int(line.rsplit(" ", 1)[1])


def _assert_gone(node: Node, prog_id: int) -> None:
    assert node.pins_left() == []
    assert _eventually(lambda: prog_id not in node.programs())
    assert prog_id not in node.link_progs()
    session = node.session()
    try:
        assert session.status() == []
    finally:
        session.close()


# ---------------------------------------------------------------- tracepoint


def test_tracepoint_counts_getpid_calls(node, capsys, bpf_objects):
    tgid = struct.pack("<I", os.getpid())
    spec = (
        "  names: [syscalls/sys_enter_getpid]\n"
        f"  globaldata: {{target_tgid: {list(tgid)}}}\n"
    )
    path = node.write(
        "tp",
        _yaml(
            "TracepointProgram", "getpid", "tp_getpid", bpf_objects["tracepoint"], spec
        ),
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    for _ in range(25):
        os.getpid()
    assert node.map_value(prog_id, "getpid_count") >= 25

    # a second apply of the same object changes nothing
    code, again = node.run(capsys, "apply", "-f", str(path))
    assert code == 0 and _prog_id(again) == prog_id

    code, status = node.run(capsys, "status", "-o", "json")
    items = json.loads(status)["items"]
    bp = next(i for i in items if i["kind"] == "BpfProgram")
    assert bp["metadata"]["annotations"]["bpfman.io/ProgramId"] == str(prog_id)
    assert bp["status"]["conditions"][0]["type"] == "Loaded"

    code, out = node.run(capsys, "delete", "-f", str(path))
    assert code == 0, out
    _assert_gone(node, prog_id)


def test_globaldata_of_the_wrong_size_names_both_sizes(node, capsys, bpf_objects):
    spec = "  names: [syscalls/sys_enter_getpid]\n  globaldata: {target_tgid: [1, 2]}\n"
    path = node.write(
        "tp",
        _yaml("TracepointProgram", "bad", "tp_getpid", bpf_objects["tracepoint"], spec),
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 1
    assert "NotLoaded" in out
    assert "'target_tgid': 2 bytes given" in out and "is 4 bytes" in out
    assert node.pins_left() == []


def test_a_verifier_failure_reports_the_log(node, capsys, bpf_objects):
    obj = bpf_objects["verifier_fail"]
    function = _first_program(obj)
    path = node.write("vf", _yaml("XdpProgram", "vf", function, obj, _xdp_spec("lo")))
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 1
    assert "NotLoaded" in out and "verifier log" in out
    assert node.pins_left() == []


def _first_program(obj: Path) -> str:
    from bpftui.core.bytecode import inspect_bytecode

    found = inspect_bytecode(obj)
    return found.programs[0].name


# ---------------------------------------------------------------- uprobe


def test_uprobe_counts_calls_of_a_function(node, capsys, bpf_objects):
    target = bpf_objects["uprobe_target"]
    spec = f"  target: {target}\n  func_name: bpftui_probe_me\n"
    path = node.write(
        "up",
        _yaml("UprobeProgram", "probe", "uprobe_counter", bpf_objects["uprobe"], spec),
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    subprocess.run([str(target), "7"], check=False)
    assert node.map_value(prog_id, "uprobe_count") == 7
    code, out = node.run(capsys, "delete", "uprobe/probe")
    assert code == 0, out
    subprocess.run([str(target), "3"], check=False)
    _assert_gone(node, prog_id)


# ---------------------------------------------------------------- XDP and TC


def _eventually(check, seconds: float = 3.0) -> bool:
    """Whether ``check()`` holds within ``seconds``: the kernel frees
    programs after an RCU grace period, and a neighbour entry that failed
    while packets were dropped takes a moment to resolve again."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _delivers(netns) -> bool:
    return _eventually(lambda: netns.udp_delivered() == 3)


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _xdp_spec(interface: str, priority: int = 10) -> str:
    return (
        f"  interfaceselector: {{interfaces: [{interface}]}}\n  priority: {priority}\n"
    )


def test_xdp_drops_on_a_veth_then_leaves_nothing(node, capsys, bpf_objects, netns):
    assert netns.udp_delivered() == 3
    path = node.write(
        "xdp",
        _yaml(
            "XdpProgram",
            "dropper",
            "xdp_drop",
            bpf_objects["xdp_drop"],
            _xdp_spec(netns.dev),
        ),
    )
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    assert netns.udp_delivered() == 0
    assert node.map_value(prog_id, "xdp_drop_count") > 0
    with netns.inside():
        code, out = node.run(capsys, "delete", "-f", str(path))
    assert code == 0, out
    link = _run("ip", "-n", netns.name, "-d", "link", "show", netns.dev)
    assert "xdp" not in link.split("\n", 1)[0] and "prog/xdp" not in link
    assert _delivers(netns)
    _assert_gone(node, prog_id)


def test_xdp_pass_lets_traffic_through(node, capsys, bpf_objects, netns):
    path = node.write(
        "xdp",
        _yaml(
            "XdpProgram",
            "passer",
            "xdp_pass",
            bpf_objects["xdp_pass"],
            _xdp_spec(netns.dev),
        ),
    )
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    assert netns.udp_delivered() == 3
    assert node.map_value(prog_id, "xdp_pass_count") >= 3
    with netns.inside():
        assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    _assert_gone(node, prog_id)


def test_tc_drops_ingress_then_leaves_no_qdisc(node, capsys, bpf_objects, netns):
    spec = _xdp_spec(netns.dev, 5) + "  direction: ingress\n"
    path = node.write(
        "tc", _yaml("TcProgram", "shot", "tc_drop", bpf_objects["tc"], spec)
    )
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    assert netns.udp_delivered() == 0
    assert node.map_value(prog_id, "tc_count", key=1) > 0
    with netns.inside():
        code, out = node.run(capsys, "delete", "tc/shot")
    assert code == 0, out
    qdiscs = _run("tc", "-n", netns.name, "qdisc", "show", "dev", netns.dev)
    assert "clsact" not in qdiscs
    assert _delivers(netns)
    _assert_gone(node, prog_id)


def test_xdp_on_a_missing_interface_is_not_loaded(node, capsys, bpf_objects, netns):
    path = node.write(
        "xdp",
        _yaml(
            "XdpProgram",
            "nowhere",
            "xdp_pass",
            bpf_objects["xdp_pass"],
            _xdp_spec("nope9"),
        ),
    )
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 1
    assert "interface 'nope9': not found" in out
    assert node.pins_left() == []


# ---------------------------------------------------------------- refused types

REFUSABLE = [
    (
        "KprobeProgram",
        "kprobe_open",
        "kprobe",
        "  func_name: do_sys_openat2\n",
        "kprobes",
    ),
    (
        "FentryProgram",
        "fentry_unlinkat",
        "fentry",
        "  func_name: do_unlinkat\n",
        "fentry",
    ),
    ("FexitProgram", "fexit_unlinkat", "fentry", "  func_name: do_unlinkat\n", "fexit"),
]


@pytest.mark.parametrize(("kind", "function", "obj", "spec", "feature"), REFUSABLE)
def test_a_refused_type_is_not_loaded_naming_what_is_missing(
    node, capsys, bpf_objects, kind, function, obj, spec, feature
):
    from _testbed import features

    if features()[feature].available:
        pytest.skip(f"{feature} works on this kernel; the guest tests cover it")
    path = node.write("p", _yaml(kind, "refused", function, bpf_objects[obj], spec))
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 1
    assert "NotLoaded" in out
    assert f"{feature} is not supported here" in out and "needs" in out
    assert node.pins_left() == []


# ---------------------------------------------------------------- guest lane


@pytest.mark.guest
def test_kprobe_counts_opens(node, capsys, bpf_objects, requires):
    requires("kprobes")
    spec = "  func_name: do_sys_openat2\n"
    path = node.write(
        "kp",
        _yaml("KprobeProgram", "opens", "kprobe_open", bpf_objects["kprobe"], spec),
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    for _ in range(5):
        Path("/proc/self/status").read_bytes()
    assert node.map_value(prog_id, "kprobe_count") >= 5
    assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    _assert_gone(node, prog_id)


@pytest.mark.guest
@pytest.mark.parametrize(
    ("kind", "function", "key"),
    [
        ("FentryProgram", "fentry_unlinkat", 0),
        ("FexitProgram", "fexit_unlinkat", 1),
    ],
)
def test_fentry_and_fexit_count_unlinks(
    node, capsys, bpf_objects, requires, kind, function, key
):
    requires("fentry")
    spec = "  func_name: do_unlinkat\n"
    path = node.write(
        "fe", _yaml(kind, "unlinks", function, bpf_objects["fentry"], spec)
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    prog_id = _prog_id(out)
    for number in range(3):
        victim = node.workdir / f"victim{number}"
        victim.write_text("x")
        victim.unlink()
    assert node.map_value(prog_id, "fentry_count", key=key) >= 3
    assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    _assert_gone(node, prog_id)


def test_a_second_xdp_program_needs_a_dispatcher(node, capsys, bpf_objects, netns):
    from _testbed import features

    if features()["freplace"].available:
        pytest.skip("freplace works here: both programs share a dispatcher")
    first = _yaml(
        "XdpProgram",
        "one",
        "xdp_pass",
        bpf_objects["xdp_pass"],
        _xdp_spec(netns.dev, 1),
    )
    second = _yaml(
        "XdpProgram",
        "two",
        "xdp_pass",
        bpf_objects["xdp_pass"],
        _xdp_spec(netns.dev, 2),
    )
    path = node.write("two", first + "---\n" + second)
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 1
    lines = out.splitlines()
    assert ": Loaded" in lines[0]
    assert "NotLoaded" in lines[1] and "freplace" in lines[1]
    prog_id = _prog_id(out)
    assert netns.udp_delivered() == 3
    with netns.inside():
        assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    _assert_gone(node, prog_id)


def test_restore_after_the_pins_are_wiped(node, capsys, bpf_objects):
    spec = "  names: [syscalls/sys_enter_getpid]\n"
    path = node.write(
        "tp",
        _yaml(
            "TracepointProgram", "getpid", "tp_getpid", bpf_objects["tracepoint"], spec
        ),
    )
    code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    old_id = _prog_id(out)

    # what a reboot does to bpffs: every pin gone, the state store kept
    for pin in sorted(node.pins_left(), key=lambda p: not p.endswith("/link")):
        os.unlink(pin)
    assert _eventually(lambda: old_id not in node.programs())
    code, status = node.run(capsys, "status", "-o", "json")
    bp = next(i for i in json.loads(status)["items"] if i["kind"] == "BpfProgram")
    assert bp["status"]["conditions"][0]["type"] == "NotLoaded"
    assert "vanished" in bp["status"]["conditions"][0]["message"]

    code, out = node.run(capsys, "restore")
    assert code == 0, out
    new_id = _prog_id(out)
    assert new_id != old_id
    for _ in range(5):
        os.getpid()
    assert node.map_value(new_id, "getpid_count") >= 5
    assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    _assert_gone(node, new_id)


@pytest.mark.guest
def test_two_xdp_programs_share_a_dispatcher(
    node, capsys, bpf_objects, netns, requires
):
    requires("freplace")
    obj = bpf_objects["xdp_pass"]
    late = _yaml("XdpProgram", "late", "xdp_pass", obj, _xdp_spec(netns.dev, 20))
    early = _yaml("XdpProgram", "early", "xdp_pass", obj, _xdp_spec(netns.dev, 10))
    path = node.write("two", late + "---\n" + early)
    with netns.inside():
        code, out = node.run(capsys, "apply", "-f", str(path))
    assert code == 0, out
    assert _delivers(netns)
    with netns.inside():
        code, status = node.run(capsys, "status", "-o", "json")
    items = json.loads(status)["items"]
    ids = {
        i["metadata"]["labels"]["bpfman.io/ownedByProgram"]: int(
            i["metadata"]["annotations"]["bpfman.io/ProgramId"]
        )
        for i in items
        if i["kind"] == "BpfProgram"
    }
    with netns.inside():
        session = node.session()
        try:
            (iface,) = [
                i for i in session.discovery.interfaces() if i.name == netns.dev
            ]
        finally:
            session.close()
    (chain,) = [c for c in iface.chains if c.hook == "xdp"]
    assert chain.dispatcher_id is not None
    assert [s.prog_id for s in chain.slots] == [ids["early"], ids["late"]]
    assert set(ids) == {"late", "early"}
    with netns.inside():
        assert node.run(capsys, "delete", "-f", str(path))[0] == 0
    for prog_id in ids.values():
        _assert_gone(node, prog_id)
