"""Image references: ``[registry/]repository[:tag][@sha256:digest]``.

The rules are the container runtimes': the first path component names a
registry only when it holds a dot or a colon or is ``localhost``; otherwise the
image lives on Docker Hub, and a one-component name there is under
``library/``. Without a tag or digest the tag is ``latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bpftui.core.images.errors import ImageReferenceError

DOCKER_HUB = "docker.io"
# Docker Hub's registry API is not served on the name images use.
_DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io"}
)

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_REGISTRY = re.compile(
    r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?"
)


def is_digest(text: str) -> bool:
    """Whether ``text`` is a well-formed ``sha256:<64 hex>`` digest."""
    return _DIGEST.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class ImageReference:
    """One parsed image reference.

    Attributes:
        registry: ``host[:port]`` as written (``docker.io`` for Docker Hub).
        repository: the path inside the registry (``bpfman-bytecode/xdp_pass``).
        tag: the tag, ``None`` when only a digest was given.
        digest: the pinned manifest digest, if any.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        """Parse a reference, raising :class:`ImageReferenceError` if malformed."""
        original = text
        text = text.strip()
        if "://" in text:
            raise ImageReferenceError(
                f"image '{original}': a reference has no scheme",
                hint="drop the http:// or https://; list plain-HTTP registries "
                "in insecure_registries under [images] in bpftui.toml",
            )
        name, digest = _split_digest(text, original)
        name, tag = _split_tag(name, original)
        registry, repository = _split_registry(name, original)
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry, repository, tag, digest)

    @property
    def api_host(self) -> str:
        """The ``host[:port]`` that serves the registry API."""
        if self.registry in _DOCKER_HUB_ALIASES:
            return _DOCKER_HUB_API
        return self.registry

    @property
    def manifest_reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        """The same repository pinned to ``digest`` (the tag dropped)."""
        return ImageReference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def same_registry(a: str, b: str) -> bool:
    """Whether two ``host[:port]`` names mean the same registry."""
    a, b = a.lower(), b.lower()
    if a in _DOCKER_HUB_ALIASES and b in _DOCKER_HUB_ALIASES:
        return True
    return a == b


def _split_digest(text: str, original: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    name, digest = text.rsplit("@", 1)
    if not is_digest(digest):
        raise ImageReferenceError(
            f"image '{original}': '{digest}' is not a digest",
            hint="write @sha256: followed by 64 lower-case hex digits",
        )
    return name, digest


def _split_tag(name: str, original: str) -> tuple[str, str | None]:
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon <= slash:
        return name, None
    tag = name[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise ImageReferenceError(
            f"image '{original}': '{tag}' is not a valid tag",
            hint="a tag is up to 128 letters, digits, '_', '.' or '-'",
        )
    return name[:colon], tag


def _split_registry(name: str, original: str) -> tuple[str, str]:
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not _REGISTRY.fullmatch(first):
            raise ImageReferenceError(
                f"image '{original}': '{first}' is not host[:port]"
            )
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
        if "/" not in path:
            path = f"library/{path}"
    if not path or not all(_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise ImageReferenceError(
            f"image '{original}': '{path}' is not a valid repository name",
            hint="use lower-case letters, digits and '.', '_', '-' between '/'",
        )
    return registry, path
