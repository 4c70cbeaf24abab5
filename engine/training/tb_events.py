"""TensorBoard event files beside metrics.jsonl, so `tensorboard --logdir RUNS_ROOT` shows every run.

metrics.jsonl stays the run's record; RUN/tb/ is a view of it that TensorBoard reads: each record's numbers
as scalars (losses, accuracy, bits per character, perplexity, gradient norm, learning rate, throughput),
the run's settings as HParams (a session start info; TensorBoard builds the table from all runs), and the
character model's samples as text. The job process writes it as it appends to metrics.jsonl and samples.jsonl
(`BoardRunDir`); `export_run` writes it afterwards from those files, for runs made before it existed.

A session of the job writes a fresh event file: it first deletes the run's old ones and writes the history it
resumes from (metrics.jsonl, already cut back to the checkpoint's step), so a reader never sees a step twice,
even steps a killed session logged after its last checkpoint. Wall times are the run's start plus each
record's training seconds, so TensorBoard's "relative" axis is training time, pauses left out, across sessions.

TensorBoard is optional (`pip install 'rnn-tui[tensorboard]'`): without it a run writes no tb/ and trains as
before. Writing these files never stops training: a failure is reported once in log.txt and the view ends there.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

from engine.training.config import as_trained
from engine.training.runs import RunDir, RunError

TB_DIR = "tb"
INSTALL = "pip install 'rnn-tui[tensorboard]'"
EVENT_PREFIX = "events.out.tfevents."

#: metrics.jsonl's keys and the TensorBoard tag each is shown under (a key not listed goes to "other/KEY").
SCALAR_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "test_loss": "loss/test",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "test_acc": "accuracy/test",
    "train_bpc": "bits_per_char/train",
    "val_bpc": "bits_per_char/val",
    "train_ppl": "perplexity/train",
    "val_ppl": "perplexity/val",
    "grad_norm": "grad_norm/mean",
    "grad_norm_max": "grad_norm/max",
    "lr": "learning_rate",
    "throughput": "throughput/{unit}_per_s",
    "epoch": "progress/epoch",
    "time": "progress/train_seconds",
    "eval_time": "progress/eval_seconds",
    "best_step": "progress/best_step",
}
UNITS = {"charlm": "tokens", "sentiment": "reviews"}
SAMPLES_TAG = "samples"


class TensorBoardMissing(Exception):
    """The tensorboard package is not installed; the message says how to install it."""


def summary_writer_class() -> Any:
    """torch's SummaryWriter; TensorBoardMissing when the tensorboard package is absent."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises it when the tensorboard package is missing or too old
        raise TensorBoardMissing(f"TensorBoard is not installed; install it with {INSTALL}.") from None
    return SummaryWriter


def scalars(record: dict[str, Any], job: str) -> list[tuple[str, float]]:
    """The (tag, value) pairs a metrics record shows in TensorBoard: every finite number but the step."""
    unit = UNITS.get(job, "items")
    pairs = []
    for key, value in record.items():
        if key == "step" or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        pairs.append((SCALAR_TAGS.get(key, f"other/{key}").format(unit=unit), float(value)))
    return pairs


