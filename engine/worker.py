"""The job process: `python -m engine.worker RUN_DIR [--nice N]` (started by engine.jobs.start_job).

It trains the run (from its last.pt when it has one) and leaves its outcome in status.json: done,
stopped, or failed with a one-line error and an `error_kind` ("input": a setting or data source
the user can fix; "oom"; "halted": NaN or exploding loss; "checkpoint"; "crash": a bug, traceback
in log.txt). SIGTERM and SIGINT
ask for a stop with a final checkpoint, like the stop command. A lock on the run directory keeps a
second process from training the same run.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import IO

from engine.runs import RunDir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    if args.nice:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    run = RunDir(args.run_dir)
    lock = _lock(run)
    if lock is None:
        print(f"another process is training {run.path}; this one leaves it alone", flush=True)
        return 3
    stop = {"asked": False}

    def ask_stop(signum: int, frame: object) -> None:
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    _mark_loading(run)
    try:
        return train_run(run, lambda: stop["asked"])
    finally:
        lock.close()


def train_run(run: RunDir, stop_requested: Callable[[], bool]) -> int:
    """Train `run` here, leaving any failure in its status.json; returns the process's exit status."""
    from engine.jobs import run_config
    from engine.runs import RunError

    try:
        config = run_config(run)
    except RunError as error:
        _fail(run, str(error), "input")
        return 2
    import torch

    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    from corpora.errors import CorpusError
    from engine.checkpoint import CheckpointError
    from engine.train import TrainingError, run_training

    try:
        run_training(run, config, stop_requested=stop_requested)
    except TrainingError as error:
        _fail(run, str(error), error.kind)
        return 1
    except CorpusError as error:
        _fail(run, str(error), "input")
        return 1
    except CheckpointError as error:
        _fail(run, f"{error} Start a new run, or restore the checkpoint.", "checkpoint")
        return 1
    except (torch.OutOfMemoryError, MemoryError):
        traceback.print_exc()
        device = "the GPU" if config.device != "cpu" and torch.cuda.is_available() else "this machine"
        _fail(run, f"The job ran out of memory on {device}; use a smaller batch size, sequence length or model.", "oom")
        return 1
    except Exception as error:  # a bug: the traceback goes to log.txt, one line to status.json
        traceback.print_exc()
        first = (str(error).strip().splitlines() or [""])[0][:200]
        _fail(run, f"The job crashed with {type(error).__name__}: {first} (the traceback is in log.txt).", "crash")
        return 1
    return 0


def _lock(run: RunDir) -> IO[bytes] | None:
    """An exclusive lock held for this process's life (released by the OS even on kill -9)."""
    handle = open(run.path / ".lock", "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _mark_loading(run: RunDir) -> None:
    status = run.status()
    status.state, status.pid, status.error = "running", os.getpid(), None
    status.started_at = status.updated_at = time.time()
    status.extra.pop("error_kind", None)
    status.extra["phase"] = "loading"
    run.write_status(status)


def _fail(run: RunDir, message: str, kind: str) -> None:
    print(f"failed: {message}", file=sys.stderr, flush=True)
    status = run.status()
    status.state, status.error, status.updated_at = "failed", message, time.time()
    status.extra["error_kind"] = kind
    status.extra.pop("phase", None)
    run.write_status(status)


if __name__ == "__main__":
    sys.exit(main())
