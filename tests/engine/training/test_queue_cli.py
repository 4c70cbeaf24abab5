"""`rnn-tui train --queue`, `rnn-tui queue …` and `rnn-tui sweep …`: what they print, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_train_cli import TINY
from training_helpers import charlm_config, wait_for

from engine.training import queue
from engine.training.jobs import create_run
from engine.training.runs import RunStatus, list_runs
from tests.messages import one_error_line
from tui.cli import main


@pytest.fixture(autouse=True)
def _cpu_only(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def held_slot(runs_root, text_file):
    """A run that holds the root's one slot (this test process plays its job), so nothing queued starts.

    At teardown the queue is emptied, so the scheduler the commands spawned leaves.
    """
    run = create_run(runs_root, charlm_config(text_file), "by-hand")
    run.write_status(RunStatus(state="running", pid=os.getpid()))
    yield run
    for entry in queue.entries(runs_root):
        queue.cancel(runs_root, entry.run)
    run.write_status(RunStatus(state="done"))


def queue_args(text_file: Path, runs_root: Path, *extra: str) -> list[str]:
    return ["train", "charlm", "--data", str(text_file), *TINY, "--runs-dir", str(runs_root), "--queue", *extra]


def test_queue_list_reorder_cancel(capsys, runs_root, text_file, held_slot):
    for name in ("a", "b", "c"):
        assert main(queue_args(text_file, runs_root, "--name", name, "--json")) == 0
        assert json.loads(capsys.readouterr().out)["name"] == name
    root = ["--runs-dir", str(runs_root)]
    assert main(["queue", "--json", *root]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(row["position"], row["name"]) for row in listed["queued"]] == [(1, "a"), (2, "b"), (3, "c")]
    assert listed["running"] == ["by-hand"] and listed["max_parallel"] == 1
    assert main(["queue", "up", "c", *root]) == 0
    assert "c is now place 2" in capsys.readouterr().err
    assert main(["queue", "down", "a", *root]) == 0
    assert main(["queue", "cancel", "b", *root]) == 0
    assert list(queue.positions(runs_root)) == ["c", "a"] and not (runs_root / "b").exists()
    assert main(["runs", "--json", *root]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert (listed["c"]["queue_position"], listed["a"]["queue_position"], listed["by-hand"]["queue_position"]) == (
        1,
        2,
        None,
    )
    assert main(["runs", *root]) == 0
    assert "queued #2" in capsys.readouterr().out
    assert main(["queue", "list", *root]) == 0
    captured = capsys.readouterr()
    assert "1 running of at most 1 at once · 2 queued" in captured.err and "LSTM E16 H32" in captured.out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["queue", "cancel", "nope"], "The run nope is not in the queue"),
        (["queue", "up"], "Name the queued run to up"),
        (["queue", "list", "x"], "takes no run names"),
        (["queue", "start", "a", "b"], "takes one run, not 2"),
        (["queue", "--max-parallel", "0"], "between 1 and 256"),
        (["queue", "shuffle"], "invalid choice"),
        (["sweep", "show", "nope"], "There is no sweep 'nope'"),
        (["sweep", "charlm", "--lr", "1e-3"], "at least one option with two or more values"),
        (["sweep", "charlm", "--lr", "1e-3,0"], "--lr 0: the learning rate must be above 0"),
        (["sweep", "charlm", "--cell", "lstm,lstm2"], "--cell lstm2: unknown cell"),
        (["sweep", "charlm", "--hidden-size", "8,", "--lr", "1e-3,1e-2"], "has an empty value"),
        (["sweep", "charlm", "--lr", "1e-3,1e-2", "--max-parallel", "two"], "whole number of jobs"),
        (["sweep", "charlm", "--lr", "1e-3,1e-2", "--name", "a/b"], "without / or \\"),
        (
            ["sweep", "charlm", "--nnodes", "2,4", "--master-addr", "10.0.0.1", "--master-port", "29500"],
            "several nodes cannot be queued",
        ),
        (["train", "charlm", "--max-parallel", "2"], "add --queue"),
        (["train", "--resume", "x", "--queue"], "--queue is for new runs"),
    ],
)
def test_bad_requests_exit_2_in_one_line_and_queue_nothing(capsys, runs_root, args, fragment):
    assert main([*args, "--runs-dir", str(runs_root)]) == 2
    assert fragment in one_error_line(capsys.readouterr().err)
    assert list_runs(runs_root) == [] and queue.entries(runs_root) == []
    assert not (runs_root / ".sweeps").exists() or not list((runs_root / ".sweeps").iterdir())


def test_a_sweep_of_a_hundred_runs_needs_yes(capsys, runs_root, text_file, held_slot):
    args = ["sweep", "charlm", "--data", str(text_file), "--runs-dir", str(runs_root), "--name", "big"]
    args += ["--lr", ",".join(f"{i}e-3" for i in range(1, 11)), "--seeds", ",".join(str(i) for i in range(1, 11))]
    assert main(args) == 2
    assert "makes 100 runs; pass --yes" in one_error_line(capsys.readouterr().err)
    assert queue.entries(runs_root) == []
    assert main([*args, "--yes"]) == 0
    assert len(queue.entries(runs_root)) == 100 and "queued sweep big: 100 runs" in capsys.readouterr().err


def test_a_sweep_trains_in_turn_and_prints_its_ranking(capsys, runs_root, text_file):
    args = ["sweep", "charlm", "--data", str(text_file), *TINY, "--runs-dir", str(runs_root), "--name", "tiny"]
    args += ["--steps", "10", "--eval-every", "5", "--sample-every", "0", "--lr", "1e-3,3e-2", "--wait"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "queued sweep tiny: 2 runs (2 lr), at most 1 at once" in captured.err
    assert "sweep tiny: 2/2 runs ended" in captured.err
    lines = [line.split() for line in captured.out.splitlines()]
    assert lines[0] == ["#", "run", "lr", "state", "val_loss"]
    losses = [float(line[4]) for line in lines[1:]]
    assert [line[3] for line in lines[1:]] == ["done", "done"] and losses == sorted(losses)
    assert main(["sweep", "show", "tiny", "--runs-dir", str(runs_root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["rank"] for row in rows] == [1, 2] and {row["settings"]["lr"] for row in rows} == {"1e-3", "3e-2"}
    assert [round(row["best_value"], 4) for row in rows] == losses
    assert main(["runs", "--runs-dir", str(runs_root), "--json"]) == 0
    assert {row["name"]: row["sweep"] for row in json.loads(capsys.readouterr().out)} == {
        "tiny-1": "tiny",
        "tiny-2": "tiny",
    }
    first, second = (json.loads((runs_root / name / "status.json").read_text()) for name in ("tiny-1", "tiny-2"))
    assert second["started_at"] >= first["updated_at"]  # one at a time, first in line first
    wait_for(lambda: not list((runs_root / ".queue/entries").iterdir()))
