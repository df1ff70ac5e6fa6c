"""The one-line title bar at the top of every screen: the screen's name and its status."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


class TitleBar(Horizontal):
    """``title`` on the left (the word tests and users look for), ``status`` after it."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $primary;
        color: $text;
    }
    TitleBar #title-text {
        text-style: bold;
        padding: 0 1;
    }
    TitleBar #title-status {
        width: 1fr;
        padding: 0 1;
    }
    TitleBar #title-hint {
        padding: 0 1;
    }
    """

    def __init__(self, title: str, *, hint: str = "? help") -> None:
        super().__init__()
        self._title = title
        self._hint = hint
        self._status = ""

    def compose(self) -> ComposeResult:
        yield Label(self._title, id="title-text")
        yield Label("", id="title-status")
        yield Label(self._hint, id="title-hint")

    def set_title(self, title: str) -> None:
        self._title = title
        self.query_one("#title-text", Label).update(title)

    def set_status(self, status: str) -> None:
        """Show ``status``; the status label is ``1fr`` wide, so a new text never changes
        the layout (a live scanner sets it a few times a second: no layout pass for it)."""
        if status != self._status:
            self._status = status
            self.query_one("#title-status", Label).update(status, layout=False)
