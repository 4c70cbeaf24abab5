"""Run directories: the single source of truth for a training job.

A run is a directory under a runs root holding

    config.json      what was asked for (job type, data source, hyperparameters)
    status.json      state, step/total, device, throughput, best metric, error; written atomically
    metrics.jsonl    one JSON object per record, appended and flushed
    samples.jsonl    generated text samples (character model), appended
    log.txt          the job process's stdout and stderr
    control.json     a request from a viewer to the job: pause, resume or stop
    checkpoints/     last.pt and best.pt
    .lock            held (flock) by the job process for its whole life: the truth about whether it runs

The trainer writes (in a distributed run: rank 0 alone, and the job's launcher when a rank fails);
the TUI and `rnn-tui runs` only read (and write control.json), so a job started headless over SSH
shows up in the app, and quitting the app loses nothing.

Whether a run's job is alive is decided by its lock (`RunDir.job_alive`), never by a pid alone: a pid
may belong to a zombie or to an unrelated process that got the number later. Every write the job
makes goes through `write_run_file` or `_append`, which turn a full disk or an unwritable directory
into a `RunWriteError` of one sentence.
No torch here: the UI imports this on its event loop.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from corpora.cache import atomic_write
from corpora.userdirs import runs_dir
from engine.training.errors import TrainingError

JOBS = ("sentiment", "charlm")
STATES = ("queued", "running", "paused", "done", "stopped", "failed")
ACTIVE_STATES = ("queued", "running", "paused")
COMMANDS = ("pause", "resume", "stop")
LOCK_NAME = ".lock"
LOCK_WAIT_S = 1.0  # how long a job keeps trying to take a free lock (a viewer's probe holds it for microseconds)
DISK_RESERVE = 1 << 20  # bytes a checkpoint leaves free, so status.json, metrics and the log can still be written
#: The files the job writes atomically: their temporary `.NAME.*.part` files are the job's to clean up.
JOB_FILES = (
    "config.json",
    "status.json",
    "metrics.jsonl",
    "samples.jsonl",
    "checkpoints/last.pt",
    "checkpoints/best.pt",
)
_TAKEN = ".control.taken"  # where the job moves control.json to take a request (only the lock holder uses it)


class RunError(Exception):
    """A runs root or run directory that cannot be used; the message is one sentence."""


class RunWriteError(RunError, TrainingError):
    """The run directory refused a write (full disk, no permission); the message is one sentence saying what to do."""

    kind = "disk"


def default_runs_root() -> Path:
    """$RNN_TUI_RUNS, else the user data folder's runs (Linux: ~/.local/share/rnn-tui/runs); see corpora.userdirs."""
    return runs_dir()


def write_run_file(path: Path, data: bytes, *, reserve: int = 0) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a part.

    With `reserve`, the disk must have room for `data` plus `reserve` bytes first (a checkpoint
    leaves room for the status that says why it could not be written). RunWriteError, one sentence,
    when the disk is full or the directory cannot be written.
    """
    path = Path(path)
    if reserve:
        check_free_space(path, len(data) + reserve)
    try:
        atomic_write(path, [data])
    except OSError as error:
        raise RunWriteError(write_failure(path, error)) from None


def atomic_write_json(path: Path, value: Any) -> None:
    write_run_file(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def check_free_space(path: Path, needed: int) -> None:
    """RunWriteError when the disk that holds `path` has fewer than `needed` bytes free (unknown: no error)."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return
    if free < needed:
        raise RunWriteError(
            f"The disk holding {path.parent} has {_size(free)} free, but writing {path.name} needs "
            f"{_size(needed)}; free some space, then resume the run (its last checkpoint is intact)."
        )


def write_failure(path: Path, error: OSError) -> str:
    """The sentence for a failed write of `path`: what failed, why, and what to do."""
    reason = error.strerror or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "free some space, then resume the run (its last checkpoint is intact)"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"make {path.parent} writable, then resume the run (its last checkpoint is intact)"
    else:
        advice = "see log.txt, then resume the run (its last checkpoint is intact)"
    return f"Could not write {path.name} in {path.parent} ({reason}); {advice}."


def _size(size: float) -> str:
    """A disk size in kB below 100 MB (so that free and needed never read the same), else in MB."""
    return f"{size / 1e3:,.0f} kB" if size < 1e8 else f"{size / 1e6:,.0f} MB"


