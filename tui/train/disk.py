"""What one poll of the Train pane reads from the runs root: the runs, new metric records, a sample, a log tail.

`read_snapshot` runs in the pane's thread worker (it touches only the disk, never a widget); the pane
applies the `Snapshot` it returns on the event loop. Run directories are engine.training.runs'.

A root may hold a thousand runs (sweeps make them by the hundred), so a poll reads only what changed:
`RunIndex` lists the root again only when its mtime moves, re-reads a run's status.json or meta.json
only when its mtime, inode or size moves, reads config.json once, and looks at finished runs once a
two seconds (every FULL_EVERY polls) while active ones are looked at on every poll. A row that did not
change is the same `RunRow` object as before, so the table skips it without comparing cells, and
`version` moves only when some row did, so a pane can skip a quiet poll altogether.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.training import queue
from engine.training.config import as_trained
from engine.training.runmeta import RunMeta, read_meta
from engine.training.runs import ACTIVE_STATES, RunDir, RunError, RunStatus
from engine.training.sweep import membership
from engine.training.usage import Usage, UsageMeter
from tui.train.curves import Columns, columns_of

FULL_EVERY = 4  # polls between looks at runs that are not active (4 Hz polls: once a second)


@dataclass
class RunRow:
    """One line of the runs table, read from a run directory (and the root's queue and sweeps)."""

    run: RunDir
    job: str
    status: RunStatus
    meta: RunMeta = field(default_factory=RunMeta)
    config: dict[str, Any] = field(default_factory=dict)
    queue_position: int | None = None  # a queued run's place in line, from 1
    sweep: str | None = None
    usage: Usage | None = None  # what its job costs, when measured (running runs)

    @property
    def label(self) -> str:
        """The run's display name, else its id (its directory's name)."""
        return self.meta.label(self.run.name)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells that a file changed: (mtime_ns, inode, size); None when it is absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino, st.st_size


@dataclass
class _Entry:
    row: RunRow | None = None  # None: no config.json yet (a run being created), or not a run
    dir_stamp: int | None = None  # the run directory's mtime when its files were last looked at
    status_stamp: tuple[int, int, int] | None = None
    meta_stamp: tuple[int, int, int] | None = None


class RunIndex:
    """The runs under one root, kept up to date by reading only what changed since the last call."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._root_stamp: int | None = None
        self._names: list[str] = []  # newest first
        self._active: list[str] = []  # runs looked at on every call (with folders that are not runs yet)
        self._entries: dict[str, _Entry] = {}
        self._polls = 0
        self.version = 0  # moves whenever a row, or the list of runs, changes
        self._files: dict[tuple[Path, tuple[int, int, int] | None], Any] = {}
        self._lock = threading.Lock()

    def rows(self, watched: tuple[RunDir | None, ...] = ()) -> list[RunRow]:
        """Every run, newest first; `watched` runs (the selected one) are looked at on every call.

        Calls take turns: two reading threads at once would race on an entry (one laying a row without its
        meta.json over the other's row with it, while the stamp said meta.json had been read).
        """
        with self._lock:
            return self._rows(watched)

    def _rows(self, watched: tuple[RunDir | None, ...]) -> list[RunRow]:
        try:
            root_stamp = os.stat(self.root).st_mtime_ns
        except FileNotFoundError:
            if self._names:
                self.version += 1
            self._names, self._entries, self._root_stamp, self._active = [], {}, None, []
            return []
        except OSError as error:
            raise RunError(f"Cannot read the runs directory {self.root} ({error.strerror}).") from None
        if root_stamp != self._root_stamp:
            self._list(root_stamp)
            self.version += 1
        full = self._polls % FULL_EVERY == 0
        self._polls += 1
        watched_names = {run.name for run in watched if run is not None}
        pending = [name for name in self._names if self._entries[name].row is None]  # new, or not a run yet
        # the runs active at the last call, and the watched ones, that are still there (a cancelled queued
        # run's folder is gone)
        kept = [n for n in (*self._active, *watched_names) if n in self._entries]
        looked_at = self._names if full else list(dict.fromkeys([*kept, *pending]))
        for name in looked_at:
            entry = self._entries[name]
            before = entry.row
            self._refresh(name, entry, with_meta=full or entry.row is None or name in watched_names)
            if entry.row is not before:
                self.version += 1
        places, sweeps = queue.positions(self.root), membership(self.root)
        for name in self._names:
            entry = self._entries[name]
            row = entry.row
            if row is None:
                continue
            place = places.get(name) if row.status.state == "queued" else None
            sweep = sweeps.get(name) or row.meta.sweep
            if (place, sweep) != (row.queue_position, row.sweep):
                entry.row = replace(row, queue_position=place, sweep=sweep)
                self.version += 1
        rows = [row for name in self._names if (row := self._entries[name].row) is not None]
        self._active = [row.run.name for row in rows if row.status.state in ACTIVE_STATES]
        return rows

    def latest_sample(self, run: RunDir) -> dict[str, Any] | None:
        """The run's newest sample, read again only when samples.jsonl changed."""
        return self._cached(run, run.samples_path, run.latest_sample)

    def log_tail(self, run: RunDir, lines: int) -> list[str]:
        """The last `lines` of the run's log, read again only when log.txt changed."""
        return self._cached(run, run.log_path, lambda: run.log_tail(lines))

    def _cached(self, run: RunDir, path: Path, read: Any) -> Any:
        key = (path, _stamp(path))
        if key not in self._files:
            self._files = {k: v for k, v in self._files.items() if k[0] != path}
            self._files[key] = read()
        return self._files[key]

    def refresh_meta(self, run: RunDir) -> None:
        """Read a run's meta.json on the next call even if its stamp looks the same (after an edit here)."""
        entry = self._entries.get(run.name)
        if entry is not None:
            entry.meta_stamp = None

    def _list(self, root_stamp: int) -> None:
        try:
            names = [entry.name for entry in os.scandir(self.root) if not entry.name.startswith(".") and entry.is_dir()]
        except FileNotFoundError:
            names = []
        except OSError as error:
            raise RunError(f"Cannot read the runs directory {self.root} ({error.strerror}).") from None
        self._root_stamp = root_stamp
        self._names = sorted(names, reverse=True)
        self._entries = {name: self._entries.get(name) or _Entry() for name in self._names}

    def _refresh(self, name: str, entry: _Entry, with_meta: bool) -> None:
        run = RunDir(self.root / name)
        try:
            dir_stamp: int | None = os.stat(run.path).st_mtime_ns
        except OSError:
            dir_stamp = None
        # File times move in coarse ticks: a directory changed within the last second may change again
        # without its mtime moving, so only an older stamp is trusted to mean "nothing changed".
        settled = dir_stamp is not None and time.time_ns() - dir_stamp > 1_000_000_000
        # An active run's status.json may be overwritten in place (a job's last word on a full disk, which
        # leaves the directory's mtime alone): its stamps are always compared.
        quiet_run = entry.row is not None and entry.row.status.state not in ACTIVE_STATES
        if quiet_run and settled and dir_stamp == entry.dir_stamp:
            return  # nothing was replaced in the directory of a finished run: status and meta are as read
        entry.dir_stamp = dir_stamp
        if entry.row is None:
            try:
                config = as_trained(run.config())
            except RunError:
                return  # a directory being created, or not ours: looked at again next time
            entry.row = RunRow(run=run, job=str(config.get("job", "?")), status=RunStatus(), config=config)
            entry.status_stamp = entry.meta_stamp = None
        row = entry.row
        status_stamp = _stamp(run.status_path)
        changed = status_stamp != entry.status_stamp or status_stamp is None
        status = run.status() if changed else row.status
        if not changed and status.state in ("running", "paused") and not run.job_alive(status):
            status = run.status()  # the job died without a word: status() says so
            changed = True
        meta = row.meta
        if with_meta:
            meta_stamp = _stamp(run.path / "meta.json")
            if meta_stamp != entry.meta_stamp or (meta_stamp is None and entry.meta_stamp is None):
                entry.meta_stamp = meta_stamp
                new_meta = read_meta(run.path) if meta_stamp is not None else RunMeta()
                if new_meta != meta or new_meta.error != meta.error or dict(new_meta.extra) != dict(meta.extra):
                    meta = new_meta
                    changed = True
        entry.status_stamp = status_stamp
        if changed and (status != row.status or meta is not row.meta):
            entry.row = RunRow(run=run, job=row.job, status=status, meta=meta, config=row.config)


@dataclass
class History:
    """The metric records of one run read so far, and where reading stopped."""

    offset: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    columns: Columns = field(default_factory=dict)  # the records' metrics as columns, for the plot

    def merge(
        self, offset: int, records: list[dict[str, Any]], rewritten: bool, columns: Columns | None = None
    ) -> None:
        """Add the records read up to `offset` (and their `columns`, if the reader made them already);
        a rewritten file (a resume) starts the history over."""
        if rewritten:
            self.records.clear()
            self.columns = {}
        self.offset = offset
        self.records.extend(records)
        for key, (steps, times, values) in (columns if columns is not None else columns_of(records)).items():
            mine = self.columns.setdefault(key, ([], [], []))
            mine[0].extend(steps)
            mine[1].extend(times)
            mine[2].extend(values)


@dataclass
class Snapshot:
    """What one poll read from disk."""

    rows: list[RunRow]
    error: str | None = None
    version: int | None = None  # the index's version: the same as last time means the rows did not change
    # (None: something changes on every poll, such as a measured job's cost)
    # path -> (next offset, records, whether the file was rewritten and history starts over, their columns)
    new_records: dict[Path, tuple[int, list[dict[str, Any]], bool, Columns]] = field(default_factory=dict)
    sample: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    selected: RunDir | None = None  # the run read as the selected one (the one asked for, or the one picked)
    read_from: dict[Path, int] = field(default_factory=dict)  # where each file of new_records was read from


def read_rows(root: Path) -> list[RunRow]:
    """Every run under `root`, newest first, read afresh; directories that are not (yet) runs are skipped."""
    return RunIndex(root).rows()


def read_snapshot(
    root: Path,
    selected: RunDir | None,
    offsets: dict[Path, int],
    with_log: bool,
    index: RunIndex | None = None,
    meter: UsageMeter | None = None,
    measure_all: bool = False,
    serve_queue: bool = True,
    pick: Callable[[RunRow], bool] | None = None,
) -> Snapshot:
    """The runs, the metric records after each watched run's offset, and the selected run's sample (or log).

    With an `index` (the pane keeps one), only what changed since its last call is read. First, with
    `serve_queue`, the root's queue is served (queued runs start here when slots are free, as in the
    scheduler process). With a `meter`, the selected run's job is measured (every running job's with
    `measure_all`). With no `selected` run, the first row that `pick` accepts is read as the selected
    one, all its records included: the pane selects the first run it lists, and its plot then comes
    with the first read instead of a poll later.
    """
    index = index or RunIndex(root)
    try:
        if serve_queue:
            queue.tick(root)
        rows = index.rows((selected,))
    except RunError as error:
        return Snapshot(rows=[], error=str(error))
    if selected is None and pick is not None:
        selected = next((row.run for row in rows if pick(row)), None)
        if selected is not None:
            offsets = {**offsets, selected.path: 0}
    version: int | None = index.version
    if meter is not None:
        measured = (
            {row.run for row in rows if row.status.state in ("running", "paused") and row.status.pid}
            if measure_all
            else {
                row.run
                for row in rows
                if row.run == selected and row.status.state in ("running", "paused") and row.status.pid
            }
        )
        if measured:
            # New row objects (the index's stay as read): a measured row changes on every poll.
            rows = [
                replace(row, usage=meter.measure(row.status.pid)) if row.run in measured and row.status.pid else row
                for row in rows
            ]
            version = None
        meter.forget({row.status.pid for row in rows if row.run in measured and row.status.pid})
    snapshot = Snapshot(rows=rows, version=version, selected=selected)
    for path, offset in offsets.items():
        run = RunDir(path)
        try:
            size = run.metrics_path.stat().st_size
        except FileNotFoundError:
            size = 0
        rewritten = size < offset  # a resume rewrites metrics.jsonl
        if size == offset and offset:
            continue  # nothing appended: nothing to read
        snapshot.read_from[path] = 0 if rewritten else offset
        records, new_offset = run.read_metrics(snapshot.read_from[path])
        snapshot.new_records[path] = (new_offset, records, rewritten, columns_of(records))
    if selected is not None:
        snapshot.sample = index.latest_sample(selected)
        snapshot.log = index.log_tail(selected, 60) if with_log else []  # the view keeps the newest that fit
    return snapshot


def final_figures(row: RunRow) -> dict[str, float]:
    """A run's closing figures from the end of metrics.jsonl: its last `best_metric` value and its test figures.

    Only the file's tail is read (RunDir.final_metrics reads 16 kB), so a thousand runs take a moment.
    """
    figures: dict[str, float] = {}
    try:
        with open(row.run.metrics_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 16_000, 0))
            data = handle.read()
    except OSError:
        return figures
    metric = row.status.best_metric or ("val_acc" if row.job == "sentiment" else "val_loss")
    for line in reversed(data.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for key, value in record.items():
            if key.startswith("test_") and record.get("final") and _number(value):
                figures.setdefault(key, float(value))
        if "final" not in figures and _number(record.get(metric)):
            figures["final"] = float(record[metric])
            break
    return figures


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
