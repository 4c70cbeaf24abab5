"""What the book recipes share when they run alone: their JSON lines on stdout, one per event.

`book_charlm.py` and `book_sentiment.py` print `ready` once their data is prepared, `eval` at each
scoring and `end` with the run's totals; `harness.run_book` reads them. The wall-time cap a recipe
is given counts its data preparation, so each recipe's loop gets what is left of it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any, Protocol

import torch


class RecipeRun(Protocol):
    """What a recipe's run reports at its end (besides its count and rate)."""

    train_s: float
    total_s: float
    stopped: str


def emit(event: str, **values: Any) -> None:
    print(json.dumps({"event": event, **values}), flush=True)


class RecipeEvents:
    """One recipe run's JSON lines, timed from the moment this is made (before the data is prepared)."""

    def __init__(self, max_seconds: float | None) -> None:
        self.max_seconds = max_seconds
        self.started = time.perf_counter()

    def ready(self, **values: Any) -> None:
        """The prepared data's figures, with the preparation time and torch's thread count."""
        emit("ready", **values, prep_s=time.perf_counter() - self.started, threads=torch.get_num_threads())

    def remaining_s(self) -> float | None:
        """What is left of the wall-time cap (None without one)."""
        return None if self.max_seconds is None else self.max_seconds - (time.perf_counter() - self.started)

    def eval(self, point: Any) -> None:
        """One scoring: a dataclass of the recipe's figures."""
        emit("eval", **asdict(point))

    def end(self, run: RecipeRun, count: str, rate: str) -> None:
        """The run's totals: its `count` attribute (steps, reviews), times, why it stopped, its `rate` attribute."""
        if self.max_seconds is not None and run.stopped.startswith("time cap"):
            run.stopped = f"time cap {self.max_seconds:g} s"  # the cap as given, not what was left for the loop
        values = {count: getattr(run, count), "train_s": run.train_s, "total_s": run.total_s, "stopped": run.stopped}
        emit("end", **values, **{rate: getattr(run, rate)})
