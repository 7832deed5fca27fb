"""Building a bytecode image from an ELF object, and pushing it.

``build_image`` writes a one-layer OCI image into the cache under its tag,
labelled from what the object holds, the way bpfman expects: the layer is a
reproducible tar+gzip of the object, so the same object always gives the same
digest. ``push_image`` sends a cached image to its registry.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from bpftui.core.errors import ElfError, InputError
from bpftui.core.images.cache import CorruptBlob, ImageCache, digest_of
from bpftui.core.images.credentials import SecretRef
from bpftui.core.images.errors import (
    ImageContentError,
    ImageNotCached,
    ImageReferenceError,
)
from bpftui.core.images.labels import ImageLabels
from bpftui.core.images.layer import build_layer, check_bpf_elf
from bpftui.core.images.manifest import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    Descriptor,
    canonical_json,
    image_config,
    image_manifest,
    load_json,
    media_type_of,
    parse_manifest,
)
from bpftui.core.images.pull import CheckedImage, check_image, client_for, load_cached
from bpftui.core.images.reference import ImageReference
from bpftui.core.images.settings import ImageSettings

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,254}")


def build_image(object_path: Path, tag: str, settings: ImageSettings) -> CheckedImage:
    """Build a bytecode image from a BPF ELF object into the cache.

    Args:
        object_path: the ``.o`` file.
        tag: the reference to store it under (``registry/repo:tag``).
        settings: the ``[images]`` settings.

    Raises:
        ImageReferenceError: ``tag`` is not a tag reference.
        InputError: the file cannot be read.
        ElfError: it is not a BPF object, or holds no programs.
    """
    reference = ImageReference.parse(tag)
    if reference.digest is not None:
        raise ImageReferenceError(f"image '{tag}': build takes a tag, not a digest")
    data = _read_object(object_path, settings.max_layer_bytes)
    labels = _labels_for(data, object_path)
    filename = object_path.name
    if not _SAFE_NAME.fullmatch(filename):
        raise InputError(
            f"object '{object_path}': rename it to letters, digits, '.', '_', '-'"
        )

    layer_bytes, diff_id = build_layer(filename, data)
    layer = Descriptor(OCI_LAYER_GZIP, digest_of(layer_bytes), len(layer_bytes))
    config_bytes = canonical_json(image_config(labels.to_labels(), diff_id))
    config = Descriptor(OCI_CONFIG, digest_of(config_bytes), len(config_bytes))
    manifest_bytes = canonical_json(image_manifest(config, layer, filename))
    digest = digest_of(manifest_bytes)

    # What was built is read back through the same checks as a pulled image.
    what = f"image '{reference}'"
    manifest = parse_manifest(
        load_json(manifest_bytes, what), what, settings.max_layer_bytes
    )
    blobs = {
        digest: manifest_bytes,
        config.digest: config_bytes,
        layer.digest: layer_bytes,
    }
    checked = check_image(reference, digest, manifest, blobs, settings)
    cache = ImageCache(settings.cache_dir)
    for blob_digest, blob in blobs.items():
        cache.write_blob(blob_digest, blob)
    cache.record(str(reference), digest, "built")
    log.info("image %s: built %s from %s", reference, digest, object_path)
    return checked


def push_image(
    url: str, settings: ImageSettings, *, secret: SecretRef | None = None
) -> str:
    """Push the cached image ``url`` to its registry; return its digest.

    Raises:
        ImageNotCached: the cache has no sound image under ``url``.
        RegistryError: the registry refused or could not be reached.
    """
    reference = ImageReference.parse(url)
    if reference.tag is None or reference.digest is not None:
        raise ImageReferenceError(
            f"image '{url}': push takes a tag reference, not a digest"
        )
    cache = ImageCache(settings.cache_dir)
    record = cache.lookup(str(reference))
    if record is None:
        raise ImageNotCached(
            f"image '{reference}': not in the cache",
            hint="build it first with 'bpftui image build FILE.o --tag URL'",
        )
    try:
        checked = load_cached(cache, reference, record.digest, settings)
    except CorruptBlob as exc:
        cache.forget(str(reference))
        raise ImageNotCached(
            f"image '{reference}': the cached copy was damaged ({exc.message}) "
            "and has been removed",
            hint="build it again",
        ) from None

    client = client_for(reference, settings, secret)
    for descriptor in (checked.manifest.config, checked.manifest.layer):
        client.push_blob(str(cache.blob_path(descriptor.digest)), descriptor)
    manifest_bytes = checked.blobs[checked.digest]
    media_type = media_type_of(load_json(manifest_bytes, "manifest"), None)
    digest = client.push_manifest(manifest_bytes, media_type, reference.tag)
    log.info("image %s: pushed %s", reference, digest)
    return digest


def _read_object(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(
                f"object '{path}': {size} bytes is over max_layer_bytes ({limit})"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"object '{path}': cannot read: {exc.strerror or exc}"
        ) from None
    try:
        check_bpf_elf(data, f"object '{path}'")
    except ImageContentError as exc:
        raise ElfError(exc.message, hint=exc.hint) from None
    return data


def _labels_for(data: bytes, path: Path) -> ImageLabels:
    from bpftui.core.images._elf import summarize

    summary = summarize(data, f"object '{path}'")
    if not summary.programs:
        raise ElfError(
            f"object '{path}': holds no programs",
            hint="programs are global functions in a SEC(...) other than .text",
        )
    return ImageLabels(programs=summary.programs, maps=summary.maps)
