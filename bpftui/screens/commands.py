"""bpftui's commands in Textual's command palette (ctrl+p)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class BpftuiCommands(Provider):
    """Go to a screen, compose a program of a kind, toggle BPF statistics."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        from bpftui.screens.app import MODE_SCREENS
        from bpftui.screens.dialogs import KINDS

        app: Any = self.app
        for mode, (_, label, key) in MODE_SCREENS.items():
            yield (f"Go to {label}", partial(app.switch_mode, mode), f"key {key}")
        for kind, what in KINDS:
            yield (f"New {kind}", partial(app.compose_program, kind), what)
        yield ("Toggle BPF statistics", self._toggle_stats, "run count, avg ns, ev/s")
        yield ("Keys and legend", app.action_help, "key ?")

    def _toggle_stats(self) -> None:
        app: Any = self.app
        app.switch_mode("programs")

        def toggle() -> None:
            app.screen.action_toggle_stats()

        app.call_after_refresh(toggle)

    async def discover(self) -> Hits:
        for name, run, help_ in self._commands():
            yield DiscoveryHit(name, run, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_ in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_)
