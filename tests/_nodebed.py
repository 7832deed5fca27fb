"""A bpftui node for the durability tests, and a check of it against the kernel.

Import as ``from _nodebed import Bed, check_node``. A :class:`Bed` is one
node's worth of bpftui: a config file pointing the state store at a
temporary directory and the pins at a fresh bpffs directory, optionally a
test network namespace to run in. Commands run in this process
(:meth:`Bed.run`, fast) or as a child process (:meth:`Bed.spawn`, the only
way to kill one with SIGKILL or to bound its memory).

:func:`check_node` is what every crash, concurrency and reboot test asks
after each step: the state store and the kernel agree, every program is
either fully attached or fully gone, and nothing bpftui made is left over
(pins, programs, links, filters, qdiscs).
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import secrets
import shlex
import struct
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _testbed import NetnsPair, wait_until

# Programs of tests/bpf/crash.c: no other test loads programs named so.
OURS_PREFIX = "bt_crash"
PYTHON = sys.executable
RESTORE_UNIT = (
    Path(__file__).resolve().parents[1] / "bpftui/packaging/bpftui-restore.service"
)


def exec_start() -> list[str]:
    """The restore unit's ExecStart, split as systemd splits it."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(RESTORE_UNIT)
    return shlex.split(unit["Service"]["ExecStart"])


