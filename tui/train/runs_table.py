"""The Train pane's runs table: one row per run directory, redrawn cell by cell.

A poll reads every run four times a second; `RunsTable.show_rows` changes only the cells whose text
changed and adds or removes rows as runs come and go, so a quiet table costs no layout.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from tui.numbers import fmt_best, fmt_devices, fmt_duration, fmt_speed, short_name
from tui.train.disk import RunRow

STATE_STYLES = {
    "queued": "dim",
    "running": "bold green",
    "paused": "yellow",
    "done": "cyan",
    "stopped": "magenta",
    "failed": "bold red",
}
RUN_COLUMNS = ("run", "job", "state", "device", "step", "ETA", "speed", "best")
#: Below WIDE_FROM columns the table keeps what fits 80 columns uncut; device and speed are in the run's header.
NARROW_COLUMNS = ("run", "job", "state", "step", "ETA", "best")
WIDE_FROM = 110
LABEL_WIDTH = 18  # a display name longer than this is cut with … in the table (the header shows it whole)
#: Columns shown when they have something to say: a sweep's name (when any run belongs to one), a job's cost (c).
OPTIONAL_COLUMNS = ("sweep", "cost")


def fit(text: str, width: int) -> str:
    return text if cell_len(text) <= width else text[: width - 1] + "…"


def state_text(row: RunRow) -> Text:
    """The run's state; a queued run's place in line with it ('queued #2')."""
    s = row.status
    shown = f"{s.state} #{row.queue_position}" if row.queue_position is not None else s.state
    return Text(shown, style=STATE_STYLES.get(s.state, ""))


def row_cells(row: RunRow, marked: bool = False, columns: tuple[str, ...] = RUN_COLUMNS) -> tuple[Text | str, ...]:
    """The table's cells for one run, in `columns` order; a run overlaid on the plot starts with +."""
    s = row.status
    step = f"{s.step:,}/{s.total:,}" if s.total else f"{s.step:,}"
    label = fit(row.meta.display_name, LABEL_WIDTH) if row.meta.display_name else short_name(row.run.name)
    cells: dict[str, Text | str] = {
        "run": ("+ " if marked else "  ") + label,
        "job": row.job,
        "state": state_text(row),
        "device": fmt_devices(s.device, s.extra.get("rank_devices")),
        "step": step,
        "ETA": fmt_duration(s.eta_s),
        "speed": fmt_speed(s.throughput, s.throughput_unit) if s.state == "running" else "",  # a pause has no speed
        "best": fmt_best(s.best_metric, s.best_value),
        "sweep": row.sweep or "",
        "cost": row.usage.short() if row.usage is not None and s.state in ("running", "paused") else "",
    }
    # Plain strings would be read as Rich markup by DataTable: a run named "[/x]" would crash the pane, and
    # parsing a thousand rows' markup is a noticeable part of opening the pane. Names are shown as typed.
    return tuple(Text(cell) if isinstance(cell, str) else cell for cell in (cells[column] for column in columns))


class RunsTable(DataTable):
    """Runs keyed by their directory name, newest first; the row cursor is the selected run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shown_columns: tuple[str, ...] = ()
        self._drawn: dict[str, tuple[RunRow, bool]] = {}  # what each row shows now

    def columns_for(self, width: int) -> tuple[str, ...]:
        return RUN_COLUMNS if width >= WIDE_FROM else NARROW_COLUMNS

    def show_rows(
        self, rows: list[RunRow], marked: frozenset[str] = frozenset(), width: int = 0, show_cost: bool = False
    ) -> None:
        """Change only the rows that changed; add and remove rows as runs come and go, in `rows`' order.

        A row whose `RunRow` is the same object as last time (the index read nothing new) is skipped
        without comparing cells, so a quiet table of a thousand runs costs next to nothing. A run that
        appears while the app is open goes where it belongs (newest first, as after a restart), not at
        the bottom: the rows are laid out again in order then, which is rare. The sweep column is
        there while some run belongs to a sweep, the cost column while `show_cost`.
        """
        extra = tuple(
            name
            for name in OPTIONAL_COLUMNS
            if (name == "cost" and show_cost) or (name == "sweep" and any(r.sweep for r in rows))
        )
        columns = (*self.columns_for(width or self.size.width or WIDE_FROM), *extra)
        if columns != self.shown_columns:  # rare: lay the table out again with its new columns
            self.clear(columns=True)
            for column in columns:
                self.add_column(column, key=column)
            self.shown_columns = columns
            self._drawn = {}
        names = {row.run.name for row in rows}
        for key in [k.value for k in self.rows if k.value not in names]:
            if key is not None:
                self.remove_row(key)
                self._drawn.pop(key, None)
        existing = [k.value for k in self.rows]
        order = [row.run.name for row in rows]
        if order[: len(existing)] != existing:  # a run arrived before others: lay the rows out again
            self.clear()  # keeps the columns; the pane puts the cursor back on the selected run
            self._drawn = {}
            existing = []
        shown = set(existing)
        for row in rows:
            name = row.run.name
            is_marked = name in marked
            drawn = self._drawn.get(name)
            if drawn is not None and drawn[0] is row and drawn[1] == is_marked:
                continue
            self._drawn[name] = (row, is_marked)
            cells = row_cells(row, is_marked, columns)
            if name not in shown:
                self.add_row(*cells, key=name)
                continue
            for column, value in zip(columns, cells, strict=False):
                if str(self.get_cell(name, column)) != str(value):
                    # Widening a column re-lays out the table; only do it when the text no longer fits.
                    wider = cell_len(str(value)) > self.columns[ColumnKey(column)].content_width
                    self.update_cell(name, column, value, update_width=wider)

    def cursor_name(self) -> str | None:
        """The run the cursor is on (None when the table is empty)."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        return self.ordered_rows[self.cursor_row].key.value

    def move_to(self, name: str) -> None:
        """Put the cursor on the run called `name` (if it is in the table and not there yet)."""
        if name in {k.value for k in self.rows}:
            row_index = self.get_row_index(name)
            if self.cursor_row != row_index:
                self.move_cursor(row=row_index, animate=False)
