"""The Log screen: the engine's event log (``EventLog`` slice), newest first, with a level
filter (``l``: all -> warnings and errors -> errors only -> all)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType

from tui_trader.core.calendar import ET
from tui_trader.core.models import EventLevel, JournalEvent
from tui_trader.state.store import EventLog
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.widgets.cells import Palette, left
from tui_trader.tui.widgets.tables import DiffTable, Justify

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("time", "Time (ET)", "left"),
    ("level", "Level", "left"),
    ("kind", "Kind", "left"),
    ("text", "Event", "left"),
)

_RANK = {EventLevel.INFO: 0, EventLevel.WARNING: 1, EventLevel.ERROR: 2}
#: The filter steps ``l`` cycles through: the lowest level shown.
LEVEL_FILTERS: tuple[EventLevel, ...] = (EventLevel.INFO, EventLevel.WARNING, EventLevel.ERROR)
_FILTER_LABEL = {
    EventLevel.INFO: "all levels",
    EventLevel.WARNING: "warnings and errors",
    EventLevel.ERROR: "errors only",
}


def event_keys(events: Sequence[JournalEvent]) -> list[str]:
    """Stable, unique row keys: time, kind and text, numbered when an event repeats, so a
    row keeps its key when older events drop off the bounded log."""
    seen: dict[str, int] = {}
    keys = []
    for ev in events:
        base = f"{ev.time.isoformat()}|{ev.level.value}|{ev.kind}|{ev.text}|{ev.intent_id}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        keys.append(f"{base}#{n}")
    return keys


def event_cells(ev: JournalEvent, palette: Palette) -> tuple[Text, ...]:
    level_style: Style | str = {
        EventLevel.ERROR: palette.down + Style(bold=True),
        EventLevel.WARNING: Style(bold=True),
    }.get(ev.level, palette.muted)
    text = ev.text if ev.intent_id is None else f"{ev.text} [{ev.intent_id}]"
    return (
        left(f"{ev.time.astimezone(ET):%m-%d %H:%M:%S}"),
        left(ev.level.value, level_style),
        left(ev.kind),
        left(text),
    )


class LogScreen(TraderScreen):
    """Log: the event log with a level filter."""

    TITLE = "Log"
    AUTO_FOCUS = "#log-table"
    WATCHES = frozenset({EventLog})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "next_level", "Cycle the level filter", id="log_level"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.min_level = EventLevel.INFO

    def compose_body(self) -> Iterable[Any]:
        yield DiffTable(COLUMNS, id="log-table")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#log-table", DiffTable)

    def render_body(self) -> None:
        log = self.trader.store.get(EventLog)
        items = log.items
        keys = event_keys(items)
        floor = _RANK[self.min_level]
        palette = self.palette
        rows = [
            (key, event_cells(ev, palette))
            for key, ev in zip(keys, items, strict=True)
            if _RANK[ev.level] >= floor
        ]
        rows.reverse()
        self.table.sync(rows)
        self.set_status(
            f"{len(rows)} of {len(items)} events · showing {_FILTER_LABEL[self.min_level]}"
            " · l: level"
        )

    def action_next_level(self) -> None:
        i = LEVEL_FILTERS.index(self.min_level)
        self.min_level = LEVEL_FILTERS[(i + 1) % len(LEVEL_FILTERS)]
        self.redraw()
