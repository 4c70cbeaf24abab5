"""A job's share of the machine: its torch threads and its scheduling priority (torch-free).

Threads: a job whose config leaves them to rnn-tui (`threads 0`) uses the cores shared out among the
training jobs running on this machine, looked at again every RETUNE_S seconds between steps. Two jobs
on two cores then use one thread each rather than two each: four OpenMP threads on two cores spin while
they wait for one another, which slows both jobs and leaves the app's key presses waiting behind them.

Priority: jobs run niced (engine.training.jobs.DEFAULT_NICE) in a session of their own, and on Linux
with autogroup scheduling a session's processes share one scheduling group whose weight the nice
value of its processes does not change: two niced jobs still got two thirds of the CPU against the
app's third. `lower_session_priority` gives the job's group the same nice value (Linux only; a no-op
elsewhere, or where the process does not lead its own session, e.g. started by hand in a shell).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

WORKER_MODULE = "engine.training.worker"
RETUNE_S = 5.0
PROC = Path("/proc")
AUTOGROUP = Path("/proc/self/autogroup")


def is_training_job(argv: list[str]) -> bool:
    """Whether a command line is a job process (`python -m engine.training.worker RUN`), not one of its ranks."""
    return WORKER_MODULE in argv and argv[argv.index(WORKER_MODULE) - 1] == "-m" and "--rank" not in argv


def training_jobs(proc: Path = PROC) -> int | None:
    """Job processes running on this machine (from /proc); None where there is no /proc to read."""
    if not proc.is_dir():
        return None
    count = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone, or not ours to read
            continue
        count += is_training_job(argv)
    return count


def share_threads(cores: int, jobs: int) -> int:
    """Each job's torch threads when `jobs` jobs share `cores` cores: at least one."""
    return max(1, cores // max(1, jobs))


class ThreadShare:
    """Keeps a job's torch threads at its share of the cores; `tune` between steps (it acts every RETUNE_S)."""

    def __init__(
        self,
        set_threads: Callable[[int], None],
        cores: int | None = None,
        count: Callable[[], int | None] = training_jobs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.set_threads = set_threads
        self.cores = cores or os.cpu_count() or 1
        self.count = count
        self.clock = clock
        self.threads = 0
        self._checked: float | None = None

    def tune(self) -> int:
        """Count the jobs now and set this job's threads to its share when that changed; the threads."""
        now = self.clock()
        if self._checked is not None and now - self._checked < RETUNE_S:
            return self.threads
        self._checked = now
        jobs = self.count() or 1  # this job at least, also where the others cannot be counted
        threads = share_threads(self.cores, jobs)
        if threads != self.threads:
            self.set_threads(threads)
            self.threads = threads
        return threads


def lower_session_priority(nice: int, autogroup: Path = AUTOGROUP) -> bool:
    """Give this process's autogroup (its session's scheduling group) the nice value `nice`; True when it did."""
    if nice <= 0 or os.getsid(0) != os.getpid() or not autogroup.exists():
        return False
    with contextlib.suppress(OSError):
        autogroup.write_text(f"{nice}\n")
        return True
    return False
