"""The run queue of a runs root: runs that start one after another, whether or not the app is open.

The queue lives on disk beside the runs, so it outlives every process that reads it:

    RUNS_ROOT/.queue/entries/RUN.json    one per queued run: its place (`seq`), when, and its sweep
    RUNS_ROOT/.queue/launched/RUN.json   a run the queue started, with its job's pid (and GPU) until it ends
    RUNS_ROOT/.queue/settings.json       {"max_parallel": N}, when one was given
    RUNS_ROOT/.queue/lock                held (fcntl) by whoever changes the queue or starts from it
    RUNS_ROOT/.queue/scheduler.lock      held by the one scheduler process that serves the root

A queued run is an ordinary run directory (config.json, status "queued") plus its entry, so it shows up
in `rnn-tui runs` and the Train pane as soon as it is queued. `tick` starts the first entries, in
order, while fewer than `max_parallel` jobs of the root are running (runs started outside the queue
count too: two jobs on one machine halve each other). Any rnn-tui process may tick: the scheduler
process (`python -m engine.training.queue ROOT`, spawned by `rnn-tui train --queue` and `rnn-tui
sweep`; it exits once the queue is empty) and the Train pane's poll. The lock makes ticks take turns,
so no run starts twice; kill -9 of any of them leaves the files as they were (each is written
atomically), and a reboot leaves the queue queued until an rnn-tui process looks at it again.
No torch here: the UI imports this on its event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.training.config import TrainConfig
from engine.training.jobs import child_env, create_run, start_job
from engine.training.runmeta import MetaError, update_meta
from engine.training.runs import RunDir, RunError, atomic_write_json, pid_alive

QUEUE_DIR = ".queue"
MAX_PARALLEL_LIMIT = 256
SCHEDULER_INTERVAL_S = 1.0
BUSY_STATES = ("running", "paused")
TAKE_OVER_S = 120.0  # a started job marks its run running within this (it does so first thing)

#: How the queue starts a run: (run, CUDA_VISIBLE_DEVICES or None) -> the job's pid. Tests pass their own.
Starter = Callable[[RunDir, "str | None"], int]


class QueueError(Exception):
    """A queue request that cannot be done (no such queued run, already first...); the message is one sentence."""


@dataclass(frozen=True)
class QueueEntry:
    """One queued run: its directory name, its place in line (lower first) and the sweep it belongs to."""

    run: str
    seq: int
    queued_at: float
    sweep: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "seq": self.seq, "queued_at": self.queued_at, "sweep": self.sweep}


@dataclass(frozen=True)
class Launched:
    """A run the queue started: it holds a slot while its job's process lives."""

    run: str
    pid: int
    at: float
    gpu: str | None = None


# ------------------------------------------------------------------ places on disk


def queue_dir(root: str | Path) -> Path:
    return Path(root).expanduser() / QUEUE_DIR


def _entries_dir(root: str | Path) -> Path:
    return queue_dir(root) / "entries"


def _launched_dir(root: str | Path) -> Path:
    return queue_dir(root) / "launched"


@contextlib.contextmanager
def queue_lock(root: str | Path) -> Iterator[None]:
    """Hold the root's queue lock (waiting for it): one process at a time changes the queue or starts from it.

    An fcntl lock: the OS lets go of it when its holder ends, even by kill -9, so it never goes stale.
    """
    folder = queue_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / "lock", "ab")  # noqa: SIM115 (closed below: closing lets go of the lock)
    except OSError as error:
        raise RunError(f"Cannot use the queue of {Path(root).expanduser()} ({error.strerror or error}).") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _entry(path: Path) -> QueueEntry | None:
    """The entry stored at `path`, or None when it is missing or damaged (then it is left alone)."""
    data = _read_json(path)
    if not isinstance(data, dict):
        return None
    seq, at, sweep = data.get("seq"), data.get("queued_at"), data.get("sweep")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(at, int | float):
        return None
    return QueueEntry(run=path.stem, seq=seq, queued_at=float(at), sweep=sweep if isinstance(sweep, str) else None)


def entries(root: str | Path) -> list[QueueEntry]:
    """The queued runs of `root`, first in line first (ties, after a kill mid-swap, by name)."""
    try:
        paths = [path for path in _entries_dir(root).iterdir() if path.suffix == ".json"]
    except (FileNotFoundError, NotADirectoryError):  # no queue yet (or no runs root: that error is the runs list's)
        return []
    except OSError as error:
        raise RunError(f"Cannot read the queue of {Path(root).expanduser()} ({error.strerror}).") from None
    found = [entry for entry in map(_entry, paths) if entry is not None]
    return sorted(found, key=lambda entry: (entry.seq, entry.run))


