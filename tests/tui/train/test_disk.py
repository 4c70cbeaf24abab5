"""What one poll of the Train pane reads from a runs root, without the app."""

from __future__ import annotations

import json

from tests.tui.train.test_train_pane import make_run
from tui.train.disk import History, read_snapshot


def test_a_poll_reads_new_records_after_the_offset_and_starts_over_on_a_rewrite(tmp_path):
    run = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="stopped", records=3)
    first = read_snapshot(tmp_path, run, {run.path: 0}, with_log=False)
    assert [row.run for row in first.rows] == [run] and first.error is None
    offset, records, rewritten = first.new_records[run.path]
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
