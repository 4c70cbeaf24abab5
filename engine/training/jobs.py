"""Starting training jobs in their own processes (torch-free: the UI calls this on its event loop).

A job is `python -m engine.training.worker RUN_DIR` in a fresh interpreter (spawn semantics: nothing is
inherited from the caller's threads), in a new session (Ctrl+C in the caller's terminal does not
reach it, and it outlives the caller), at lower priority, with torch's threads capped and its
output appended to the run's log.txt. Progress is read back from the run directory.

A run with several processes starts the same way: that process becomes the node's launcher and
starts the ranks through torchrun (engine.training.distributed), each with its share of the threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import engine
from engine.training.config import TrainConfig, TrainConfigError
from engine.training.runs import RunDir, RunError

DEFAULT_NICE = 10
LOCKED_EXIT = 3  # the job process's exit status when another process holds the run's lock (it changed nothing)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def child_env(threads: str) -> dict[str, str]:
    """The environment of a process that runs this package's modules (`python -m engine.…`): this
    checkout importable, torch's threads capped at `threads`, output unbuffered."""
    env = {**os.environ, **dict.fromkeys(_THREAD_VARIABLES, threads), "PYTHONUNBUFFERED": "1"}
    package_root = str(Path(engine.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return env


def create_run(root: str | Path, config: TrainConfig, name: str | None = None) -> RunDir:
    """A new queued run directory under `root` holding `config` (RunError when `root` cannot be used)."""
    settings = config.to_dict()
    del settings["job"]
    return RunDir.create(root, config.job, settings, name)


def run_config(run: RunDir) -> TrainConfig:
    """The validated config of `run` (RunError when it is missing or no longer valid)."""
    try:
        return TrainConfig.from_dict(run.config())
    except TrainConfigError as error:
        raise RunError(f"The config of {run.name} is not usable: {error}") from None


def find_run(root: str | Path, spec: str) -> RunDir:
    """The run named `spec` under `root`, or the run directory at path `spec`."""
    for candidate in (Path(root).expanduser() / spec, Path(spec).expanduser()):
        run = RunDir(candidate)
        if run.exists():
            return run
    raise RunError(f"There is no run {spec!r} in {Path(root).expanduser()}; see rnn-tui runs.")


@dataclass(frozen=True)
class Job:
    """A job process this process started: its pid, and how it ended once it has (a thread reaps it)."""

    pid: int
    process: subprocess.Popen

    def exit_status(self) -> int | None:
        """None while the process runs; then its exit status (LOCKED_EXIT: another job held the run)."""
        return self.process.poll()


def start_job(
    run: RunDir,
    *,
    resume: bool = False,
    nice: int = DEFAULT_NICE,
    config: TrainConfig | None = None,
    cuda_devices: str | None = None,
) -> Job:
    """Start the job of `run` in its own process.

    A new run must be queued; `resume=True` continues a stopped, failed or done run from its last
    checkpoint (or from the start when it has none). A run whose job is alive (its lock is held) is
    refused here; one that starts at the same moment is turned away by the lock: the job process then
    exits with LOCKED_EXIT, having changed nothing.
    status.json changes when the job writes it: its `pid` equals the returned job's from then on.
    `config` becomes the run's config (see train_config.with_changes: a longer run, another device), written
    by the job once it holds the lock, so that two resumes at once never train one's settings under the other.
    `cuda_devices` becomes the job's CUDA_VISIBLE_DEVICES (the queue gives each job its own GPU).
    """
    status = run.status()
    if run.job_alive(status):
        raise RunError(f"The run {run.name} is already {_active(status.state)}{_pid(status.pid)}.")
    if not resume and status.state != "queued":
        raise RunError(f"The run {run.name} is {status.state}; resume it instead of starting it again.")
    command = [sys.executable, "-m", "engine.training.worker", str(run.path.resolve()), "--nice", str(nice)]
    if config is None:
        config = run_config(run)
    elif config.job != run.job:
        raise RunError(f"The run {run.name} trains {run.job}, not {config.job}.")
    else:
        command += ["--settings", json.dumps(config.to_dict())]
    env = child_env(str(config.threads_per_process))
    if cuda_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_devices
    # Only the job writes status.json from here on: it marks itself running with its pid first thing.
    try:
        with open(run.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {'resume' if resume else 'start'}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )
    except OSError as error:
        raise RunError(f"The job of {run.name} could not start ({error.strerror or error}).") from None
    # Reap the process when it ends, so a finished job never lingers as a zombie.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return Job(process.pid, process)


def _active(state: str) -> str:
    """How "already …" names a live job's state (a live job whose status was not yet written is running)."""
    return state if state in ("running", "paused") else "running"


def _pid(pid: int | None) -> str:
    return f" (pid {pid})" if pid else ""
