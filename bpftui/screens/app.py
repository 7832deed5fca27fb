"""The bpftui application: four browsing modes over one node session.

The app starts drawing at once and opens the session in a thread worker
(opening may probe the kernel or seed the demo node); each screen shows a
"opening" placeholder until :class:`BpftuiApp.SessionOpened` arrives.
Screens are built lazily on first visit, so start-up pays only for the
Programs screen.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from bpftui.core.backend import Clock
from bpftui.core.errors import BpftuiError, UsageError
from bpftui.core.session import Discovery, Session
from bpftui.screens.commands import BpftuiCommands

log = logging.getLogger(__name__)

# Mode name -> (screen class path, label in the top bar, key).
MODE_SCREENS: dict[str, tuple[str, str, str]] = {
    "programs": ("bpftui.screens.programs:ProgramsScreen", "Programs", "1"),
    "interfaces": ("bpftui.screens.interfaces:InterfacesScreen", "Interfaces", "2"),
    "tracepoints": ("bpftui.screens.browse:TracepointsScreen", "Tracepoints", "3"),
    "functions": ("bpftui.screens.browse:FunctionsScreen", "Functions", "4"),
}


def load_object(path: str) -> Any:
    """Import ``module:name`` on first use (keeps start-up to one screen)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _mode_factory(path: str) -> Callable[[], Screen[Any]]:
    def make() -> Screen[Any]:
        screen_class = load_object(path)
        return screen_class()  # type: ignore[no-any-return]

    return make


