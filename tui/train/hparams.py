"""The hyperparameter table (h in the Train pane): every run, the settings that differ between them, and results.

One row per run; columns: the run, job, state, each setting of config.json whose value is not the same
for every run shown, then the best validation figure, the last one, and the held-out test accuracy
(sentiment). `s` sorts by the cursor's column (again: the other way); `f` filters by job, state, tag,
sweep, archived and words of the name; space marks runs: two marked show what differs between their
settings, and `p` overlays the marked runs' curves in the Train pane.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from engine.training.runmeta import MetaError, check_tag
from engine.training.runs import JOBS, STATES, RunDir
from tui.numbers import fmt_best, short_name
from tui.train.disk import RunRow, final_figures
from tui.train.runs_table import STATE_STYLES, fit

FILTER_KEYS = ("job", "state", "tag", "sweep", "archived")
MISSING = "—"
LABEL_WIDTH = 18


@dataclass(frozen=True)
class RunFilter:
    """Which runs the table shows: every condition must hold (tags: all of them)."""

    job: str | None = None
    state: str | None = None
    tags: tuple[str, ...] = ()
    sweep: str | None = None
    archived: str = "no"  # no, yes or all
    words: tuple[str, ...] = ()

    def matches(self, row: RunRow) -> bool:
        meta = row.meta
        if self.archived != "all" and meta.archived != (self.archived == "yes"):
            return False
        if (self.job and row.job != self.job) or (self.state and row.status.state != self.state):
            return False
        if self.sweep is not None and meta.sweep != self.sweep:
            return False
        if not set(self.tags) <= set(meta.tags):
            return False
        names = f"{row.run.name} {meta.display_name or ''}".lower()
        return all(word.lower() in names for word in self.words)


def parse_filter(text: str) -> RunFilter:
    """`job:charlm state:done tag:lr sweep:grid archived:all words…` as a RunFilter; ValueError with one sentence."""
    values: dict[str, Any] = {"tags": [], "words": []}
    for part in text.split():
        key, colon, value = part.partition(":")
        if not colon:
            values["words"].append(part)
            continue
        key = key.lower()
        if key not in FILTER_KEYS:
            raise ValueError(f"Unknown filter {key!r}; use {', '.join(k + ':' for k in FILTER_KEYS)} or plain words.")
        if key == "job" and value not in JOBS:
            raise ValueError(f"job: is one of {', '.join(JOBS)}, not {value!r}.")
        if key == "state" and value not in STATES:
            raise ValueError(f"state: is one of {', '.join(STATES)}, not {value!r}.")
        if key == "archived" and value not in ("yes", "no", "all"):
            raise ValueError(f"archived: is yes, no or all, not {value!r}.")
        if key == "tag":
            try:
                values["tags"].append(check_tag(value))
            except MetaError as error:
                raise ValueError(str(error)) from None
        else:
            values[key] = value
    return RunFilter(**{**values, "tags": tuple(values["tags"]), "words": tuple(values["words"])})


def setting_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value)


def differing_settings(configs: Sequence[dict[str, Any]]) -> list[str]:
    """The config keys (not `job`) whose values are not the same in every config, in first-seen order."""
    keys: dict[str, None] = {}
    for config in configs:
        keys.update(dict.fromkeys(config))
    keys.pop("job", None)
    return [
        key for key in keys if len({setting_text(config[key]) if key in config else MISSING for config in configs}) > 1
    ]


def settings_diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, a's value, b's value) for each setting that differs between two configs (job included)."""
    keys = dict.fromkeys([*a, *b])
    shown = [
        (key, setting_text(a[key]) if key in a else MISSING, setting_text(b[key]) if key in b else MISSING)
        for key in keys
    ]
    return [(key, left, right) for key, left, right in shown if left != right]


def _width(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _sort_value(value: Any) -> tuple[int, Any]:
    """Numbers before text before blanks, whichever way the column is sorted."""
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float) and math.isfinite(value):
        return (0, value)
    if value in (None, "", MISSING):
        return (2, "")
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value).lower())


