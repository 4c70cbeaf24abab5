"""Starting training jobs in their own processes (torch-free: the UI calls this on its event loop).

A job is `python -m engine.training.worker RUN_DIR` in a fresh interpreter (spawn semantics: nothing is
inherited from the caller's threads), in a new session (Ctrl+C in the caller's terminal does not
reach it, and it outlives the caller), at lower priority, with torch's threads capped and its
output appended to the run's log.txt. Progress is read back from the run directory.

A run with several processes starts the same way: that process becomes the node's launcher and
starts the ranks through torchrun (engine.training.distributed), each with its share of the threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import engine
from engine.training.config import TrainConfig, TrainConfigError
from engine.training.runs import RunDir, RunError, atomic_write_json, pid_alive

DEFAULT_NICE = 10
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


def start_job(run: RunDir, *, resume: bool = False, nice: int = DEFAULT_NICE, config: TrainConfig | None = None) -> int:
    """Start the job of `run` in its own process and return its pid.

    A new run must be queued; `resume=True` continues a stopped, failed or done run from its last
    checkpoint (or from the start when it has none). A run whose process is alive is refused (and
    a lock in the run directory turns away a second process that slips through).
    status.json changes when the job writes it: its `pid` equals the returned pid from then on.
    `config` replaces the run's config first (see train_config.with_changes: a longer run, another device).
    """
    status = run.status()
    if status.state in ("running", "paused", "queued") and status.pid and pid_alive(status.pid):
        raise RunError(f"The run {run.name} is already {status.state} (pid {status.pid}).")
    if not resume and status.state != "queued":
        raise RunError(f"The run {run.name} is {status.state}; resume it instead of starting it again.")
    if config is None:
        config = run_config(run)
    elif config.job != run.job:
        raise RunError(f"The run {run.name} trains {run.job}, not {config.job}.")
    else:
        atomic_write_json(run.config_path, config.to_dict())
    threads = str(config.threads_per_process)
    env = child_env(threads)
    command = [sys.executable, "-m", "engine.training.worker", str(run.path.resolve()), "--nice", str(nice)]
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
    # Reap the process when it ends, so a finished job never lingers as a zombie that looks alive.
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    return process.pid
