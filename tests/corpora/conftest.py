"""Fixtures for corpora tests: an isolated cache per test and tiny review corpora made on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpora_helpers import make_reviews, write_table


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own rnn-tui cache, and a Gutenberg URL where nothing listens (never the internet)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RNN_TUI_CACHE", str(cache))
    monkeypatch.setenv("RNN_TUI_GUTENBERG_URL", "http://127.0.0.1:9")
    return cache


@pytest.fixture
def review_folder(tmp_path: Path) -> Path:
    """A folder with train.parquet (50 reviews) and test.parquet (20), the layout `datasets` exports."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_table(folder / "train.parquet", make_reviews(50, seed=1))
    write_table(folder / "test.parquet", make_reviews(20, seed=2))
    return folder
