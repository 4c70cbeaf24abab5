"""The Train pane: a live view over run directories.

Every run, whether started here or headless over SSH (`rnn-tui train …`), is a directory
under the runs root; the pane polls them from a thread worker at 4 Hz (tui/train/disk.py),
and hands what it read to the runs table (runs_table.py), which changes only the cells that
changed, and to the run view (run_view.py), which redraws a plot only when new records arrive.
The pane keeps the polling, the selection and the keys. Jobs run in their own processes, so
quitting or crashing the UI loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from engine.training.runmeta import MetaError, update_meta
from engine.training.runs import ACTIVE_STATES, RunDir, RunError
from engine.training.usage import UsageMeter
from tui.numbers import fmt_best
from tui.train.curves import SMOOTHING, X_AXES, PlotOptions, x_label
from tui.train.disk import History, RunIndex, RunRow, Snapshot, read_rows, read_snapshot
from tui.train.run_view import PlotSignature, RunView, run_text
from tui.train.runs_table import RunsTable

if TYPE_CHECKING:
    from tui.train.form import NewRun

POLL_INTERVAL_S = 0.25  # 4 Hz: light over SSH
QUEUE_INTERVAL_S = 2.0  # how often a poll also serves the queue (each look stats every run)
NOTICE_S = 8.0  # how long a notice stays under the table
ERROR_S = 30.0  # and an error
SETTLE_S = 0.15  # how long the cursor rests on a run before its records are read
KEPT_HISTORIES = 8  # runs whose metric records stay in memory besides those plotted


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
        Binding(
            "v",
            "overlay",
            "overlay",
            id="train.overlay",
            tooltip="Overlay the selected run's curves (again: take it off)",
        ),
        Binding("V", "clear_overlay", "clear overlay", id="train.overlay_clear", show=False, tooltip="Overlay no runs"),
        Binding("h", "hparams", "table", id="train.hparams", tooltip="All runs and the settings that differ"),
        Binding("e", "edit", "edit", id="train.edit", tooltip="Rename the run, edit its tags and notes"),
        Binding("a", "archive", "archive", id="train.archive", show=False, tooltip="Archive the run (again: restore)"),
        Binding("A", "toggle_archived", "show archived", id="train.archived", show=False, tooltip="Show archived runs"),
        Binding("d", "delete", "delete", id="train.delete", show=False, tooltip="Delete the run (asks first)"),
        Binding(
            "z", "smoothing(-1)", "less smoothing", id="train.smooth_less", show=False, tooltip="Less EMA smoothing"
        ),
        Binding(
            "Z", "smoothing(1)", "more smoothing", id="train.smooth_more", show=False, tooltip="More EMA smoothing"
        ),
        Binding("y", "log_y", "log y", id="train.log_y", show=False, tooltip="Linear or logarithmic y axis"),
        Binding(
            "x", "x_axis", "x axis", id="train.x_axis", show=False, tooltip="x axis: step, training time or tokens seen"
        ),
        Binding("o", "toggle_log", "log", id="train.log", tooltip="Show the log tail instead of the sample"),
        Binding(
            "plus",
            "move_queued(-1)",
            "queue up",
            id="train.queue_up",
            tooltip="Move the selected queued run up the queue",
            show=False,
        ),
        Binding(
            "minus",
            "move_queued(1)",
            "queue down",
            id="train.queue_down",
            tooltip="Move the selected queued run down the queue",
            show=False,
        ),
        Binding(
            "c",
            "toggle_cost",
            "cost",
            id="train.cost",
            tooltip="Show what each running job costs (CPU, memory) as a column",
            show=False,
        ),
    ]

    class FirstRead(Message):
        """The pane's first read of the runs root is over (done or failed): the app may load torch now."""

    plot_index = reactive(0)
    show_log = reactive(False)
    show_archived = reactive(False)
    show_cost = reactive(False)

    def __init__(self, runs_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_root = Path(runs_root)
        self.rows: list[RunRow] = []
        self.selected: RunDir | None = None
        self.overlay: list[RunDir] = []  # runs whose curves are drawn with the selected run's
        self.options = PlotOptions()
        self.index = RunIndex(self.runs_root)
        self.all_rows: list[RunRow] = []  # archived ones too
        self.histories: dict[Path, History] = {}
        self._empty_notice = False
        self._snapshot: Snapshot | None = None
        self._by_run: dict[RunDir, RunRow] = {}
        self._by_name: dict[str, RunRow] = {}
        self._settle_timer: Timer | None = None
        self._dirty = False  # something the pane changed (selection, overlay, filter) needs the next poll drawn
        self._message_timer: Timer | None = None
        self.data_paths: dict[str, str] = {}  # job -> the data source last typed in the new-run form
        self.meter = UsageMeter()  # used only by the polling thread, one read at a time
        self._queue_served = -QUEUE_INTERVAL_S  # when a poll last served the queue (monotonic clock)
        self._first_read_over = False
        self._reading = False  # a read_disk worker is under way
        self._cursor_name: str | None = None  # the run the cursor was last known to be on (highlighted or put there)

    def compose(self) -> ComposeResult:
        yield RunsTable(id="runs", cursor_type="row")
        yield RunView(id="run-view")
        yield Static(id="train-message")

    def on_mount(self) -> None:
        self.query_one("#train-message").display = False
        self.set_interval(POLL_INTERVAL_S, self.poll)
        self.poll()

    def on_resize(self) -> None:
        """A tall terminal lists more runs; a wide one shows every column of the runs table."""
        self.set_class(self.app.size.height >= 36, "-tall")
        self._dirty = True  # the next poll draws at the new size, even if nothing on disk changed
        if self.rows:
            self.query_one(RunsTable).show_rows(self.rows, frozenset(run.name for run in self.overlay), self.size.width)

    @property
    def plotted(self) -> PlotSignature | None:
        """What the plot shows now (runs, their record counts, the metric's title); None before it is drawn."""
        return self.query_one(RunView).plotted

    def row_for(self, run: RunDir | None) -> RunRow | None:
        """The runs table's row of `run`, as of the last poll (None if it is not there or archived away)."""
        row = self._by_run.get(run) if run is not None else None
        return row if row is not None and row.meta.archived == self.show_archived else None

    # ---------------------------------------------------------------- polling

    def poll(self, redraw: bool = False) -> None:
        """Read the runs root off the event loop (skipped while a read is still running).

        `redraw`: draw what is read even if nothing on disk changed (the selection or the view did).
        """
        self._dirty = self._dirty or redraw
        # One read at a time: two would race on the index's entries, and both would bring the selected run's
        # records from the same offset (the plot would show them twice). A flag, not a look at self.workers:
        # a worker started while the pane mounts is not listed there yet.
        if self._reading:
            return
        watched = [run for run in (self.selected, *self.overlay) if run is not None]
        offsets = {run.path: self.histories.get(run.path, History()).offset for run in watched}
        serve = time.monotonic() - self._queue_served >= QUEUE_INTERVAL_S
        if serve:
            self._queue_served = time.monotonic()
        archived = self.show_archived
        self._reading = True
        self.read_disk(
            self.runs_root,
            self.selected,
            offsets,
            self.show_log,
            self.show_cost,
            serve,
            lambda row: row.meta.archived == archived,  # the first run the table will list
        )

    @work(thread=True, group="train-poll", exit_on_error=False)
    def read_disk(
        self,
        root: Path,
        selected: RunDir | None,
        offsets: dict[Path, int],
        with_log: bool,
        every_cost: bool,
        serve_queue: bool,
        pick: Callable[[RunRow], bool],
    ) -> Snapshot:
        return read_snapshot(
            root,
            selected,
            offsets,
            with_log,
            self.index,
            self.meter,
            measure_all=every_cost,
            serve_queue=serve_queue,
            pick=pick,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train-poll":
            return
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._reading = False
        if not self._first_read_over and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._first_read_over = True
            self.call_after_refresh(self.post_message, self.FirstRead())  # once what was read is drawn
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Snapshot):
            self.apply(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.set_message(f"Could not read the runs: {event.worker.error}", error=True)

    # ---------------------------------------------------------------- drawing

    def apply(self, snapshot: Snapshot) -> None:
        if snapshot.error:
            self.set_message(snapshot.error, error=True)
            return
        previous = self._snapshot
        quiet = (
            previous is not None
            and snapshot.version is not None
            and snapshot.version == previous.version
            and not snapshot.new_records
            and snapshot.sample == previous.sample
            and snapshot.log == previous.log
            and not self._dirty
        )
        self._snapshot = snapshot
        if quiet:
            return  # nothing on disk changed since the last poll: nothing to lay out or draw
        self._dirty = False
        self.all_rows = snapshot.rows
        self.rows = [row for row in self.all_rows if row.meta.archived == self.show_archived]
        self._by_run = {row.run: row for row in self.all_rows}
        self._by_name = {row.run.name: row for row in self.all_rows}
        run_view = self.query_one(RunView)
        with self.app.batch_update():
            self._update_table()
            for path, (offset, records, rewritten, columns) in snapshot.new_records.items():
                history = self.histories.setdefault(path, History())
                start = snapshot.read_from.get(path, history.offset)
                if not rewritten and start != history.offset:
                    if start:
                        continue  # not read from where the history ends: the next poll reads from there
                    rewritten = True  # read whole (a picked run): it replaces what the history holds
                history.merge(offset, records, rewritten, columns)
                if rewritten:
                    run_view.forget_plot()
            self._forget_histories()
            self._draw()

    def _draw(self) -> None:
        """Draw the selected run (and the overlay) from what the last poll read."""
        run_view = self.query_one(RunView)
        row = self.row_for(self.selected)
        if row is None or self._snapshot is None:
            return
        room = run_view.text_room(self.show_log)
        text = run_text(row, self.show_log, self._snapshot.sample, self._snapshot.log, room)
        run_view.show(row, self.overlay_rows(), self.histories, self.plot_index, text, room[1], self.options)

    def _forget_histories(self) -> None:
        """Keep the records of the runs on the plot and of the last few looked at (10k records are ~10 MB)."""
        watched = {run.path for run in (self.selected, *self.overlay) if run is not None}
        for path in list(self.histories)[: max(len(self.histories) - KEPT_HISTORIES, 0)]:
            if path not in watched:
                del self.histories[path]

    def overlay_rows(self) -> list[RunRow]:
        return [self._by_run[run] for run in self.overlay if run in self._by_run]

    def _update_table(self) -> None:
        """The table follows the runs on disk; the first run is selected until the user picks one."""
        table = self.query_one(RunsTable)
        # A ↑/↓ moves the cursor at once but selects its run only when the highlight message is handled. A read
        # drawn in between must not put the cursor back on the old selection: that key would be lost.
        under = table.cursor_name()
        moved_to = self._by_name.get(under) if under is not None and self._cursor_name not in (None, under) else None
        table.show_rows(
            self.rows, frozenset(run.name for run in self.overlay), self.size.width, show_cost=self.show_cost
        )
        if (self.selected is None or self.row_for(self.selected) is None) and self.rows:
            self.selected = self.rows[0].run
        if moved_to is not None and self.row_for(moved_to.run) is not None:
            table.move_to(moved_to.run.name)  # (again, if the rows were laid out anew) its highlight selects it
        elif self.selected is not None:
            table.move_to(self.selected.name)
            self._cursor_name = self.selected.name
        empty = not self.rows
        self.query_one(RunView).display = not empty
        if empty and self.all_rows:
            which = "archived runs" if self.show_archived else "runs that are not archived"
            self.set_message(
                f"No {which} to show; A shows the {'others' if self.show_archived else 'archived ones'}.", lasting=True
            )
            self._empty_notice = True
        elif empty:
            self.set_message(
                f"No runs yet in {self.runs_root}. Press n to start one, or run `rnn-tui train` in a shell.",
                lasting=True,
            )
            self._empty_notice = True
        elif self._empty_notice:
            self.set_message("")
            self._empty_notice = False

    def set_message(self, text: str, error: bool = False, lasting: bool = False) -> None:
        """One line under the table: a notice goes after NOTICE_S seconds, an error after ERROR_S; `lasting` stays."""
        message = self.query_one("#train-message", Static)
        message.set_class(error, "-error")
        message.display = bool(text)
        message.update(text)
        if self._message_timer is not None:
            self._message_timer.stop()
            self._message_timer = None
        if text and not lasting:
            self._message_timer = self.set_timer(ERROR_S if error else NOTICE_S, lambda: self.set_message(""))

    # --------------------------------------------------------------- actions

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs" or event.row_key is None:
            return
        self._cursor_name = event.row_key.value
        row = self._by_name.get(event.row_key.value or "")
        if row is not None and row.run != self.selected:
            self.selected = row.run
            self.query_one(RunView).forget_plot()
            self._draw()  # its header and what is already read of its curves, at once
            # Its records are read once the cursor rests: holding ↓ through a thousand runs reads none of them.
            if self._settle_timer is not None:
                self._settle_timer.stop()
            self._settle_timer = self.set_timer(SETTLE_S, lambda: self.poll(redraw=True))

    def _selected_row(self) -> RunRow | None:
        row = self.row_for(self.selected)
        if row is None:
            self.set_message("Select a run first (↑/↓ in the runs table).")
        return row

    def action_pause(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.status.state == "running":
            if self._ask(row.run, "pause"):
                self.set_message(f"Asked {row.run.name} to pause after its current step.")
        elif row.status.state == "paused":
            if self._ask(row.run, "resume"):
                self.set_message(f"Asked {row.run.name} to resume.")
        else:
            self.set_message(f"{row.run.name} is {row.status.state}; only a running or paused run can pause or resume.")

    def action_stop(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.queue_position is not None:
            self._queue_change(row, "cancel")
            return
        if row.status.state not in ACTIVE_STATES:
            self.set_message(f"{row.run.name} is already {row.status.state}.")
            return
        if self._ask(row.run, "stop"):
            self.set_message(f"Asked {row.run.name} to stop; it writes a final checkpoint first.")

    def _ask(self, run: RunDir, command: str) -> bool:
        """Write a request to the run's job; False, saying why, when its directory refuses (full, read-only)."""
        try:
            run.request(command)
        except RunError as error:
            self.set_message(f"Could not ask {run.name} to {command}: {error}", error=True)
            return False
        return True

    def action_resume_checkpoint(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.queue_position is not None:
            self._queue_change(row, "start")
            return
        if row.status.state in ACTIVE_STATES:
            self.set_message(f"{row.run.name} is {row.status.state}; stop it before resuming from a checkpoint.")
            return
        if row.status.state == "done":
            self.set_message(f"{row.run.name} is done; there is nothing left to train.")
            return
        self.start_job(row.run, resume=True)

    def action_move_queued(self, places: int) -> None:
        row = self._selected_row()
        if row is None:
            return
        if row.queue_position is None:
            self.set_message(f"{row.run.name} is {row.status.state}, not queued; only a queued run moves in the queue.")
            return
        self._queue_change(row, "up" if places < 0 else "down")

    def _queue_change(self, row: RunRow, change: str) -> None:
        """Cancel, start now, or move `row`'s queued run; the queue lives in the runs root, so this is quick."""
        from engine.training import queue

        name = row.run.name
        try:
            if change == "cancel":
                queue.cancel(self.runs_root, name)
                message = f"Cancelled {name}: it left the queue before it started, and its directory is removed."
            elif change == "start":
                queue.start_now(self.runs_root, name)
                message = f"Started {name} now, ahead of the queue; its log is {row.run.log_path}."
            else:
                place = queue.move(self.runs_root, name, -1 if change == "up" else 1)
                message = f"{name} is now place {place} in the queue."
        except (queue.QueueError, RunError, OSError) as error:
            self.set_message(str(error), error=True)
            return
        self.set_message(message)
        self.poll(redraw=True)

    def action_toggle_cost(self) -> None:
        self.show_cost = not self.show_cost
        self.set_message("The cost column shows each running job's CPU and memory." if self.show_cost else "")
        self.poll(redraw=True)

    def action_next_plot(self) -> None:
        self.plot_index += 1

    def watch_plot_index(self) -> None:
        self._redraw_plot()

    def _redraw_plot(self) -> None:
        run_view = self.query_one(RunView)
        run_view.forget_plot()
        row = self.row_for(self.selected)
        if row is not None:
            run_view.draw_plot(row, self.overlay_rows(), self.histories, self.plot_index, self.options)

    def action_smoothing(self, change: int) -> None:
        """Step the EMA weight through SMOOTHING (z less, Z more); the raw curve stays, faint."""
        position = SMOOTHING.index(self.options.smoothing) if self.options.smoothing in SMOOTHING else 0
        weight = SMOOTHING[min(max(position + change, 0), len(SMOOTHING) - 1)]
        self.options = replace(self.options, smoothing=weight)
        self.set_message(
            f"Smoothing: EMA {weight:g}; the raw curve stays faint." if weight else "Smoothing off: raw curves."
        )
        self._redraw_plot()

    def action_log_y(self) -> None:
        self.options = replace(self.options, log_y=not self.options.log_y)
        self.set_message("Logarithmic y axis (values ≤ 0 are left out)." if self.options.log_y else "Linear y axis.")
        self._redraw_plot()

    def action_x_axis(self) -> None:
        axis = X_AXES[(X_AXES.index(self.options.x_axis) + 1) % len(X_AXES)]
        self.options = replace(self.options, x_axis=axis)
        row = self.row_for(self.selected)
        self.set_message(f"x axis: {x_label(axis, row.job if row else 'charlm')}.")
        self._redraw_plot()

    def watch_show_log(self) -> None:
        self.poll(redraw=True)

    def action_toggle_log(self) -> None:
        self.show_log = not self.show_log

    def action_overlay(self) -> None:
        """Put the selected run's curves on the plot with the others overlaid (again: take them off)."""
        row = self._selected_row()
        if row is None:
            return
        drawn = {row.run, *self.overlay}
        if row.run in self.overlay:
            self.overlay.remove(row.run)
            self.set_message(f"{row.label} is no longer overlaid ({len(self.overlay)} overlaid).")
        else:
            if not self.overlay or self.overlay == [row.run]:
                self.overlay = [row.run]
                self.set_message(f"Marked {row.label}: select another run and press v to overlay it (V clears).")
            else:
                self.overlay.append(row.run)
                if len(self.overlay) == 2:
                    self.plot_index = 0  # an overlay starts at the validation metric
            others = [run for run in self.overlay if run != row.run]
            if others:
                self.set_message(f"{len(self.overlay)} runs overlaid; m picks the metric, V clears.")
        self.query_one(RunsTable).show_rows(self.rows, frozenset(run.name for run in self.overlay), self.size.width)
        if {row.run, *self.overlay} != drawn:  # marking the run on the plot alone changes nothing drawn
            self.query_one(RunView).forget_plot()
            self.poll(redraw=True)

    def action_clear_overlay(self) -> None:
        self.overlay = []
        self.set_message("No runs overlaid.")
        self.query_one(RunView).forget_plot()
        self.query_one(RunsTable).show_rows(self.rows, frozenset(), self.size.width)
        self.poll(redraw=True)

    def action_hparams(self) -> None:
        from tui.train.hparams import HParamsScreen

        if not self.all_rows:
            self.set_message("No runs yet: the table lists runs once there are some.")
            return
        self.app.push_screen(HParamsScreen(self.all_rows), self._overlay_from_table)

    def _overlay_from_table(self, runs: list[RunDir] | None) -> None:
        if not runs:
            return
        self.overlay = list(runs)
        self.plot_index = 0
        visible = {row.run for row in self.rows}
        if runs[0] in visible:
            self.selected = runs[0]
        self.set_message(f"{len(runs)} runs overlaid from the table; m picks the metric, V clears.")
        self.query_one(RunView).forget_plot()
        self.poll(redraw=True)

    def action_edit(self) -> None:
        from tui.train.manage import EditRunForm

        row = self._selected_row()
        if row is None:
            return
        if row.meta.error:
            self.set_message(f"{row.run.name}: {row.meta.error}", error=True)
        run = row.run
        self.app.push_screen(EditRunForm(run.name, row.meta), lambda changes: self._save_meta(run, changes))

    def _save_meta(self, run: RunDir, changes: dict[str, Any] | None) -> None:
        if changes is None:
            return
        try:
            meta = update_meta(run.path, **changes)
        except MetaError as error:
            self.set_message(str(error), error=True)
            return
        self.index.refresh_meta(run)
        self.set_message(f"Saved {meta.label(run.name)}" + (f" ({run.name})." if meta.display_name else "."))
        self.poll(redraw=True)

    def action_archive(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        try:
            meta = update_meta(row.run.path, archived=not row.meta.archived)
        except MetaError as error:
            self.set_message(str(error), error=True)
            return
        self.index.refresh_meta(row.run)
        if meta.archived:
            self.set_message(f"Archived {row.label}: hidden from the list (A shows archived runs, a restores).")
        else:
            self.set_message(f"Restored {row.label} from the archive.")
        self.poll(redraw=True)

    def watch_show_archived(self) -> None:
        if not self.is_mounted:
            return
        self.set_message(
            "Showing archived runs only (A again: the others)."
            if self.show_archived
            else "Showing runs that are not archived."
        )
        self.selected = None
        self.poll(redraw=True)

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived

    def action_delete(self) -> None:
        from tui.train.manage import DeleteRunScreen

        row = self._selected_row()
        if row is None:
            return
        if row.status.state in ("running", "paused") and row.run.job_alive(row.status):
            self.set_message(f"{row.label} is {row.status.state}; stop it (s) before deleting it.", error=True)
            return
        s = row.status
        what = f"{row.job} · {s.state} · step {s.step:,}/{s.total:,}" + (
            f" · {fmt_best(s.best_metric, s.best_value)}" if s.best_value is not None else ""
        )
        run = row.run
        label = row.label

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_run(run, label)

        self.app.push_screen(DeleteRunScreen(label, run.name, what), answered)

    @work(thread=True, group="train-delete", exit_on_error=False)
    def delete_run(self, run: RunDir, label: str) -> None:
        from engine.training.runs import delete_run

        try:
            delete_run(run)
        except RunError as error:
            self.app.call_from_thread(self.set_message, str(error), True)
            return
        self.app.call_from_thread(self._deleted, run, label)

    def _deleted(self, run: RunDir, label: str) -> None:
        self.overlay = [other for other in self.overlay if other != run]
        self.histories.pop(run.path, None)
        if self.selected == run:
            self.selected = None
        self.set_message(f"Deleted {label} ({run.name}).")
        self.poll(redraw=True)

    def action_new_run(self) -> None:
        from tui.train.form import TrainForm

        self.app.push_screen(TrainForm(self.data_paths), self._create_from_form)

    def _create_from_form(self, new: NewRun | None) -> None:
        if new is None:
            return
        from engine.training import queue
        from engine.training.jobs import create_run

        try:
            if new.queue:
                (run,) = queue.enqueue(self.runs_root, [(new.config, None)])
            else:
                run = create_run(self.runs_root, new.config)
        except RunError as error:
            self.set_message(str(error), error=True)
            return
        self.selected = run
        if new.queue:
            place = queue.positions(self.runs_root).get(run.name)
            self.set_message(f"Queued {run.name} at place {place}; it starts when a slot frees up (+/- move it).")
            self.poll(redraw=True)
        else:
            self.start_job(run, resume=False)

    def start_job(self, run: RunDir, resume: bool) -> None:
        from engine.training.jobs import start_job

        try:
            job = start_job(run, resume=resume)
        except (RunError, OSError) as error:
            self.set_message(f"Could not start {run.name}: {error}", error=True)
            return
        verb = "Resumed" if resume else "Started"
        self.set_message(f"{verb} {run.name} (pid {job.pid}); its log is {run.log_path}.")
        self.poll(redraw=True)

    def active_runs(self) -> list[RunDir]:
        """Runs whose job process is alive, read fresh from disk (for the quit question)."""
        return [row.run for row in read_rows(self.runs_root) if row.status.state in ACTIVE_STATES]

    def stop_all(self, runs: list[RunDir]) -> None:
        for run in runs:
            self._ask(run, "stop")
