"""The one tar+gzip layer of a bytecode image: checked, read, and built.

A layer is read in memory and never extracted onto the file system. Even so
it is refused when it holds anything but directories and one regular file:
path traversal, links, device files and fifos all mean the image was not made
as a bytecode image, and the loader should not guess which file to trust.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import sys
import tarfile
import zlib
from dataclasses import dataclass
from typing import Literal

from bpftui.core.images.errors import ImageContentError

EM_BPF = 247
_ELF_MAGIC = b"\x7fELF"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,254}")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class LayerContent:
    """The ELF object found in a layer.

    Attributes:
        filename: the object's file name (the last path component).
        data: the object's bytes.
        diff_id: ``sha256:`` digest of the uncompressed tar stream.
    """

    filename: str
    data: bytes
    diff_id: str


def read_layer(blob: bytes, *, limit: int, image: str) -> LayerContent:
    """Check a tar+gzip layer and return the one BPF ELF object inside it.

    Args:
        blob: the compressed layer, already checked against its digest.
        limit: the most bytes the uncompressed tar may take.
        image: the image reference, for messages.

    Raises:
        ImageContentError: not gzip or tar, too large, an unsafe member, not
            exactly one file, or the file is not a BPF ELF object.
    """
    tar_bytes = _gunzip(blob, limit, image)
    member, data = _only_file(tar_bytes, image)
    filename = member.rsplit("/", 1)[-1]
    check_bpf_elf(data, f"image '{image}': file '{member}'")
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return LayerContent(filename=filename, data=data, diff_id=diff_id)


def build_layer(filename: str, data: bytes) -> tuple[bytes, str]:
    """Pack one object into a reproducible tar+gzip layer.

    Owner, mode and times are fixed so that the same object always gives the
    same layer digest.

    Returns:
        The compressed layer and the ``sha256:`` digest of the plain tar.
    """
    info = tarfile.TarInfo(name=filename)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = buffer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return gzip.compress(tar_bytes, compresslevel=9, mtime=0), diff_id


def check_bpf_elf(data: bytes, what: str) -> None:
    """Refuse anything but a 64-bit BPF ELF object in this host's byte order.

    Raises:
        ImageContentError: with ``what`` naming the file.
    """
    if len(data) < 64 or not data.startswith(_ELF_MAGIC):
        raise ImageContentError(f"{what}: not an ELF object")
    if data[4] != 2:
        raise ImageContentError(f"{what}: not a 64-bit ELF object")
    order: Literal["little", "big"] | None = {1: "little", 2: "big"}.get(data[5])  # type: ignore[assignment]
    if order is None:
        raise ImageContentError(f"{what}: unknown ELF byte order {data[5]}")
    machine = int.from_bytes(data[18:20], order)
    if machine != EM_BPF:
        raise ImageContentError(
            f"{what}: an ELF object for machine {machine}, not BPF ({EM_BPF})"
        )
    if order != sys.byteorder:
        raise ImageContentError(
            f"{what}: built for {order}-endian hosts; "
            f"this node is {sys.byteorder}-endian",
            hint="pull the image variant built for this architecture",
        )


def _gunzip(blob: bytes, limit: int, image: str) -> bytes:
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob), mode="rb") as stream:
            while chunk := stream.read(_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise ImageContentError(
                        f"image '{image}': layer unpacks to more than {limit} bytes",
                        hint="raise max_layer_bytes under [images] if this is expected",
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise ImageContentError(
            f"image '{image}': layer is not valid gzip: {exc}"
        ) from None
    return bytes(out)


def _only_file(tar_bytes: bytes, image: str) -> tuple[str, bytes]:
    files: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar:
                name = _check_member(member, image)
                if member.isreg():
                    stream = tar.extractfile(member)
                    files.append((name, stream.read() if stream else b""))
    except tarfile.TarError as exc:
        raise ImageContentError(
            f"image '{image}': layer is not a valid tar: {exc}"
        ) from None
    if len(files) != 1:
        names = ", ".join(name for name, _ in files[:5]) or "nothing"
        raise ImageContentError(
            f"image '{image}': layer holds {len(files)} files ({names}); "
            "a bytecode layer holds exactly one ELF object"
        )
    return files[0]


def _check_member(member: tarfile.TarInfo, image: str) -> str:
    """Return the member's normalised path, or refuse the member."""
    where = f"image '{image}': layer member '{member.name}'"
    if member.issym() or member.islnk():
        raise ImageContentError(
            f"{where} is a link to '{member.linkname}'; links are refused"
        )
    if member.ischr() or member.isblk() or member.isfifo():
        raise ImageContentError(f"{where} is a device file or fifo; refused")
    if not (member.isreg() or member.isdir()):
        raise ImageContentError(f"{where} has tar type {member.type!r}; refused")
    if member.name.startswith("/") or "\\" in member.name:
        raise ImageContentError(f"{where} has an absolute path; refused")
    parts = [p for p in member.name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageContentError(f"{where} climbs out of the layer with '..'; refused")
    if member.isreg() and (not parts or not _SAFE_NAME.fullmatch(parts[-1])):
        raise ImageContentError(f"{where} has an unusable file name; refused")
    return "/".join(parts)
