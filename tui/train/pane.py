"""The Train pane: a live view over run directories.

Every run, whether started here or headless over SSH (`rnn-tui train …`), is a directory
under the runs root; the pane polls them from a thread worker at 4 Hz, changes only the
cells that changed, and redraws a plot only when new records arrive. Jobs run in their
own processes, so quitting or crashing the UI loses nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from engine.training.runs import ACTIVE_STATES, RunDir, RunError, RunStatus, list_runs
from tui.numbers import fmt_best, fmt_devices, fmt_duration, fmt_rank_devices, fmt_speed, short_name

POLL_INTERVAL_S = 0.25  # 4 Hz: light over SSH

#: Plot groups per job: (title, metric keys drawn as series). Keys absent from a run are skipped.
PLOTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "charlm": [
        ("loss", ("train_loss", "val_loss")),
        ("bits per character", ("train_bpc", "val_bpc")),
        ("gradient norm (before clipping)", ("grad_norm",)),
        ("learning rate", ("lr",)),
    ],
    "sentiment": [
        ("loss", ("train_loss", "val_loss")),
        ("accuracy", ("train_acc", "val_acc")),
        ("gradient norm (before clipping)", ("grad_norm",)),
        ("learning rate", ("lr",)),
    ],
}
STATE_STYLES = {
    "queued": "dim",
    "running": "bold green",
    "paused": "yellow",
    "done": "cyan",
    "stopped": "magenta",
    "failed": "bold red",
}
RUN_COLUMNS = ("run", "job", "state", "device", "step", "ETA", "speed", "best")


@dataclass
class RunRow:
    """One line of the runs table, read from a run directory."""

    run: RunDir
    job: str
    status: RunStatus

    def cells(self) -> tuple[Text | str, ...]:
        s = self.status
        step = f"{s.step}/{s.total}" if s.total else str(s.step)
        return (
            short_name(self.run.name),
            self.job,
            Text(s.state, style=STATE_STYLES.get(s.state, "")),
            fmt_devices(s.device, s.extra.get("rank_devices")),
            step,
            fmt_duration(s.eta_s),
            fmt_speed(s.throughput, s.throughput_unit),
            fmt_best(s.best_metric, s.best_value),
        )


@dataclass
class History:
    """The metric records of one run read so far, and where reading stopped."""

    offset: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Snapshot:
    """What one poll read from disk."""

    rows: list[RunRow]
    error: str | None = None
    # path -> (next offset, records, whether the file was rewritten and history starts over)
    new_records: dict[Path, tuple[int, list[dict[str, Any]], bool]] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)


def read_rows(root: Path) -> list[RunRow]:
    rows = []
    for run in list_runs(root):
        try:
            job = run.job
        except RunError:
            continue  # a directory being created, or not ours
        rows.append(RunRow(run=run, job=job, status=run.status()))
    return rows


class TrainPane(Widget):
    """Runs, their progress and curves, and the controls to start, pause, resume and stop them."""

    BINDINGS = [
        Binding("n", "new_run", "new run", id="train.new", tooltip="Start a training job"),
        Binding("p", "pause", "pause/resume", id="train.pause", tooltip="Pause or resume the selected run"),
        Binding("s", "stop", "stop", id="train.stop", tooltip="Stop the selected run (with a final checkpoint)"),
        Binding(
            "r",
            "resume_checkpoint",
            "resume",
            id="train.resume",
            tooltip="Resume a stopped or failed run from its checkpoint",
        ),
        Binding("m", "next_plot", "plot", id="train.plot", tooltip="Show the next metric"),
        Binding("v", "compare", "compare", id="train.compare", tooltip="Compare the selected run with the one marked"),
        Binding("o", "toggle_log", "log", id="train.log", tooltip="Show the log tail instead of the sample"),
    ]

    plot_index = reactive(0)
    show_log = reactive(False)

    def __init__(self, runs_root: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs_root = Path(runs_root)
        self.rows: list[RunRow] = []
        self.selected: RunDir | None = None
        self.compared: RunDir | None = None
        self.histories: dict[Path, History] = {}
        self._plotted: tuple | None = None
        self._empty_notice = False
        self._shown: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield DataTable(id="runs", cursor_type="row")
        with Vertical(id="run-view"):
            yield Static(id="run-header")
            with Horizontal(id="run-progress-row"):
                yield ProgressBar(id="run-progress", show_eta=False)
                yield Static(id="run-speed")
            yield PlotextPlot(id="run-plot")
            yield Static(id="run-text")
        yield Static(id="train-message")

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for column in RUN_COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#train-message").display = False
        self.set_interval(POLL_INTERVAL_S, self.poll)
        self.poll()

    # ---------------------------------------------------------------- polling

    def poll(self) -> None:
        """Read the runs root off the event loop (skipped while a read is still running)."""
        if any(w.group == "train-poll" and w.is_running for w in self.workers):
            return
        watched = [run for run in (self.selected, self.compared) if run is not None]
        offsets = {run.path: self.histories.get(run.path, History()).offset for run in watched}
        self.read_disk(self.runs_root, self.selected, offsets, self.show_log)

    @work(thread=True, group="train-poll", exit_on_error=False)
    def read_disk(self, root: Path, selected: RunDir | None, offsets: dict[Path, int], with_log: bool) -> Snapshot:
        try:
            rows = read_rows(root)
        except RunError as error:
            return Snapshot(rows=[], error=str(error))
        snapshot = Snapshot(rows=rows)
        for path, offset in offsets.items():
            run = RunDir(path)
            try:
                rewritten = run.metrics_path.stat().st_size < offset  # a resume rewrites metrics.jsonl
            except FileNotFoundError:
                rewritten = offset > 0
            records, new_offset = run.read_metrics(0 if rewritten else offset)
            snapshot.new_records[path] = (new_offset, records, rewritten)
        if selected is not None:
            snapshot.sample = selected.latest_sample()
            snapshot.log = selected.log_tail(12) if with_log else []
        return snapshot

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train-poll":
            return
        if event.state == WorkerState.SUCCESS:
            self.apply(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.set_message(f"Could not read the runs: {event.worker.error}", error=True)

    # ---------------------------------------------------------------- drawing

    def apply(self, snapshot: Snapshot) -> None:
        if snapshot.error:
            self.set_message(snapshot.error, error=True)
            return
        self.rows = snapshot.rows
        with self.app.batch_update():
            self._update_table()
            for path, (offset, records, rewritten) in snapshot.new_records.items():
                history = self.histories.setdefault(path, History())
                if rewritten:
                    history.records.clear()
                    self._plotted = None
                history.offset = offset
                history.records.extend(records)
            self._update_run_view(snapshot)

    def _update_table(self) -> None:
        """Change only the cells that changed; add and remove rows as runs come and go."""
        table = self.query_one("#runs", DataTable)
        keys = {row.run.name for row in self.rows}
        for key in [k.value for k in table.rows if k.value not in keys]:
            table.remove_row(key)
        existing = {k.value for k in table.rows}
        for row in self.rows:
            cells = row.cells()
            if row.run.name not in existing:
                table.add_row(*cells, key=row.run.name)
                continue
            for column, value in zip(RUN_COLUMNS, cells, strict=False):
                if str(table.get_cell(row.run.name, column)) != str(value):
                    # Widening a column re-lays out the table; only do it when the text no longer fits.
                    wider = cell_len(str(value)) > table.columns[column].content_width
                    table.update_cell(row.run.name, column, value, update_width=wider)
        if self.selected is None and self.rows:
            self.selected = self.rows[0].run
        if self.selected is not None and self.selected.name in keys:
            row_index = table.get_row_index(self.selected.name)
            if table.cursor_row != row_index:
                table.move_cursor(row=row_index, animate=False)
        empty = not self.rows
        self.query_one("#run-view").display = not empty
        if empty:
            self.set_message(
                f"No runs yet in {self.runs_root}. Press n to start one, or run `rnn-tui train` in a shell."
            )
            self._empty_notice = True
        elif self._empty_notice:
            self.set_message("")
            self._empty_notice = False

    def _row(self, run: RunDir | None) -> RunRow | None:
        return next((row for row in self.rows if row.run == run), None)

    def _update_run_view(self, snapshot: Snapshot) -> None:
        row = self._row(self.selected)
        if row is None:
            return
        s = row.status
        compared = f" · comparing with {self.compared.name}" if self.compared and self.compared != row.run else ""
        ranks = s.extra.get("rank_devices") or []
        devices = fmt_rank_devices(ranks) if len(ranks) > 1 else s.device or "device ?"
        header = Text.assemble(
            (row.run.name, "bold"),
            f" · {row.job} · ",
            (s.state, STATE_STYLES.get(s.state, "")),
            f" · {devices}{compared}",
        )
        self._show("#run-header", header)
        progress = self.query_one("#run-progress", ProgressBar)
        # Not before the bar has its width: it rounds the fraction to the half cells of its width then.
        laid_out = progress.query_one("#bar").size.width > 0
        if laid_out and (progress.total, progress.progress) != (s.total or None, s.step):
            progress.update(total=s.total or None, progress=s.step)
        eta = fmt_duration(s.eta_s)
        self._show(
            "#run-speed",
            f"{s.step}/{s.total}"
            + (f" · ETA {eta}" if eta else "")
            + (f" · {fmt_speed(s.throughput, s.throughput_unit)}" if s.throughput else ""),
        )
        self._draw_plot(row)
        if s.state == "failed" and s.error:
            text = Text.assemble(("failed: ", "bold red"), s.error)
        elif self.show_log:
            text = Text("\n".join(snapshot.log) or "(the log is empty)", style="dim")
        elif snapshot.sample:
            text = Text.assemble(
                (f"sample at step {snapshot.sample.get('step')}: ", "bold"), str(snapshot.sample.get("text", ""))
            )
        else:
            text = Text("no sample yet" if row.job == "charlm" else "", style="dim")
        self._show("#run-text", text)

    def _show(self, selector: str, content: Text | str) -> None:
        """Update a Static only when what it shows changes: each update re-lays out the pane."""
        key = (content.plain, tuple(content.spans), str(content.style)) if isinstance(content, Text) else content
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def _plot_groups(self, job: str) -> list[tuple[str, tuple[str, ...]]]:
        return PLOTS.get(job, PLOTS["charlm"])

    def _draw_plot(self, row: RunRow) -> None:
        groups = self._plot_groups(row.job)
        title, keys = groups[self.plot_index % len(groups)]
        runs = [row.run] + ([self.compared] if self.compared and self.compared != row.run else [])
        lengths = tuple(len(self.histories.get(run.path, History()).records) for run in runs)
        signature = (tuple(run.path for run in runs), lengths, title, self.size)
        if signature == self._plotted:
            return  # nothing new: no redraw
        self._plotted = signature
        widget = self.query_one("#run-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("step")
        drawn = False
        for run in runs:
            records = self.histories.get(run.path, History()).records
            prefix = "" if run == row.run else f"{run.name[-12:]} "
            for key in keys:
                points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
                points = [(x, y) for x, y in points if math.isfinite(y)]
                if points:
                    xs, ys = zip(*points, strict=False)
                    plt.plot(list(xs), list(ys), label=prefix + key, marker="braille")
                    drawn = True
        if not drawn:
            plt.title(f"{title}: no records yet")
        widget.refresh()

    def set_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#train-message", Static)
        message.set_class(error, "-error")
        message.display = bool(text)
        message.update(text)

    # --------------------------------------------------------------- actions

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs" or event.row_key is None:
            return
        row = next((r for r in self.rows if r.run.name == event.row_key.value), None)
        if row is not None and row.run != self.selected:
            self.selected = row.run
            self._plotted = None
            self.poll()

    def _selected_row(self) -> RunRow | None:
        row = self._row(self.selected)
        if row is None:
            self.set_message("Select a run first (↑/↓ in the runs table).")
        return row

    def action_pause(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.status.state == "running":
            row.run.request("pause")
            self.set_message(f"Asked {row.run.name} to pause after its current step.")
        elif row.status.state == "paused":
            row.run.request("resume")
            self.set_message(f"Asked {row.run.name} to resume.")
        else:
            self.set_message(f"{row.run.name} is {row.status.state}; only a running or paused run can pause or resume.")

    def action_stop(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.status.state not in ACTIVE_STATES:
            self.set_message(f"{row.run.name} is already {row.status.state}.")
            return
        row.run.request("stop")
        self.set_message(f"Asked {row.run.name} to stop; it writes a final checkpoint first.")

    def action_resume_checkpoint(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.status.state in ACTIVE_STATES:
            self.set_message(f"{row.run.name} is {row.status.state}; stop it before resuming from a checkpoint.")
            return
        if row.status.state == "done":
            self.set_message(f"{row.run.name} is done; there is nothing left to train.")
            return
        self.start_job(row.run, resume=True)

    def action_next_plot(self) -> None:
        self.plot_index += 1

    def watch_plot_index(self) -> None:
        self._plotted = None
        row = self._row(self.selected)
        if row is not None:
            self._draw_plot(row)

    def watch_show_log(self) -> None:
        self.poll()

    def action_toggle_log(self) -> None:
        self.show_log = not self.show_log

    def action_compare(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if self.compared == row.run:
            self.compared = None
            self.set_message("Comparison cleared.")
        else:
            self.compared = row.run
            self.set_message(f"Marked {row.run.name}: select another run to see both on one plot (v again clears).")
        self._plotted = None
        self.poll()

    def action_new_run(self) -> None:
        from tui.train.form import TrainForm

        self.app.push_screen(TrainForm(), self._create_from_form)

    def _create_from_form(self, config) -> None:
        if config is None:
            return
        from engine.training.jobs import create_run

        try:
            run = create_run(self.runs_root, config)
        except RunError as error:
            self.set_message(str(error), error=True)
            return
        self.selected = run
        self.start_job(run, resume=False)

    def start_job(self, run: RunDir, resume: bool) -> None:
        from engine.training.jobs import start_job

        try:
            pid = start_job(run, resume=resume)
        except (RunError, OSError) as error:
            self.set_message(f"Could not start {run.name}: {error}", error=True)
            return
        verb = "Resumed" if resume else "Started"
        self.set_message(f"{verb} {run.name} (pid {pid}); its log is {run.log_path}.")
        self.poll()

    def active_runs(self) -> list[RunDir]:
        """Runs whose job process is alive, read fresh from disk (for the quit question)."""
        return [row.run for row in read_rows(self.runs_root) if row.status.state in ACTIVE_STATES]

    def stop_all(self, runs: list[RunDir]) -> None:
        for run in runs:
            run.request("stop")