def sample_markdown(text: str) -> str:
    """A sample as TensorBoard's text plugin shows it verbatim: in a code fence longer than any backticks inside."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def hparams(config: dict[str, Any]) -> dict[str, int | float | str]:
    """The run's settings as HParams values: numbers and text as they are, switches as "true"/"false" (not 1/0),
    anything else as JSON."""
    values: dict[str, int | float | str] = {}
    for key, value in sorted(config.items()):
        if isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            values[key] = value
        else:
            values[key] = "none" if value is None else json.dumps(value)
    return values


class EventLog:
    """One session's event file in a run's tb/ folder (opened by `open_event_log`)."""

    def __init__(self, directory: Path, config: dict[str, Any], start: float) -> None:
        self.directory = directory
        self.job = str(config.get("job", ""))
        self.start = start  # a record's wall time is start + its training seconds
        self.writer = summary_writer_class()(log_dir=str(directory), flush_secs=30)
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        _, session_start, _ = hparams_summary(hparams(config), {})
        self.writer.file_writer.add_summary(session_start)

    def record(self, record: dict[str, Any], flush: bool = True) -> None:
        step = int(record.get("step", 0))
        seconds = record.get("time")
        walltime = self.start + seconds if isinstance(seconds, int | float) and math.isfinite(seconds) else None
        for tag, value in scalars(record, self.job):
            self.writer.add_scalar(tag, value, step, walltime=walltime)
        if flush:
            self.writer.flush()

    def sample(self, step: int, text: str, walltime: float | None = None, flush: bool = True) -> None:
        self.writer.add_text(SAMPLES_TAG, sample_markdown(text), step, walltime=walltime)
        if flush:
            self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def clear_event_files(directory: Path) -> None:
    """Delete the TensorBoard event files in `directory` (and nothing else)."""
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.startswith(EVENT_PREFIX) and entry.is_file():
                entry.unlink()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete, readable JSON objects of a .jsonl file (none when it is missing)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def open_event_log(directory: Path, run: RunDir, start: float) -> EventLog:
    """A fresh event file in `directory` holding the run's history so far (metrics.jsonl and samples.jsonl).

    The old event files there are deleted first: the history is written again in full, so no step appears twice.
    """
    directory.mkdir(parents=True, exist_ok=True)
    clear_event_files(directory)
    log = EventLog(directory, as_trained(run.config()), start)
    for record in run.read_metrics()[0]:  # metrics' one loader: records of the shape a job writes
        log.record(record, flush=False)
    for sample in read_jsonl(run.samples_path):
        if isinstance(sample.get("step"), int) and isinstance(sample.get("text"), str):
            stamp = sample.get("time")
            log.sample(sample["step"], sample["text"], stamp if isinstance(stamp, int | float) else None, flush=False)
    log.writer.flush()
    return log


def export_run(run: RunDir, destination: Path | None = None) -> Path:
    """Write the TensorBoard files of `run` from its metrics.jsonl and samples.jsonl; returns their folder.

    `destination` None means the run's own tb/ folder; otherwise DESTINATION/RUN_NAME, so runs exported to one
    folder appear side by side. Old event files in that folder are replaced. RunError or TensorBoardMissing
    with one sentence when it cannot be done.
    """
    summary_writer_class()  # says how to install TensorBoard before anything is touched
    run.config()  # RunError when it is not a run
    folder = run.path / TB_DIR if destination is None else Path(destination).expanduser() / run.name
    if destination is None:
        status = run.status()
        if status.state in ("running", "paused"):
            raise RunError(f"The run {run.name} is {status.state} and writes its own {TB_DIR}/ folder already.")
    records, _ = run.read_metrics()
    last_time = records[-1].get("time") if records else None
    try:
        modified = run.metrics_path.stat().st_mtime
    except OSError:
        modified = time.time()
    start = modified - last_time if isinstance(last_time, int | float) and math.isfinite(last_time) else modified
    try:
        open_event_log(folder, run, start).close()
    except OSError as error:
        raise RunError(f"Cannot write TensorBoard files to {folder} ({error.strerror or error}).") from None
    return folder


class BoardRunDir(RunDir):
    """A run directory whose metrics and samples also go to TensorBoard once `open_board` is called.

    The job process trains through one (rank 0); the appends are the one place records are written.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.board: EventLog | None = None

    def open_board(self, elapsed: float) -> bool:
        """Start this session's event file (after any resume cut the logs back); False without TensorBoard.

        `elapsed` is the run's training seconds before this session.
        """
        try:
            summary_writer_class()
        except TensorBoardMissing:
            return False
        return self._guard(
            lambda: setattr(self, "board", open_event_log(self.path / TB_DIR, self, time.time() - elapsed))
        )

    def close_board(self) -> None:
        board, self.board = self.board, None
        if board is not None:
            try:
                board.close()
            except Exception as error:
                print(f"TensorBoard files: closing them failed ({error}).", flush=True)

    def append_metric(self, record: dict[str, Any]) -> None:
        super().append_metric(record)
        board = self.board
        if board is not None:
            self._guard(lambda: board.record(record))

    def append_sample(self, step: int, text: str) -> None:
        super().append_sample(step, text)
        board = self.board
        if board is not None:
            self._guard(lambda: board.sample(step, text, time.time()))

    def _guard(self, write: Any) -> bool:
        """Run `write`; on any failure say so once in the log and stop writing TensorBoard files (training goes on)."""
        try:
            write()
        except Exception as error:
            print(
                f"TensorBoard files stopped: {type(error).__name__}: {error}; training goes on "
                f"(rnn-tui export {self.name} --tensorboard rewrites them later).",
                flush=True,
            )
            board, self.board = self.board, None
            if board is not None:
                with contextlib.suppress(Exception):
                    board.close()
            return False
        return True