def positions(root: str | Path) -> dict[str, int]:
    """Each queued run's place in line, from 1."""
    return {entry.run: place for place, entry in enumerate(entries(root), start=1)}


def _write_entry(root: str | Path, entry: QueueEntry) -> None:
    atomic_write_json(_entries_dir(root) / f"{entry.run}.json", entry.to_dict())


def _remove_entry(root: str | Path, name: str) -> None:
    (_entries_dir(root) / f"{name}.json").unlink(missing_ok=True)


def launched(root: str | Path) -> list[Launched]:
    """Runs the queue started whose job is still on: records of the others are removed.

    A record lasts while its process lives and its run has not ended. A run still "queued" long after
    its start (TAKE_OVER_S) was never taken over by its job: the pid is someone else's (reused after
    a reboot), so the record goes rather than hold a slot for ever.
    """
    alive = []
    try:
        paths = list(_launched_dir(root).glob("*.json"))
    except OSError:
        return []
    now = time.time()
    for path in paths:
        data = _read_json(path)
        pid = data.get("pid") if isinstance(data, dict) else None
        at = data.get("at") if isinstance(data, dict) else None
        at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else 0.0
        on = isinstance(pid, int) and not isinstance(pid, bool) and pid_alive(pid)
        if on:
            state = RunDir(Path(root).expanduser() / path.stem).status().state
            on = state in BUSY_STATES or (state == "queued" and now - at < TAKE_OVER_S)
        if on:
            assert isinstance(pid, int) and isinstance(data, dict)
            gpu = data.get("gpu")
            alive.append(Launched(path.stem, pid, at, gpu if isinstance(gpu, str) else None))
        else:
            path.unlink(missing_ok=True)
    return alive


# ------------------------------------------------------------------ how many at once


def cuda_devices() -> list[str]:
    """The GPUs jobs may use, as CUDA_VISIBLE_DEVICES names them, found without importing torch.

    CUDA_VISIBLE_DEVICES when set; else the NVIDIA driver's list of GPUs (Linux), else NVML's count.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        names = [name.strip() for name in visible.split(",") if name.strip()]
        return [] if names and names[0].startswith("-") else names
    with contextlib.suppress(OSError):
        count = len(list(Path("/proc/driver/nvidia/gpus").iterdir()))
        if count:
            return [str(index) for index in range(count)]
    try:
        import pynvml  # optional: nvidia-ml-py

        pynvml.nvmlInit()
        try:
            return [str(index) for index in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML, no driver: a CPU machine
        return []


def default_max_parallel() -> int:
    """One job at a time on a CPU machine, one per GPU with CUDA."""
    return max(1, len(cuda_devices()))


def check_max_parallel(value: object) -> int:
    """`value` as a number of jobs at once (1 to MAX_PARALLEL_LIMIT); QueueError with one sentence otherwise."""
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise QueueError(f"--max-parallel takes a whole number of jobs, not {text!r}.") from None
    if not 1 <= number <= MAX_PARALLEL_LIMIT:
        raise QueueError(f"--max-parallel is between 1 and {MAX_PARALLEL_LIMIT} jobs, not {number}.")
    return number


def max_parallel(root: str | Path) -> int:
    """How many jobs of `root` may run at once: the number last set for the root, else the machine's default."""
    data = _read_json(queue_dir(root) / "settings.json")
    value = data.get("max_parallel") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PARALLEL_LIMIT:
        return value
    return default_max_parallel()


def set_max_parallel(root: str | Path, value: int) -> None:
    """Remember `value` for `root`: every process that starts from its queue keeps to it."""
    with queue_lock(root):
        atomic_write_json(queue_dir(root) / "settings.json", {"max_parallel": check_max_parallel(value)})


# ------------------------------------------------------------------ queueing


def enqueue(
    root: str | Path, configs: Sequence[tuple[TrainConfig, str | None]], sweep: str | None = None
) -> list[RunDir]:
    """Create a queued run for each (config, name) and put them at the end of the queue, in this order.

    All or nothing: when one run cannot be created, the ones made before it are removed and RunError says why.
    """
    for config, _ in configs:
        if config.nnodes > 1:
            raise RunError("A run over several nodes cannot be queued: start it on each node with rnn-tui train.")
    made: list[RunDir] = []
    with queue_lock(root):
        try:
            for config, name in configs:
                made.append(create_run(root, config, name))
                if sweep is not None:
                    update_meta(made[-1].path, sweep=sweep)  # the run's own record of its sweep
            last = entries(root)
            seq = (last[-1].seq + 1) if last else 1
            now = time.time()
            for offset, run in enumerate(made):
                _write_entry(root, QueueEntry(run=run.name, seq=seq + offset, queued_at=now, sweep=sweep))
        except (RunError, MetaError, OSError) as error:
            for run in made:
                _remove_entry(root, run.name)
                shutil.rmtree(run.path, ignore_errors=True)
            if isinstance(error, RunError):
                raise
            if isinstance(error, MetaError):
                raise RunError(str(error)) from None
            raise RunError(f"Cannot queue in {Path(root).expanduser()} ({error.strerror or error}).") from None
    return made


