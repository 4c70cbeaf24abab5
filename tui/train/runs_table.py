"""The Train pane's runs table: one row per run directory, redrawn cell by cell.

A poll reads every run four times a second; `RunsTable.show_rows` changes only the cells whose text
changed and adds or removes rows as runs come and go, so a quiet table costs no layout.
"""

from __future__ import annotations

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
#: Columns shown when they have something to say: a sweep's name (when any run belongs to one), a job's cost (c).
OPTIONAL_COLUMNS = ("sweep", "cost")


def state_text(row: RunRow) -> Text:
    """The run's state; a queued run's place in line with it ('queued #2')."""
    s = row.status
    shown = f"{s.state} #{row.queue_position}" if row.queue_position is not None else s.state
    return Text(shown, style=STATE_STYLES.get(s.state, ""))


def row_cells(row: RunRow, extra: tuple[str, ...] = ()) -> tuple[Text | str, ...]:
    """The table's cells for one run, in RUN_COLUMNS order and then the `extra` optional columns."""
    s = row.status
    step = f"{s.step}/{s.total}" if s.total else str(s.step)
    optional = {
        "sweep": row.sweep or "",
        "cost": row.usage.short() if row.usage is not None and s.state in ("running", "paused") else "",
    }
    return (
        short_name(row.run.name),
        row.job,
        state_text(row),
        fmt_devices(s.device, s.extra.get("rank_devices")),
        step,
        fmt_duration(s.eta_s),
        fmt_speed(s.throughput, s.throughput_unit) if s.state == "running" else "",  # a pause has no speed
        fmt_best(s.best_metric, s.best_value),
        *(optional[name] for name in extra),
    )


class RunsTable(DataTable):
    """Runs keyed by their directory name, newest first; the row cursor is the selected run."""

    def on_mount(self) -> None:
        self.extra: tuple[str, ...] = ()
        for column in RUN_COLUMNS:
            self.add_column(column, key=column)

    def show_rows(self, rows: list[RunRow], show_cost: bool = False) -> None:
        """Change only the cells that changed; add and remove rows as runs come and go, in `rows`' order.

        A run that appears while the app is open goes where it belongs (newest first, as after a
        restart), not at the bottom: the rows are laid out again in order then, which is rare.
        The sweep column is there while some run belongs to a sweep, the cost column while `show_cost`.
        """
        wanted = tuple(
            name
            for name in OPTIONAL_COLUMNS
            if (name == "cost" and show_cost) or (name == "sweep" and any(r.sweep for r in rows))
        )
        if wanted != self.extra:  # rare: lay the table out again with its new columns
            self.clear(columns=True)
            self.extra = wanted
            for column in (*RUN_COLUMNS, *wanted):
                self.add_column(column, key=column)
        columns = (*RUN_COLUMNS, *self.extra)
        names = {row.run.name for row in rows}
        for key in [k.value for k in self.rows if k.value not in names]:
            if key is not None:
                self.remove_row(key)
        existing = [k.value for k in self.rows]
        order = [row.run.name for row in rows]
        if order[: len(existing)] != existing:  # a run arrived before others: lay the rows out again
            self.clear()  # keeps the columns; the pane puts the cursor back on the selected run
            existing = []
        shown = set(existing)
        for row in rows:
            cells = row_cells(row, self.extra)
            name = row.run.name
            if name not in shown:
                self.add_row(*cells, key=name)
                continue
            for column, value in zip(columns, cells, strict=False):
                if str(self.get_cell(name, column)) != str(value):
                    # Widening a column re-lays out the table; only do it when the text no longer fits.
                    wider = cell_len(str(value)) > self.columns[ColumnKey(column)].content_width
                    self.update_cell(name, column, value, update_width=wider)

    def move_to(self, name: str) -> None:
        """Put the cursor on the run called `name` (if it is in the table and not there yet)."""
        if name in {k.value for k in self.rows}:
            row_index = self.get_row_index(name)
            if self.cursor_row != row_index:
                self.move_cursor(row=row_index, animate=False)
