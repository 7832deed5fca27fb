"""What a shell remembers between commands: the node, the workspace, output.

The session to the node opens on first use, so commands that only compose
objects (``new``, ``set``, ``show``, ``export``) never touch the kernel and a
composing script runs without root.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from bpftui.core import api
from bpftui.core.errors import InputError
from bpftui.core.session import Session

T = TypeVar("T")
Doc = dict[str, Any]

# How long completion may reuse what it read from the node.
CACHE_SECONDS = 30.0


class ShellExit(Exception):
    """Raised by ``exit``: stop reading commands, with this status."""

    def __init__(self, status: int | None = None) -> None:
        super().__init__(status)
        self.status = status


def ref_of(doc: Doc) -> str:
    """``Kind/name`` of a raw object tree."""
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def short_ref(ref: str) -> str:
    """``XdpProgram/edge`` -> ``xdp/edge`` as the prompt shows it."""
    kind, _, name = ref.partition("/")
    info = api.KINDS.get(kind)
    return f"{info.short}/{name}" if info else ref


def normalize_ref(text: str) -> str:
    """``xdp/edge`` or ``XdpProgram/edge`` -> ``XdpProgram/edge``.

    Raises:
        InputError: the kind is unknown, or the name is missing.
    """
    kind, sep, name = text.partition("/")
    if not sep or not name:
        raise InputError(f'"{text}" is not KIND/NAME', hint="for example xdp/edge")
    return f"{api.resolve_kind(kind)}/{name}"


@dataclass
class Workspace:
    """Objects being composed, by ``Kind/name``, and the current one."""

    docs: dict[str, Doc] = field(default_factory=dict)
    current: str | None = None

    def put(self, doc: Doc) -> str:
        """Add or replace an object, make it current, and return its ref."""
        ref = ref_of(doc)
        self.docs[ref] = doc
        self.current = ref
        return ref

    def replace(self, ref: str, doc: Doc) -> str:
        """Put ``doc`` in the place of ``ref`` (its name may have changed).

        Raises:
            InputError: the new name is taken by another object.
        """
        new = ref_of(doc)
        if new != ref and new in self.docs:
            raise InputError(f"{short_ref(new)} already exists in the workspace")
        self.docs = {
            (new if r == ref else r): (doc if r == ref else d)
            for r, d in self.docs.items()
        }
        self.current = new
        return new

    def resolve(self, text: str | None) -> str:
        """The ref meant by ``text``: ``KIND/NAME``, a bare name, or None for
        the current object.

        Raises:
            InputError: nothing or more than one object matches.
        """
        if text is None:
            if self.current is None:
                raise InputError(
                    "no object is being composed", hint="start one with 'new KIND NAME'"
                )
            return self.current
        if "/" in text:
            ref = normalize_ref(text)
            if ref in self.docs:
                return ref
            raise InputError(f"{ref}: not in the workspace", hint=self._known())
        matches = [r for r in self.docs if r.partition("/")[2] == text]
        if len(matches) == 1:
            return matches[0]
        if matches:
            both = ", ".join(short_ref(r) for r in matches)
            raise InputError(f'"{text}" is ambiguous: {both}', hint="write KIND/NAME")
        raise InputError(
            f'no object named "{text}" in the workspace', hint=self._known()
        )

    def doc(self, text: str | None = None) -> Doc:
        """A copy of an object (see :meth:`resolve`); edits go through put."""
        return copy.deepcopy(self.docs[self.resolve(text)])

    def _known(self) -> str:
        if not self.docs:
            return "the workspace is empty; 'new KIND NAME' or 'load FILE'"
        return "objects: " + ", ".join(short_ref(r) for r in self.docs)


class Shell:
    """The state every command reads and changes.

    Args:
        open_session: opens the node; called once, on first use.
        out: where results go.
        err: where messages and warnings go.
        output: the default format of listings, ``table`` or ``json``.
        interactive: True in the REPL (watch redraws, prompts show state).
    """

    def __init__(
        self,
        open_session: Callable[[], Session],
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        output: str = "table",
        interactive: bool = False,
    ) -> None:
        self._open_session = open_session
        self._session: Session | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}
        self.workspace = Workspace()
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.output = output
        self.interactive = interactive

    @property
    def session(self) -> Session:
        """The node, opened on first use (from any thread)."""
        with self._lock:
            if self._session is None:
                self._session = self._open_session()
            return self._session

    @property
    def session_open(self) -> bool:
        return self._session is not None

    def cached(self, key: str, load: Callable[[], T]) -> T:
        """``load()``, reused for :data:`CACHE_SECONDS` (completion data)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]  # type: ignore[no-any-return]
        value = load()
        self._cache[key] = (now, value)
        return value

    def forget_cache(self) -> None:
        """Drop completion data after the node changed (apply, delete)."""
        self._cache.clear()

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=self.err)

    def echo(self, text: str = "") -> None:
        print(text, file=self.out)

    def iter_docs(self) -> Iterator[tuple[str, Doc]]:
        yield from self.workspace.docs.items()

    def close(self) -> None:
        """Close the node if it was opened."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
