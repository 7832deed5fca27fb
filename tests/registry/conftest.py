"""A real OCI registry on 127.0.0.1: Debian's docker-registry (distribution 2.8).

Each test gets its own registry process, data directory and port; the
fixture stops the process and deletes the data even when the test fails.
Nothing here binds or connects to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpftui.core.images import ImageSettings

REGISTRY = Path("/usr/bin/docker-registry")
USER = "bpftui-test"

BPF_SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pass_count SEC(".maps");

SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

SEC("tc")
int tc_ok(struct __sk_buff *skb) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalRegistry:
    """One docker-registry process and its storage."""

    workdir: Path
    password: str | None = None
    tls: bool = False
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.workdir / "data"

    def url(self, repository: str, tag: str = "v1") -> str:
        return f"{self.host}/{repository}:{tag}"

    @property
    def certificate(self) -> Path:
        return self.workdir / "cert.pem"

    @property
    def key(self) -> Path:
        return self.workdir / "key.pem"

    def make_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1, valid for a day."""
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("needs the openssl command to make a test certificate")
        subprocess.run(
            [openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(self.key), "-out", str(self.certificate)],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (to make it lie)."""
        hexdigest = digest.split(":", 1)[1]
        return (
            self.storage
            / "docker/registry/v2/blobs/sha256"
            / hexdigest[:2]
            / hexdigest
            / "data"
        )

    def start(self) -> None:
        for _attempt in range(3):
            self.port = self.port or _free_port()
            self._write_config()
            log = (self.workdir / "registry.log").open("ab")
            self.process = subprocess.Popen(
                [str(REGISTRY), "serve", str(self.workdir / "config.yml")],
                stdout=log,
                stderr=log,
                env={"PATH": "/usr/bin:/bin"},
                start_new_session=True,
            )
            log.close()
            if self._wait_ready():
                return
            self.stop()
            self.port = 0  # another process took the port between probe and bind
        pytest.fail(
            f"docker-registry did not start; see {self.workdir / 'registry.log'}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def _write_config(self) -> None:
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.storage}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: {self.host}",
        ]
        if self.tls:
            lines.append(f"  tls: {{certificate: {self.certificate}, key: {self.key}}}")
        if self.password is not None:
            htpasswd = self.workdir / "htpasswd"
            lines.append(
                f"auth: {{htpasswd: {{realm: bpftui-test, path: {htpasswd}}}}}"
            )
        (self.workdir / "config.yml").write_text("\n".join(lines) + "\n")

    def _wait_ready(self) -> bool:
        scheme = "https" if self.tls else "http"
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.certificate))
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                opener.open(f"{scheme}://{self.host}/v2/", timeout=1).close()
                return True
            except urllib.error.HTTPError as exc:
                return exc.code == 401
            except OSError:
                time.sleep(0.05)
        return False


def _start(
    workdir: Path, password: str | None, *, tls: bool = False
) -> Iterator[LocalRegistry]:
    if not REGISTRY.exists():
        pytest.skip(f"needs {REGISTRY} (Debian package docker-registry)")
    registry = LocalRegistry(workdir, password, tls)
    if tls:
        registry.make_certificate()
    if password is not None:
        bcrypt = pytest.importorskip(
            "bcrypt", reason="htpasswd needs the bcrypt package"
        )
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (workdir / "htpasswd").write_text(f"{USER}:{hashed}\n")
    try:
        registry.start()
        yield registry
    finally:
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """No proxy may stand between the tests and 127.0.0.1."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture
def registry(tmp_path_factory) -> Iterator[LocalRegistry]:
    """A registry without authentication."""
    yield from _start(tmp_path_factory.mktemp("registry"), None)


@pytest.fixture
def auth_registry(tmp_path_factory) -> Iterator[LocalRegistry]:
    """A registry that wants HTTP Basic credentials (htpasswd)."""
    yield from _start(tmp_path_factory.mktemp("registry"), "pw-" + secrets.token_hex(8))


@pytest.fixture
def tls_registry(tmp_path_factory) -> Iterator[LocalRegistry]:
    """A registry over TLS (self-signed for 127.0.0.1) wanting credentials."""
    workdir = tmp_path_factory.mktemp("registry")
    yield from _start(workdir, "pw-" + secrets.token_hex(8), tls=True)


@pytest.fixture(scope="session")
def bpf_object(tmp_path_factory) -> Path:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang to compile a BPF object (scripts/apt-packages.txt)")
    folder = tmp_path_factory.mktemp("bpf")
    (folder / "prog.c").write_text(BPF_SOURCE)
    subprocess.run(
        [clang, "-O2", "-g", "-target", "bpf", "-c", "prog.c", "-o", "prog.o"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return folder / "prog.o"


@pytest.fixture(scope="session")
def other_object(bpf_object) -> Path:
    """A second object with other code, to move a tag to."""
    source = (bpf_object.parent / "prog.c").read_text().replace("XDP_PASS", "XDP_DROP")
    (bpf_object.parent / "other.c").write_text(source)
    subprocess.run(
        ["clang", "-O2", "-g", "-target", "bpf", "-c", "other.c", "-o", "other.o"],
        cwd=bpf_object.parent,
        check=True,
        capture_output=True,
    )
    return bpf_object.parent / "other.o"


def settings_in(folder: Path, *insecure: str, **overrides: object) -> ImageSettings:
    """Settings under ``folder``; only the given registries are plain HTTP."""
    values: dict[str, object] = {
        "cache_dir": folder / "cache",
        "secrets_dir": folder / "secrets",
        "docker_config": folder / "docker.json",
        "insecure_registries": insecure,
        "timeout": 5.0,
    }
    values.update(overrides)
    return ImageSettings(**values)  # type: ignore[arg-type]


def write_pull_secret(
    folder: Path, registry: str, password: str, name: str = "regcred"
) -> None:
    """A kubernetes.io/dockerconfigjson Secret manifest, as kubectl writes it."""
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    config = json.dumps(
        {"auths": {registry: {"username": USER, "password": password, "auth": auth}}}
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Secret\n"
        f"metadata:\n  name: {name}\n  namespace: default\n"
        "type: kubernetes.io/dockerconfigjson\n"
        f"data:\n  .dockerconfigjson: {base64.b64encode(config.encode()).decode()}\n"
    )
    os.chmod(path, 0o600)


@pytest.fixture
def settings_for():
    """``settings_for(folder, *insecure_registries, **overrides)``."""
    return settings_in


@pytest.fixture
def pull_secret():
    """``pull_secret(secrets_dir, registry, password, name="regcred")``."""
    return write_pull_secret
