"""Helpers shared by the training tests (a uniquely named module, so it never shadows another conftest)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.training.config import TrainConfig, parse_train_config
from engine.training.runs import RunDir, RunStatus
from tests.messages import assert_one_sentence  # noqa: F401 - re-exported for the tests here

WORDS = [
    "the",
    "island",
    "was",
    "green",
    "and",
    "the",
    "river",
    "ran",
    "down",
    "to",
    "the",
    "sea",
    "where",
    "the",
    "engineer",
    "built",
    "a",
    "kiln",
    "of",
    "clay",
    "and",
    "the",
    "sailor",
    "caught",
    "fish",
    "while",
    "the",
    "boy",
    "watched",
    "the",
    "birds",
    "over",
    "the",
    "cliffs",
]


def write_text(path: Path, characters: int = 6000, seed: int = 0) -> Path:
    """A few KB of word-like text from a small vocabulary: learnable in a few dozen steps."""
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < characters:
        words.append(rng.choice(WORDS))
        if rng.random() < 0.08:
            words[-1] += ".\n"
    path.write_text(" ".join(words)[:characters], encoding="utf-8")
    return path


def charlm_config(data: Path, **overrides: Any) -> TrainConfig:
    """A tiny character model that trains a few dozen steps in well under a second."""
    settings: dict[str, Any] = dict(
        data=str(data),
        embed_size=16,
        hidden_size=32,
        batch_size=8,
        seq_length=20,
        eval_window=20,
        steps=40,
        eval_every=20,
        log_every=10,
        checkpoint_every=20,
        sample_every=20,
        sample_length=30,
        lr=0.01,
        clip=5.0,
        amp="off",
        threads=1,
    )
    settings.update(overrides)
    return parse_train_config("charlm", "default", **settings)


def sentiment_config(data: Path, **overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = dict(
        data=str(data),
        embed_size=16,
        hidden_size=16,
        fc_size=16,
        batch_size=16,
        epochs=3,
        log_every=5,
        lr=0.03,
        valid_fraction=0.2,
        amp="off",
        threads=1,
        checkpoint_every=10,
    )
    settings.update(overrides)
    return parse_train_config("sentiment", "default", **settings)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def wait_for_state(run: RunDir, *states: str, timeout: float = 60.0) -> RunStatus:
    wait_for(lambda: run.status().state in states, timeout)
    return run.status()


def metrics(run: RunDir) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
