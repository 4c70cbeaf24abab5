"""Fixtures for corpora tests: tiny review corpora made on the spot (tests/conftest.py isolates the cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpora_helpers import make_reviews, write_table


@pytest.fixture
def review_folder(tmp_path: Path) -> Path:
    """A folder with train.parquet (50 reviews) and test.parquet (20), the layout `datasets` exports."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    write_table(folder / "train.parquet", make_reviews(50, seed=1))
    write_table(folder / "test.parquet", make_reviews(20, seed=2))
    return folder
