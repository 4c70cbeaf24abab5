"""Checkpoints: atomic, CPU-portable, and loaded without running anything a file smuggles in."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch
from training_helpers import assert_one_sentence

from engine.training import checkpoint as checkpoint_module
from engine.training.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state


def sample_checkpoint(step: int) -> dict:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return {
        "job": "charlm",
        "config": {"job": "charlm", "steps": 10},
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "vocab": {"kind": "char", "chars": ["a", "b"]},
        "history": [{"step": step, "train_loss": 1.5}],
        "best": None,
        "loop": {"carry": (torch.zeros(1, 2, 3), torch.ones(1, 2, 3))},
    }


def test_a_checkpoint_round_trips_with_weights_only_loading(tmp_path):
    saved = sample_checkpoint(5)
    save_checkpoint(tmp_path / "last.pt", saved)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["step"] == 5 and loaded["vocab"] == saved["vocab"] and loaded["history"] == saved["history"]
    for key, value in saved["model"].items():
        assert torch.equal(loaded["model"][key], value)
    assert loaded["optimizer"]["state"][0]["exp_avg"].device.type == "cpu"
    assert isinstance(loaded["loop"]["carry"], tuple)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


def test_rng_states_restore_every_generator(tmp_path):
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    save_checkpoint(tmp_path / "rng.pt", {**sample_checkpoint(1), "rng": rng_state()})
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]


def test_an_interrupted_write_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, sample_checkpoint(10))

    def power_cut(fd: int) -> None:  # the process dies after writing the new bytes, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, sample_checkpoint(20))
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 10
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class Payload:
    """A pickle that, when loaded by a trusting unpickler, creates a file."""

    target = ""

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    Payload.target = str(marker)
    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoint_module.FORMAT, "version": 1, "model": Payload()}, evil)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"model": Payload()}, protocol=2))
    for path in (evil, legacy):
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        assert "objects other than tensors" in str(error.value)
        assert_one_sentence(str(error.value))
    assert not marker.exists()


def test_corrupt_foreign_and_missing_checkpoints_are_one_sentence_errors(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, sample_checkpoint(1))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), foreign)
    old = tmp_path / "old.pt"
    torch.save({"format": checkpoint_module.FORMAT, "version": 0}, old)
    for path, fragment in (
        (truncated, "not a readable checkpoint"),
        (garbage, "not a readable checkpoint"),
        (foreign, "not an rnn-tui checkpoint"),
        (old, "version 0"),
        (tmp_path / "absent.pt", "no checkpoint"),
    ):
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        assert fragment in str(error.value)
        assert_one_sentence(str(error.value))