class HParamsScreen(Screen[list[RunDir] | None]):
    """The table of runs and settings; dismisses with the runs to overlay (p) or None (Esc)."""

    BINDINGS = [
        Binding("escape", "close", "back", id="hparams.close"),
        Binding(
            "s", "sort", "sort by column", id="hparams.sort", tooltip="Sort by the cursor's column; again reverses"
        ),
        Binding("space", "mark", "mark", id="hparams.mark", tooltip="Mark the run: two marked show their diff"),
        Binding(
            "f", "filter", "filter", id="hparams.filter", tooltip="Filter: job: state: tag: sweep: archived: words"
        ),
        Binding("p", "plot", "plot marked", id="hparams.plot", tooltip="Overlay the marked runs in the Train pane"),
    ]

    def __init__(self, rows: list[RunRow], filter_text: str = "") -> None:
        super().__init__()
        self.all_rows = rows
        self.filter_text = filter_text
        self.run_filter = RunFilter()
        self.figures: dict[str, dict[str, float]] = {}
        self.marked: list[str] = []
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.shown: list[RunRow] = []
        self.columns_shown: list[str] = []
        self.best_metric: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="hparams-title")
        yield Input(self.filter_text, id="hparams-filter", placeholder="filter: job:charlm state:done tag:x words")
        yield DataTable(id="hparams-table", cursor_type="cell", zebra_stripes=True, fixed_columns=1)
        yield Static(id="hparams-diff")
        yield Footer()

    def on_mount(self) -> None:
        try:
            self.run_filter = parse_filter(self.filter_text)
        except ValueError:
            self.run_filter = RunFilter()
        self.query_one("#hparams-filter").display = bool(self.filter_text)
        self.query_one("#hparams-diff", Static).update(Text("reading results…", style="dim"))
        self.rebuild()
        self.query_one(DataTable).focus()
        self.read_figures(self.all_rows)

    @work(thread=True, exclusive=True, group="hparams-figures", exit_on_error=False)
    def read_figures(self, rows: list[RunRow]) -> dict[str, dict[str, float]]:
        return {row.run.name: final_figures(row) for row in rows}

    def on_worker_state_changed(self, event: Any) -> None:
        if event.worker.group == "hparams-figures" and event.worker.is_finished:
            self.figures = event.worker.result or {}
            self.rebuild()

    # ------------------------------------------------------------------ the table
    def value_of(self, row: RunRow, column: str) -> Any:
        if column == "run":
            return row.label
        if column == "job":
            return row.job
        if column == "state":
            return row.status.state
        if column == "best":
            return row.status.best_value
        if column in ("final", "test acc"):
            return self.figures.get(row.run.name, {}).get("final" if column == "final" else "test_acc")
        if column == "tags":
            return " ".join(row.meta.tags)
        return row.config.get(column, MISSING) if column in row.config else MISSING

    def cell(self, row: RunRow, column: str) -> Text:
        """What the table shows for `row` in `column`, never read as markup (names and settings are as typed)."""
        shown = self._cell(row, column)
        return Text(shown) if isinstance(shown, str) else shown

    def _cell(self, row: RunRow, column: str) -> Text | str:
        value = self.value_of(row, column)
        if column == "run":
            return ("+ " if row.run.name in self.marked else "  ") + fit(
                row.meta.display_name or short_name(row.run.name), LABEL_WIDTH
            )
        if column == "state":
            return Text(value, style=STATE_STYLES.get(value, ""))
        if column == "best":
            return f"{value:.4g}" if self.best_metric and value is not None else fmt_best(row.status.best_metric, value)
        if column in ("final", "test acc"):
            return "" if value is None else f"{value:.4f}"
        return value if isinstance(value, str) else setting_text(value)

    def rebuild(self) -> None:
        """Lay the table out again for the filter, sort and marks (a thousand rows take a moment, once)."""
        table = self.query_one(DataTable)
        self.shown = [row for row in self.all_rows if self.run_filter.matches(row)]
        settings = differing_settings([row.config for row in self.shown]) if len(self.shown) > 1 else []
        tested = any("test_acc" in self.figures.get(row.run.name, {}) for row in self.shown)
        columns = ["run", "job", "state", *settings, "best", "final", *(["test acc"] if tested else []), "tags"]
        if self.sort_column in columns:
            column = self.sort_column
            self.shown.sort(key=lambda row: _sort_value(self.value_of(row, column)), reverse=self.sort_reverse)
            if self.sort_reverse:  # blanks stay last
                self.shown.sort(key=lambda row: _sort_value(self.value_of(row, column))[0] == 2)
        metrics = {row.status.best_metric for row in self.shown if row.status.best_value is not None}
        self.best_metric = metrics.pop() if len(metrics) == 1 else None  # one metric: named once, in the header
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        self.columns_shown = columns
        cells = [[self.cell(row, column) for column in columns] for row in self.shown]
        for index, column in enumerate(columns):
            arrow = (" ▼" if self.sort_reverse else " ▲") if column == self.sort_column else ""
            title = f"best {self.best_metric}" if column == "best" and self.best_metric else column
            # Widths given here, not measured by DataTable on a later refresh: no frame shows a half-sized table.
            width = max([cell_len(title + arrow), *(_width(line[index]) for line in cells)])
            table.add_column(Text(title + arrow), key=column, width=width)
        for row, line in zip(self.shown, cells, strict=True):
            table.add_row(*line, key=row.run.name)
        if self.shown:
            table.cursor_coordinate = table.validate_cursor_coordinate(cursor)
        self._title()
        self._diff()

    def _title(self) -> None:
        hidden = len(self.all_rows) - len(self.shown)
        text = Text.assemble(
            ("Runs and settings", "bold"),
            f" · {len(self.shown):,} run{'s' if len(self.shown) != 1 else ''}",
            (f" ({hidden:,} filtered out)" if hidden else "", "dim"),
            (" · settings that differ only", "dim"),
        )
        self.query_one("#hparams-title", Static).update(text)

    def _diff(self) -> None:
        diff = self.query_one("#hparams-diff", Static)
        by_name = {row.run.name: row for row in self.all_rows}
        marked = [by_name[name] for name in self.marked if name in by_name]
        if len(marked) == 2:
            a, b = marked
            changes = settings_diff({"job": a.job, **a.config}, {"job": b.job, **b.config})
            text = Text.assemble((f"{short_name(a.label)} → {short_name(b.label)}: ", "bold"))
            if not changes:
                text.append("the same settings")
            for index, (key, left, right) in enumerate(changes):
                text.append(("" if index == 0 else " · ") + f"{key} {left} → {right}")
            diff.update(text)
        elif marked:
            diff.update(
                Text(
                    f"{len(marked)} marked: mark {'one more' if len(marked) == 1 else 'exactly two'} to see what "
                    "differs; p overlays the marked runs' curves.",
                    style="dim",
                )
            )
        else:
            diff.update(
                Text("s sort · space mark (two: their diff) · f filter · p plot the marked · Esc back", style="dim")
            )

    def _cursor_run(self) -> RunRow | None:
        table = self.query_one(DataTable)
        if not self.shown:
            return None
        return self.shown[min(table.cursor_row, len(self.shown) - 1)]

    # ------------------------------------------------------------------ actions
    def action_sort(self) -> None:
        table = self.query_one(DataTable)
        if not self.columns_shown:
            return
        column = self.columns_shown[min(table.cursor_column, len(self.columns_shown) - 1)]
        self.sort_reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column = column
        self.rebuild()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.query_one(DataTable).cursor_coordinate = self.query_one(DataTable).cursor_coordinate._replace(
            column=event.column_index
        )
        self.action_sort()

    def action_mark(self) -> None:
        row = self._cursor_run()
        if row is None:
            return
        name = row.run.name
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        table = self.query_one(DataTable)
        table.update_cell(name, "run", self.cell(row, "run"))
        self._diff()

    def action_filter(self) -> None:
        box = self.query_one("#hparams-filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.run_filter = parse_filter(event.value)
        except ValueError as error:
            self.query_one("#hparams-diff", Static).update(Text.assemble(("✗ ", "bold red"), str(error)))
            return
        self.filter_text = event.value
        self.rebuild()
        self.query_one(DataTable).focus()

    def action_plot(self) -> None:
        by_name = {row.run.name: row.run for row in self.all_rows}
        runs = [by_name[name] for name in self.marked if name in by_name]
        if not runs:
            self.query_one("#hparams-diff", Static).update(Text("Mark runs with space first.", style="bold"))
            return
        self.dismiss(runs)

    def action_close(self) -> None:
        if self.query_one("#hparams-filter", Input).has_focus:
            self.query_one(DataTable).focus()
            return
        self.dismiss(None)
