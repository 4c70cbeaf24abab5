"""Short smoke runs on the real data (set RNN_TUI_TEST_DATA): the book's text and a sample of IMDb reviews."""

from __future__ import annotations

import pytest
import torch
from training_helpers import metrics

from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from engine.training.session import run_training

pytestmark = pytest.mark.realdata


def test_the_default_character_model_learns_the_mysterious_island(data_dir, runs_root):
    torch.set_num_threads(2)
    config = parse_train_config(
        "charlm",
        "default",
        data=str(data_dir / "mysterious_island_1268-0.txt"),
        steps=30,
        eval_every=30,
        log_every=10,
        sample_every=30,
        amp="off",
    )
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    records = metrics(run)
    assert records[0]["train_loss"] > 3.0 > records[-1]["train_loss"]  # from ln(80) ≈ 4.4 towards words
    assert records[-1]["val_loss"] < 3.0
    assert run.latest_sample()["text"].startswith("The island")


def test_the_sentiment_model_trains_on_a_sample_of_imdb(data_dir, runs_root):
    torch.set_num_threads(2)
    config = parse_train_config(
        "sentiment",
        "default",
        data=str(data_dir / "imdb" / "train_sample_1000.csv"),
        epochs=3,
        log_every=4,
        amp="off",
    )
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    records = metrics(run)
    evaluated = [r for r in records if "val_acc" in r]
    assert [r["epoch"] for r in evaluated] == [1.0, 2.0, 3.0]
    assert all(0.0 <= r["val_acc"] <= 1.0 for r in evaluated)  # 800 reviews teach little: this is a smoke test
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert run.status().best_metric == "val_acc" and (run.checkpoints / "best.pt").exists()
