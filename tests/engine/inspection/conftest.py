"""Fixtures for the inspection tests: tiny trained runs, built once per session (tests/conftest.py isolates the runs root)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.generation.loading import LoadedModel, load_model
from engine.inspection.cache import TRACES
from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run
from tests.engine.inspection.inspection_helpers import TEXT


@pytest.fixture(scope="session")
def inspection_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inspection-runs")


@pytest.fixture(scope="session")
def charlm_of(inspection_root: Path) -> Callable[[str, int], LoadedModel]:
    """charlm_of(cell, layers): a tiny character model of that cell and depth, trained a few steps on TEXT (built once)."""
    made: dict[tuple[str, int], LoadedModel] = {}

    def get(cell: str, layers: int) -> LoadedModel:
        if (cell, layers) not in made:
            run = make_charlm_run(
                inspection_root,
                name=f"charlm-{cell}-{layers}",
                text=TEXT,
                cell=cell,
                layers=layers,
                hidden=12,
                embed=8,
                train_steps=15,
            )
            made[cell, layers] = load_model(run, job="charlm")
        return made[cell, layers]

    return get


@pytest.fixture(scope="session")
def sentiment_of(inspection_root: Path) -> Callable[..., LoadedModel]:
    """sentiment_of(pooling, bidirectional, max_length=None): a tiny review classifier trained a few steps (built once)."""
    made: dict[tuple[str, bool, int | None], LoadedModel] = {}

    def get(pooling: str, bidirectional: bool, max_length: int | None = None) -> LoadedModel:
        key = (pooling, bidirectional, max_length)
        if key not in made:
            name = f"sentiment-{pooling}-{'bi' if bidirectional else 'uni'}-{max_length}"
            run = make_sentiment_run(
                inspection_root,
                name=name,
                pooling=pooling,
                bidirectional=bidirectional,
                max_length=max_length,
                train_steps=40,
            )
            made[key] = load_model(run, job="sentiment")
        return made[key]

    return get


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty trace cache."""
    TRACES.clear()
    yield
    TRACES.clear()