class BpftuiApp(App[None]):
    """A console for the eBPF programs on one node.

    Args:
        opener: opens the session; runs in a thread worker after the first frame.
        session: an already open session (tests), instead of ``opener``.
        clock: seconds since the epoch, for rates and ages; fixed in demo tests.
        theme: a Textual theme name.
    """

    CSS_PATH = "bpftui.tcss"
    TITLE = "bpftui"
    MODES: ClassVar[dict[str, Any]] = {
        name: _mode_factory(path) for name, (path, _, _) in MODE_SCREENS.items()
    }
    DEFAULT_MODE = "programs"
    COMMANDS: ClassVar[set[Any]] = {*App.COMMANDS, BpftuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{name}')", label, show=False)
            for name, (_, label, key) in MODE_SCREENS.items()
        ),
        Binding("n", "new_program", "New", tooltip="compose a new program"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    session: reactive[Session | None] = reactive(None, init=False)
    node_generation: reactive[int] = reactive(0, init=False)
    """Bumped whenever bpftui changed the node, so screens read it again."""

    class SessionOpened(Message):
        """The node session is open and screens may read it."""

        def __init__(self, session: Session) -> None:
            self.session = session
            super().__init__()

    class SessionFailed(Message):
        """Opening the node session failed with a user-facing error."""

        def __init__(self, error: BpftuiError) -> None:
            self.error = error
            super().__init__()

    class ObjectDeleted(Message):
        """An applied object was detached, unloaded and unpinned."""

        def __init__(self, ref: str) -> None:
            self.ref = ref
            super().__init__()

    class ObjectDeleteFailed(Message):
        """Deleting an applied object failed."""

        def __init__(self, ref: str, error: BpftuiError) -> None:
            self.ref = ref
            self.error = error
            super().__init__()

    def __init__(
        self,
        opener: Callable[[], Session] | None = None,
        *,
        session: Session | None = None,
        clock: Clock = time.time,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self._opener = opener
        self._initial_session = session
        self.clock = clock
        if theme and theme not in self.available_themes:
            known = ", ".join(sorted(self.available_themes))
            raise UsageError(f"theme '{theme}': no such theme", hint=f"themes: {known}")
        self.crash: BaseException | None = None
        self.show_tracebacks = True  # the command line turns them off
        self.pending: dict[str, str] = {}  # Kind/name -> "Applying" / "Deleting"
        if theme:
            self.theme = theme

    @property
    def discovery(self) -> Discovery | None:
        return self.session.discovery if self.session else None

    def on_mount(self) -> None:
        if self._initial_session is not None:
            self.session = self._initial_session
        elif self._opener is not None:
            # After the first frame: opening reads the node (and seeds the
            # demo one), which would hold the GIL while the frame is drawn.
            self.call_after_refresh(self._open_session, self._opener)

    @work(thread=True, exit_on_error=False)
    def _open_session(self, opener: Callable[[], Session]) -> None:
        try:
            session = opener()
        except BpftuiError as err:
            self.post_message(self.SessionFailed(err))
            return
        self.post_message(self.SessionOpened(session))

    def on_bpftui_app_session_opened(self, event: SessionOpened) -> None:
        self.session = event.session

    def on_bpftui_app_session_failed(self, event: SessionFailed) -> None:
        from bpftui.screens.dialogs import ErrorScreen

        message = f"Could not open the node session.\n\n{event.error}"
        self.push_screen(ErrorScreen(message, fatal=True))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Report workers that died of a bug, instead of a traceback."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        log.error("worker %s failed", event.worker.name, exc_info=error)
        self.report_error(error)

    def report_error(self, error: BaseException | None) -> None:
        """Tell the user about an error in one toast; never a traceback."""
        if isinstance(error, BpftuiError):
            self.notify(str(error), title="Error", severity="error", timeout=8)
        else:
            text = f"internal error: {type(error).__name__}: {error}"
            self.notify(text, title="Bug", severity="error", timeout=12)

    def action_new_program(self) -> None:
        from bpftui.screens.dialogs import KindChooser

        self.push_screen(KindChooser(), self._compose_kind)

    def _compose_kind(self, kind: str | None) -> None:
        if kind:
            self.compose_program(kind)

    def compose_program(self, kind: str, preset: dict[str, str] | None = None) -> None:
        """Open the compose form for ``kind`` with some fields filled in."""
        from bpftui.screens.compose import ComposeScreen

        self.push_screen(ComposeScreen(kind, preset or {}))

    # -- changing the node

    def apply_objects(self, objects: list[Any], ref: str) -> None:
        """Apply objects with progress shown; ``ref`` names them for the user."""
        from bpftui.screens.apply import ApplyScreen

        if self.session is None:
            self.notify("The node session is still opening.", severity="warning")
            return
        self.push_screen(ApplyScreen(self.session, objects, ref))

    def show_in_programs(self, ref: str) -> None:
        """Go to Programs with ``ref`` highlighted, closing the form it came from."""
        from bpftui.screens.compose import ComposeScreen
        from bpftui.screens.preview import PreviewScreen

        while isinstance(self.screen, ComposeScreen | PreviewScreen):
            self.pop_screen()
        self.switch_mode("programs")
        self.call_after_refresh(self._highlight, ref)

    def _highlight(self, ref: str) -> None:
        from bpftui.screens.programs import ProgramsScreen

        screen = self.screen
        while not isinstance(screen, ProgramsScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
            screen = self.screen
        if isinstance(screen, ProgramsScreen):
            screen.highlight_ref(ref)

    def confirm_delete(self, ref: str) -> None:
        """Ask, then detach, unload and unpin the object ``ref``."""
        from bpftui.screens.dialogs import ConfirmScreen

        question = (
            f"Delete {ref}?\n\nIt is detached from every attach point, "
            "unloaded, and its pins are removed."
        )
        self.push_screen(
            ConfirmScreen(question, yes="Delete"),
            lambda yes: self._start_delete(ref) if yes else None,
        )

    def _start_delete(self, ref: str) -> None:
        if self.session is None:
            return
        self.mark_pending(ref, "Deleting")
        self._delete(self.session, ref)

    @work(thread=True, group="node", exit_on_error=False)
    def _delete(self, session: Session, ref: str) -> None:
        try:
            session.delete([ref])
        except BpftuiError as err:
            self.post_message(self.ObjectDeleteFailed(ref, err))
            return
        self.post_message(self.ObjectDeleted(ref))

    def on_bpftui_app_object_deleted(self, event: ObjectDeleted) -> None:
        self.mark_pending(event.ref, None)
        self.notify(f"{event.ref} deleted.", title="Deleted")

    def on_bpftui_app_object_delete_failed(self, event: ObjectDeleteFailed) -> None:
        self.mark_pending(event.ref, None)
        self.report_error(event.error)

    def mark_pending(self, ref: str, word: str | None) -> None:
        """Show ``ref`` with ``word`` as its condition until the change ends."""
        if word is None:
            self.pending.pop(ref, None)
        else:
            self.pending[ref] = word
        self.node_generation += 1

    def action_help(self) -> None:
        from bpftui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook for an exception no handler caught (a bug of ours):
        # keep it for the command line, which reports it in one line, instead
        # of Textual's full-screen traceback (unless -vv asked for it).
        self.crash = error
        log.debug("unhandled exception", exc_info=error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        if self.show_tracebacks:
            super()._fatal_error()
        else:
            self.bell()
            self._close_messages_no_wait()

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.close()
