"""OCI manifests, indexes and configs: what is accepted, and what is written.

A bytecode image is an image manifest with one config and exactly one
tar+gzip layer, in the OCI or the Docker v2 spelling. A multi-platform index
(or Docker manifest list) is followed to the entry for ``linux/<this arch>``.
Anything else, or a size over the limits, is refused before it is fetched.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bpftui.core.images.errors import ImageContentError
from bpftui.core.images.reference import is_digest

if TYPE_CHECKING:
    from bpftui.core.images.cache import ImageCache

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
TITLE_ANNOTATION = "org.opencontainers.image.title"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset({OCI_LAYER_GZIP, DOCKER_LAYER_GZIP})
ACCEPT = ", ".join([OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST])

# Manifests and configs of bytecode images are a few hundred bytes.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024

# platform.machine() -> the architecture names of OCI platforms.
_ARCHITECTURES = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
    "armv7l": "arm", "i686": "386", "i386": "386",
}  # fmt: skip


def host_architecture() -> str:
    """This node's architecture as OCI names it (``amd64``, ``arm64`` ...)."""
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to a blob: its media type, digest and size."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest reduced to what a bytecode image may hold."""

    config: Descriptor
    layer: Descriptor


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object, refusing anything else."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ImageContentError(f"{what}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ImageContentError(f"{what}: not a JSON object")
    return value


def media_type_of(document: Mapping[str, Any], header: str | None) -> str:
    """The media type a manifest declares, else the HTTP header's, else a guess."""
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if header:
        return header.split(";", 1)[0].strip()
    return OCI_INDEX if "manifests" in document else OCI_MANIFEST


def parse_manifest(document: Mapping[str, Any], what: str, max_layer: int) -> Manifest:
    """Check an image manifest and return its config and its one layer.

    Raises:
        ImageContentError: wrong schema, media types, layer count or sizes.
    """
    if document.get("schemaVersion") != 2:
        raise ImageContentError(f"{what}: manifest schemaVersion is not 2")
    config = _descriptor(document.get("config"), f"{what}: config", CONFIG_TYPES)
    if config.size > MAX_CONFIG_BYTES:
        raise ImageContentError(f"{what}: config of {config.size} bytes is too large")
    layers = document.get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        count = len(layers) if isinstance(layers, list) else 0
        raise ImageContentError(
            f"{what}: has {count} layers; a bytecode image has exactly one",
            hint="build it with 'bpftui image build FILE.o --tag URL'",
        )
    layer = _descriptor(layers[0], f"{what}: layer", LAYER_TYPES)
    if layer.size > max_layer:
        raise ImageContentError(
            f"{what}: layer of {layer.size} bytes is over the limit of {max_layer}",
            hint="raise max_layer_bytes under [images] if this is expected",
        )
    return Manifest(config=config, layer=layer)


def select_platform(document: Mapping[str, Any], what: str) -> Descriptor:
    """Pick the ``linux/<this arch>`` image manifest from an index.

    Raises:
        ImageContentError: no entry for this platform, or a malformed index.
    """
    entries = document.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise ImageContentError(f"{what}: index lists no manifests")
    arch = host_architecture()
    offered = []
    for entry in entries:
        wanted = entry.get("platform") if isinstance(entry, Mapping) else None
        os_name = wanted.get("os") if isinstance(wanted, Mapping) else None
        entry_arch = wanted.get("architecture") if isinstance(wanted, Mapping) else None
        if (os_name, entry_arch) == ("linux", arch) or (
            wanted is None and len(entries) == 1
        ):
            return _descriptor(entry, f"{what}: index entry", MANIFEST_TYPES)
        offered.append(f"{os_name}/{entry_arch}")
    raise ImageContentError(
        f"{what}: has no variant for linux/{arch}; it offers {', '.join(offered)}"
    )


def image_config(labels: Mapping[str, str], diff_id: str) -> dict[str, Any]:
    """The config of a bytecode image built here."""
    return {
        "architecture": host_architecture(),
        "os": "linux",
        "config": {"Labels": dict(sorted(labels.items()))},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }


def image_manifest(
    config: Descriptor, layer: Descriptor, filename: str
) -> dict[str, Any]:
    """The OCI manifest of a bytecode image built here."""
    layer_json = layer.to_json()
    layer_json["annotations"] = {TITLE_ANNOTATION: filename}
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer_json],
    }


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Stable bytes for a document, so equal content gives equal digests."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def diff_ids(config: Mapping[str, Any]) -> list[str]:
    """The config's ``rootfs.diff_ids``, or an empty list."""
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def referenced_digests(cache: ImageCache, digest: str) -> set[str]:
    """A cached manifest's digest and the digests of its config and layer."""
    found = {digest}
    try:
        data = cache.read_blob(digest)
        if data is None:
            return found
        manifest = parse_manifest(load_json(data, digest), digest, max_layer=1 << 62)
    except ImageContentError:
        return found
    return found | {manifest.config.digest, manifest.layer.digest}


def _descriptor(value: Any, what: str, allowed: frozenset[str]) -> Descriptor:
    if not isinstance(value, Mapping):
        raise ImageContentError(f"{what}: missing or not an object")
    media_type, digest, size = (
        value.get("mediaType"),
        value.get("digest"),
        value.get("size"),
    )
    if media_type not in allowed:
        raise ImageContentError(
            f"{what}: media type {media_type!r} is not accepted",
            hint=f"expected one of {', '.join(sorted(allowed))}",
        )
    if not isinstance(digest, str) or not is_digest(digest):
        raise ImageContentError(f"{what}: digest {digest!r} is not sha256:<64 hex>")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ImageContentError(f"{what}: size {size!r} is not a byte count")
    return Descriptor(media_type=str(media_type), digest=digest, size=size)
