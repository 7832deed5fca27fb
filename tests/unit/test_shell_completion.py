"""What Tab offers, read from the demo node and the API's schemas."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from bpftui.core.session import FunctionView, open_session
from bpftui.shell.commands import execute
from bpftui.shell.completion import LIMIT, complete
from bpftui.shell.state import Shell


@pytest.fixture
def shell() -> Any:
    made = Shell(
        lambda: open_session(demo=True, config_path=None),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    yield made
    made.close()


def run(shell: Shell, *lines: str) -> None:
    for line in lines:
        execute(shell, line.split())


def texts(shell: Shell, text: str) -> list[str]:
    return [c.text for c in complete(shell, text)]


def test_command_names() -> None:
    shell = Shell(lambda: None)  # type: ignore[arg-type, return-value]
    assert texts(shell, "s") == ["set", "show", "stats", "status"]
    assert "watch" in texts(shell, "")


def test_completion_replaces_the_partial_word(shell: Shell) -> None:
    (found,) = complete(shell, "new xdp e; wat")
    assert (found.text, found.start) == ("watch", -3)


def test_field_paths_of_the_current_kind(shell: Shell) -> None:
    run(shell, "new xdp edge")
    fields = texts(shell, "set ")
    assert {"priority", "proceedon", "interfaceselector.interfaces"} <= set(fields)
    assert "direction" not in fields
    assert texts(shell, "set bytecode.image.imagepull") == [
        "bytecode.image.imagepullpolicy",
        "bytecode.image.imagepullsecret",
        "bytecode.image.imagepullsecret.name",
        "bytecode.image.imagepullsecret.namespace",
    ]


def test_no_field_paths_without_an_object(shell: Shell) -> None:
    assert texts(shell, "set ") == []


@pytest.mark.parametrize(
    ("kind", "line", "expected"),
    [
        (
            "xdp",
            "set proceedon ",
            ["aborted", "drop", "pass", "tx", "redirect", "dispatcher_return"],
        ),
        ("tc", "set proceedon s", ["shot", "stolen"]),
        ("tc", "set direction ", ["ingress", "egress"]),
        (
            "xdp",
            "set bytecode.image.imagepullpolicy ",
            ["Always", "Never", "IfNotPresent"],
        ),
        ("kprobe", "set retprobe ", ["true", "false"]),
        ("xdp", "set interfaceselector.primarynodeinterface t", ["true"]),
    ],
)
def test_enum_values(shell: Shell, kind: str, line: str, expected: list[str]) -> None:
    run(shell, f"new {kind} x")
    assert texts(shell, line) == expected


def test_list_values_complete_after_the_comma(shell: Shell) -> None:
    run(shell, "new xdp edge")
    found = complete(shell, "set proceedon pass,d")
    assert [(c.text, c.display) for c in found] == [
        ("pass,drop", "drop"),
        ("pass,dispatcher_return", "dispatcher_return"),
    ]
    assert "pass,pass" not in texts(shell, "set proceedon pass,")


def test_interface_names_from_the_node(shell: Shell) -> None:
    run(shell, "new tc t")
    assert texts(shell, "set interfaceselector.interfaces ") == [
        "lo",
        "eth0",
        "eth1",
        "cni0",
        "veth3a9f0c1e",
        "veth7d20b4aa",
    ]
    assert texts(shell, "set interfaceselector.interfaces eth0,e") == ["eth0,eth1"]


def test_tracepoint_names(shell: Shell) -> None:
    run(shell, "new tracepoint t")
    assert texts(shell, "set names sched/sched_sw") == [
        "sched/sched_swap_numa",
        "sched/sched_switch",
    ]
    assert texts(shell, "set names sched/sched_switch,sched/sched_swa") == [
        "sched/sched_switch,sched/sched_swap_numa"
    ]


def test_kernel_functions_prefix_first(shell: Shell) -> None:
    run(shell, "new kprobe k")
    found = texts(shell, "set func_name tcp_v4_")
    assert found[:2] == ["tcp_v4_connect", "tcp_v4_rcv"]
    assert all(name.startswith("tcp_v4_") for name in found)


def test_fentry_offers_only_functions_with_btf(shell: Shell) -> None:
    run(shell, "new fentry f")
    catalog = shell.session.discovery.functions()
    views, _ = catalog.filter("", limit=None)
    assert all(catalog.get(n).fentry for n in texts(shell, "set func_name "))
    assert any(not v.fentry for v in views), (
        "the demo should hold a function without BTF"
    )
    without = next(v.name for v in views if not v.fentry)
    assert without not in texts(shell, f"set func_name {without}")


def test_uprobe_function_names_come_from_the_target(shell: Shell) -> None:
    run(shell, "new uprobe u")
    assert texts(shell, "set func_name mal") == []
    run(shell, "set target libc")
    assert "malloc" in texts(shell, "set func_name mal")


def test_process_ids(shell: Shell) -> None:
    run(shell, "new uprobe u")
    found = {c.text: c.meta for c in complete(shell, "set pid ")}
    assert found["688"] == "sshd"


def test_object_names_and_refs(shell: Shell) -> None:
    run(shell, "new xdp edge", "new tc shaper")
    assert texts(shell, "use ") == ["xdp/edge", "edge", "tc/shaper", "shaper"]
    assert texts(shell, "use x") == ["xdp/edge"]


def test_unset_offers_fields_that_are_set(shell: Shell) -> None:
    run(shell, "new xdp edge", "set priority 3")
    assert "priority" in texts(shell, "unset ")
    assert "bpffunctionname" not in texts(shell, "unset ")


def test_program_ids_and_applied_objects(shell: Shell) -> None:
    run(
        shell,
        "new xdp edge",
        "set priority 1",
        "set interfaceselector.interfaces eth0",
        "set bytecode.path /opt/x.o",
        "set bpffunctionname xdp_pass",
        "apply",
    )
    ours = shell.session.status()[0].bpfprograms[0].program_id
    found = complete(shell, "inspect program ")
    assert [c.text for c in found if c.meta.endswith(" xdp_pass")] == [str(ours)]
    assert "xdp/edge" in texts(shell, "delete ")
    assert texts(shell, "inspect ") == ["program", "map", "link", "object", "bytecode"]


def test_options_and_their_values(shell: Shell) -> None:
    assert texts(shell, "status -o ") == ["table", "wide", "json", "yaml"]
    assert texts(shell, "list maps --f") == ["--filter", "--fuzzy"]
    assert texts(shell, "list ")[:3] == ["interfaces", "tracepoints", "functions"]
    assert texts(shell, "stats ") == ["on", "off"]


def test_file_paths(shell: Shell, tmp_path: Any) -> None:
    (tmp_path / "objects.yaml").write_text("")
    (tmp_path / "sub").mkdir()
    assert texts(shell, f"export {tmp_path}/") == [
        f"{tmp_path}/objects.yaml",
        f"{tmp_path}/sub/",
    ]


def test_nothing_inside_a_comment(shell: Shell) -> None:
    assert texts(shell, "show # s") == []


def test_a_node_that_fails_completes_nothing() -> None:
    from bpftui.core.errors import PermissionProblem

    def refuse() -> Any:
        raise PermissionProblem("opening the node failed: not root")

    shell = Shell(refuse)
    run(shell, "new tc t")
    assert texts(shell, "set interfaceselector.interfaces ") == []
    assert texts(shell, "set direction ") == ["ingress", "egress"]


# ---------------------------------------------------------------- many functions


@dataclass
class BigCatalog:
    """Sixty thousand functions; records the limits it was asked for."""

    views: list[FunctionView] = field(
        default_factory=lambda: [
            FunctionView(
                f"fn_{i:05d}_{'tcp' if i % 7 else 'udp'}", "vmlinux", "", True, True
            )
            for i in range(60_000)
        ]
    )
    limits: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.views)

    def filter(self, text: str, *, fuzzy: bool = False, limit: int | None = None):
        self.limits.append(limit)
        found = [v for v in self.views if text in v.name]
        return found[:limit], len(found)

    def get(self, name: str) -> FunctionView | None:
        return None


@dataclass
class FunctionsOnly:
    catalog: BigCatalog

    def functions(self) -> BigCatalog:
        return self.catalog


@dataclass
class TinySession:
    discovery: FunctionsOnly


def test_sixty_thousand_functions_complete_quickly() -> None:
    catalog = BigCatalog()
    shell = Shell(lambda: TinySession(FunctionsOnly(catalog)))  # type: ignore[arg-type, return-value]
    run(shell, "new fentry f")

    start = time.perf_counter()
    everything = complete(shell, "set func_name ")
    narrowed = complete(shell, "set func_name fn_0123")
    elapsed = time.perf_counter() - start

    assert len(everything) == LIMIT
    assert [c.text for c in narrowed][:3] == [
        "fn_01230_tcp",
        "fn_01231_tcp",
        "fn_01232_udp",
    ]
    assert None not in catalog.limits
    assert elapsed < 0.25
