"""Managing runs without the app: `rnn-tui runs` filters and JSON fields, rename/tag/note/archive/delete,
and deletion that refuses a running job and survives two deletes racing."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from engine.training.runmeta import read_meta
from engine.training.runs import RunDir, RunError, RunStatus, check_run_name, delete_run, list_runs
from tests.messages import assert_one_sentence, one_error_line
from tui.cli import main


def make(root: Path, name: str, job: str = "charlm", state: str = "done", pid: int | None = None) -> RunDir:
    run = RunDir.create(root, job, {"data": "tiny.txt", "lr": 0.01}, name=name)
    run.append_metric({"step": 10, "train_loss": 2.0, "val_loss": 2.1})
    run.write_status(RunStatus(state=state, step=10, total=10, device="cpu", pid=pid, updated_at=time.time()))
    return run


def listed(capsys, root: Path, *flags: str) -> list[dict]:
    assert main(["runs", "--runs-dir", str(root), "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_the_metadata_and_filters_combine(capsys, tmp_path):
    a = make(tmp_path, "20261128-100000-charlm-aaaa")
    make(tmp_path, "20261128-110000-sentiment-bbbb", job="sentiment", state="failed")
    c = make(tmp_path, "20261128-120000-charlm-cccc", state="stopped")
    assert main(["runs", "--runs-dir", str(tmp_path), "rename", a.name, "lr 1e-2 baseline"]) == 0
    assert main(["runs", "--runs-dir", str(tmp_path), "tag", "lr 1e-2 baseline", "baseline,book", "lr"]) == 0
    assert main(["runs", "note", c.name, "diverged after\nstep 5", "--runs-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    rows = {row["name"]: row for row in listed(capsys, tmp_path)}
    assert rows[a.name]["display_name"] == "lr 1e-2 baseline"
    assert rows[a.name]["tags"] == ["baseline", "book", "lr"]
    assert rows[c.name]["notes"] == "diverged after\nstep 5"
    assert {row["archived"] for row in rows.values()} == {False} and rows[a.name]["sweep"] is None
    assert [row["name"] for row in listed(capsys, tmp_path, "--job", "charlm")] == [c.name, a.name]
    assert [row["name"] for row in listed(capsys, tmp_path, "--state", "failed")] == ["20261128-110000-sentiment-bbbb"]
    assert [row["name"] for row in listed(capsys, tmp_path, "--tag", "book", "--tag", "lr")] == [a.name]
    assert listed(capsys, tmp_path, "--tag", "book", "--job", "sentiment") == []
    assert main(["runs", "--runs-dir", str(tmp_path), "untag", a.name, "book"]) == 0
    assert read_meta(a.path).tags == ("baseline", "lr")


def test_archived_runs_are_hidden_unless_asked_for(capsys, tmp_path):
    a = make(tmp_path, "20261128-100000-charlm-aaaa")
    b = make(tmp_path, "20261128-110000-charlm-bbbb")
    assert main(["runs", "--runs-dir", str(tmp_path), "archive", a.name]) == 0
    capsys.readouterr()
    assert [row["name"] for row in listed(capsys, tmp_path)] == [b.name]
    assert [row["name"] for row in listed(capsys, tmp_path, "--archived")] == [a.name]
    assert [row["name"] for row in listed(capsys, tmp_path, "--all")] == [b.name, a.name]
    assert main(["runs", "--runs-dir", str(tmp_path), "--state", "stopped"]) == 0
    assert "archived runs show with --archived" in capsys.readouterr().err
    assert main(["runs", "--runs-dir", str(tmp_path), "unarchive", a.name]) == 0
    capsys.readouterr()
    assert len(listed(capsys, tmp_path)) == 2


def test_the_table_shows_names_and_tags_and_no_markup(capsys, tmp_path):
    a = make(tmp_path, "20261128-100000-charlm-aaaa")
    assert main(["runs", "--runs-dir", str(tmp_path), "rename", a.name, "[bold]not markup[/]"]) == 0
    assert main(["runs", "--runs-dir", str(tmp_path), "tag", a.name, "x:1"]) == 0
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[bold]not markup[/]" in out and "x:1" in out and "name" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["tag", "RUN", "odd;tag"], 'holds ";"'),
        (["tag", "RUN", "x" * 41], "at most 40"),
        (["rename", "RUN", "bell\x07"], "control characters"),
        (["rename", "nope", "x"], "There is no run 'nope'"),
        (["delete", "RUN"], "pass --yes"),
        (["archive", "RUN", "nope"], "There is no run 'nope'"),
        (["--tag", "a b;"], 'holds ";"'),
        (["--state", "sleeping"], "invalid choice"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(capsys, tmp_path, monkeypatch, argv, words):
    run = make(tmp_path, "20261128-100000-charlm-aaaa")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)  # not a terminal: delete cannot ask
    argv = [run.name if arg == "RUN" else arg for arg in argv]
    assert main(["runs", "--runs-dir", str(tmp_path), *argv]) == 2
    assert words in one_error_line(capsys.readouterr().err)
    assert run.path.is_dir()


def test_a_bad_meta_json_is_listed_with_its_error(capsys, tmp_path):
    run = make(tmp_path, "20261128-100000-charlm-aaaa")
    (run.path / "meta.json").write_text('{"tags": "oops", "display_name": "kept"}')
    [row] = listed(capsys, tmp_path)
    assert row["display_name"] == "kept" and row["tags"] == []
    assert "tags" in row["meta_error"]
    assert_one_sentence(row["meta_error"])
    assert main(["runs", "--runs-dir", str(tmp_path), "tag", run.name, "fixed"]) == 0
    assert read_meta(run.path).tags == ("fixed",) and read_meta(run.path).display_name == "kept"


def test_two_runs_with_one_display_name_must_be_named_by_id(capsys, tmp_path):
    for name in ("20261128-100000-charlm-aaaa", "20261128-110000-charlm-bbbb"):
        make(tmp_path, name)
        assert main(["runs", "--runs-dir", str(tmp_path), "rename", name, "twin"]) == 0
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path), "note", "twin", "x"]) == 2
    assert "2 runs are called" in one_error_line(capsys.readouterr().err)


def test_delete_removes_the_directory_and_asks_on_a_terminal(capsys, tmp_path, monkeypatch):
    a = make(tmp_path, "20261128-100000-charlm-aaaa")
    b = make(tmp_path, "20261128-110000-charlm-bbbb")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["runs", "--runs-dir", str(tmp_path), "delete", a.name]) == 1
    assert a.path.is_dir()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["runs", "--runs-dir", str(tmp_path), "delete", a.name]) == 0
    assert not a.path.exists() and list_runs(tmp_path) == [b]
    assert main(["runs", "--runs-dir", str(tmp_path), "delete", b.name, "--yes"]) == 0
    assert list_runs(tmp_path) == [] and not list(tmp_path.iterdir())


def test_deleting_a_running_run_is_refused(capsys, tmp_path):
    run = make(tmp_path, "20261128-100000-charlm-aaaa", state="running", pid=os.getpid())
    with open(run.path / ".lock", "ab") as held:  # as the job process holds it for its whole life
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["runs", "--runs-dir", str(tmp_path), "delete", run.name, "--yes"]) == 2
    assert "stop it (s) before deleting it" in one_error_line(capsys.readouterr().err)
    assert run.path.is_dir()


def test_a_job_holding_its_lock_cannot_be_deleted_even_if_its_status_lags(tmp_path):
    """status.json may still say queued while the job starts: the job's lock is what counts."""
    run = make(tmp_path, "20261128-100000-charlm-aaaa", state="queued")
    with open(run.path / ".lock", "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunError, match="is running") as caught:
            delete_run(run)
        assert_one_sentence(str(caught.value))
    assert run.path.is_dir()


def _delete(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        delete_run(RunDir(path))
        results.put("deleted")
    except RunError as error:
        results.put(str(error))


def test_two_deletes_racing_one_wins_and_the_other_is_told(tmp_path):
    for attempt in range(3):
        run = make(tmp_path, f"20261128-10000{attempt}-charlm-aaaa")
        for index in range(50):  # something for rmtree to chew on
            (run.checkpoints / f"c{index}.pt").write_bytes(b"x" * 1000)
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(2), context.Queue()
        processes = [context.Process(target=_delete, args=(str(run.path), barrier, results)) for _ in range(2)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert outcomes.count("deleted") == 1, outcomes
        [other] = [outcome for outcome in outcomes if outcome != "deleted"]
        assert "already gone" in other, outcomes
        assert_one_sentence(other)
        assert not run.path.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_delete_interrupted_half_way_leaves_no_run_behind(tmp_path):
    """The rename comes first: a crash during the removal leaves only a hidden folder that is not listed."""
    run = make(tmp_path, "20261128-100000-charlm-aaaa")
    hidden = tmp_path / ".deleting-20261128-100000-charlm-aaaa-abc123"
    os.rename(run.path, hidden)
    assert list_runs(tmp_path) == []
    with pytest.raises(RunError, match="cannot start with a dot"):
        check_run_name(".deleting-x")
