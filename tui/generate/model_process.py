"""The Generate pane's side of its model process: starting `python -m engine.generation.worker`,
sending it typed requests and reading its replies on a thread (engine.generation.messages).

Sampling runs there rather than in a thread of the app: the two would share one interpreter lock,
and drawing the screen 30 times a second would halve the speed of both. Every reply reaches
`on_reply` from the reader thread; so does a `ProcessExited` when the process ends (or cannot start)
and an `Unreadable` for a line that is not a reply. The process writes its errors to `log_path`.
`HeldModel` is what the pane knows of a model the process holds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from corpora.userdirs import data_dir
from engine.generation.loading import find_checkpoint
from engine.generation.messages import MessageError, ProcessExited, Reply, Request, Unreadable, decode_reply, encode
from engine.generation.settings import GenerateInputError
from engine.training.runs import RunDir


@dataclass(frozen=True)
class HeldModel:
    """A model the model process holds for one mode, as its `loaded` reply described it.

    `stamp` is the checkpoint file's modification time when it was loaded: a run that trains on
    writes a newer best.pt (or its first one), and `is_stale` says so.
    """

    run: RunDir
    name: str
    describe: str
    checkpoint: str
    stamp: int | None = None
    step: int = 0  # the training step the checkpoint was saved at

    @staticmethod
    def stamp_of(path: str | Path) -> int | None:
        try:
            return Path(path).stat().st_mtime_ns
        except OSError:
            return None

    def is_stale(self) -> bool:
        """Whether the run now has another checkpoint than the one held (best.pt moved on, or appeared)."""
        try:
            current = find_checkpoint(self.run)
        except GenerateInputError:
            return False  # no checkpoint left to load: keep what is held
        return str(current) != self.checkpoint or self.stamp_of(current) != self.stamp


class ModelProcess:
    """The model process and a thread that reads its replies; it starts on the first request, and again after it ends."""

    command = (sys.executable, "-m", "engine.generation.worker")

    def __init__(self, on_reply: Callable[[Reply], object]) -> None:
        self.on_reply = on_reply
        self.process: subprocess.Popen[str] | None = None
        self._tokens = 0

    def new_token(self) -> int:
        """A token for a generate or classify request: its replies carry it back."""
        self._tokens += 1
        return self._tokens

    @property
    def log_path(self) -> Path:
        """Where the process writes its errors (Linux: ~/.local/share/rnn-tui/generate-worker.log)."""
        return data_dir() / "generate-worker.log"

    def send(self, request: Request) -> None:
        if self.process is None or self.process.poll() is not None:
            try:
                self._start()
            except OSError as error:  # no interpreter to start, no processes left, ...
                self.process = None
                self.on_reply(ProcessExited(None, f"the model process could not start ({error.strerror or error})"))
                return
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(encode(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.process = None  # the reader thread reports the exit

    def _start(self) -> None:
        from engine.training.jobs import child_env

        env = child_env("1")  # one thread: sampling is small matrix-vector products
        log: IO[str] | int
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (the child writes to it until it ends)
        except OSError:
            log = subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                list(self.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
                bufsize=1,
                env=env,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        threading.Thread(target=self._read, args=(self.process,), name="generate-worker-reader", daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not line.strip():
                continue
            try:
                reply: Reply = decode_reply(line)
            except MessageError as error:
                reply = Unreadable(str(error))
            self.on_reply(reply)
        self.on_reply(ProcessExited(process.wait()))

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
