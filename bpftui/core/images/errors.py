"""What can go wrong with a bytecode image, and which condition it becomes.

Every class here is an :class:`~bpftui.core.errors.ImageError`. Each names the
per-node condition the loader should record in ``condition``, so the loader
never has to guess from a message::

    ImageError
     ├── ImageReferenceError   bad url or imagepullpolicy         BytecodeSelectorError
     ├── PullSecretError       imagepullsecret or docker config   BytecodeSelectorError
     ├── ImageLabelError       io.ebpf labels unusable, or they   BytecodeSelectorError
     │                         do not list bpffunctionname
     ├── RegistryError         the registry answered with an error      NotLoaded
     │    ├── RegistryUnreachable   no connection, TLS failure, timeout NotLoaded
     │    ├── RegistryAuthError     credentials missing or refused      NotLoaded
     │    └── ImageNotFound         no such repository, tag or digest   NotLoaded
     ├── ImageNotCached        imagepullpolicy Never and no good copy   NotLoaded
     ├── ImageContentError     media type, size, layer or ELF refused   NotLoaded
     │    └── DigestMismatch   content does not hash to its digest      NotLoaded
     └── CacheError            the cache directory cannot be used       NotLoaded

The split follows bpfman's operator: what is wrong in the object itself (its
url, its secret, what the image says it holds) is a bytecode selector error;
what goes wrong while fetching is a failed load.
"""

from __future__ import annotations

from typing import ClassVar

from bpftui.core.errors import ImageError

__all__ = [
    "CacheError",
    "DigestMismatch",
    "ImageContentError",
    "ImageError",
    "ImageLabelError",
    "ImageNotCached",
    "ImageNotFound",
    "ImageReferenceError",
    "PullSecretError",
    "RegistryAuthError",
    "RegistryError",
    "RegistryUnreachable",
]

BYTECODE_SELECTOR_ERROR = "BytecodeSelectorError"
NOT_LOADED = "NotLoaded"


class _ImageError(ImageError):
    """An image error that names the per-node condition it leads to."""

    condition: ClassVar[str] = NOT_LOADED


class ImageReferenceError(_ImageError):
    """``bytecode.image`` is unusable: a malformed url or an unknown pull policy."""

    condition = BYTECODE_SELECTOR_ERROR


class PullSecretError(_ImageError):
    """The imagepullsecret or the docker config file cannot give credentials."""

    condition = BYTECODE_SELECTOR_ERROR


class ImageLabelError(_ImageError):
    """The image's io.ebpf labels are missing, malformed, or lack the function."""

    condition = BYTECODE_SELECTOR_ERROR


class RegistryError(_ImageError):
    """The registry answered a request with an error."""


class RegistryUnreachable(RegistryError):
    """No connection could be made: refused, unresolvable, TLS or timeout."""


class RegistryAuthError(RegistryError):
    """The registry wants credentials that are missing or that it refused."""


class ImageNotFound(RegistryError):
    """The registry has no such repository, tag or digest."""


class ImageNotCached(_ImageError):
    """imagepullpolicy is Never and the cache holds no sound copy."""


class ImageContentError(_ImageError):
    """The image's manifest, config or layer is refused as unsafe or unusable."""


class DigestMismatch(ImageContentError):
    """Content does not hash to the digest it was fetched or stored under."""


class CacheError(_ImageError):
    """The image cache directory cannot be created, read or written."""
