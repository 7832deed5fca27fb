"""Helpers for the image tests: hand-made ELF headers, layers and objects."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bpftui.core.images import ImageSettings

EM_BPF = 247

BPF_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pass_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

SEC("tc")
int tc_pass(struct __sk_buff *skb) { return 0; }

SEC("tracepoint/syscalls/sys_enter_kill")
int on_kill(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""

LEGACY_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_def { unsigned int type, key_size, value_size, max_entries, flags; };
struct legacy_def old_hash SEC("maps") = { .type = BPF_MAP_TYPE_HASH,
	.key_size = 4, .value_size = 8, .max_entries = 16 };

SEC("kprobe/do_unlinkat")
int on_unlink(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""


def fake_bpf_elf(
    order: str = sys.byteorder, machine: int = EM_BPF, size: int = 128
) -> bytes:
    """An ELF64 header that passes the layer checks, padded to ``size`` bytes."""
    ident = b"\x7fELF" + bytes([2, 1 if order == "little" else 2, 1]) + bytes(9)
    rest = (1).to_bytes(2, order) + machine.to_bytes(2, order)  # e_type, e_machine
    return (ident + rest).ljust(size, b"\0")


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> tuple:
    """A tar member as (TarInfo, data) for :func:`tar_gz`."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/shadow"
    return info, data


def tar_gz(*members: tuple) -> bytes:
    """A gzip-compressed tar of the given members, made by hand."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def compile_bpf(source: str, out: Path) -> Path:
    """Compile BPF C source with clang, or skip the test when clang is missing."""
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang to compile a BPF object (scripts/apt-packages.txt)")
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(
        [clang, "-O2", "-g", "-target", "bpf", "-c", str(src), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def settings_for(tmp: Path, **overrides: object) -> ImageSettings:
    """Settings that keep everything under ``tmp`` and read no real config."""
    values: dict[str, object] = {
        "cache_dir": tmp / "cache",
        "secrets_dir": tmp / "secrets",
        "docker_config": tmp / "docker-config.json",
        "timeout": 5.0,
    }
    values.update(overrides)
    return ImageSettings(**values)  # type: ignore[arg-type]


def image_blobs(
    layer: bytes,
    labels: dict[str, str] | None = None,
    *,
    diff_ids: list[str] | None = None,
    layer_media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip",
    layers: int = 1,
    layer_size: int | None = None,
) -> tuple[bytes, bytes, bytes]:
    """Hand-made (manifest, config, layer) blobs of an image, any of them wrong."""
    if labels is None:
        labels = {"io.ebpf.programs": '{"xdp_pass":"xdp"}', "io.ebpf.maps": "{}"}
    if diff_ids is None:
        diff_ids = [sha256(gzip.decompress(layer))]
    config = json.dumps(
        {
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    descriptor = {
        "mediaType": layer_media_type,
        "digest": sha256(layer),
        "size": len(layer) if layer_size is None else layer_size,
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [descriptor] * layers,
        }
    ).encode()
    return manifest, config, layer


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
