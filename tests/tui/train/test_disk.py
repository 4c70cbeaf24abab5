"""What one poll of the Train pane reads from a runs root, without the app."""

from __future__ import annotations

import json

from tests.tui.train.test_train_pane import make_run
from tui.train.disk import History, read_snapshot


def test_a_poll_reads_new_records_after_the_offset_and_starts_over_on_a_rewrite(tmp_path):
    run = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="stopped", records=3)
    first = read_snapshot(tmp_path, run, {run.path: 0}, with_log=False)
    assert [row.run for row in first.rows] == [run] and first.error is None
    offset, records, rewritten, _ = first.new_records[run.path]
    assert len(records) == 3 and not rewritten
    history = History()
    history.merge(offset, records, rewritten)

    run.append_metric({"step": 30, "train_loss": 1.0})
    later = read_snapshot(tmp_path, run, {run.path: history.offset}, with_log=False)
    history.merge(*later.new_records[run.path])
    assert [r["step"] for r in history.records] == [0, 10, 20, 30]

    run.metrics_path.write_text(json.dumps({"step": 0, "train_loss": 3.0}) + "\n")  # a resume rewrites it
    resumed = read_snapshot(tmp_path, run, {run.path: history.offset}, with_log=False)
    assert resumed.new_records[run.path][2]
    history.merge(*resumed.new_records[run.path])
    assert history.records == [{"step": 0, "train_loss": 3.0}]


def test_an_unreadable_root_is_one_error(tmp_path):
    root = tmp_path / "not-a-dir"
    root.write_text("oops")
    snapshot = read_snapshot(root, None, {}, with_log=False)
    assert snapshot.rows == [] and "Cannot read the runs directory" in (snapshot.error or "")


def test_the_index_reads_only_what_changed(tmp_path, monkeypatch):
    """A quiet root costs stats, not reads: status.json, meta.json and config.json are read again only on change."""
    import os
    import time

    from engine.training.runmeta import update_meta
    from engine.training.runs import RunDir, RunStatus
    from tui.train import disk

    runs = [make_run(tmp_path, f"20261128-10000{i}-charlm-aaaa", state="done", records=1) for i in range(3)]
    reads: list[str] = []
    real_status, real_config, real_meta = RunDir.status, RunDir.config, disk.read_meta
    monkeypatch.setattr(RunDir, "status", lambda self: reads.append(f"status {self.name}") or real_status(self))
    monkeypatch.setattr(RunDir, "config", lambda self: reads.append(f"config {self.name}") or real_config(self))
    monkeypatch.setattr(disk, "read_meta", lambda path: reads.append(f"meta {path.name}") or real_meta(path))
    index = disk.RunIndex(tmp_path)
    first = index.rows()
    assert [row.run for row in first] == runs[::-1]
    assert sum(read.startswith("status") for read in reads) == 3 and sum(r.startswith("config") for r in reads) == 3
    reads.clear()
    for _ in range(disk.FULL_EVERY * 2):
        again = index.rows()
    assert reads == [] and all(a is b for a, b in zip(again, first, strict=True))  # same objects: nothing to redraw
    status = runs[1].status()
    status.step = 7
    runs[1].write_status(status)
    update_meta(runs[2].path, tags=["new"])
    time.sleep(0.01)
    os.utime(runs[2].path / "meta.json")
    reads.clear()
    for _ in range(disk.FULL_EVERY):
        rows = {row.run: row for row in index.rows()}
    assert sorted(reads) == [f"meta {runs[2].name}", f"status {runs[1].name}"]
    assert rows[runs[1]].status.step == 7 and rows[runs[2]].meta.tags == ("new",)
    assert rows[runs[0]] is first[2]
    new = RunDir.create(tmp_path, "charlm", {"data": "x"}, name="20261128-110000-charlm-bbbb")
    new.write_status(RunStatus(state="running", pid=os.getpid()))
    assert index.rows()[0].run == new  # a new run appears at once (the root's mtime moved)


def test_with_nothing_selected_the_first_read_brings_the_first_listed_runs_records(tmp_path):
    """The pane lists the newest run first and selects it: the first poll reads its records, sample included."""
    older = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="stopped", records=3)
    newer = make_run(tmp_path, "20261128-110000-charlm-bbbb", state="stopped", records=4)
    newer.append_sample(30, "a sample")
    snapshot = read_snapshot(tmp_path, None, {}, with_log=False, pick=lambda row: True)
    assert snapshot.selected == newer and set(snapshot.new_records) == {newer.path}
    offset, records, rewritten, columns = snapshot.new_records[newer.path]
    assert [r["step"] for r in records] == [0, 10, 20, 30] and not rewritten and offset > 0
    assert "val_loss" in columns and (snapshot.sample or {}).get("text") == "a sample"

    skipping = read_snapshot(tmp_path, None, {}, with_log=False, pick=lambda row: row.run != newer)
    assert skipping.selected == older and set(skipping.new_records) == {older.path}
    nothing = read_snapshot(tmp_path, None, {}, with_log=False, pick=lambda row: False)
    assert nothing.selected is None and not nothing.new_records and nothing.sample is None
    unpicked = read_snapshot(tmp_path, None, {}, with_log=False)  # without `pick`, as before: rows only
    assert unpicked.selected is None and not unpicked.new_records
    assert read_snapshot(tmp_path, older, {older.path: 0}, with_log=False).selected == older


def test_a_run_saved_before_a_setting_existed_shows_the_value_it_trained_with(tmp_path):
    from engine.training.runs import RunDir
    from tui.train import disk
    from tui.train.hparams import differing_settings, settings_diff

    old = RunDir.create(tmp_path, "charlm", {"data": "x", "lr": 0.01}, name="20261128-100000-charlm-aaaa")
    new = RunDir.create(
        tmp_path, "charlm", {"data": "x", "lr": 0.01, "weight_decay": 0.1}, name="20261128-110000-charlm-bbbb"
    )
    rows = {row.run: row for row in disk.RunIndex(tmp_path).rows()}
    assert rows[old].config["weight_decay"] == 0.0 and rows[new].config["weight_decay"] == 0.1
    assert "weight_decay" not in old.config()  # the file is left as it was
    assert differing_settings([rows[old].config, rows[new].config]) == ["weight_decay"]
    assert settings_diff(rows[old].config, rows[new].config) == [("weight_decay", "0", "0.1")]
