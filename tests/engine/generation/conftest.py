"""Fixtures for the generation tests: tiny trained runs, built once per session (tests/conftest.py isolates the runs root)."""

from __future__ import annotations

from pathlib import Path

import pytest
from generation_helpers import make_charlm_run, make_sentiment_run

from engine.training.runs import RunDir


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs root holding `charlm-tiny` (trained 150 steps) and `sentiment-tiny` (trained 60 steps)."""
    root = tmp_path_factory.mktemp("model-runs")
    make_charlm_run(root, train_steps=150)
    make_sentiment_run(root)
    return root


@pytest.fixture(scope="session")
def charlm_run(model_root: Path) -> RunDir:
    return RunDir(model_root / "charlm-tiny")


@pytest.fixture(scope="session")
def sentiment_run(model_root: Path) -> RunDir:
    return RunDir(model_root / "sentiment-tiny")


@pytest.fixture(scope="session")
def charlm(charlm_run: RunDir):
    from engine.generation.loading import load_model

    return load_model(charlm_run, job="charlm")


@pytest.fixture(scope="session")
def sentiment(sentiment_run: RunDir):
    from engine.generation.loading import load_model

    return load_model(sentiment_run, job="sentiment")