def _append(path: Path, line: str) -> None:
    """Append one line to a run's JSON-lines file in one write (a kill leaves whole lines); RunWriteError on failure."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
    except OSError as error:
        raise RunWriteError(write_failure(path, error)) from None


def _overwrite_in_place(path: Path, data: bytes) -> None:
    """Overwrite an existing file's bytes without a temporary file: the last resort when the disk is full or the
    directory read-only (the file's own blocks are reused). Not atomic: used only for a job's last word."""
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        view = memoryview(data)
        while view:
            view = view[os.pwrite(fd, view, len(data) - len(view)) :]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc): with the pid, it names one process for good."""
    stat = _proc_stat(pid)
    return stat[1] if isinstance(stat, tuple) else None


def _proc_stat(pid: int) -> tuple[str, int] | bool | None:
    """(state letter, start time) of `pid` from /proc; False when there is no such process; None without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False if Path("/proc/self/stat").exists() else None
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name, in parentheses, may hold spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int | None, started: int | None = None) -> bool:
    """Whether process `pid` runs (a zombie does not) and, when `started` is given, is the one that started then.

    A pid alone says little: a zombie keeps its number until reaped, and an ended process's number
    is given to the next one. Where there is no /proc (macOS), a signal 0 probe is all there is.
    """
    if not pid:
        return False
    stat = _proc_stat(pid)
    if stat is False:
        return False
    if isinstance(stat, tuple):
        state, start = stat
        return state not in ("Z", "X", "x") and (started is None or start == started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: A traceback's last line, or a job's own "failed: …" line, in log.txt.
_LOGGED_ERROR = re.compile(
    r"^(?:failed: (?P<said>.+)|(?P<raised>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)(?:: .*)?))$"
)


MAX_NAME = 120


def check_run_name(name: str) -> None:
    """A run's name is one folder name inside the runs root; RunError with one sentence otherwise.

    `../x`, `/tmp/x` or `a/b` would put the run outside the root (where `rnn-tui runs` cannot see
    it) or fail half-way; a name that is blank, `.` or `..`, or holds control characters is refused too.
    """
    shown = json.dumps(name)
    if not name.strip() or name in (".", ".."):
        raise RunError(f"A run needs a name of its own, not {shown}.")
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise RunError(f"A run's name is one folder name inside the runs root, without / or \\; {shown} is not.")
    if name.startswith("."):
        raise RunError(f"A run's name cannot start with a dot (hidden folders are not runs); {shown} does.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise RunError(f"A run's name cannot hold control characters; {shown} does.")
    if len(name) > MAX_NAME or len(name.encode("utf-8", "surrogatepass")) > 2 * MAX_NAME:
        raise RunError(f"A run's name is at most {MAX_NAME} characters; this one has {len(name):,}.")


def _kind_of(value: Any) -> str:
    """How an error message names a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number" if math.isfinite(value) else "not a finite number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _reason(error: BaseException) -> str:
    """Why a JSON file could not be read, in a few words without a full stop (never a multi-line message)."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0].rstrip(".")[:160] if str(error).strip() else type(error).__name__


def _fits(value: Any, kinds: tuple[Any, ...]) -> bool:
    """Whether a JSON value is one of `kinds` (int and float mean finite numbers; bools are neither)."""
    if value is None:
        return None in kinds
    if isinstance(value, bool):
        return bool in kinds or object in kinds
    if isinstance(value, int):
        return int in kinds or float in kinds or object in kinds
    if isinstance(value, float):
        return (float in kinds and math.isfinite(value)) or object in kinds
    return any(kind is not None and isinstance(value, kind) for kind in kinds)


#: The type each status.json field must have (None: may be null); `extra` holds the rest.
_STATUS_FIELDS: dict[str, tuple[Any, ...]] = {
    "state": (str,),
    "step": (int,),
    "total": (int,),
    "device": (str,),
    "pid": (int, None),
    "pid_start": (int, None),
    "started_at": (float, None),
    "updated_at": (float, None),
    "throughput": (float, None),
    "throughput_unit": (str,),
    "steps_per_s": (float, None),
    "best_metric": (str,),
    "best_value": (float, None),
    "error": (str, None),
}


def _anything(value: Any) -> bool:
    return True


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _wholes(value: Any) -> bool:
    return isinstance(value, list) and all(_fits(item, (int,)) for item in value)


#: Extra fields the Train pane and `rnn-tui runs` read, and the test each must pass; one that fails is left out.
_EXTRA_FIELDS: dict[str, Callable[[Any], bool]] = {
    "rank_devices": _texts,
    "rank_hosts": _texts,
    "rank_pids": _wholes,
    **{
        name: lambda value: _fits(value, (int,)) for name in ("world_size", "node_rank", "best_step", "checkpoint_step")
    },
    **{name: lambda value: _fits(value, (float,)) for name in ("epoch", "elapsed")},
    **{name: lambda value: isinstance(value, str) for name in ("backend", "amp", "error_kind", "phase")},
}


@dataclass
class RunStatus:
    """What status.json says, with defaults for anything missing."""

    state: str = "queued"
    step: int = 0
    total: int = 0
    device: str = ""
    pid: int | None = None
    pid_start: int | None = None  # when the process `pid` started (see process_start): a pid alone may be reused
    started_at: float | None = None
    updated_at: float | None = None
    throughput: float | None = None  # tokens/s (charlm) or reviews/s (sentiment)
    throughput_unit: str = ""
    steps_per_s: float | None = None  # this session's pace, pauses excluded (for the ETA)
    best_metric: str = ""  # e.g. "val_loss" or "val_acc"
    best_value: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> RunStatus:
        """The status that `data` (status.json's content) describes; a damaged one reads as failed, saying why.

        Every field is checked against its type (a step is a whole number, a time a finite number...);
        extra fields the UI reads (rank_devices, world_size, ...) are dropped when they have the wrong
        type, since a run's status must never crash the one who reads it.
        """
        if not isinstance(data, dict):
            return cls(state="failed", error=f"status.json is damaged (it holds {_kind_of(data)}, not an object)")
        values: dict[str, Any] = {}
        for name, kinds in _STATUS_FIELDS.items():
            if name not in data:
                continue
            value = data[name]
            if not _fits(value, kinds):
                return cls(state="failed", error=f"status.json is damaged (its {name} is {_kind_of(value)})")
            if (
                name in ("step", "total", "pid", "pid_start")
                and value is not None
                and value < (1 if name == "pid" else 0)
            ):
                return cls(state="failed", error=f"status.json is damaged (its {name} is {value})")
            values[name] = float(value) if float in kinds and isinstance(value, int) else value
        extra = {key: value for key, value in data.items() if key not in _STATUS_FIELDS and key != "extra"}
        values["extra"] = {key: value for key, value in extra.items() if _EXTRA_FIELDS.get(key, _anything)(value)}
        status = cls(**values)
        if status.state not in STATES:
            status.state = "failed"
            status.error = status.error or f"status.json has an unknown state {data.get('state')!r}"
        return status

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far, for a run with a start time and some progress."""
        if self.state != "running" or not self.started_at or not self.updated_at or not self.step or not self.total:
            return None
        if self.steps_per_s:
            return max(self.total - self.step, 0) / self.steps_per_s
        elapsed = self.updated_at - self.started_at
        return max(elapsed / self.step * (self.total - self.step), 0.0)


#: The metric fields that hold text (the final record says which checkpoint was tested); the rest are numbers.
_TEXT_METRICS = frozenset({"test_model"})


def metric_record(line: bytes) -> dict[str, Any] | None:
    """One line of metrics.jsonl as a record, or None when it is not one a job writes.

    A record is an object with a whole `step` ≥ 0; its fields that are not what a job writes there
    (a number or null; `final` true or false; text in `_TEXT_METRICS`) are dropped, so what the
    readers format with `:.4f` is never text, a list or a bool.
    """
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    step = record.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    return {key: value for key, value in record.items() if _metric_fits(key, value)}


def _metric_fits(key: str, value: Any) -> bool:
    if key == "final":
        return isinstance(value, bool)
    if key in _TEXT_METRICS:
        return isinstance(value, str)
    return value is None or _fits(value, (int, float))


class RunDir:
    """One run's directory. Cheap to create: nothing is read until asked for."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------ paths
    @property
    def name(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    samples_path = property(lambda self: self.path / "samples.jsonl")
    log_path = property(lambda self: self.path / "log.txt")
    control_path = property(lambda self: self.path / "control.json")
    checkpoints = property(lambda self: self.path / "checkpoints")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # --------------------------------------------------------------- creating
    @classmethod
    def create(cls, root: str | Path, job: str, config: dict[str, Any], name: str | None = None) -> RunDir:
        """Make a new run directory under `root` holding `config` and a queued status."""
        if job not in JOBS:
            raise RunError(f"Unknown job {job!r}; choose sentiment or charlm.")
        if name is not None:
            check_run_name(name)
        root = Path(root).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunError(
                f"Cannot create the runs directory {root} ({error.strerror}); pass --runs-dir DIR."
            ) from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise RunError(f"The runs directory {root} is not writable; pass --runs-dir DIR.")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for _ in range(100):
            run = cls(root / (name or f"{stamp}-{job}-{secrets.token_hex(2)}"))
            try:
                run.path.mkdir()
                break
            except FileExistsError:
                if name:
                    raise RunError(f"A run named {name} already exists in {root}.") from None
            except (OSError, UnicodeError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
                raise RunError(f"Cannot create the run {json.dumps(run.path.name)} in {root} ({reason}).") from None
        else:  # pragma: no cover - 100 collisions of 16 random bits in one second
            raise RunError(f"Could not find a free run name in {root}.")
        run.checkpoints.mkdir()
        atomic_write_json(run.config_path, {"job": job, **config})
        run.write_status(RunStatus(state="queued", updated_at=time.time()))
        return run

    # ---------------------------------------------------------------- reading
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict[str, Any]:
        """config.json as an object; RunError with one sentence when it is missing, unreadable or not an object."""
        try:
            data = json.loads(self.config_path.read_text())
        except FileNotFoundError:
            raise RunError(f"{self.path} is not a run directory (no config.json).") from None
        except (OSError, ValueError, RecursionError) as error:
            raise RunError(f"The config.json of {self.path} cannot be read ({_reason(error)}).") from None
        if not isinstance(data, dict):
            raise RunError(f"The config.json of {self.path} is damaged: it holds {_kind_of(data)}, not an object.")
        return data

    @property
    def job(self) -> str:
        return str(self.config().get("job", "?"))

    def status(self) -> RunStatus:
        """The run's status; a run that reads as running or paused while its job is gone reads as failed, saying why."""
        try:
            status = RunStatus.from_dict(json.loads(self.status_path.read_text()))
        except FileNotFoundError:
            return RunStatus(state="failed", error="status.json is missing")
        except (OSError, ValueError, RecursionError) as error:
            return RunStatus(state="failed", error=f"status.json cannot be read ({_reason(error)})")
        if status.state in ("running", "paused") and not self.job_alive(status):
            status.state = "failed"
            status.error = self.gone_reason(status.pid)
        return status

    def job_alive(self, status: RunStatus | None = None) -> bool:
        """Whether a job process trains this run now.

        The job holds an exclusive lock on `.lock` for its whole life, and the OS drops it when the
        process ends, however it ends; so the lock is asked first. Only where it cannot be tried (no
        lock file, no permission, a filesystem without locks) does status.json's pid decide, for a
        status that says the job is active, together with the start time of that process, so that a
        zombie or a reused pid does not count.
        """
        held = self._lock_held()
        if held is not None:
            return held
        status = status or self._recorded_status()
        return status.state in ACTIVE_STATES and pid_alive(status.pid, status.pid_start)

    def _recorded_status(self) -> RunStatus:
        try:
            return RunStatus.from_dict(json.loads(self.status_path.read_text()))
        except (OSError, ValueError):
            return RunStatus(state="failed")

    def _lock_held(self) -> bool | None:
        """Whether some process holds the run's lock; None when that cannot be tried."""
        try:
            fd = os.open(self.path / LOCK_NAME, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: two viewers asking at once do not collide
        except BlockingIOError:
            return True
        except OSError:
            return None
        finally:
            os.close(fd)  # closing drops the probe's shared lock at once
        return False

    def lock(self) -> Any:
        """Take the run's lock for this process's life (the OS drops it even on kill -9); None when another job holds it.

        A viewer's probe holds the lock (shared) for microseconds, so a free lock is retried for up to
        LOCK_WAIT_S. The returned handle is the lock: keep it open. RunWriteError when the lock file cannot be made.
        """
        path = self.path / LOCK_NAME
        try:
            handle = open(path, "ab")  # noqa: SIM115 (held open for the process's life: that is the lock)
        except OSError as error:
            raise RunWriteError(write_failure(path, error)) from None
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    return None
                time.sleep(0.01)
            except OSError:  # a filesystem without locks: status.json's pid and start time stand in for the lock
                return handle

    def gone_reason(self, pid: int | None) -> str:
        """Why a run reads as failed when its job process ended without a final status: log.txt's last error, if any."""
        logged = self.last_logged_error()
        who = f"The job process (pid {pid})" if pid else "The job process"
        if logged:
            return f"{who} ended without updating status.json; its last error: {logged}"
        return f"{who} ended without a word; resume continues from the last checkpoint"

    def last_logged_error(self) -> str | None:
        """The last error the job's latest session wrote to log.txt ("failed: …" or a traceback's last line), or None."""
        lines = self.log_tail(lines=400)
        for index in range(len(lines) - 1, -1, -1):
            line = lines[index].rstrip()
            if line.startswith("--- "):  # the header start_job writes: earlier lines belong to an earlier session
                return None
            match = _LOGGED_ERROR.match(line)
            if match:
                return (match.group("said") or match.group("raised"))[:300]
        return None

    def final_metrics(self, max_bytes: int = 16_000) -> dict[str, Any] | None:
        """The run's closing record (`"final": true`, e.g. the held-out test set's figures), or None.

        It is the last record a finished run appends, so only the end of metrics.jsonl is read.
        """
        try:
            with open(self.metrics_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(handle.tell() - max_bytes, 0))
                data = handle.read()
        except FileNotFoundError:
            return None
        for line in reversed(data.splitlines()):
            if b'"final"' not in line:
                continue  # most records are not it: no need to parse them
            record = metric_record(line)
            if record is not None and record.get("final") is True:
                return record
        return None

    def read_metrics(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records appended since byte `offset`, and the offset to read from next time.

        A last line without its newline (a record being written) is left for next time;
        a corrupt complete line is skipped.
        """
        try:
            with open(self.metrics_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1
        records = []
        for line in data[:end].splitlines():
            record = metric_record(line)
            if record is not None:
                records.append(record)
        return records, offset + end

    def latest_sample(self) -> dict[str, Any] | None:
        """The newest complete record of samples.jsonl ({"step": …, "text": …}), if any."""
        try:
            data = self.samples_path.read_bytes()
        except FileNotFoundError:
            return None
        for line in reversed(data[: data.rfind(b"\n") + 1].splitlines()):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict) and isinstance(record.get("text"), str) and _fits(record.get("step"), (int,)):
                return record
        return None

    def log_tail(self, lines: int = 20, max_bytes: int = 64_000) -> list[str]:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(size - max_bytes, 0))
                data = handle.read()
        except FileNotFoundError:
            return []
        return data.decode("utf-8", "replace").splitlines()[-lines:]

    def pending_command(self) -> str | None:
        """The command a viewer asked for and the job has not taken yet, if any."""
        return _command_in(self.control_path)

    # ---------------------------------------------------------------- writing
    def write_status(self, status: RunStatus, *, last_word: bool = False) -> None:
        """Write status.json atomically; RunWriteError when the directory refuses.

        `last_word` (a job's final failure): when the atomic write fails (full disk, read-only
        directory), overwrite the existing file in place, which needs no new file and usually no
        new block, so that the status still says why.
        """
        try:
            atomic_write_json(self.status_path, status.to_dict())
        except RunWriteError:
            if not last_word:
                raise
            try:
                _overwrite_in_place(self.status_path, json.dumps(status.to_dict()).encode())
            except OSError:
                raise RunWriteError(
                    f"Could not write status.json in {self.path}, not even in place; the reason is in log.txt."
                ) from None

    def append_metric(self, record: dict[str, Any]) -> None:
        _append(self.metrics_path, json.dumps(record, allow_nan=False) + "\n")

    def append_sample(self, step: int, text: str) -> None:
        _append(self.samples_path, json.dumps({"step": step, "text": text, "time": time.time()}) + "\n")

    def request(self, command: str) -> None:
        """Ask the job to pause, resume or stop (it acts at its next step)."""
        if command not in COMMANDS:
            raise RunError(f"Unknown command {command!r}; use pause, resume or stop.")
        atomic_write_json(self.control_path, {"command": command, "at": time.time()})

    def take_command(self) -> str | None:
        """The job's side: take the pending request, if any, so that it is acted on exactly once.

        Taking is a rename, so a viewer withdrawing the same request at the same moment (see
        `withdraw`) either gets it back before the job saw it, or finds it gone: never both.
        """
        taken = self.path / _TAKEN
        try:
            os.replace(self.control_path, taken)
        except FileNotFoundError:
            return None
        except OSError:  # an unwritable directory: read the request; it cannot be taken away
            return _command_in(self.control_path)
        command = _command_in(taken)
        taken.unlink(missing_ok=True)
        return command

    def withdraw(self, command: str) -> bool:
        """A viewer's side: take back a request the job has not taken yet; False when it was already taken."""
        held = self.path / f".control.withdrawn-{os.getpid()}"
        try:
            os.rename(self.control_path, held)
        except OSError:
            return False
        if _command_in(held) == command:
            held.unlink(missing_ok=True)
            return True
        with contextlib.suppress(OSError):  # another request: give it back unless a newer one came since
            if self.control_path.exists():
                held.unlink()
            else:
                os.rename(held, self.control_path)
        return False

    def clean_temporary_files(self) -> list[Path]:
        """Remove what interrupted writes of the job's files left (`.NAME.*.part`, a half-taken request); the lock holder calls this."""
        removed = []
        for name in (*JOB_FILES, _TAKEN):
            target = self.path / name
            pattern = f".{target.name}.*.part" if name != _TAKEN else _TAKEN
            for leftover in target.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()
                    removed.append(leftover)
        return removed


class ReadOnlyRunDir(RunDir):
    """A run directory seen by a distributed run's ranks other than 0: they read it, and any write is a bug.

    Rank 0 alone writes the run directory (status, metrics, samples, checkpoints), so the other ranks
    get this view and a write fails loudly instead of doubling a record.
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"only rank 0 writes the run directory {self.path}")

    write_status = append_metric = append_sample = request = take_command = _refuse


def _command_in(path: Path) -> str | None:
    """The request a control file holds, if it holds one."""
    try:
        command = json.loads(path.read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return command if command in COMMANDS else None


def delete_run(run: RunDir) -> None:
    """Delete a run's directory; RunError with one sentence when its job is alive or it is already gone.

    The job process holds RUN_DIR/.lock for its whole life (engine.training.worker), so holding it here
    proves no job runs, and a job cannot start while the directory is renamed away. The rename to a hidden
    `.deleting-…` name is atomic: of two deletes racing, one wins and the other is told the run is gone;
    readers stop seeing the run at once, and a crash half-way through the removal leaves only the hidden
    folder (which list_runs skips).
    """
    name = json.dumps(run.name, ensure_ascii=False)
    if not run.path.is_dir():
        raise RunError(f"The run {name} is already gone (deleted elsewhere?).")
    try:
        handle = open(run.path / ".lock", "ab")  # noqa: SIM115 - closed below; the flock is the point
    except FileNotFoundError:
        raise RunError(f"The run {name} is already gone (deleted elsewhere?).") from None
    except OSError as error:
        raise RunError(f"Cannot delete the run {name} ({error.strerror or error}).") from None
    with handle:
        deadline = time.monotonic() + 1.0  # a viewer's probe, or a delete racing this one, holds it a moment only
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not run.path.is_dir():
                    raise RunError(f"The run {name} is already gone (deleted elsewhere?).") from None
                if time.monotonic() > deadline:
                    raise RunError(f"The run {name} is running; stop it (s) before deleting it.") from None
                time.sleep(0.02)
            except OSError:  # a filesystem without locks: status.json's pid and start time stand in for the lock
                if run.job_alive():
                    raise RunError(f"The run {name} is running; stop it (s) before deleting it.") from None
                break
        if not run.path.is_dir():  # another delete renamed it away while this one waited for the lock
            raise RunError(f"The run {name} is already gone (deleted elsewhere?).")
        trash = run.path.parent / f".deleting-{run.name}-{secrets.token_hex(3)}"
        try:
            os.rename(run.path, trash)
        except FileNotFoundError:
            raise RunError(f"The run {name} is already gone (deleted elsewhere?).") from None
        except OSError as error:
            raise RunError(f"Cannot delete the run {name} ({error.strerror or error}).") from None
    shutil.rmtree(trash, ignore_errors=True)


def list_runs(root: str | Path) -> list[RunDir]:
    """Run directories under `root`, newest first (by name, which starts with the start time).

    Hidden entries (`.deleting-…` folders of a delete under way) are not runs.
    """
    root = Path(root).expanduser()
    try:
        entries = [
            entry
            for entry in root.iterdir()
            if not entry.name.startswith(".") and entry.is_dir() and (entry / "config.json").is_file()
        ]
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RunError(f"Cannot read the runs directory {root} ({error.strerror}).") from None
    return [RunDir(entry) for entry in sorted(entries, key=lambda p: p.name, reverse=True)]
