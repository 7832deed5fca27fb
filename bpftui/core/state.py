"""The state store: what the user asked for and what was made of it.

One sqlite database (``state.db``, WAL journal) in the state directory keeps
three tables:

``objects``
    the desired objects, as their normalised raw tree, with a digest of what
    a reload depends on and a generation counted up on each change.
``attachments``
    one row per object and attach point (one BpfProgram): the program and
    links the loader made (the backend's records), the condition with its
    time, the verifier log.
``intents``
    a journal of kernel changes in progress. The loader writes an intent
    (the pins and hooks it is about to touch) *before* changing the kernel,
    adds each finished step to it, and removes it in the same transaction
    that records the outcome. A row left behind therefore names exactly the
    kernel objects a killed process may have left half made; the next run
    completes or rolls them back (see ``loader.recover``).

Changes of every bpftui process on the node go through one ``flock`` on
``lock`` in the state directory (:class:`StateLock`), so they never
interleave; readers need no lock (WAL gives them a consistent snapshot).
The directory is 0700 and the files 0600: pins, paths and globaldata are
root's business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bpftui.core import api
from bpftui.core.backend import LinkRecord, LoadedProgram
from bpftui.core.errors import StateError
from bpftui.core.faults import checkpoint

DB_NAME = "state.db"
LOCK_NAME = "lock"
SCHEMA_VERSION = 1
DEFAULT_LOCK_TIMEOUT = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    digest TEXT NOT NULL,
    generation INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    deleting INTEGER NOT NULL DEFAULT 0,
    delete_error TEXT,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS attachments (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    attach_point TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (kind, name, attach_point)
);
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    attach_point TEXT NOT NULL,
    planned TEXT NOT NULL,
    steps TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL
);
"""


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A desired object as the store keeps it.

    Attributes:
        kind: ``XdpProgram`` ...
        name: ``metadata.name``.
        doc: the normalised raw tree (``api.to_dict``).
        digest: changes exactly when the kernel side must be remade.
        generation: counts changes of ``digest``, from 1.
        applied_at: when it was last applied (seconds since the epoch).
        deleting: a delete began and has not completed.
        delete_error: why the last delete failed, if it did.
    """

    kind: str
    name: str
    doc: Mapping[str, Any]
    digest: str
    generation: int
    applied_at: float
    deleting: bool = False
    delete_error: str | None = None

    @property
    def ref(self) -> str:
        """``Kind/name``."""
        return f"{self.kind}/{self.name}"

    def program(self) -> api.Program:
        """The object as an API record."""
        obj = api.from_dict(self.doc)
        if isinstance(obj, api.BpfProgram):
            raise StateError(f"state store: {self.ref} is not a *Program object")
        return obj


@dataclass(frozen=True, slots=True)
class Attachment:
    """What was made of one object on one attach point (one BpfProgram).

    Attributes:
        kind: kind of the object.
        name: name of the object.
        attach_point: the attach point as the object names it
            (``eth0``, ``syscalls/sys_enter_openat``, ``libc``).
        bpfprogram: the BpfProgram object's name.
        prog_type: BpfProgram ``spec.type``.
        condition: the per-node condition.
        digest: the object's digest this was made from.
        program: the loaded program, when it is loaded.
        links: its attachments, in the order they were made.
        pin_dir: the bpffs directory holding its pins.
        maps_dir: where its maps are pinned (a map owner's, when shared).
        verifier_log: the verifier's log of a failed load.
        detail: resolved facts (ifindex, xdp mode, uprobe path and offset,
            map owner) shown by ``status -o wide`` and the TUI.
    """

    kind: str
    name: str
    attach_point: str
    bpfprogram: str
    prog_type: str
    condition: api.Condition
    digest: str
    program: LoadedProgram | None = None
    links: tuple[LinkRecord, ...] = ()
    pin_dir: str | None = None
    maps_dir: str | None = None
    verifier_log: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``Kind/name`` of the object."""
        return f"{self.kind}/{self.name}"

    @property
    def condition_type(self) -> api.BpfProgramConditionType:
        """The condition's type as the enum."""
        return api.BpfProgramConditionType(self.condition.type)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready tree of the record."""
        return {
            "kind": self.kind,
            "name": self.name,
            "attach_point": self.attach_point,
            "bpfprogram": self.bpfprogram,
            "prog_type": self.prog_type,
            "condition": condition_dict(self.condition),
            "digest": self.digest,
            "program": _fields(self.program) if self.program else None,
            "links": [_fields(link) for link in self.links],
            "pin_dir": self.pin_dir,
            "maps_dir": self.maps_dir,
            "verifier_log": self.verifier_log,
            "detail": _plain(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        """The record back from :meth:`to_dict`'s tree."""
        program = data.get("program")
        return cls(
            **{k: data[k] for k in _PLAIN_ATTACHMENT_FIELDS},
            condition=api.Condition(**data["condition"]),
            program=LoadedProgram.from_dict(program) if program else None,
            links=tuple(LinkRecord.from_dict(link) for link in data["links"]),
            detail=data.get("detail") or {},
        )


_PLAIN_ATTACHMENT_FIELDS = (
    "kind",
    "name",
    "attach_point",
    "bpfprogram",
    "prog_type",
    "digest",
    "pin_dir",
    "maps_dir",
    "verifier_log",
)


@dataclass(frozen=True, slots=True)
class Intent:
    """A kernel change that began and has not been recorded as finished.

    Attributes:
        id: row id, in the order intents were made.
        op: ``attach`` or ``detach``.
        kind: kind of the object.
        name: name of the object.
        attach_point: the attach point being changed.
        planned: what the change may create or remove: pin paths, hooks.
        steps: the kernel steps completed so far, each a tree such as
            ``{"loaded": <LoadedProgram>}`` or ``{"attached": <LinkRecord>}``.
        pid: the process that made it.
        started: when (seconds since the epoch).
    """

    id: int
    op: str
    kind: str
    name: str
    attach_point: str
    planned: Mapping[str, Any]
    steps: tuple[Mapping[str, Any], ...]
    pid: int
    started: float


def condition_dict(cond: api.Condition) -> dict[str, Any]:
    """A condition as the Kubernetes API writes it."""
    tree: dict[str, Any] = {
        "type": cond.type,
        "status": cond.status,
        "reason": cond.reason,
        "message": cond.message,
        "lastTransitionTime": cond.lastTransitionTime,
    }
    if cond.observedGeneration is not None:
        tree["observedGeneration"] = cond.observedGeneration
    return tree


def _plain(value: Any) -> Any:
    """Mappings and sequences of a record as JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _fields(record: Any) -> dict[str, Any]:
    """A backend record as a tree (``asdict`` cannot copy read-only mappings)."""
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------- the lock


class _ProcessLock:
    """The flock of one lock file, shared by every StateLock of a process.

    flock belongs to an open file description, so two descriptors of one
    process would block each other; all users in a process therefore share
    one descriptor and count their nesting under a thread lock.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.mutex = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    def acquire(self, timeout: float, what: str) -> None:
        if not self.mutex.acquire(timeout=max(timeout, 0.0)):
            raise StateError(
                f"state lock {self.path}: timed out after {timeout:g} s waiting "
                "for another thread of this process"
            )
        try:
            if self.depth == 0:
                self._lock_file(timeout, what)
            self.depth += 1
        except BaseException:
            self.mutex.release()
            raise

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            checkpoint("unlock")
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        self.mutex.release()

    def _lock_file(self, timeout: float, what: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise _lock_timeout(self.path, timeout, holder) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        self.fd = fd
        checkpoint("lock")


def _read_holder(fd: int) -> str:
    return os.pread(fd, 256, 0).decode(errors="replace").strip()


def _lock_timeout(path: str, timeout: float, holder: str) -> StateError:
    pid, _, what = holder.partition(" ")
    who = f"pid {pid} ({what})" if pid.isdigit() else "another process"
    return StateError(
        f"state lock {path}: held by {who} for more than {timeout:g} s",
        hint="wait for it to finish, or stop that process if it hangs",
    )


_PROCESS_LOCKS: dict[str, _ProcessLock] = {}
_PROCESS_LOCKS_MUTEX = threading.Lock()


class StateLock:
    """The node-wide lock every change of the kernel or the store holds.

    Args:
        path: the lock file; None for a lock private to this process (the
            demo's in-memory store).
        timeout: how long :meth:`hold` waits by default, in seconds.
    """

    def __init__(self, path: str | None, *, timeout: float = DEFAULT_LOCK_TIMEOUT):
        self.path = path
        self.timeout = timeout
        self._lock = _shared_lock(path) if path else _ProcessLock("")
        self._private = path is None

    @contextlib.contextmanager
    def hold(
        self, what: str = "change", timeout: float | None = None
    ) -> Iterator[None]:
        """Hold the lock for the ``with`` block; re-entrant in one process.

        Raises:
            StateError: another holder kept it past the timeout; the message
                names its pid and what it is doing.
        """
        wait = self.timeout if timeout is None else timeout
        if self._private:
            if not self._lock.mutex.acquire(timeout=wait):
                raise StateError("state lock: timed out waiting for another thread")
            try:
                yield
            finally:
                self._lock.mutex.release()
            return
        self._lock.acquire(wait, what)
        try:
            yield
        finally:
            self._lock.release()

    def holder(self) -> str | None:
        """``"<pid> <what>"`` of the current holder, or None when free."""
        if self.path is None or not os.path.exists(self.path):
            return None
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        finally:
            os.close(fd)
        return None


def _shared_lock(path: str) -> _ProcessLock:
    real = os.path.realpath(path)
    with _PROCESS_LOCKS_MUTEX:
        return _PROCESS_LOCKS.setdefault(real, _ProcessLock(real))


# ---------------------------------------------------------------- the store


class StateStore:
    """Desired objects, attachments and intents in one sqlite database.

    Safe to share between threads; every other process opening the same
    directory sees the same rows. Writers must hold :attr:`lock`.

    Args:
        db_path: the database file, or ``":memory:"``.
        lock: the lock guarding changes.
        clock: seconds since the epoch, for ``started`` stamps.
    """

    def __init__(
        self,
        db_path: str,
        lock: StateLock,
        *,
        clock: Any = time.time,
    ) -> None:
        self.db_path = db_path
        self.lock = lock
        self._clock = clock
        self._mutex = threading.RLock()
        self._db = _connect(db_path)
        self._seen_version: int | None = None

    @classmethod
    def open(
        cls, state_dir: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> StateStore:
        """Open (making if needed) the store of a state directory.

        Raises:
            StateError: the directory or database cannot be made or read.
        """
        _make_private_dir(state_dir)
        db_path = os.path.join(state_dir, DB_NAME)
        _make_private_file(db_path)
        lock = StateLock(os.path.join(state_dir, LOCK_NAME), timeout=lock_timeout)
        return cls(db_path, lock)

    @classmethod
    def in_memory(cls, *, clock: Any = time.time) -> StateStore:
        """A store that lives and dies with this process (demo mode)."""
        return cls(":memory:", StateLock(None), clock=clock)

    def close(self) -> None:
        """Close the database connection."""
        with self._mutex:
            self._db.close()

    def changed(self) -> bool:
        """Whether any connection committed since this was last asked.

        Cheap enough to poll every half second from a UI.
        """
        with self._mutex:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            seen, self._seen_version = self._seen_version, version
            return seen is not None and version != seen

    # ------------------------------------------------------------ objects

    def objects(self) -> list[StoredObject]:
        """Every desired object, in the order they were first applied."""
        rows = self._query("SELECT * FROM objects ORDER BY rowid")
        return [_object(row) for row in rows]

    def get_object(self, kind: str, name: str) -> StoredObject | None:
        """One desired object, or None."""
        rows = self._query(
            "SELECT * FROM objects WHERE kind = ? AND name = ?", (kind, name)
        )
        return _object(rows[0]) if rows else None

    def put_object(
        self, kind: str, name: str, doc: Mapping[str, Any], digest: str, at: float
    ) -> StoredObject:
        """Record a desired object; the generation counts digest changes."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT digest, generation FROM objects WHERE kind = ? AND name = ?",
                (kind, name),
            ).fetchone()
            generation = 1 if row is None else row[1] + (row[0] != digest)
            db.execute(
                "INSERT INTO objects (kind, name, doc, digest, generation, applied_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET"
                " doc = excluded.doc, digest = excluded.digest,"
                " generation = excluded.generation, applied_at = excluded.applied_at,"
                " deleting = 0, delete_error = NULL",
                (kind, name, _dumps(doc), digest, generation, at),
            )
        stored = self.get_object(kind, name)
        assert stored is not None
        return stored

    def set_deleting(self, kind: str, name: str, error: str | None = None) -> None:
        """Mark an object as being deleted, with the error of a failed try."""
        with self.transaction() as db:
            db.execute(
                "UPDATE objects SET deleting = 1, delete_error = ?"
                " WHERE kind = ? AND name = ?",
                (error, kind, name),
            )

    def remove_object(self, kind: str, name: str) -> None:
        """Forget an object and every attachment it had."""
        with self.transaction() as db:
            key = (kind, name)
            db.execute("DELETE FROM attachments WHERE kind = ? AND name = ?", key)
            db.execute("DELETE FROM objects WHERE kind = ? AND name = ?", key)

    # ------------------------------------------------------------ attachments

    def attachments(
        self, kind: str | None = None, name: str | None = None
    ) -> list[Attachment]:
        """Attachments of one object, or of all when ``kind`` is None."""
        if kind is None:
            rows = self._query("SELECT record FROM attachments ORDER BY rowid")
        else:
            rows = self._query(
                "SELECT record FROM attachments WHERE kind = ? AND name = ?"
                " ORDER BY rowid",
                (kind, name),
            )
        return [Attachment.from_dict(json.loads(row[0])) for row in rows]

    def put_attachment(self, attachment: Attachment) -> None:
        """Record (or replace) what was made on one attach point."""
        with self.transaction() as db:
            _put_attachment(db, attachment)

    def remove_attachment(self, kind: str, name: str, attach_point: str) -> None:
        """Forget one attach point of an object."""
        with self.transaction() as db:
            _remove_attachment(db, kind, name, attach_point)

    # ------------------------------------------------------------ intents

    def begin(
        self,
        op: str,
        attachment_key: tuple[str, str, str],
        planned: Mapping[str, Any],
    ) -> int:
        """Journal a kernel change before making it; returns the intent id.

        Args:
            op: ``attach`` or ``detach``.
            attachment_key: ``(kind, name, attach point)``.
            planned: pins and hooks the change may create or remove.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO intents (op, kind, name, attach_point, planned, steps,"
                " pid, started) VALUES (?, ?, ?, ?, ?, '[]', ?, ?)",
                (op, *attachment_key, _dumps(planned), os.getpid(), self._clock()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def record_step(self, intent_id: int, step: Mapping[str, Any]) -> None:
        """Add a completed kernel step to an intent."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT steps FROM intents WHERE id = ?", (intent_id,)
            ).fetchone()
            if row is None:
                raise StateError(f"state store: intent {intent_id} is gone")
            steps = [*json.loads(row[0]), _plain(step)]
            db.execute(
                "UPDATE intents SET steps = ? WHERE id = ?", (_dumps(steps), intent_id)
            )

    def finish(
        self,
        intent_id: int,
        *,
        put: Attachment | None = None,
        remove: tuple[str, str, str] | None = None,
    ) -> None:
        """Record an outcome and drop its intent, in one transaction."""
        with self.transaction() as db:
            if put is not None:
                _put_attachment(db, put)
            if remove is not None:
                _remove_attachment(db, *remove)
            db.execute("DELETE FROM intents WHERE id = ?", (intent_id,))

    def pending(self) -> list[Intent]:
        """Intents a process began and never finished, oldest first."""
        rows = self._query("SELECT * FROM intents ORDER BY id")
        return [_intent(row) for row in rows]

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if the block raises."""
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
                checkpoint("state-write")
            except sqlite3.Error as err:
                self._rollback()
                raise StateError(
                    f"state store {self.db_path}: write failed: {err}"
                ) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise StateError(
                    f"state store {self.db_path}: read failed: {err}"
                ) from None


def _connect(db_path: str) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(
            db_path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        if db_path != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: a change reported as made survives a power cut too.
            db.execute("PRAGMA synchronous = FULL")
        _migrate(db, db_path)
    except sqlite3.Error as err:
        raise StateError(
            f"state store {db_path}: cannot open: {err}",
            hint="move the file away to start afresh; the kernel keeps its pins",
        ) from None
    return db


def _migrate(db: sqlite3.Connection, db_path: str) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state store {db_path}: written by a newer bpftui (schema {version})",
            hint="use that version, or a state directory of its own",
        )
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _make_private_dir(path: str) -> None:
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as err:
        raise StateError(
            f"state directory {path}: cannot make it: {err.strerror}",
            hint="set [paths] state_dir in the config to a writable place",
        ) from None


def _make_private_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
    except OSError as err:
        raise StateError(f"state store {path}: cannot open: {err.strerror}") from None


def _put_attachment(db: sqlite3.Connection, attachment: Attachment) -> None:
    db.execute(
        "INSERT INTO attachments (kind, name, attach_point, record)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (kind, name, attach_point)"
        " DO UPDATE SET record = excluded.record",
        (
            attachment.kind,
            attachment.name,
            attachment.attach_point,
            _dumps(attachment.to_dict()),
        ),
    )


def _remove_attachment(
    db: sqlite3.Connection, kind: str, name: str, attach_point: str
) -> None:
    db.execute(
        "DELETE FROM attachments WHERE kind = ? AND name = ? AND attach_point = ?",
        (kind, name, attach_point),
    )


def _object(row: sqlite3.Row) -> StoredObject:
    return StoredObject(
        kind=row["kind"],
        name=row["name"],
        doc=json.loads(row["doc"]),
        digest=row["digest"],
        generation=row["generation"],
        applied_at=row["applied_at"],
        deleting=bool(row["deleting"]),
        delete_error=row["delete_error"],
    )


def _intent(row: sqlite3.Row) -> Intent:
    return Intent(
        id=row["id"],
        op=row["op"],
        kind=row["kind"],
        name=row["name"],
        attach_point=row["attach_point"],
        planned=json.loads(row["planned"]),
        steps=tuple(json.loads(row["steps"])),
        pid=row["pid"],
        started=row["started"],
    )


def process_name() -> str:
    """A short description of this process for the lock file."""
    return " ".join(os.path.basename(a) for a in sys.argv[:3]) or "bpftui"
