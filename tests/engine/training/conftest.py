"""Fixtures for training tests: a runs root, a tiny text and a tiny review folder (tests/conftest.py isolates the cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import write_text


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    return write_text(tmp_path / "island.txt")


@pytest.fixture(scope="session")
def review_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.csv (120 reviews) and test.csv (40), with a word that decides each label."""
    import csv
    import random

    folder = tmp_path_factory.mktemp("reviews")
    rng = random.Random(3)
    filler = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "a", "it", "this", "of"]
    for name, count in (("train.csv", 120), ("test.csv", 40)):
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for index in range(count):
                label = index % 2
                words = [rng.choice(filler) for _ in range(rng.randint(4, 25))]
                words.insert(rng.randrange(len(words)), rng.choice(["great", "superb"] if label else ["awful", "dull"]))
                writer.writerow([" ".join(words) + ("<br />" if index % 3 == 0 else ""), label])
    return folder
