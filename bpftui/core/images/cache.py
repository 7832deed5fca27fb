"""The on-disk image cache: blobs by digest, references, unpacked objects.

Layout under the cache directory (mode 0700, root's)::

    blobs/sha256/<hex>           manifests, configs and layers, by digest
    refs/<sha256 of ref>.json    which manifest a reference (tag) points at
    objects/<layer hex>/<name>   the ELF object of a layer, for the loader

Every read of a blob hashes it again: a blob that no longer matches its
digest is deleted on the spot and reported as :class:`CorruptBlob`, so a
damaged or tampered entry is never used twice. Writes go to a temporary file
and are renamed into place, so a reader never sees half a blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bpftui.core.images.errors import CacheError, DigestMismatch
from bpftui.core.images.manifest import referenced_digests
from bpftui.core.images.reference import is_digest

log = logging.getLogger(__name__)


class CorruptBlob(DigestMismatch):
    """A cached blob is missing or no longer hashes to its digest."""

    def __init__(self, digest: str, reason: str) -> None:
        self.digest = digest
        super().__init__(f"cached blob {digest}: {reason}")


@dataclass(frozen=True, slots=True)
class RefRecord:
    """One reference in the cache and the manifest it resolved to.

    Attributes:
        reference: the normalised reference (``registry/repo:tag``).
        digest: the image manifest's digest.
        source: ``"pulled"`` or ``"built"``.
        updated: when the reference last changed, seconds since the epoch.
    """

    reference: str
    digest: str
    source: str
    updated: float


def digest_of(data: bytes) -> str:
    """The ``sha256:`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ImageCache:
    """Content-addressed storage for bytecode images under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # ------------------------------------------------------------------ blobs

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives (whether or not it exists)."""
        if not is_digest(digest):
            raise CacheError(f"image cache: '{digest}' is not a sha256 digest")
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def read_blob(self, digest: str, *, size: int | None = None) -> bytes | None:
        """Read a blob and check it against its digest (and size, if given).

        Returns:
            The blob, or ``None`` when the cache does not hold it.

        Raises:
            CorruptBlob: the blob was damaged; it has been deleted.
        """
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(
                f"image cache: cannot read {path}: {exc.strerror}"
            ) from None
        if digest_of(data) != digest or (size is not None and len(data) != size):
            self._unlink(path)
            raise CorruptBlob(digest, "content does not match its digest; removed")
        return data

    def write_blob(self, digest: str, data: bytes) -> Path:
        """Store ``data`` under ``digest`` after checking that they agree."""
        if digest_of(data) != digest:
            raise DigestMismatch(
                f"image cache: refusing to store content under {digest}"
            )
        path = self.blob_path(digest)
        self._write(path, data)
        return path

    # ------------------------------------------------------------- references

    def lookup(self, reference: str) -> RefRecord | None:
        """The record for ``reference``, or ``None``; a broken record is dropped."""
        path = self._ref_path(reference)
        try:
            raw = json.loads(path.read_bytes())
            record = RefRecord(**raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            log.warning("image cache: dropping unreadable record for %s", reference)
            self._unlink(path)
            return None
        if record.reference != reference or not is_digest(record.digest):
            self._unlink(path)
            return None
        return record

    def record(self, reference: str, digest: str, source: str) -> RefRecord:
        """Point ``reference`` at the manifest ``digest``."""
        entry = RefRecord(reference, digest, source, time.time())
        self._write(self._ref_path(reference), json.dumps(asdict(entry)).encode())
        return entry

    def forget(self, reference: str) -> bool:
        """Drop ``reference``; return whether it was there."""
        return self._unlink(self._ref_path(reference))

    def records(self) -> list[RefRecord]:
        """Every reference in the cache, sorted by name."""
        found = []
        for path in sorted((self.root / "refs").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(RefRecord(**json.loads(path.read_bytes())))
        return sorted(found, key=lambda r: r.reference)

    # ---------------------------------------------------------------- objects

    def place_object(self, layer_digest: str, filename: str, data: bytes) -> Path:
        """Put a layer's ELF object where the loader can open it.

        The file is rewritten whenever it differs from ``data``, which the
        caller has just taken from a verified layer.
        """
        folder = self.blob_path(layer_digest).name
        path = self.root / "objects" / folder / filename
        with contextlib.suppress(OSError):
            if path.read_bytes() == data:
                return path
        self._write(path, data, mode=0o644)
        return path

    def prune(self) -> int:
        """Delete blobs and objects no reference needs; return how many."""
        keep: set[str] = set()
        for record in self.records():
            keep |= referenced_digests(self, record.digest)
        removed = 0
        for path in self._blob_files():
            if f"sha256:{path.name}" not in keep:
                removed += self._unlink(path)
        for folder in self._object_dirs():
            if f"sha256:{folder.name}" not in keep:
                removed += self._remove_tree(folder)
        return removed

    # --------------------------------------------------------------- plumbing

    def _ref_path(self, reference: str) -> Path:
        name = hashlib.sha256(reference.encode()).hexdigest()
        return self.root / "refs" / f"{name}.json"

    def _blob_files(self) -> Iterator[Path]:
        folder = self.root / "blobs" / "sha256"
        return (
            (p for p in folder.glob("*") if p.is_file())
            if folder.is_dir()
            else iter(())
        )

    def _object_dirs(self) -> Iterator[Path]:
        folder = self.root / "objects"
        return (
            (p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else iter(())
        )

    def _write(self, path: Path, data: bytes, mode: int = 0o600) -> None:
        try:
            self._make_dirs(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            except BaseException:
                self._unlink(Path(tmp))
                raise
        except OSError as exc:
            raise CacheError(
                f"image cache: cannot write {path}: {exc.strerror or exc}",
                hint="check the state directory and its permissions",
            ) from None

    def _make_dirs(self, folder: Path) -> None:
        if folder.is_dir():
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Every level below the root is made root's alone, one at a time
        # (mkdir's parents=True would give the upper levels the umask's mode).
        path = self.root
        for part in folder.relative_to(self.root).parts:
            path = path / part
            path.mkdir(mode=0o700, exist_ok=True)

    @staticmethod
    def _unlink(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("image cache: cannot remove %s: %s", path, exc.strerror)
            return False
        return True

    def _remove_tree(self, folder: Path) -> int:
        for child in folder.iterdir():
            self._unlink(child)
        with contextlib.suppress(OSError):
            folder.rmdir()
        return 1
