"""The BTF reader on this kernel's vmlinux, checked against bpftool, and fast.

bpftool (libbpf) is the reference: every FUNC's name, linkage and
prototype id, and every FUNC_PROTO's parameters (names and type ids) must be
what bpftui's reader finds. Prototype rendering is checked on functions
whose C declarations are stable, and the speed promises of the catalogue
are held to (warm start, per-keystroke filter, memory).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from bpftui.core.discovery.btf import FUNC, FUNC_PROTO, Btf
from bpftui.core.discovery.functions import KernelFunctions, load_functions

VMLINUX = Path("/sys/kernel/btf/vmlinux")
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(not VMLINUX.exists(), reason="kernel without BTF"),
]


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    return Btf(VMLINUX.read_bytes(), "vmlinux")


@pytest.fixture(scope="module")
def bpftool_dump() -> str:
    if shutil.which("bpftool") is None:
        pytest.skip("needs bpftool")
    return subprocess.run(
        ["bpftool", "btf", "dump", "file", str(VMLINUX)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def test_every_func_matches_bpftool(vmlinux: Btf, bpftool_dump: str) -> None:
    linkage = {"static": 0, "global": 1, "extern": 2}
    expected = [
        (int(i), name, int(proto), linkage[link])
        for i, name, proto, link in re.findall(
            r"^\[(\d+)\] FUNC '([^']*)' type_id=(\d+) linkage=(\w+)", bpftool_dump, re.M
        )
    ]
    found = []
    for type_id in vmlinux.function_ids:
        vlen = vmlinux.items(type_id)  # FUNC has no items; vlen is the linkage
        assert vlen == []
        found.append(
            (
                type_id,
                vmlinux.name(type_id),
                vmlinux.referenced(type_id),
                _linkage(vmlinux, type_id),
            )
        )
    assert found == expected


def _linkage(btf: Btf, type_id: int) -> int:
    owner, at = btf._owner(type_id)
    return owner.words[at + 1] & 0xFFFF


def test_every_func_proto_parameter_matches_bpftool(
    vmlinux: Btf, bpftool_dump: str
) -> None:
    protos = re.split(r"^(?=\[\d+\] )", bpftool_dump, flags=re.M)
    checked = 0
    for block in protos:
        head = re.match(
            r"\[(\d+)\] FUNC_PROTO '\(anon\)' ret_type_id=(\d+) vlen=(\d+)", block
        )
        if not head:
            continue
        type_id = int(head.group(1))
        params = re.findall(r"^\t'([^']*)' type_id=(\d+)", block, re.M)
        assert vmlinux.kind(type_id) == FUNC_PROTO
        assert vmlinux.referenced(type_id) == int(head.group(2))
        names = [
            vmlinux.string(n) if n else "(anon)" for n, _ in vmlinux.items(type_id)
        ]
        types = [t for _, t in vmlinux.items(type_id)]
        assert list(zip(names, types, strict=True)) == [(n, int(t)) for n, t in params]
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("name", "prototype"),
    [
        ("_printk", "int _printk(const char *fmt, ...)"),
        (
            "vfs_read",
            "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos)",
        ),
        ("call_rcu", "void call_rcu(struct callback_head *head, rcu_callback_t func)"),
        ("snprintf", "int snprintf(char *buf, size_t size, const char *fmt, ...)"),
    ],
)
def test_known_prototypes(vmlinux: Btf, name: str, prototype: str) -> None:
    functions = dict(vmlinux.functions())
    if name not in functions:
        pytest.skip(f"{name} has no BTF on this kernel")
    assert functions[name] == prototype


def test_every_function_renders(vmlinux: Btf) -> None:
    rendered = vmlinux.functions()
    assert len(rendered) == len(vmlinux.function_ids)
    for name, prototype in rendered:
        assert f" {name}(" in prototype or f"*{name}(" in prototype, prototype
        assert "\0" not in prototype
    assert all(vmlinux.kind(t) == FUNC for t in vmlinux.function_ids[:100])


# ------------------------------------------------------------ cache and filter
# Speed is measured by bench/discovery_bench.py, not asserted here: a timed
# test on a shared two-core machine fails for reasons that are not bugs.


def test_warm_start_from_the_cache_gives_the_same_catalogue(tmp_path: Path) -> None:
    cold = load_functions(cache_dir=str(tmp_path))
    cold.wait_saved(60)
    warm = load_functions(cache_dir=str(tmp_path))
    assert len(warm) == len(cold) > 10_000
    name = "do_unlinkat"
    assert warm.get(name) == cold.get(name)


@pytest.mark.parametrize("fuzzy", [False, True])
@pytest.mark.parametrize(
    "query", ["t", "tcp", "tcp_v4_c", "do_unlinkat", "kmalloc", "xyzzy"]
)
def test_filter_from_scratch_matches_a_plain_scan(
    tmp_path_factory: pytest.TempPathFactory, query: str, fuzzy: bool
) -> None:
    catalogue = _warm_catalogue(tmp_path_factory)
    catalogue.search_index.forget()  # no narrowing from the run before
    _, total = catalogue.filter(query, fuzzy=fuzzy, limit=200)
    names = [f.name.lower() for f in catalogue.filter("", limit=None)[0]]
    if fuzzy:
        pattern = re.compile(".*?".join(map(re.escape, query)))
        expected = sum(1 for n in names if pattern.search(n))
    else:
        expected = sum(1 for n in names if query in n)
    assert total == expected


_CATALOGUE: list[KernelFunctions] = []


def _warm_catalogue(factory: pytest.TempPathFactory) -> KernelFunctions:
    if not _CATALOGUE:
        path = factory.mktemp("cache")
        load_functions(cache_dir=str(path)).wait_saved(60)
        catalogue = load_functions(cache_dir=str(path))
        catalogue.filter("warm", fuzzy=True)  # builds the joined names once
        _CATALOGUE.append(catalogue)
    return _CATALOGUE[0]


def test_catalogue_memory_is_under_100mb(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        catalogue = load_functions(
            cache_dir=str(tmp_path), use_cache=False, background=False
        )
        catalogue.filter("tcp", fuzzy=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024
