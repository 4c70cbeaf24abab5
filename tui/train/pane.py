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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from engine.training.runs import ACTIVE_STATES, RunDir, RunError
from engine.training.usage import UsageMeter
from tui.train.disk import History, RunRow, Snapshot, read_rows, read_snapshot
from tui.train.run_view import PlotSignature, RunView, run_text
from tui.train.runs_table import RunsTable

if TYPE_CHECKING:
    from tui.train.form import NewRun

POLL_INTERVAL_S = 0.25  # 4 Hz: light over SSH
QUEUE_INTERVAL_S = 2.0  # how often a poll also serves the queue (each look stats every run)
NOTICE_S = 8.0  # how long a notice stays under the table
ERROR_S = 30.0  # and an error


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

    plot_index = reactive(0)
    show_log = reactive(False)
    show_cost = reactive(False)

    def __init__(self, runs_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_root = Path(runs_root)
        self.rows: list[RunRow] = []
        self.selected: RunDir | None = None
        self.compared: RunDir | None = None
        self.histories: dict[Path, History] = {}
        self._empty_notice = False
        self._message_timer: Timer | None = None
        self.data_paths: dict[str, str] = {}  # job -> the data source last typed in the new-run form
        self.meter = UsageMeter()  # used only by the polling thread, one read at a time
        self._queue_served = -QUEUE_INTERVAL_S  # when a poll last served the queue (monotonic clock)

    def compose(self) -> ComposeResult:
        yield RunsTable(id="runs", cursor_type="row")
        yield RunView(id="run-view")
        yield Static(id="train-message")

    def on_mount(self) -> None:
        self.query_one("#train-message").display = False
        self.set_interval(POLL_INTERVAL_S, self.poll)
        self.poll()

    @property
    def plotted(self) -> PlotSignature | None:
        """What the plot shows now (runs, their record counts, the metric's title); None before it is drawn."""
        return self.query_one(RunView).plotted

    def row_for(self, run: RunDir | None) -> RunRow | None:
        """The runs table's row of `run`, as of the last poll (None if it is not there)."""
        return next((row for row in self.rows if row.run == run), None)

    # ---------------------------------------------------------------- polling

    def poll(self) -> None:
        """Read the runs root off the event loop (skipped while a read is still running)."""
        if any(w.group == "train-poll" and w.is_running for w in self.workers):
            return
        watched = [run for run in (self.selected, self.compared) if run is not None]
        offsets = {run.path: self.histories.get(run.path, History()).offset for run in watched}
        serve = time.monotonic() - self._queue_served >= QUEUE_INTERVAL_S
        if serve:
            self._queue_served = time.monotonic()
        self.read_disk(self.runs_root, self.selected, offsets, self.show_log, self.show_cost, serve)

    @work(thread=True, group="train-poll", exit_on_error=False)
    def read_disk(
        self,
        root: Path,
        selected: RunDir | None,
        offsets: dict[Path, int],
        with_log: bool,
        every_cost: bool,
        serve_queue: bool,
    ) -> Snapshot:
        return read_snapshot(
            root, selected, offsets, with_log, self.meter, measure_all=every_cost, serve_queue=serve_queue
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "train-poll":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Snapshot):
            self.apply(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.set_message(f"Could not read the runs: {event.worker.error}", error=True)

    # ---------------------------------------------------------------- drawing

    def apply(self, snapshot: Snapshot) -> None:
        if snapshot.error:
            self.set_message(snapshot.error, error=True)
            return
        self.rows = snapshot.rows
        run_view = self.query_one(RunView)
        with self.app.batch_update():
            self._update_table()
            for path, (offset, records, rewritten) in snapshot.new_records.items():
                self.histories.setdefault(path, History()).merge(offset, records, rewritten)
                if rewritten:
                    run_view.forget_plot()
            row = self.row_for(self.selected)
            if row is not None:
                room = run_view.text_room(self.show_log)
                text = run_text(row, self.show_log, snapshot.sample, snapshot.log, room)
                run_view.show(row, self.row_for(self.compared), self.histories, self.plot_index, text, room[1])

    def _update_table(self) -> None:
        """The table follows the runs on disk; the first run is selected until the user picks one."""
        table = self.query_one(RunsTable)
        table.show_rows(self.rows, show_cost=self.show_cost)
        if self.selected is None and self.rows:
            self.selected = self.rows[0].run
        if self.selected is not None:
            table.move_to(self.selected.name)
        empty = not self.rows
        self.query_one(RunView).display = not empty
        if empty:
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
        row = next((r for r in self.rows if r.run.name == event.row_key.value), None)
        if row is not None and row.run != self.selected:
            self.selected = row.run
            self.query_one(RunView).forget_plot()
            self.poll()

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
        self.poll()

    def action_toggle_cost(self) -> None:
        self.show_cost = not self.show_cost
        self.set_message("The cost column shows each running job's CPU and memory." if self.show_cost else "")
        self.poll()

    def action_next_plot(self) -> None:
        self.plot_index += 1

    def watch_plot_index(self) -> None:
        run_view = self.query_one(RunView)
        run_view.forget_plot()
        row = self.row_for(self.selected)
        if row is not None:
            run_view.draw_plot(row, self.row_for(self.compared), self.histories, self.plot_index)

    def watch_show_log(self) -> None:
        self.poll()

    def action_toggle_log(self) -> None:
        self.show_log = not self.show_log

    def action_compare(self) -> None:
        row = self._selected_row()
        if row is None:
            return
        if self.compared is not None:  # v while a run is marked clears the mark, whichever run is selected
            self.compared = None
            self.set_message("Comparison cleared.")
        else:
            self.compared = row.run
            self.set_message(f"Marked {row.run.name}: select another run to see both on one plot (v again clears).")
        self.query_one(RunView).forget_plot()
        self.poll()

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
            self.poll()
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
        self.poll()

    def active_runs(self) -> list[RunDir]:
        """Runs whose job process is alive, read fresh from disk (for the quit question)."""
        return [row.run for row in read_rows(self.runs_root) if row.status.state in ACTIVE_STATES]

    def stop_all(self, runs: list[RunDir]) -> None:
        for run in runs:
            self._ask(run, "stop")
