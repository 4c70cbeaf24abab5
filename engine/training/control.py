"""A training session's side of the run directory's status.json and control.json.

`RunControl` publishes the job's status (at most every STATUS_INTERVAL_S, or at once when forced)
for the Train pane and `rnn-tui runs`, and acts on pause, resume and stop requests between steps.
In a distributed run every rank calls `poll` at the same step and the ranks agree on the request
(one small all-reduce), so all of them stop at the same step; only rank 0 reads and writes files.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from engine.training.distributed import Group
from engine.training.runs import RunDir, RunStatus

STATUS_INTERVAL_S = 0.5
PAUSE_POLL_S = 0.2
COMMANDS = (None, "resume", "pause", "stop")  # control requests; when ranks disagree, the later one wins


class Speedometer:
    """Items per second over the last few logging windows, for status.json's throughput.

    One window's rate swings (a window after a resume or an evaluation is short, another shares the
    cores with a second job), so the status shows the rate of the last `windows` windows together;
    each metrics record keeps its own window's rate.
    """

    def __init__(self, windows: int = 5) -> None:
        self.recent: deque[tuple[float, float]] = deque(maxlen=windows)

    def add(self, items: float, seconds: float) -> float | None:
        """Count one window; the rate over the recent windows (None before any time was measured)."""
        if seconds > 0:
            self.recent.append((items, seconds))
        total = sum(seconds for _, seconds in self.recent)
        return sum(items for items, _ in self.recent) / total if total > 0 else None


class RunControl:
    """status.json out, control.json in, and the session's clock without its pauses."""

    def __init__(
        self,
        run: RunDir,
        group: Group,
        progress: Callable[[], tuple[int, float, float]],
        stop_requested: Callable[[], bool],
    ) -> None:
        self.run = run
        self.group = group
        self.progress = progress  # (step, epoch, elapsed training seconds) now
        self.stop_requested = stop_requested  # a signal asked this process to stop
        self.status = RunStatus()
        self._written = 0.0
        self._session_start = time.perf_counter()
        self._session_step = 0
        self._paused_s = 0.0
        self.between_steps: Callable[[], object] = lambda: None  # e.g. retuning the job's torch threads

    def active_seconds(self) -> float:
        """Seconds since this session began, without the time spent paused."""
        return time.perf_counter() - self._session_start - self._paused_s

    def begin(self, status: RunStatus, step: int) -> None:
        """A session starts at `step`: its clock starts now and `status` is written at once."""
        self.status = status
        self._session_start = time.perf_counter()
        self._session_step = step
        self._paused_s = 0.0
        self.publish(force=True)

    def publish(self, force: bool = False) -> None:
        """Write status.json (rank 0), at most every STATUS_INTERVAL_S unless forced."""
        now = time.time()
        if not self.group.main or (not force and now - self._written < STATUS_INTERVAL_S):
            return
        step, epoch, elapsed = self.progress()
        status = self.status
        status.step = step
        status.updated_at = now
        status.extra["epoch"] = round(epoch, 4)
        active = self.active_seconds()
        done = step - self._session_step
        status.steps_per_s = done / active if done and active > 0 else None
        status.extra["elapsed"] = round(elapsed, 3)
        self.run.write_status(status)
        self._written = now

    def poll(self) -> str | None:
        """Act on a pending request; while paused, wait here. Returns "stop" when the run should stop."""
        self.between_steps()
        command = self._agreed_request()
        if command != "pause":
            return "stop" if command == "stop" else None
        self.status.state = "paused"
        self.publish(force=True)
        paused_at = time.perf_counter()
        try:
            while True:
                time.sleep(PAUSE_POLL_S)
                command = self._agreed_request()
                if command in ("resume", "stop"):
                    return "stop" if command == "stop" else None
        finally:
            self._paused_s += time.perf_counter() - paused_at
            self.status.state = "running"

    def finish(self, state: str) -> None:
        """The session's last status: done, stopped (or failed, written by the worker)."""
        self.status.state = state
        self.publish(force=True)

    def _agreed_request(self) -> str | None:
        """The request every rank acts on: rank 0 takes control.json's; a signal to any rank asks for a stop."""
        self.group.check_launcher()
        command = None
        if self.group.main:
            command = self.run.take_command()
        if self.stop_requested():
            command = "stop"
        return COMMANDS[self.group.agree(COMMANDS.index(command))]
