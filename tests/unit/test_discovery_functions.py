"""The kernel function catalogue: loading, the cache, filtering, kprobe answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_btf_builder import BtfBuilder, sample

from bpftui.core.discovery.functions import (
    KernelFunctions,
    KprobeTargets,
    btf_sources,
    cache_key,
    load_functions,
)
from bpftui.core.errors import InputError, NotSupported


def _module(base: BtfBuilder, *names: str) -> bytes:
    module = BtfBuilder(base)
    int_id = 1
    for name in names:
        module.add_func(name, module.add_proto(int_id, [("arg", int_id)]))
    return module.encode()


@pytest.fixture
def btf_dir(tmp_path: Path) -> Path:
    """A /sys/kernel/btf look-alike: vmlinux and two modules."""
    root = tmp_path / "btf"
    root.mkdir()
    base = sample()
    (root / "vmlinux").write_bytes(base.encode())
    (root / "alpha").write_bytes(_module(base, "alpha_init", "alpha_rx"))
    (root / "beta").write_bytes(_module(base, "beta_tx"))
    return root


def _load(btf_dir: Path, cache: Path, **options: object) -> KernelFunctions:
    catalogue = load_functions(
        str(btf_dir), str(cache), kprobe=lambda name: None, **options
    )  # type: ignore[arg-type]
    assert catalogue.wait_saved(10)
    return catalogue


# ------------------------------------------------------------------ loading


def test_every_function_with_its_module_and_prototype(
    btf_dir: Path, tmp_path: Path
) -> None:
    catalogue = _load(btf_dir, tmp_path / "cache")
    assert len(catalogue) == 5
    assert catalogue.module_counts() == {"vmlinux": 2, "alpha": 2, "beta": 1}
    view = catalogue.get("alpha_rx")
    assert view is not None
    assert (view.module, view.prototype, view.fentry) == (
        "alpha",
        "int alpha_rx(int arg)",
        True,
    )
    say = catalogue.get("say")
    assert say is not None
    assert say.prototype == "int say(const char *fmt, ...)"
    assert catalogue.get("nope") is None


def test_lazy_prototypes_match_the_rendered_ones(btf_dir: Path, tmp_path: Path) -> None:
    lazy = load_functions(str(btf_dir), use_cache=False, background=False)
    eager = [lazy.prototype(i) for i in range(len(lazy))]
    fresh = load_functions(str(btf_dir), use_cache=False, background=True)
    assert [fresh.prototype(i) for i in range(len(fresh))] == eager
    fresh.wait_saved(10)
    assert fresh.all_prototypes() == eager


def test_no_vmlinux_btf_is_named(tmp_path: Path) -> None:
    with pytest.raises(NotSupported, match="BTF") as caught:
        load_functions(str(tmp_path), str(tmp_path / "cache"))
    assert "CONFIG_DEBUG_INFO_BTF" in str(caught.value)


def test_damaged_vmlinux_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "vmlinux").write_bytes(b"not btf at all, not even close")
    with pytest.raises(InputError, match="BTF vmlinux: bad magic"):
        load_functions(str(tmp_path), str(tmp_path / "cache"))


def test_damaged_module_is_skipped_and_named(btf_dir: Path, tmp_path: Path) -> None:
    (btf_dir / "beta").write_bytes(b"\x9f\xeb\x01\x00" + bytes(4))
    catalogue = _load(btf_dir, tmp_path / "cache")
    assert catalogue.module_counts() == {"vmlinux": 2, "alpha": 2}
    assert any("beta" in problem for problem in catalogue.problems)


def test_module_with_damaged_types_keeps_its_names(
    btf_dir: Path, tmp_path: Path
) -> None:
    module = BtfBuilder(sample())
    module.add_func("gamma_bad", module.add_proto(1, [("p", 9999)]))
    (btf_dir / "gamma").write_bytes(module.encode())
    catalogue = _load(btf_dir, tmp_path / "cache")
    view = catalogue.get("gamma_bad")
    assert view is not None
    assert view.prototype == "<unreadable BTF of gamma>"
    assert catalogue.get("alpha_rx") is not None


# ------------------------------------------------------------------ the cache


def test_second_start_reads_the_cache(btf_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _load(btf_dir, cache)
    assert (cache / "kernel-functions.cache").exists()
    second = _load(btf_dir, cache)
    assert list(second.names) == list(first.names)
    assert second.all_prototypes() == first.all_prototypes()
    assert second.module_counts() == first.module_counts()


def test_cache_is_used_without_touching_btf(
    btf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    _load(btf_dir, cache)
    from bpftui.core.discovery import functions

    def no_parsing(*_: object) -> None:
        raise AssertionError("BTF parsed although the cache matches")

    monkeypatch.setattr(functions, "_from_btf", no_parsing)
    assert len(_load(btf_dir, cache)) == 5


def test_changed_btf_invalidates_the_cache(btf_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _load(btf_dir, cache)
    (btf_dir / "beta").write_bytes(_module(sample(), "beta_tx", "beta_new"))
    assert _load(btf_dir, cache).get("beta_new") is not None


def test_cache_key_follows_every_file(btf_dir: Path) -> None:
    before = cache_key(btf_sources(str(btf_dir)))
    (btf_dir / "alpha").unlink()
    assert cache_key(btf_sources(str(btf_dir))) != before


@pytest.mark.parametrize("damage", [b"", b"garbage", b"\xe3\x00\x00\x00\x00"])
def test_damaged_cache_is_rebuilt(btf_dir: Path, tmp_path: Path, damage: bytes) -> None:
    cache = tmp_path / "cache"
    _load(btf_dir, cache)
    (cache / "kernel-functions.cache").write_bytes(damage)
    assert len(_load(btf_dir, cache)) == 5


def test_unwritable_cache_directory_is_not_fatal(btf_dir: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    assert len(_load(btf_dir, blocked)) == 5


def test_default_cache_directory_follows_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, btf_dir: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    catalogue = load_functions(str(btf_dir), kprobe=lambda name: None)
    catalogue.wait_saved(10)
    assert (tmp_path / "xdg" / "bpftui" / "kernel-functions.cache").exists()


# ------------------------------------------------------------------ filtering

NAMES = [
    "tcp_v4_connect",
    "tcp_v4_rcv",
    "do_unlinkat",
    "tcp_connect",
    "Xtcp_v4",
    "vfs_read",
    "tcp_v4",
    "tcp_close",
]


@pytest.fixture
def catalogue() -> KernelFunctions:
    protos: list[str | None] = [f"int {n}(void)" for n in NAMES]
    return KernelFunctions(
        NAMES, [("vmlinux", 6), ("mod", 2)], protos, kprobe=lambda n: None
    )


def _names(result: tuple[object, int]) -> list[str]:
    views, _ = result
    return [v.name for v in views]  # type: ignore[attr-defined]


def test_substring_filter_ranks_exact_then_prefix(catalogue: KernelFunctions) -> None:
    assert _names(catalogue.filter("tcp_v4")) == [
        "tcp_v4",
        "tcp_v4_connect",
        "tcp_v4_rcv",
        "Xtcp_v4",
    ]


def test_filter_ignores_case_and_reports_the_total(catalogue: KernelFunctions) -> None:
    views, total = catalogue.filter("TCP", limit=2)
    assert total == 6
    assert [v.name for v in views] == ["tcp_v4_connect", "tcp_v4_rcv"]


def test_empty_filter_lists_everything(catalogue: KernelFunctions) -> None:
    views, total = catalogue.filter("  ", limit=3)
    assert total == len(NAMES)
    assert [v.name for v in views] == NAMES[:3]


def test_fuzzy_filter_matches_characters_in_order(catalogue: KernelFunctions) -> None:
    views, total = catalogue.filter("tcpcon", fuzzy=True)
    assert [v.name for v in views] == ["tcp_connect", "tcp_v4_connect"]
    assert total == 2


def test_fuzzy_filter_puts_substring_matches_first(catalogue: KernelFunctions) -> None:
    names = _names(catalogue.filter("tcp_c", fuzzy=True))
    assert names[:2] == ["tcp_connect", "tcp_close"]
    assert set(names[2:]) == {"tcp_v4_connect", "tcp_v4_rcv"}


def test_fuzzy_filter_escapes_regex_characters(catalogue: KernelFunctions) -> None:
    assert catalogue.filter("t.*", fuzzy=True) == ([], 0)
    assert catalogue.filter("[", fuzzy=False) == ([], 0)


def test_no_match(catalogue: KernelFunctions) -> None:
    assert catalogue.filter("xyzzy") == ([], 0)
    assert catalogue.filter("xyzzy", fuzzy=True) == ([], 0)


def test_limit_zero_still_counts(catalogue: KernelFunctions) -> None:
    assert catalogue.filter("tcp", limit=0) == ([], 6)


def test_views_carry_module_and_prototype(catalogue: KernelFunctions) -> None:
    view = catalogue.get("tcp_close")
    assert view is not None
    assert (view.module, view.prototype, view.kprobe) == (
        "mod",
        "int tcp_close(void)",
        None,
    )
    assert [v.module for v in catalogue][:6] == ["vmlinux"] * 6


# ------------------------------------------------------------------ kprobes


def test_kprobe_targets_from_available_filter_functions(tmp_path: Path) -> None:
    listing = tmp_path / "available_filter_functions"
    listing.write_text("do_unlinkat\ntcp_v4_connect [some_mod]\n\n")
    targets = KprobeTargets(str(listing))
    assert targets("do_unlinkat") is True
    assert targets("tcp_v4_connect") is True
    assert targets("vfs_read") is False
    assert targets.problem is None


def test_kprobe_is_unknown_when_the_list_cannot_be_read(tmp_path: Path) -> None:
    targets = KprobeTargets(str(tmp_path / "missing"))
    assert targets("do_unlinkat") is None
    assert targets.problem is not None
    assert "kprobe support unknown" in targets.problem


def test_catalogue_reports_why_kprobe_is_unknown(tmp_path: Path) -> None:
    targets = KprobeTargets(str(tmp_path / "missing"))
    catalogue = KernelFunctions(
        ["f"], [("vmlinux", 1)], ["void f(void)"], kprobe=targets
    )
    assert catalogue.kprobe_problem is None  # nothing asked yet
    view = catalogue.get("f")
    assert view is not None
    assert view.kprobe is None
    assert catalogue.kprobe_problem is not None
