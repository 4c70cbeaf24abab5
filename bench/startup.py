"""How fast rnn-tui shows its first frame, and how soon the Stepper is ready with torch loaded.

Runs `rnn-tui` in a pseudo-terminal (80×24) several times and times, from process start:
  - first frame: the first time the Stepper's "Loading PyTorch…" line is drawn;
  - Stepper ready: the first time the trace's "max |Δ| vs torch" line is drawn.
Side by side, in the same run, the baselines that bound them: a bare Python start, and
`import torch` (what the first frame would wait for if the app imported torch eagerly).

Usage: python bench/startup.py [--runs N]
Target (issue 2): first frame ≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

FIRST_FRAME = b"Loading PyTorch"
READY = "max |Δ| vs torch".encode()


def time_app(command: list[str], timeout: float = 60.0) -> tuple[float, float]:
    """Seconds from spawn to the first frame and to the Stepper being ready."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    seen = b""
    first = ready = None
    try:
        while ready is None and time.perf_counter() - start < timeout:
            readable, _, _ = select.select([leader], [], [], 0.05)
            if not readable:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            seen += chunk
            now = time.perf_counter() - start
            if first is None and (FIRST_FRAME in seen or READY in seen):
                first = now
            if READY in seen:
                ready = now
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        os.close(leader)
    if first is None or ready is None:
        raise SystemExit(f"the app did not draw its frames within {timeout:.0f} s")
    return first, ready


def time_command(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    executable = shutil.which("rnn-tui", path=str(Path(sys.executable).parent)) or shutil.which("rnn-tui")
    app = [executable] if executable else [sys.executable, "-m", "tui.cli"]

    time_app(app)  # warm the file cache once, as a user's second launch would be
    frames, readies, pythons, torches = [], [], [], []
    for _ in range(args.runs):
        first, ready = time_app(app)
        frames.append(first)
        readies.append(ready)
        pythons.append(time_command([sys.executable, "-c", "pass"]))
        torches.append(time_command([sys.executable, "-c", "import torch"]))

    def row(name: str, values: list[float]) -> str:
        return f"{name:<44} {statistics.median(values):7.3f} s   (min {min(values):.3f}, max {max(values):.3f})"

    print(f"rnn-tui startup, {args.runs} runs, median of wall-clock seconds from process start")
    print(row("first frame (Stepper says Loading PyTorch)", frames))
    print(row("Stepper ready (trace drawn, torch loaded)", readies))
    print(row("baseline: python -c pass", pythons))
    print(row("baseline: python -c 'import torch'", torches))
    verdict = "meets" if statistics.median(frames) <= 0.5 else "misses"
    print(f"target first frame <= 0.5 s: {verdict} it")


if __name__ == "__main__":
    main()
