"""The job process of the chaos test: engine.training.worker on a run, forked from a server that has torch loaded.

Starting a job as `python -m engine.training.worker` costs an import of torch (seconds on a busy
machine); the chaos test starts dozens, so it forks them from a multiprocessing forkserver that
preloads this module. Each one can carry a planned kill -9 that lands inside a checkpoint write:

    "temp"    half of a checkpoint's temporary file written, then killed (a torn `.last.pt.*.part`)
    "rename"  the temporary file complete and synced, killed just before it replaces the checkpoint
    "after"   killed just after the rename, before the directory is synced

`nth` says at which checkpoint write (last.pt and best.pt count alike) of this process the kill lands.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch._dynamo  # noqa: F401 - what torch.optim.Adam imports on first use (seconds): loaded once, in the forkserver

import engine.training.session  # noqa: F401 - loaded once in the forkserver, so that forked jobs start at once
from engine.training import worker

FAULTS = ("temp", "rename", "after")
CHECKPOINTS = ("last.pt", "best.pt")


def _kill_myself() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _TornWriter:
    """A file handle that writes half of what it is given, then dies (kill -9)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __enter__(self) -> _TornWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        _kill_myself()
        return 0  # pragma: no cover - never reached

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


def _plan_kill(fault: str, nth: int) -> None:
    """Patch this process's os functions so that the `nth` checkpoint write dies as `fault` says."""
    seen = {"writes": 0}

    def due() -> bool:
        seen["writes"] += 1
        return seen["writes"] == nth

    if fault == "temp":
        real_fdopen = os.fdopen

        def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
            handle = real_fdopen(fd, *args, **kwargs)
            name = os.readlink(f"/proc/self/fd/{fd}")
            if name.endswith(".part") and any(f".{checkpoint}." in name for checkpoint in CHECKPOINTS) and due():
                return _TornWriter(handle)
            return handle

        os.fdopen = fdopen  # type: ignore[assignment]
    else:
        real_replace = os.replace

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            planned = Path(dst).name in CHECKPOINTS and str(src).endswith(".part") and due()
            if planned and fault == "rename":
                _kill_myself()
            real_replace(src, dst, *args, **kwargs)
            if planned:
                _kill_myself()

        os.replace = replace


def run_job(run_path: str, fault: str | None = None, nth: int = 1) -> None:
    """Train the run as its job process would (output appended to its log.txt), dying where `fault` says."""
    log = os.open(Path(run_path) / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(log, f"--- chaos job {os.getpid()} (fault {fault} at write {nth})\n".encode())
    os.dup2(log, 1)
    os.dup2(log, 2)
    if fault is not None:
        _plan_kill(fault, nth)
    code = worker.main([run_path])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
