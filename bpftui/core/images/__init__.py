"""Bytecode from OCI images, as bpfman ships it: pull, cache, build, push.

The loader calls one function when ``spec.bytecode.image`` is set::

    fetched = fetch_bytecode(spec.bytecode.image, settings,
                             bpffunctionname=spec.bpffunctionname)
    load(fetched.path, ...)

and records ``err.condition`` (``NotLoaded`` or ``BytecodeSelectorError``)
with ``str(err)`` as the message when it raises; see
:mod:`bpftui.core.images.errors` for which failure is which.

Modules: :mod:`.reference` (names), :mod:`.manifest` (what is accepted),
:mod:`.layer` (the tar+gzip layer), :mod:`.labels` (io.ebpf labels),
:mod:`.credentials` (pull secrets), :mod:`.registry` (oras transport),
:mod:`.cache` (on-disk store), :mod:`.pull` (pull policies),
:mod:`.build` (build and push), :mod:`.inventory` (what the CLI shows).
Nothing here imports a front end.
"""

from __future__ import annotations

from bpftui.core.images.build import build_image, push_image
from bpftui.core.images.credentials import Credentials, PullSecret
from bpftui.core.images.errors import (
    CacheError,
    DigestMismatch,
    ImageContentError,
    ImageError,
    ImageLabelError,
    ImageNotCached,
    ImageNotFound,
    ImageReferenceError,
    PullSecretError,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)
from bpftui.core.images.inventory import (
    ImageInfo,
    inspect_image,
    list_images,
    pull_image,
    remove_images,
)
from bpftui.core.images.labels import ImageLabels
from bpftui.core.images.pull import (
    ALWAYS,
    IF_NOT_PRESENT,
    NEVER,
    PULL_POLICIES,
    FetchedBytecode,
    ImageRequest,
    ImageSource,
    fetch_bytecode,
)
from bpftui.core.images.reference import ImageReference
from bpftui.core.images.settings import ImageSettings

__all__ = [
    "ALWAYS",
    "IF_NOT_PRESENT",
    "NEVER",
    "PULL_POLICIES",
    "CacheError",
    "Credentials",
    "DigestMismatch",
    "FetchedBytecode",
    "ImageContentError",
    "ImageError",
    "ImageInfo",
    "ImageLabelError",
    "ImageLabels",
    "ImageNotCached",
    "ImageNotFound",
    "ImageReference",
    "ImageReferenceError",
    "ImageRequest",
    "ImageSettings",
    "ImageSource",
    "PullSecret",
    "PullSecretError",
    "RegistryAuthError",
    "RegistryError",
    "RegistryUnreachable",
    "build_image",
    "fetch_bytecode",
    "inspect_image",
    "list_images",
    "pull_image",
    "push_image",
    "remove_images",
]
