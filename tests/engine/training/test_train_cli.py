"""`rnn-tui train` and `rnn-tui runs`: JSON lines, exit codes, one-line errors and Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_helpers import charlm_config, wait_for, wait_for_state

from engine.training.jobs import create_run
from engine.training.runs import list_runs
from tests.messages import one_error_line
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]
TINY = [
    "--embed-size",
    "16",
    "--hidden-size",
    "32",
    "--batch-size",
    "8",
    "--seq-length",
    "20",
    "--lr",
    "0.01",
    "--threads",
    "1",
]


def train_args(text_file: Path, runs_root: Path, *extra: str) -> list[str]:
    return ["train", "charlm", "--data", str(text_file), *TINY, "--runs-dir", str(runs_root), *extra]


def test_train_prints_json_lines_and_runs_lists_the_run(capsys, runs_root, text_file):
    code = main(
        train_args(text_file, runs_root, "--steps", "30", "--eval-every", "10", "--sample-every", "0", "--json")
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30] and all("val_loss" in r for r in records)
    (run,) = list_runs(runs_root)
    assert str(run.path) in err and "done at step 30/30" in err

    assert main(["runs", "--runs-dir", str(runs_root), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["job"], row["state"], row["step"], row["total"], row["device"]) == (
        run.name,
        "charlm",
        "done",
        30,
        30,
        "cpu",
    )
    assert row["best_metric"] == "val_loss" and row["best_value"] == min(r["val_loss"] for r in records)
    assert main(["runs", "--runs-dir", str(runs_root)]) == 0
    table = capsys.readouterr().out
    for text in (run.name, "charlm", "done", "30/30", "tokens/s", "val_loss"):
        assert text in table


def test_runs_of_an_empty_root_and_an_unusable_one(capsys, tmp_path):
    assert main(["runs", "--runs-dir", str(tmp_path / "none")]) == 0
    assert "no runs" in capsys.readouterr().err
    assert main(["runs", "--runs-dir", str(tmp_path / "none"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--hidden-size", "0"], "hidden size must be at least 1"),
        (["--lr", "-0.1"], "learning rate must be above 0"),
        (["--dropout", "1.5"], "dropout must be at least 0 and below 1"),
        (["--steps", "10", "--epochs", "2"], "either steps or epochs"),
        (["--preset", "turbo"], "Unknown charlm preset 'turbo'"),
        (["--clip", "big"], "gradient clip must be a number"),
        (["--cell", "lstm2"], "invalid choice"),
    ],
)
def test_impossible_settings_exit_2_with_one_line_and_no_run(capsys, runs_root, text_file, extra, fragment):
    assert main(train_args(text_file, runs_root, *extra)) == 2
    assert fragment in one_error_line(capsys.readouterr().err)
    assert list_runs(runs_root) == []


def test_an_unusable_runs_dir_exits_2(capsys, tmp_path, text_file):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(train_args(text_file, blocker / "runs")) == 2
    assert "Cannot create the runs directory" in one_error_line(capsys.readouterr().err)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(train_args(text_file, locked)) == 2
        assert "not writable" in one_error_line(capsys.readouterr().err)


def test_an_unknown_or_changed_resume_exits_2(capsys, runs_root, text_file):
    assert main(["train", "--resume", "nope", "--runs-dir", str(runs_root)]) == 2
    assert "There is no run 'nope'" in one_error_line(capsys.readouterr().err)
    run = create_run(runs_root, charlm_config(text_file))
    assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--hidden-size", "64"]) == 2
    assert "keeps its settings" in one_error_line(capsys.readouterr().err)
    assert main(["train", "sentiment", "--resume", run.name, "--runs-dir", str(runs_root)]) == 2
    assert "trains charlm, not sentiment" in one_error_line(capsys.readouterr().err)
    assert main(["train", "--runs-dir", str(runs_root)]) == 2
    assert "Name a job" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--data", "/nonexistent/island.txt"], "/nonexistent/island.txt does not exist"),
        (["--device", "cuda"], "CUDA was asked for"),
    ],
)
def test_failures_the_job_finds_at_start_exit_2_and_leave_no_run(capsys, runs_root, text_file, extra, fragment):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = train_args(text_file, runs_root, "--steps", "5")
    args[args.index("--data") : args.index("--data") + 2] = []
    assert main([*args, *(["--data", str(text_file)] if "--data" not in extra else []), *extra]) == 2
    err = capsys.readouterr().err
    assert fragment in one_error_line(err) and err.startswith("rnn-tui: ")  # no blank line from a progress bar
    assert list_runs(runs_root) == []


def test_a_resume_prints_only_new_records_and_refuses_fewer_steps(capsys, runs_root, text_file):
    args = ["--eval-every", "10", "--sample-every", "0", "--json"]
    assert main(train_args(text_file, runs_root, "--steps", "30", *args)) == 0
    (run,) = list_runs(runs_root)
    capsys.readouterr()
    assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", "50", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["step"] for line in out.splitlines()] == [40, 50], out
    assert "done at step 50/50" in err
    for steps in ("25", "50"):
        assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", steps]) == 2
        message = one_error_line(capsys.readouterr().err)
        assert f"has trained 50 steps (its last checkpoint), so --steps {steps} leaves nothing to train" in message
    status = run.status()
    assert (status.state, status.step, status.total) == ("done", 50, 50)


def test_a_failed_run_exits_1_with_its_error(capsys, runs_root, text_file):
    assert main(train_args(text_file, runs_root, "--steps", "10", "--sample-every", "0", "--json")) == 0
    (run,) = list_runs(runs_root)
    (run.checkpoints / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    capsys.readouterr()
    assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", "20"]) == 1
    err = capsys.readouterr().err
    assert f"run {run.name} failed:" in err and "not a readable checkpoint" in err
    assert run.status().extra["error_kind"] == "checkpoint"


def test_ctrl_c_stops_the_job_with_a_final_checkpoint(runs_root, text_file):
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            *train_args(text_file, runs_root, "--steps", "100000", "--sample-every", "0"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: len(list_runs(runs_root)) == 1)
    (run,) = list_runs(runs_root)
    wait_for(lambda: run.status().state == "running" and run.status().step > 20)
    cli.send_signal(signal.SIGINT)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    status = wait_for_state(run, "stopped")
    assert "stopping after a final checkpoint" in err and f"--resume {run.name}" in err
    assert (run.checkpoints / "last.pt").exists() and status.extra["checkpoint_step"] == status.step


def test_runs_show_a_sentiment_runs_test_accuracy(capsys, tmp_path):
    """The held-out test figures a finished sentiment run appends last reach `rnn-tui runs` (they were nowhere)."""
    from engine.training.runs import RunDir, RunStatus

    root = tmp_path / "runs"
    scored = RunDir.create(root, "sentiment", {"data": "imdb"}, name="scored")
    for step in range(1, 200):
        scored.append_metric({"step": step, "train_loss": 0.5, "val_acc": 0.8})
    scored.append_metric({"step": 200, "final": True, "test_loss": 0.31, "test_acc": 0.8868, "test_model": "best"})
    scored.write_status(RunStatus(state="done", step=200, total=200, best_metric="val_acc", best_value=0.89))
    unscored = RunDir.create(root, "sentiment", {"data": "imdb"}, name="unscored")
    unscored.append_metric({"step": 1, "final": True, "test_acc": "high"})  # not a number: shown as nothing
    unscored.metrics_path.write_bytes(unscored.metrics_path.read_bytes() + b"{broken")
    assert main(["runs", "--runs-dir", str(root), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["scored"]["test_acc"], rows["scored"]["test_loss"]) == (0.8868, 0.31)
    assert rows["unscored"]["test_acc"] is None
    assert main(["runs", "--runs-dir", str(root)]) == 0
    table = capsys.readouterr().out
    assert "test acc" in table and "0.8868" in table
