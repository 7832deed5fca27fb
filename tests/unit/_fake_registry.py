"""An in-memory OCI registry behind a requests adapter: no sockets at all.

Like httpx's MockTransport: the code under test keeps its real HTTP client
and only the transport is swapped. It can be told to misbehave: serve other
bytes than a digest names, announce a wrong digest, demand Basic or Bearer
authentication.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from bpftui.core.images import registry as registry_module

_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_UPLOADS = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<id>[^/]*)$")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry(BaseAdapter):
    """One registry host; ``requests`` lists every (method, path) it was sent."""

    host: str = "registry.test"
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    lies: dict[str, bytes] = field(default_factory=dict)
    announce: str | None = None
    basic: tuple[str, str] | None = None
    bearer: tuple[str, str, str] | None = None  # realm, user, password
    token: str = "t0ken-value"
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    # ------------------------------------------------------------ content

    def put_image(
        self, repo: str, tag: str, manifest: bytes, media_type: str, *blobs: bytes
    ) -> str:
        for blob in blobs:
            self.blobs[sha(blob)] = blob
        self.manifests[(repo, tag)] = (manifest, media_type)
        self.manifests[(repo, sha(manifest))] = (manifest, media_type)
        return sha(manifest)

    # ---------------------------------------------------------- transport

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        self.requests.append((request.method, parts.path))
        auth = request.headers.get("Authorization", "")
        self.authorizations.append(auth)
        if self.bearer and parts.geturl().startswith(self.bearer[0]):
            return self._token(request, auth)
        if not self._authorized(auth):
            return self._challenge(request)
        return self._route(request, parts)

    def close(self) -> None:
        pass

    def _authorized(self, auth: str) -> bool:
        if self.basic:
            user, password = self.basic
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            return auth == f"Basic {expected}"
        if self.bearer:
            return auth == f"Bearer {self.token}"
        return True

    def _challenge(self, request):
        if self.basic:
            header = 'Basic realm="fake"'
        else:
            realm = self.bearer[0]
            header = f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'
        return self._response(
            request,
            401,
            b'{"errors":[{"code":"UNAUTHORIZED"}]}',
            {"WWW-Authenticate": header},
        )

    def _token(self, request, auth):
        _realm, user, password = self.bearer
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        if auth != f"Basic {expected}":
            return self._response(request, 401, b"{}")
        return self._response(request, 200, json.dumps({"token": self.token}).encode())

    def _route(self, request, parts):
        method, path = request.method, parts.path
        if match := _MANIFEST.match(path):
            return self._manifest(request, method, match["repo"], match["ref"])
        if match := _BLOB.match(path):
            return self._blob(request, method, match["digest"])
        if match := _UPLOADS.match(path):
            return self._upload(request, method, match["repo"], parts)
        return self._response(request, 404, b"{}")

    def _manifest(self, request, method, repo, ref):
        if method == "PUT":
            body = (
                request.body
                if isinstance(request.body, bytes)
                else request.body.encode()
            )
            media_type = request.headers.get("Content-Type", "")
            self.manifests[(repo, ref)] = (body, media_type)
            self.manifests[(repo, sha(body))] = (body, media_type)
            return self._response(
                request, 201, b"", {"Docker-Content-Digest": sha(body)}
            )
        found = self.manifests.get((repo, ref))
        if found is None:
            return self._response(
                request, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            )
        body, media_type = found
        digest = self.announce or sha(body)
        return self._response(
            request,
            200,
            body,
            {"Content-Type": media_type, "Docker-Content-Digest": digest},
        )

    def _blob(self, request, method, digest):
        body = self.lies.get(digest, self.blobs.get(digest))
        if body is None:
            return self._response(request, 404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        return self._response(request, 200, b"" if method == "HEAD" else body)

    def _upload(self, request, method, repo, parts):
        if method == "POST":
            location = f"http://{self.host}/v2/{repo}/blobs/uploads/u1"
            return self._response(request, 202, b"", {"Location": location})
        digest = parse_qs(parts.query)["digest"][0]
        body = request.body or b""
        if sha(body) != digest:
            return self._response(
                request, 400, b'{"errors":[{"code":"DIGEST_INVALID"}]}'
            )
        self.blobs[digest] = body
        return self._response(request, 201, b"")

    @staticmethod
    def _response(request, status, body, headers=None):
        response = requests.Response()
        response.status_code = status
        response.reason = {200: "OK", 201: "Created", 202: "Accepted"}.get(
            status, "Error"
        )
        response.headers = CaseInsensitiveDict(
            {"Content-Length": str(len(body)), **(headers or {})}
        )
        response._content = body
        response._content_consumed = True
        response.raw = io.BytesIO(body)
        response.url = request.url
        response.request = request
        return response


def install(monkeypatch, fake: FakeRegistry) -> FakeRegistry:
    """Route every session the registry client makes to ``fake``."""

    class Session(registry_module._TimedSession):
        def __init__(self, timeout):
            super().__init__(timeout)
            self.mount("http://", fake)
            self.mount("https://", fake)

    monkeypatch.setattr(registry_module, "_TimedSession", Session)
    return fake
