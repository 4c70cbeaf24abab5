"""Whatever status.json and config.json hold, reading a run never raises and `rnn-tui runs` lists every run."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.training.runs import RunDir, RunError, RunStatus, list_runs
from tests.messages import assert_one_sentence, one_error_line
from tui.cli import main

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["state", "step", "total", "device", "pid", "updated_at", "throughput", "best_value", "error", "rank_devices"]
STATUS = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4) | JSON


def well_typed(status: RunStatus) -> bool:
    numbers = (status.started_at, status.updated_at, status.throughput, status.steps_per_s, status.best_value)
    return (
        isinstance(status.state, str)
        and isinstance(status.step, int)
        and isinstance(status.total, int)
        and isinstance(status.device, str)
        and (status.pid is None or (isinstance(status.pid, int) and status.pid > 0))
        and all(n is None or (isinstance(n, float) and math.isfinite(n)) for n in numbers)
        and (status.error is None or isinstance(status.error, str))
        and all(isinstance(d, str) for d in status.extra.get("rank_devices", []))
    )


@settings(max_examples=200)
@given(STATUS)
def test_any_status_json_reads_as_a_well_typed_status(data):
    status = RunStatus.from_dict(data)
    assert well_typed(status)
    if status.state == "failed" and status.error and "damaged" in status.error:
        assert_one_sentence(status.error)


def test_a_damaged_status_or_config_breaks_only_its_own_run(tmp_path, capsys):
    """`[1,2,3]` in status.json or a non-numeric step was a traceback for every run in `rnn-tui runs`."""
    root = tmp_path / "runs"
    RunDir.create(root, "charlm", {"data": "x.txt"}, name="good")
    listed = RunDir.create(root, "charlm", {"data": "x.txt"}, name="listed")
    listed.status_path.write_text("[1, 2, 3]")
    worded = RunDir.create(root, "charlm", {"data": "x.txt"}, name="worded")
    worded.status_path.write_text(json.dumps({"state": "running", "step": "forty"}))
    bad_config = RunDir.create(root, "charlm", {"data": "x.txt"}, name="bad-config")
    bad_config.config_path.write_text('"just text"')
    assert {run.name for run in list_runs(root)} == {"good", "listed", "worded", "bad-config"}
    assert main(["runs", "--runs-dir", str(root), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["good"]["state"] == "queued"
    assert rows["listed"]["state"] == "failed" and "not an object" in rows["listed"]["error"]
    assert rows["worded"]["state"] == "failed" and "its step is text" in rows["worded"]["error"]
    assert rows["bad-config"]["job"] == "?"
    assert main(["runs", "--runs-dir", str(root)]) == 0  # the table too
    capsys.readouterr()
    with pytest.raises(RunError) as caught:
        bad_config.config()
    assert_one_sentence(str(caught.value))
    assert main(["train", "--resume", "bad-config", "--runs-dir", str(root)]) == 2
    assert "not an object" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["../escaped_run", "/tmp/abs-run", "sub/dir", "..", ".", " ", "a\\b", "tab\tname"])
def test_train_refuses_a_run_name_that_is_not_one_folder_name(tmp_path, capsys, name):
    """`--name ../x` and absolute names made runs outside the root; `--name sub/dir` was a traceback."""
    root = tmp_path / "deep" / "runs"
    code = main(["train", "charlm", "--data", str(tmp_path / "none.txt"), "--runs-dir", str(root), "--name", name])
    assert code == 2
    one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "deep" / "escaped_run").exists() and not (tmp_path / "abs-run").exists()
    assert list_runs(root) == []


@settings(max_examples=150)
@given(st.text(max_size=20))
def test_any_name_makes_a_run_right_inside_the_root_or_one_sentence(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("names")
    try:
        run = RunDir.create(root, "charlm", {"data": "x.txt"}, name=name)
    except RunError as error:
        assert_one_sentence(str(error))
    else:
        assert run.path.parent == root and run.path.name == name and run.exists()