def _queued(root: str | Path, name: str) -> list[QueueEntry]:
    """The queue, checking that `name` is in it."""
    queue = entries(root)
    if name not in {entry.run for entry in queue}:
        raise QueueError(f"The run {name} is not in the queue; see rnn-tui queue list.")
    return queue


def cancel(root: str | Path, name: str) -> None:
    """Take `name` off the queue and remove its run directory (it never trained, so nothing is lost)."""
    with queue_lock(root):
        _queued(root, name)
        _remove_entry(root, name)
        run = RunDir(Path(root).expanduser() / name)
        if run.status().state == "queued" and not any(run.checkpoints.glob("*.pt")):
            shutil.rmtree(run.path, ignore_errors=True)


def move(root: str | Path, name: str, places: int) -> int:
    """Move `name` up (places < 0) or down the queue; returns its new place (from 1).

    The entries between its old and new place keep their numbers and pass them round, so only
    those files are rewritten; a kill between two writes leaves two entries with one number, which
    the next change numbers apart again (and meanwhile their names order them).
    """
    with queue_lock(root):
        queue = _queued(root, name)
        if len({entry.seq for entry in queue}) < len(queue):  # after a kill mid-move: number them apart first
            queue = [QueueEntry(e.run, place, e.queued_at, e.sweep) for place, e in enumerate(queue, start=1)]
            for entry in queue:
                _write_entry(root, entry)
        index = next(i for i, entry in enumerate(queue) if entry.run == name)
        target = min(max(index + places, 0), len(queue) - 1)
        if target == index:
            raise QueueError(f"The run {name} is already {'first' if places < 0 else 'last'} in the queue.")
        low, high = sorted((index, target))
        numbers = [entry.seq for entry in queue[low : high + 1]]
        order = list(queue)
        order.insert(target, order.pop(index))
        for seq, entry in zip(numbers, order[low : high + 1], strict=True):
            if entry.seq != seq:
                _write_entry(root, QueueEntry(entry.run, seq, entry.queued_at, entry.sweep))
        return target + 1


# ------------------------------------------------------------------ starting


def _default_start(run: RunDir, devices: str | None) -> int:
    return start_job(run, cuda_devices=devices).pid


def busy(root: str | Path) -> tuple[set[str], set[str]]:
    """(runs of `root` that hold a slot, GPUs the queue gave to runs still alive).

    A slot is held by a running or paused run, and by a run the queue started whose job has not
    yet marked itself running (a scheduler that looked just then would otherwise start one too many).
    """
    started = launched(root)
    names = {item.run for item in started}
    gpus = {item.gpu for item in started if item.gpu is not None}
    return names | _running_runs(Path(root).expanduser()), gpus


#: status.json path -> (its (mtime_ns, inode), state, pid): a scheduler re-reads only the statuses that changed
#: (each write replaces the file, so a new inode tells a change within one tick of the clock).
_seen_states: dict[Path, tuple[tuple[int, int], str, int | None]] = {}


def _running_runs(root: Path) -> set[str]:
    """The runs under `root` that are running or paused with their job alive (as RunDir.status reads them).

    A tick looks at every run, many times a minute: each status.json is stat'ed and read only when it
    changed, and only a run that says it is running or paused has its job's lock asked.
    """
    found: set[str] = set()
    try:
        entries = [entry for entry in os.scandir(root) if not entry.name.startswith(".") and entry.is_dir()]
    except OSError:
        return found
    for entry in entries:
        path = Path(entry.path) / "status.json"
        try:
            stat = path.stat()
        except OSError:
            continue
        mtime = (stat.st_mtime_ns, stat.st_ino)
        known = _seen_states.get(path)
        if known is None or known[0] != mtime:
            data = _read_json(path)
            state = data.get("state") if isinstance(data, dict) else None
            pid = data.get("pid") if isinstance(data, dict) else None
            known = (mtime, state if isinstance(state, str) else "", pid if isinstance(pid, int) else None)
            _seen_states[path] = known
        if known[1] in BUSY_STATES and RunDir(entry.path).job_alive():  # as RunDir.status judges it
            found.add(entry.name)
    return found


def _fail(run: RunDir, message: str) -> None:
    """Mark a queued run that could not start as failed, so it does not wait forever."""
    status = run.status()
    status.state, status.error, status.updated_at = "failed", message, time.time()
    status.extra["error_kind"] = "input"
    run.write_status(status)


