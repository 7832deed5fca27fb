"""Talking to an OCI registry, through oras, with nothing taken on trust.

oras's :class:`~oras.provider.Registry` does the HTTP work (blob reads,
uploads, upload sessions). Three things are done differently here:

* ``do_request`` is replaced: oras retries every failure five times with
  sleeps that add up to more than two minutes, which would hang a load on
  an unreachable registry; and its authentication reads ``~/.docker`` behind
  our back. Here a request is sent once, a 401 is answered once with the
  credentials bpftui resolved (Basic, or a Bearer token from the registry's
  token service), and every request has a timeout.
* Every byte is counted against a limit while it streams in, and hashed:
  content that does not match the digest it was asked for is refused.
* Failures become :mod:`bpftui.core.images.errors` with the registry named and
  no credential in the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json as _json  # do_request's parameter 'json' is oras's name
import logging
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import oras.auth.utils
import oras.container
import oras.provider
import requests

from bpftui.core.images.credentials import Credentials
from bpftui.core.images.errors import (
    DigestMismatch,
    ImageContentError,
    ImageNotFound,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)
from bpftui.core.images.manifest import ACCEPT, MAX_MANIFEST_BYTES, Descriptor
from bpftui.core.images.reference import ImageReference, is_digest

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


class RegistryClient:
    """One repository on one registry, as seen by a pull or a push.

    Args:
        reference: the image; its registry and repository are used.
        insecure: reach the registry over plain HTTP (only when configured).
        credentials: what to answer an authentication challenge with.
        timeout: seconds to wait for each answer.
    """

    def __init__(
        self,
        reference: ImageReference,
        *,
        insecure: bool,
        credentials: Credentials | None,
        timeout: float,
    ) -> None:
        self.reference = reference
        self._oras = _OrasRegistry(
            reference.api_host,
            insecure=insecure,
            credentials=credentials,
            timeout=timeout,
        )
        self._repository = _Repository(reference)

    @property
    def _where(self) -> str:
        return f"registry {self.reference.registry}"

    def fetch_manifest(self, name: str) -> tuple[bytes, str | None, str]:
        """Fetch a manifest or index by tag or digest.

        Returns:
            The raw bytes, the Content-Type header, and their digest.

        Raises:
            DigestMismatch: the bytes do not hash to the digest asked for or
                to the digest the registry announced.
        """
        url = f"{self._oras.prefix}://{self._repository.manifest_url(name)}"
        separator = "@" if is_digest(name) else ":"
        repository = f"{self.reference.registry}/{self.reference.repository}"
        what = f"image '{repository}{separator}{name}'"
        with (
            self._network(),
            self._oras.do_request(url, "GET", headers={"Accept": ACCEPT}) as response,
        ):
            self._check(response, what)
            data = _read_limited(response, MAX_MANIFEST_BYTES, f"{what}: manifest")
            announced = response.headers.get("Docker-Content-Digest")
            media_type = response.headers.get("Content-Type")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if is_digest(name) and digest != name:
            raise DigestMismatch(
                f"{self._where} sent a manifest for {name} that hashes to {digest}"
            )
        if announced and announced.startswith("sha256:") and announced != digest:
            raise DigestMismatch(
                f"{self._where}: manifest of {what} hashes to {digest} "
                f"but the registry announced {announced}"
            )
        return data, media_type, digest

    def fetch_blob(self, descriptor: Descriptor) -> bytes:
        """Fetch a blob and check its size and digest against ``descriptor``."""
        what = f"{self._where}: blob {descriptor.digest}"
        with (
            self._network(),
            self._oras.get_blob(
                self._repository, descriptor.digest, stream=True
            ) as response,
        ):
            self._check(response, what)
            data = _read_limited(response, descriptor.size, what)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest != descriptor.digest or len(data) != descriptor.size:
            raise DigestMismatch(
                f"{what}: the registry sent {len(data)} bytes hashing to "
                f"{digest}; refused"
            )
        return data

    def push_blob(self, path: str, descriptor: Descriptor) -> None:
        """Upload a blob from a file, unless the registry has it already."""
        what = f"{self._where}: upload of {descriptor.digest}"
        url = (
            f"{self._oras.prefix}://{self._repository.get_blob_url(descriptor.digest)}"
        )
        with self._network():
            # Asked first so that refused credentials are reported as such;
            # oras's upload would turn them into a missing upload session.
            present = self._oras.do_request(url, "HEAD")
            if present.status_code == 200:
                return
            if present.status_code != 404:
                self._check(present, what)
            try:
                response = self._oras.upload_blob(
                    path, self._repository, descriptor.to_json()
                )
            except ValueError:
                raise RegistryError(
                    f"{what}: the registry opened no upload session"
                ) from None
        self._check(response, what)

    def push_manifest(self, data: bytes, media_type: str, tag: str) -> str:
        """Upload a manifest under ``tag`` and check the digest the registry reports."""
        url = f"{self._oras.prefix}://{self._repository.manifest_url(tag)}"
        headers = {"Content-Type": media_type}
        with self._network():
            response = self._oras.do_request(url, "PUT", data=data, headers=headers)
        self._check(response, f"{self._where}: upload of the manifest for tag {tag}")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        announced = response.headers.get("Docker-Content-Digest")
        if announced and announced != digest:
            raise DigestMismatch(
                f"{self._where} stored the manifest as {announced}, expected {digest}"
            )
        return digest

    @contextlib.contextmanager
    def _network(self) -> Iterator[None]:
        """Turn requests' exceptions into RegistryUnreachable with the cause."""
        try:
            yield
        except requests.exceptions.SSLError as exc:
            raise RegistryUnreachable(
                f"{self._where}: TLS connection failed: {_cause(exc)}",
                hint="if this registry serves plain HTTP, list it in "
                "insecure_registries under [images] in bpftui.toml",
            ) from None
        except requests.exceptions.Timeout:
            raise RegistryUnreachable(f"{self._where}: no answer in time") from None
        except requests.exceptions.RequestException as exc:
            raise RegistryUnreachable(
                f"{self._where}: cannot connect: {_cause(exc)}",
                hint="check the registry address and that it is running",
            ) from None

    def _check(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _registry_errors(response)
        if status == 401:
            raise RegistryAuthError(
                f"{what}: authentication failed "
                f"({self._oras.credential_source}){detail}",
                hint=self._oras.credential_hint,
            )
        if status == 403:
            raise RegistryAuthError(f"{what}: access denied{detail}")
        if status == 404:
            raise ImageNotFound(
                f"{what}: not found{detail}",
                hint="check the repository and the tag",
            )
        raise RegistryError(f"{what}: HTTP {status} {response.reason}{detail}")


class _Repository(oras.container.Container):  # type: ignore[misc]
    """oras's view of a repository, filled in from our own parse.

    oras's name parser would take a repository component holding a dot for a
    registry name; the fields are set directly instead.
    """

    def __init__(self, reference: ImageReference) -> None:
        self.registry = reference.api_host
        self.namespace = None
        self.repository = reference.repository
        self.tag = reference.tag or "latest"
        self.digest = reference.digest


class _TimedSession(requests.Session):
    """A session whose every request has a timeout unless one is given."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        # Registries may set cookies; they carry nothing we want to send back.
        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def request(
        self, method: str, url: Any, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


class _OrasRegistry(oras.provider.Registry):  # type: ignore[misc]
    """oras's Registry with one-shot requests and our own authentication."""

    def __init__(
        self,
        hostname: str,
        *,
        insecure: bool,
        credentials: Credentials | None,
        timeout: float,
    ) -> None:
        super().__init__(hostname=hostname, insecure=insecure, tls_verify=True)
        self.session = _TimedSession(timeout)
        self.auth.session = self.session
        self._credentials = credentials
        self._insecure = insecure
        self._authorization: dict[str, str] = {}

    @property
    def credential_hint(self) -> str:
        """What to do about refused or missing credentials."""
        if self._credentials is None:
            return (
                "set bytecode.image.imagepullsecret, or add the registry "
                "to the node's docker config file"
            )
        return "check the user name and password there"

    @property
    def credential_source(self) -> str:
        """Where the credentials came from, or that there were none."""
        if self._credentials is None:
            return "no credentials configured"
        return f"credentials from {self._credentials.source}"

    def do_request(
        self,
        url: str,
        method: str = "GET",
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send once; on a 401, answer the challenge and send once more."""
        request = {"data": data, "json": json, "stream": stream}
        response = self._send(method, url, headers, request)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        response.close()
        self._authorization = self._answer(challenge)
        return self._send(method, url, headers, request)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None,
        request: dict[str, Any],
    ) -> requests.Response:
        sent = {**(headers or {}), **self._authorization}
        log.debug("%s %s", method, url)
        return self.session.request(method, url, headers=sent, verify=True, **request)

    def _answer(self, challenge: str) -> dict[str, str]:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if self._credentials is None:
                return {}  # the retry gets a 401 again, reported as such
            self._warn_if_plain_http()
            return {"Authorization": f"Basic {self._credentials.basic_token()}"}
        if scheme == "bearer":
            return {"Authorization": f"Bearer {self._token(challenge)}"}
        raise RegistryAuthError(
            f"registry {self.hostname}: unsupported authentication scheme {scheme!r}"
        )

    def _token(self, challenge: str) -> str:
        """Ask the registry's token service for a bearer token."""
        header = oras.auth.utils.parse_auth_header(challenge)
        realm = self._checked_realm(header.realm or "")
        wanted = (("service", header.service), ("scope", header.scope))
        params = {key: value for key, value in wanted if value}
        auth = {}
        if self._credentials is not None:
            auth = {"Authorization": f"Basic {self._credentials.basic_token()}"}
        with self.session.get(
            realm, params=params, headers=auth, verify=True
        ) as answer:
            if answer.status_code in (401, 403):
                raise RegistryAuthError(
                    f"registry {self.hostname}: token service refused the "
                    f"{self.credential_source}"
                )
            if answer.status_code != 200:
                raise RegistryError(
                    f"registry {self.hostname}: token service answered "
                    f"HTTP {answer.status_code}"
                )
            return self._token_in(answer.content)

    def _checked_realm(self, realm: str) -> str:
        """Refuse a token service that is no URL, or plain HTTP for a TLS registry."""
        scheme = urlsplit(realm).scheme
        if scheme not in ("https", "http"):
            raise RegistryAuthError(
                f"registry {self.hostname}: token realm {realm!r} is not a URL"
            )
        if scheme == "http" and not self._insecure:
            raise RegistryAuthError(
                f"registry {self.hostname}: token service {realm} "
                "is plain HTTP; refused"
            )
        return realm

    def _token_in(self, content: bytes) -> str:
        try:
            body = _json.loads(content)
        except ValueError:
            body = None
        token = None
        if isinstance(body, dict):
            token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(
                f"registry {self.hostname}: token service gave no token"
            )
        return token

    def _warn_if_plain_http(self) -> None:
        if self.prefix == "http":
            log.warning(
                "sending credentials to %s over plain HTTP "
                "(listed in insecure_registries)",
                self.hostname,
            )


def _read_limited(response: requests.Response, limit: int, what: str) -> bytes:
    """Read a streamed body, refusing it once it grows past ``limit`` bytes."""
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise ImageContentError(
            f"{what}: {length} bytes announced, more than {limit} expected"
        )
    data = bytearray()
    for chunk in response.iter_content(chunk_size=_CHUNK):
        data += chunk
        if len(data) > limit:
            raise ImageContentError(
                f"{what}: more than the {limit} bytes expected; refused"
            )
    return bytes(data)


def _registry_errors(response: requests.Response) -> str:
    """The registry's own error codes from an OCI error body, as a suffix."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ""
    codes = [
        str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")
    ]
    return f" ({', '.join(codes)})" if codes else ""


def _cause(exc: BaseException) -> str:
    """The innermost OS-level reason of a requests exception, in words."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        nested = [a for a in current.args if isinstance(a, BaseException)]
        current = (
            current.__cause__ or current.__context__ or (nested[0] if nested else None)
        )
    return type(exc).__name__
