"""``bpftui inspect``: tables and JSON for a test object, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bpftui.cli import main
from bpftui.cli.inspect import looks_like_image


def test_table(
    bpf_objects: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(bpf_objects["globals"])]) == 0
    out = capsys.readouterr().out
    assert "license Dual BSD/GPL, BTF (with .BTF.ext), little-endian" in out
    assert "xdp_globals" in out
    assert "const volatile __u8[8]" in out
    assert out.index("PROGRAMS") < out.index("MAPS") < out.index("GLOBALS")


def test_json(bpf_objects: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(bpf_objects["uprobe"]), "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["programs"]] == [
        "uprobe_counter",
        "uretprobe_counter",
    ]
    assert data["maps"][0]["key_type"] == "__u32"
    assert data["has_btf"] is True


def test_not_a_bpf_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "/bin/sh"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bpftui: /bin/sh: not a BPF object")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "image"),
    [
        ("quay.io/bpfman-bytecode/xdp_pass:latest", True),
        ("localhost:5000/prog", True),
        ("./prog.o", False),
        ("build/prog.o", False),
        ("/abs/prog", False),
        ("prog.o", False),
    ],
)
def test_image_references_are_told_from_files(text: str, image: bool) -> None:
    assert looks_like_image(text) is image