def _start_locked(root: str | Path, entry: QueueEntry, free_gpus: list[str], start: Starter) -> str | None:
    """Start `entry`'s run (the lock is held); None when it was not started (gone, or already started)."""
    _remove_entry(root, entry.run)
    run = RunDir(Path(root).expanduser() / entry.run)
    if not run.exists() or run.status().state != "queued":
        return None  # removed, or started by hand (rnn-tui train --resume): the queue has nothing left to do
    gpu = free_gpus[0] if free_gpus and _wants_gpu(run) else None
    try:
        pid = start(run, gpu)
    except (RunError, OSError) as error:
        _fail(run, str(error))
        return None
    atomic_write_json(
        _launched_dir(root) / f"{run.name}.json", {"run": run.name, "pid": pid, "at": time.time(), "gpu": gpu}
    )
    if gpu is not None:
        free_gpus.remove(gpu)
    return run.name


def _wants_gpu(run: RunDir) -> bool:
    """Whether the queue should hand `run` a GPU of its own: a single-process job that may use CUDA."""
    try:
        config = run.config()
    except RunError:
        return False
    return config.get("device", "auto") in ("auto", "cuda") and config.get("nproc_per_node", 1) == 1


def _tick_locked(root: str | Path, limit: int | None, start: Starter) -> list[str]:
    queue = entries(root)
    if not queue:
        return []
    limit = limit if limit is not None else max_parallel(root)
    running, used_gpus = busy(root)
    taken = {entry.run for entry in launched(root)}
    free_gpus = [gpu for gpu in cuda_devices() if gpu not in used_gpus]
    started: list[str] = []
    for entry in queue:
        if entry.run in taken:  # started just before a kill, its entry not yet removed
            _remove_entry(root, entry.run)
            continue
        if len(running) >= limit:
            break
        name = _start_locked(root, entry, free_gpus, start)
        if name is not None:
            started.append(name)
            running.add(name)
    return started


def tick(root: str | Path, limit: int | None = None, start: Starter = _default_start) -> list[str]:
    """Start queued runs of `root`, first in line first, while fewer than `limit` jobs run; returns those started.

    `limit` defaults to `max_parallel(root)`. Cheap when the queue is empty: one directory listing, no lock.
    """
    if not entries(root):
        return []
    with queue_lock(root):
        return _tick_locked(root, limit, start)


def start_now(root: str | Path, name: str, start: Starter = _default_start) -> None:
    """Start the queued run `name` at once, whatever the limit (it leaves the queue)."""
    with queue_lock(root):
        _queued(root, name)
        _, used_gpus = busy(root)
        free_gpus = [gpu for gpu in cuda_devices() if gpu not in used_gpus]
        if _start_locked(root, QueueEntry(name, 0, 0.0), free_gpus, start) is None:
            status = RunDir(Path(root).expanduser() / name).status()
            if status.state == "failed":
                raise QueueError(f"The run {name} could not start: {status.error}")
            raise QueueError(f"The run {name} is {status.state}, no longer queued.")


# ------------------------------------------------------------------ the scheduler process


def spawn_scheduler(root: str | Path) -> int | None:
    """Start a scheduler process for `root` in its own session (it outlives this one); its pid, or None.

    When one already serves the root, the new one sees its lock and leaves at once.
    """
    folder = queue_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "engine.training.queue", str(Path(root).expanduser().resolve())]
    try:
        with open(folder / "scheduler.log", "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=child_env("1"),
            )
    except OSError:
        return None
    import threading

    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def _scheduler_lock(root: str | Path) -> IO[bytes] | None:
    handle = open(queue_dir(root) / "scheduler.lock", "ab")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def serve(root: str | Path, interval: float = SCHEDULER_INTERVAL_S, start: Starter = _default_start) -> int:
    """Start queued runs as slots free up until the queue is empty; 0 at once if another scheduler serves `root`."""
    queue_dir(root).mkdir(parents=True, exist_ok=True)
    held = _scheduler_lock(root)
    if held is None:
        return 0
    try:
        while True:
            with queue_lock(root):
                for name in _tick_locked(root, None, start):
                    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} started {name}", flush=True)
                if not entries(root):
                    # Let go of the scheduler lock before the queue lock: whoever queues next finds no
                    # scheduler and spawns one, so a run queued as this one leaves is never stranded.
                    held.close()
                    return 0
            time.sleep(interval)
    finally:
        held.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m engine.training.queue RUNS_ROOT", file=sys.stderr)
        return 2
    return serve(args[0])


if __name__ == "__main__":
    sys.exit(main())
