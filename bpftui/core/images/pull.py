"""Getting bytecode out of an image: pull policies over the cache and a registry.

``Never`` reads the cache and nothing else. ``IfNotPresent`` (the default)
reads the cache and pulls only when the image is missing or its cached copy
turned out damaged. ``Always`` asks the registry what the reference points at
now, and downloads only the blobs the cache does not already hold intact.

Whichever way the image comes, it goes through the same checks before it is
used: digests, media types, sizes, labels, the layer's contents.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bpftui.core.images.cache import CorruptBlob, ImageCache
from bpftui.core.images.credentials import SecretRef, resolve_credentials
from bpftui.core.images.errors import (
    DigestMismatch,
    ImageContentError,
    ImageLabelError,
    ImageNotCached,
    ImageReferenceError,
)
from bpftui.core.images.labels import ImageLabels
from bpftui.core.images.layer import LayerContent, read_layer
from bpftui.core.images.manifest import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Descriptor,
    Manifest,
    diff_ids,
    load_json,
    media_type_of,
    parse_manifest,
    select_platform,
)
from bpftui.core.images.reference import ImageReference
from bpftui.core.images.registry import RegistryClient
from bpftui.core.images.settings import ImageSettings

log = logging.getLogger(__name__)

ALWAYS = "Always"
IF_NOT_PRESENT = "IfNotPresent"
NEVER = "Never"
PULL_POLICIES = (ALWAYS, IF_NOT_PRESENT, NEVER)


class ImageSource(Protocol):
    """What the loader passes in: ``api.BytecodeImage`` fits."""

    @property
    def url(self) -> str: ...

    @property
    def imagepullpolicy(self) -> str: ...

    @property
    def imagepullsecret(self) -> SecretRef | None: ...


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """An :class:`ImageSource` made from command-line arguments."""

    url: str
    imagepullpolicy: str = IF_NOT_PRESENT
    imagepullsecret: SecretRef | None = None


@dataclass(frozen=True, slots=True)
class FetchedBytecode:
    """An image's ELF object, checked and ready to load.

    Attributes:
        path: the ELF object inside the cache; it stays until the image is
            removed from the cache.
        digest: the image manifest's digest.
        programs: function name -> program type, from the labels.
        maps: map name -> map type, from the labels.
        reference: the normalised reference that was fetched.
        pulled: whether a registry was contacted.
    """

    path: Path
    digest: str
    programs: Mapping[str, str]
    maps: Mapping[str, str]
    reference: str
    pulled: bool


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """An image whose every part passed the checks, with its blobs."""

    reference: ImageReference
    digest: str
    manifest: Manifest
    labels: ImageLabels
    content: LayerContent
    blobs: Mapping[str, bytes]


def pull_policy(value: object) -> str:
    """Normalise an imagepullpolicy (a string or a string enum)."""
    text = str(getattr(value, "value", value) or IF_NOT_PRESENT)
    if text not in PULL_POLICIES:
        raise ImageReferenceError(
            f"imagepullpolicy '{text}' is not one of {', '.join(PULL_POLICIES)}"
        )
    return text


def fetch_bytecode(
    image: ImageSource, settings: ImageSettings, *, bpffunctionname: str | None = None
) -> FetchedBytecode:
    """Get the ELF object of ``image`` as its pull policy allows.

    Args:
        image: ``spec.bytecode.image`` of a program object.
        settings: the ``[images]`` settings.
        bpffunctionname: when given, the image's labels must list it.

    Raises:
        ImageError: a subclass from :mod:`bpftui.core.images.errors`, whose
            ``condition`` names the per-node condition to record.
    """
    return fetch_image(image, settings, bpffunctionname=bpffunctionname)[1]


def fetch_image(
    image: ImageSource, settings: ImageSettings, *, bpffunctionname: str | None = None
) -> tuple[CheckedImage, FetchedBytecode]:
    """:func:`fetch_bytecode`, also returning the checked image behind it."""
    reference = ImageReference.parse(image.url)
    policy = pull_policy(image.imagepullpolicy)
    cache = ImageCache(settings.cache_dir)
    checked, pulled = resolve(cache, reference, policy, settings, image.imagepullsecret)
    if bpffunctionname is not None:
        checked.labels.require(bpffunctionname, str(reference))
    content = checked.content
    path = cache.place_object(
        checked.manifest.layer.digest, content.filename, content.data
    )
    log.debug("image %s: bytecode %s (%s)", reference, path, checked.digest)
    fetched = FetchedBytecode(
        path=path,
        digest=checked.digest,
        programs=dict(checked.labels.programs),
        maps=dict(checked.labels.maps),
        reference=str(reference),
        pulled=pulled,
    )
    return checked, fetched


def resolve(
    cache: ImageCache,
    reference: ImageReference,
    policy: str,
    settings: ImageSettings,
    secret: SecretRef | None,
) -> tuple[CheckedImage, bool]:
    """Find ``reference`` by ``policy``; return it and whether it was pulled."""
    if policy != ALWAYS:
        cached = _from_cache(cache, reference, settings, policy)
        if cached is not None:
            return cached, False
        if policy == NEVER:
            raise ImageNotCached(
                f"image '{reference}': not in the cache, and imagepullpolicy is Never",
                hint="pull it first with 'bpftui image pull URL', or use IfNotPresent",
            )
    return _pull(cache, reference, settings, secret), True


def load_cached(
    cache: ImageCache, reference: ImageReference, digest: str, settings: ImageSettings
) -> CheckedImage:
    """Read an image from the cache, checking every blob on the way.

    Raises:
        CorruptBlob: a blob is missing or damaged (a damaged one is deleted).
    """
    what = f"image '{reference}'"
    manifest_bytes = _need(cache, digest, None)
    document = load_json(manifest_bytes, f"{what}: manifest")
    if media_type_of(document, None) not in MANIFEST_TYPES:
        raise ImageContentError(f"{what}: cached manifest is not an image manifest")
    manifest = parse_manifest(document, what, settings.max_layer_bytes)
    config_bytes = _need(cache, manifest.config.digest, manifest.config.size)
    layer_bytes = _need(cache, manifest.layer.digest, manifest.layer.size)
    blobs = {digest: manifest_bytes}
    blobs[manifest.config.digest] = config_bytes
    blobs[manifest.layer.digest] = layer_bytes
    return check_image(reference, digest, manifest, blobs, settings)


def check_image(
    reference: ImageReference,
    digest: str,
    manifest: Manifest,
    blobs: Mapping[str, bytes],
    settings: ImageSettings,
) -> CheckedImage:
    """Apply the label and layer checks to blobs whose digests are verified."""
    what = f"image '{reference}'"
    config = load_json(blobs[manifest.config.digest], f"{what}: config")
    labels = ImageLabels.from_config(config, str(reference))
    layer = blobs[manifest.layer.digest]
    content = read_layer(layer, limit=settings.max_layer_bytes, image=str(reference))
    ids = diff_ids(config)
    if len(ids) > 1 or (ids and ids[0] != content.diff_id):
        raise DigestMismatch(
            f"{what}: the layer unpacks to {content.diff_id}, "
            f"but the config lists {', '.join(ids)}"
        )
    if labels.filename and labels.filename.rsplit("/", 1)[-1] != content.filename:
        raise ImageLabelError(
            f"{what}: label io.ebpf.filename names '{labels.filename}' "
            f"but the layer holds '{content.filename}'"
        )
    return CheckedImage(reference, digest, manifest, labels, content, dict(blobs))


def client_for(
    reference: ImageReference, settings: ImageSettings, secret: SecretRef | None
) -> RegistryClient:
    """A registry client with the credentials and transport the settings call for."""
    credentials = resolve_credentials(
        reference.registry,
        secret,
        secrets_dir=settings.secrets_dir,
        docker_config=settings.docker_config_path,
    )
    return RegistryClient(
        reference,
        insecure=settings.is_insecure(reference.registry),
        credentials=credentials,
        timeout=settings.timeout,
    )


def _from_cache(
    cache: ImageCache, reference: ImageReference, settings: ImageSettings, policy: str
) -> CheckedImage | None:
    record = cache.lookup(str(reference))
    if record is None:
        return None
    try:
        return load_cached(cache, reference, record.digest, settings)
    except CorruptBlob as exc:
        cache.forget(str(reference))
        if policy == NEVER:
            raise ImageNotCached(
                f"image '{reference}': the cached copy was damaged ({exc.message}) "
                "and has been removed; imagepullpolicy is Never",
                hint="pull it again with 'bpftui image pull URL', or use IfNotPresent",
            ) from None
        log.warning(
            "image %s: cached copy damaged (%s); pulling again", reference, exc.message
        )
        return None


def _pull(
    cache: ImageCache,
    reference: ImageReference,
    settings: ImageSettings,
    secret: SecretRef | None,
) -> CheckedImage:
    what = f"image '{reference}'"
    client = client_for(reference, settings, secret)
    data, header, digest = client.fetch_manifest(reference.manifest_reference)
    document = load_json(data, f"{what}: manifest")
    if media_type_of(document, header) in INDEX_TYPES:
        entry = select_platform(document, what)
        data, header, digest = client.fetch_manifest(entry.digest)
        document = load_json(data, f"{what}: manifest")
    media_type = media_type_of(document, header)
    if media_type not in MANIFEST_TYPES:
        raise ImageContentError(f"{what}: {media_type!r} is not an image manifest")
    manifest = parse_manifest(document, what, settings.max_layer_bytes)
    blobs = {digest: data}
    for descriptor in (manifest.config, manifest.layer):
        blobs[descriptor.digest] = _blob(cache, client, descriptor)
    checked = check_image(reference, digest, manifest, blobs, settings)

    # Only an image that passed every check reaches the cache, blobs first and
    # the reference last, so no reader can see a reference without its blobs.
    for blob_digest, blob in blobs.items():
        cache.write_blob(blob_digest, blob)
    cache.record(str(reference), digest, "pulled")
    log.info("image %s: pulled %s", reference, digest)
    return checked


def _blob(cache: ImageCache, client: RegistryClient, descriptor: Descriptor) -> bytes:
    try:
        cached = cache.read_blob(descriptor.digest, size=descriptor.size)
    except CorruptBlob as exc:
        log.warning("%s; fetching it again", exc.message)
        cached = None
    return cached if cached is not None else client.fetch_blob(descriptor)


def _need(cache: ImageCache, digest: str, size: int | None) -> bytes:
    data = cache.read_blob(digest, size=size)
    if data is None:
        raise CorruptBlob(digest, "missing from the cache")
    return data
