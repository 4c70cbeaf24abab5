"""What one poll of the Train pane reads from the runs root: the runs, new metric records, a sample, a log tail.

`read_snapshot` runs in the pane's thread worker (it touches only the disk, never a widget); the pane
applies the `Snapshot` it returns on the event loop. Run directories are engine.training.runs'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.training import queue
from engine.training.runs import RunDir, RunError, RunStatus, list_runs
from engine.training.sweep import membership
from engine.training.usage import Usage, UsageMeter


@dataclass
class RunRow:
    """One line of the runs table, read from a run directory (and the root's queue and sweeps)."""

    run: RunDir
    job: str
    status: RunStatus
    queue_position: int | None = None  # a queued run's place in line, from 1
    sweep: str | None = None
    usage: Usage | None = None  # what its job costs, when measured (running runs)


@dataclass
class History:
    """The metric records of one run read so far, and where reading stopped."""

    offset: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, offset: int, records: list[dict[str, Any]], rewritten: bool) -> None:
        """Add the records read up to `offset`; a rewritten file (a resume) starts the history over."""
        if rewritten:
            self.records.clear()
        self.offset = offset
        self.records.extend(records)


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
    """Every run under `root`, newest first; directories that are not (yet) runs are skipped."""
    rows = []
    places = queue.positions(root)
    sweeps = membership(root)
    for run in list_runs(root):
        try:
            job = run.job
        except RunError:
            continue  # a directory being created, or not ours
        status = run.status()
        place = places.get(run.name) if status.state == "queued" else None
        rows.append(RunRow(run=run, job=job, status=status, queue_position=place, sweep=sweeps.get(run.name)))
    return rows


def read_snapshot(
    root: Path,
    selected: RunDir | None,
    offsets: dict[Path, int],
    with_log: bool,
    meter: UsageMeter | None = None,
    measure_all: bool = False,
    serve_queue: bool = True,
) -> Snapshot:
    """The runs, the metric records after each watched run's offset, and the selected run's sample (or log).

    First, with `serve_queue`, the root's queue is served (queued runs start here when slots are
    free, as in the scheduler process). With a `meter`, the selected run's job is measured (every running job's with
    `measure_all`).
    """
    try:
        if serve_queue:
            queue.tick(root)
        rows = read_rows(root)
    except RunError as error:
        return Snapshot(rows=[], error=str(error))
    snapshot = Snapshot(rows=rows)
    if meter is not None:
        measured = [row for row in rows if row.status.state in ("running", "paused") and row.status.pid]
        if not measure_all:
            measured = [row for row in measured if row.run == selected]
        for row in measured:
            assert row.status.pid is not None
            row.usage = meter.measure(row.status.pid)
        meter.forget({row.status.pid for row in measured if row.status.pid})
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
        snapshot.log = selected.log_tail(60) if with_log else []  # the view keeps the newest that fit
    return snapshot
