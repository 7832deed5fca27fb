"""What the command line shows and does with images: pull, list, remove, inspect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bpftui.core.errors import ImageError
from bpftui.core.images.cache import ImageCache, RefRecord
from bpftui.core.images.credentials import SecretRef
from bpftui.core.images.errors import ImageNotCached
from bpftui.core.images.pull import (
    IF_NOT_PRESENT,
    CheckedImage,
    ImageRequest,
    fetch_bytecode,
    fetch_image,
    load_cached,
)
from bpftui.core.images.reference import ImageReference
from bpftui.core.images.settings import ImageSettings


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """One image as listings show it.

    Attributes:
        reference: the normalised reference.
        digest: the image manifest's digest.
        programs: function name -> program type.
        maps: map name -> map type.
        size: the layer's size in bytes.
        source: ``pulled`` or ``built``.
        updated: when the reference last changed (seconds since the epoch).
        object: the ELF object's path, when it has been placed for loading.
        problem: why the cached copy cannot be used, or ``""``.
    """

    reference: str
    digest: str
    programs: Mapping[str, str] = field(default_factory=dict)
    maps: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    source: str = ""
    updated: float | None = None
    object: Path | None = None
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``-o json``."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            "programs": dict(self.programs),
            "maps": dict(self.maps),
            "size": self.size,
            "source": self.source,
            "updated": _timestamp(self.updated),
            "object": str(self.object) if self.object else None,
            "problem": self.problem or None,
        }

    @classmethod
    def of(cls, checked: CheckedImage, **extra: Any) -> ImageInfo:
        """Summarise a checked image."""
        return cls(
            reference=str(checked.reference),
            digest=checked.digest,
            programs=dict(checked.labels.programs),
            maps=dict(checked.labels.maps),
            size=checked.manifest.layer.size,
            **extra,
        )


def pull_image(
    url: str,
    settings: ImageSettings,
    *,
    policy: str = IF_NOT_PRESENT,
    secret: SecretRef | None = None,
) -> ImageInfo:
    """Pull ``url`` into the cache as ``policy`` says; describe the result."""
    checked, fetched = fetch_image(ImageRequest(url, policy, secret), settings)
    record = ImageCache(settings.cache_dir).lookup(fetched.reference)
    return ImageInfo.of(
        checked,
        source="pulled" if fetched.pulled else "cache",
        updated=record.updated if record else None,
        object=fetched.path,
    )


def inspect_image(
    url: str,
    settings: ImageSettings,
    *,
    policy: str = IF_NOT_PRESENT,
    secret: SecretRef | None = None,
) -> Path:
    """The ELF object of an image, for ``bpftui inspect URL``.

    The image is taken from the cache when it is there (``IfNotPresent``) and
    pulled otherwise; the object is checked like one about to be loaded.
    """
    return fetch_bytecode(ImageRequest(url, policy, secret), settings).path


def list_images(settings: ImageSettings) -> list[ImageInfo]:
    """Every image in the cache, each checked again; damaged ones say why."""
    cache = ImageCache(settings.cache_dir)
    return [_describe(cache, record, settings) for record in cache.records()]


def remove_images(urls: Iterable[str], settings: ImageSettings) -> list[str]:
    """Drop references from the cache, then the blobs nothing needs any more.

    Raises:
        ImageNotCached: one of them is not in the cache (nothing is removed).
    """
    cache = ImageCache(settings.cache_dir)
    references = [str(ImageReference.parse(url)) for url in urls]
    missing = [r for r in references if cache.lookup(r) is None]
    if missing:
        raise ImageNotCached(
            f"image {', '.join(repr(m) for m in missing)}: not in the cache",
            hint="'bpftui image list' shows what is",
        )
    for reference in references:
        cache.forget(reference)
    cache.prune()
    return references


def _describe(
    cache: ImageCache, record: RefRecord, settings: ImageSettings
) -> ImageInfo:
    reference = ImageReference.parse(record.reference)
    try:
        checked = load_cached(cache, reference, record.digest, settings)
    except ImageError as exc:
        return ImageInfo(
            str(reference),
            record.digest,
            source=record.source,
            updated=record.updated,
            problem=exc.message,
        )
    return ImageInfo.of(checked, source=record.source, updated=record.updated)


def _timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")