@dataclass
class Result:
    """What one bpftui command did."""

    code: int
    out: str
    err: str = ""

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Bed:
    """A node: config, state directory and pin root, maybe a namespace.

    Attributes:
        workdir: a private temporary directory (config, state, YAML files).
        bpffs_root: the test's bpffs directory; bpftui pins in ``bpftui/``
            below it and the dispatchers' libxdp pins in ``xdp/``.
        netns: the namespace commands run in, holding ``netns.dev``.
    """

    workdir: Path
    bpffs_root: str
    netns: NetnsPair | None = None
    applied: list[Path] = field(default_factory=list)
    run_tag: int = field(default_factory=lambda: secrets.randbits(31) + 1)

    def __post_init__(self) -> None:
        self.pins = f"{self.bpffs_root}/bpftui"
        self.state_dir = self.workdir / "state"
        self.config = self.workdir / "bpftui.toml"
        self.config.write_text(
            '[node]\nname = "durability"\n'
            f'[paths]\nstate_dir = "{self.state_dir}"\n'
            f'bpffs_root = "{self.pins}"\n'
        )
        self.config.chmod(0o600)

    # ------------------------------------------------------------ files

    def globaldata(self) -> str:
        """The ``globaldata`` line that stamps a crash.c program with this
        bed's run tag (see :func:`ours_in_kernel`)."""
        return f"  globaldata: {{bt_run: {list(struct.pack('<I', self.run_tag))}}}\n"

    def write(self, name: str, text: str) -> Path:
        """A YAML file in the work directory, deleted by :meth:`cleanup`."""
        path = self.workdir / f"{name}.yaml"
        path.write_text(text)
        self.applied.append(path)
        return path

    # ------------------------------------------------------------ running

    def argv(self, *args: str) -> list[str]:
        return ["--config", str(self.config), *args]

    def run(self, *args: str) -> Result:
        """A command in this process, inside the namespace."""
        from bpftui.cli import main

        out, err = io.StringIO(), io.StringIO()
        with (
            self.inside(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(self.argv(*args))
        return Result(code, out.getvalue(), err.getvalue())

    def command(self, *args: str) -> list[str]:
        """The command line of a child process running bpftui here."""
        line = [PYTHON, "-m", "bpftui", *self.argv(*args)]
        if self.netns is not None:
            line = ["nsenter", f"--net={self.netns.path}", *line]
        return line

    def spawn(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        **options: Any,
    ) -> subprocess.CompletedProcess[str]:
        """A command as a child process; ``env`` adds to this one's."""
        return subprocess.run(
            self.command(*args),
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **options,
        )

    def inside(self) -> contextlib.AbstractContextManager[None]:
        return self.netns.inside() if self.netns else contextlib.nullcontext()

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """An open kernel session on this node, inside the namespace."""
        from bpftui.core.session import open_session

        with self.inside():
            opened = open_session(demo=False, config_path=str(self.config))
            try:
                yield opened
            finally:
                opened.close()

    def cleanup(self) -> None:
        """Delete whatever the test applied (even after a failure)."""
        for path in self.applied:
            with contextlib.suppress(Exception):
                self.run("delete", "-f", str(path))


# ---------------------------------------------------------------- objects


def program_yaml(
    kind: str, name: str, function: str, obj: Path | str, spec: str = ""
) -> str:
    """One object as YAML; ``spec`` adds indented kind-specific fields."""
    return (
        "apiVersion: bpfman.io/v1alpha1\n"
        f"kind: {kind}\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  bpffunctionname: {function}\n"
        "  nodeselector: {}\n"
        f"  bytecode: {{path: {obj}}}\n" + spec
    )


def xdp_yaml(bed: Bed, name: str, obj: Path | str, priority: int = 10) -> str:
    """An XdpProgram of crash.c on the bed's interface."""
    assert bed.netns is not None
    spec = (
        f"  interfaceselector: {{interfaces: [{bed.netns.dev}]}}\n"
        f"  priority: {priority}\n" + bed.globaldata()
    )
    return program_yaml("XdpProgram", name, "bt_crash_xdp", obj, spec)


def tc_yaml(bed: Bed, name: str, obj: Path | str, direction: str) -> str:
    """A TcProgram of crash.c on the bed's interface."""
    assert bed.netns is not None
    spec = (
        f"  interfaceselector: {{interfaces: [{bed.netns.dev}]}}\n  priority: 10\n"
        f"  direction: {direction}\n" + bed.globaldata()
    )
    return program_yaml("TcProgram", name, "bt_crash_tc", obj, spec)


def tracepoint_yaml(bed: Bed, name: str, obj: Path | str) -> str:
    """A TracepointProgram of crash.c counting getppid() calls."""
    spec = "  names: [syscalls/sys_enter_getppid]\n" + bed.globaldata()
    return program_yaml("TracepointProgram", name, "bt_crash_tp", obj, spec)


def documents(*texts: str) -> str:
    return "---\n".join(texts)


# ---------------------------------------------------------------- checking


def check_node(bed: Bed, *, only_dispatchers: bool = False) -> dict[str, str]:
    """Assert that the node is consistent; return ``Kind/name`` -> state.

    The state is ``Loaded`` (fully attached), or the condition of an
    attach point that holds nothing in the kernel, or ``absent`` for an
    object the store keeps without attachments. Raises AssertionError
    naming the first inconsistency.

    With ``only_dispatchers`` every dispatcher in the kernel must be one
    the test interface runs (true in the guest lane, where nothing else
    makes dispatchers meanwhile).
    """
    with bed.session() as session:
        store, backend = session.store, session.backend
        assert store.pending() == [], f"intents left: {store.pending()}"
        attachments = store.attachments()
        loaded = [a for a in attachments if a.condition.type == "Loaded"]
        for found in attachments:
            if found.condition.type != "Loaded":
                assert found.program is None and not found.links, (
                    f"{found.ref}: {found.condition.type} but records "
                    f"program {found.program}"
                )
        prog_ids = {a.program.id for a in loaded}
        _check_kernel_programs(backend, bed.run_tag, prog_ids)
        for found in loaded:
            _check_attached(session, found)
        _check_hooks(session, bed, loaded)
        _check_pins(backend, bed, loaded, prog_ids)
        if only_dispatchers:
            _check_dispatchers(session, bed)
        states = {s.ref: "absent" for s in store.objects()}
        for found in attachments:
            states[found.ref] = found.condition.type
        return states


def ours_in_kernel(backend: Any, run_tag: int) -> set[int]:
    """Ids of the kernel's crash.c programs stamped with ``run_tag``.

    The whole program table is searched, so a program nothing of bpftui's
    names any more (no pin, no record) is found too.
    """
    tag = struct.pack("<I", run_tag)
    rodata = {m.id for m in backend.maps() if m.name.endswith(".rodata")}
    found = set()
    for program in backend.programs():
        if not program.name.startswith(OURS_PREFIX):
            continue
        for map_id in set(program.map_ids) & rodata:
            with contextlib.suppress(Exception):  # freed meanwhile
                entries = backend.map_entries(map_id, limit=1)
                if entries and entries[0][1][:4] == tag:
                    found.add(program.id)
    return found


def _check_kernel_programs(backend: Any, run_tag: int, prog_ids: set[int]) -> None:
    # Programs are freed after an RCU grace period once nothing holds them.
    def settled() -> bool:
        return ours_in_kernel(backend, run_tag) == prog_ids

    assert wait_until(settled, 5.0), (
        f"kernel runs programs {sorted(ours_in_kernel(backend, run_tag))}, "
        f"the store knows {sorted(prog_ids)}"
    )


def _check_attached(session: Any, attachment: Any) -> None:
    backend = session.backend
    assert backend.exists(attachment.program), f"{attachment.ref}: program gone"
    for link in attachment.links:
        assert backend.exists(link), f"{attachment.ref}: link {link} gone"
    if attachment.prog_type in ("xdp", "tc"):
        revision = session.loader.attacher.engine.read(_hook(attachment))
        assert revision.slot_of(attachment.program.id) is not None, (
            f"{attachment.ref}: not on {attachment.attach_point}"
        )
    # One link each: a tracepoint's perf link or a dispatcher slot's
    # freplace link; a program alone on a netlink hook has none.
    linked = [k for k in backend.links() if k.prog_id == attachment.program.id]
    wanted = attachment.prog_type not in ("xdp", "tc") or (
        attachment.detail.get("dispatcher_id") is not None
    )
    assert len(linked) == int(wanted), f"{attachment.ref}: links {linked}"


def _hook(attachment: Any) -> Any:
    from bpftui.core.loader import hooked_of

    return hooked_of(attachment).hook


def _check_hooks(session: Any, bed: Bed, loaded: Sequence[Any]) -> None:
    """The test interface runs exactly what the store says, and keeps no
    clsact qdisc once no TC program is left."""
    if bed.netns is None:
        return
    from bpftui.core.dispatchers import Hook, HookKind

    backend, index, dev = session.backend, bed.netns.ifindex, bed.netns.dev
    hooks = {
        "xdp": Hook(HookKind.XDP, index, dev),
        "ingress": Hook(HookKind.TC, index, dev, "ingress"),
        "egress": Hook(HookKind.TC, index, dev, "egress"),
    }
    for name, hook in hooks.items():
        wanted = {
            a.program.id
            for a in loaded
            if a.prog_type in ("xdp", "tc")
            and (_hook(a).kind, _hook(a).direction) == (hook.kind, hook.direction)
        }
        revision = session.loader.attacher.engine.read(hook)
        running = {m.prog_id for m in revision.members}
        assert running == wanted, f"{name}: runs {running}, store has {wanted}"
        held = backend.hook_state(hook).programs
        assert len(held) == (1 if wanted else 0), f"{name}: holds {held}"
    if not any(a.prog_type == "tc" for a in loaded):
        qdisc = backend.hook_state(hooks["ingress"]).qdisc
        assert qdisc is None, f"{dev}: qdisc {qdisc} left"
        markers = f"{bed.pins}/clsact"
        assert not os.path.isdir(markers) or not os.listdir(markers), markers


def _check_dispatchers(session: Any, bed: Bed) -> None:
    from bpftui.core.dispatchers import Hook, HookKind

    assert bed.netns is not None
    index, dev = bed.netns.ifindex, bed.netns.dev
    hooks = [
        Hook(HookKind.XDP, index, dev),
        Hook(HookKind.TC, index, dev, "ingress"),
        Hook(HookKind.TC, index, dev, "egress"),
    ]
    engine = session.loader.attacher.engine
    running = {engine.read(hook).dispatcher_id for hook in hooks} - {None}
    names = {"xdp_dispatcher", "tc_dispatcher"}

    def kernel() -> set[int]:
        return {p.id for p in session.backend.programs() if p.name in names}

    assert wait_until(lambda: kernel() == running, 5.0), (
        f"dispatchers in the kernel {kernel()}, on the hooks {running}"
    )


def _check_pins(backend: Any, bed: Bed, loaded: Sequence[Any], ids: set[int]) -> None:
    """Every pin under the test's bpffs directory belongs to a Loaded
    program: its own pin, a link of it, or one of its maps."""
    link_progs = {link.id: link.prog_id for link in backend.links()}
    map_dirs = [a.maps_dir for a in loaded if a.maps_dir]
    for path in pin_files(bed.bpffs_root):
        pinned = backend.pinned_id(path)
        if pinned is None:  # a map
            assert any(path.startswith(d + "/") for d in map_dirs), f"orphan {path}"
        elif pinned in ids:
            continue
        else:
            assert link_progs.get(pinned) in ids, f"orphan pin {path} ({pinned})"


def pin_files(root: str) -> list[str]:
    """Every file (pin) under ``root``."""
    return sorted(
        os.path.join(top, name) for top, _, files in os.walk(root) for name in files
    )


def kill_points(trace: Path, skip: Sequence[str] = ("unlock",)) -> list[str]:
    """``step:n`` of every checkpoint a traced run passed, in order."""
    points = []
    for line in trace.read_text().splitlines():
        _, step, count, _ = line.split()
        if step not in skip:
            points.append(f"{step}:{count}")
    return points


def traced(bed: Bed, trace: Path, *args: str) -> list[str]:
    """Run a command once as a child with tracing on; return its kill points."""
    trace.unlink(missing_ok=True)
    done = bed.spawn(*args, env={"BPFTUI_FAULT_TRACE": str(trace)})
    assert done.returncode == 0, done.stdout + done.stderr
    return kill_points(trace)


def killed_at(bed: Bed, point: str, *args: str) -> None:
    """Run a command as a child that SIGKILLs itself at ``point``."""
    done = bed.spawn(*args, env={"BPFTUI_FAULT": point})
    assert done.returncode == -9, (
        f"{point}: not killed (exit {done.returncode}): {done.stdout}{done.stderr}"
    )


def forked_killed_at(bed: Bed, point: str, *args: str) -> None:
    """Like :func:`killed_at`, but the child is a fork of this process.

    A forked child starts with bpftui imported and whatever this process
    cached; under the guest lane's software emulation a fresh interpreter
    takes about 25 s to import bpftui. The child runs the command as
    ``bpftui.cli.main`` would and must die at ``point``. Open no state store
    across the fork (sqlite connections must not be shared with a child).
    """
    log = bed.workdir / "child.log"
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child never returns)
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from bpftui.core import faults

            os.environ[faults.FAULT_ENV] = point
            faults.reset()
            done = bed.run(*args)
            print(done.text)
            code = done.code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    output = log.read_text() if log.exists() else ""
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9, (
        f"{point}: not killed (status {status:#x}): {output}"
    )
