"""Starting `rnn-tui serve` in a subprocess on a free port, for the serve tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"rnn-tui serve ended with {process.returncode}: {log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"rnn-tui serve did not listen on port {port} in time")


@contextmanager
def served(runs_root: Path, *extra: str) -> Iterator[tuple[subprocess.Popen, int, Path]]:
    """`rnn-tui serve` on a free port, listening, and the file its output goes to; stopped (Ctrl+C, then kill)
    when the block ends.

    The output goes to a file, not a pipe: a pipe nobody reads while the test runs would block the server
    once full.
    """
    port = free_port()
    log = runs_root.parent / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve", "--port", str(port), "--runs-dir", str(runs_root), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own group: a stray app process cannot outlive the test
        )
    try:
        wait_for_port(port, process, log)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
