"""Sweeps: the grid a comma list makes, bad values refused before anything is queued, and the ranking."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from training_helpers import assert_one_sentence, charlm_config

from engine.training import queue, sweep
from engine.training.config import parse_train_config
from engine.training.runmeta import read_meta
from engine.training.runs import RunDir, RunStatus, list_runs

# Values that are good for their setting, as a user would type them.
GOOD = {
    "lr": ["3e-3", "0.01", "1e-4", "0.5"],
    "hidden_size": ["8", "16", "256", "384"],
    "seed": ["1", "2", "3", "42"],
    "cell": ["rnn", "lstm", "gru"],
    "dropout": ["0", "0.1", "0.5"],
}
BAD = {"lr": ["0", "-1", "fast", "11"], "hidden_size": ["0", "1.5", "big"], "cell": ["lstm2"], "dropout": ["1", "2"]}


@st.composite
def grids(draw):
    names = draw(st.lists(st.sampled_from(sorted(GOOD)), min_size=1, max_size=3, unique=True))
    return {name: draw(st.lists(st.sampled_from(GOOD[name]), min_size=1, max_size=3, unique=True)) for name in names}


@given(grids(), st.sampled_from([",", ", ", " ,"]))
def test_a_grid_is_every_combination_in_order(grid, separator):
    plan = sweep.plan_sweep("charlm", "default", {name: separator.join(values) for name, values in grid.items()})
    axes = {name: values for name, values in grid.items() if len(values) > 1}
    assert plan.axes == axes
    assert plan.points == [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    fixed = {name: values[0] for name, values in grid.items() if len(values) == 1}
    assert plan.configs == [parse_train_config("charlm", "default", **fixed, **point) for point in plan.points]


@given(grids(), st.sampled_from(sorted(BAD)), st.data())
def test_one_bad_value_anywhere_refuses_the_sweep_in_one_sentence(grid, name, data):
    bad = data.draw(st.sampled_from(BAD[name]))
    values = [*grid.get(name, []), bad]
    where = data.draw(st.integers(0, len(values) - 1))
    values.insert(where, values.pop())
    options = {**{key: ",".join(v) for key, v in grid.items()}, name: ",".join(values)}
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", options)
    message = str(error.value)
    assert_one_sentence(message)
    assert message.startswith(f"{sweep.flag(name)} {bad}:")


@given(st.sampled_from(["3e-3,", ",3e-3", "3e-3,,1e-2", " , ", "0.1,0.1"]))
def test_empty_and_repeated_values_are_refused(text):
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", {"lr": text})
    assert_one_sentence(str(error.value))


@pytest.mark.parametrize(
    ("preset", "options"),
    [
        ("quality-all", {"lr": "1e-3,3e-3"}),
        ("default", {"valid_fraction": "0.2,0"}),
        ("default", {"valid_fraction": "0"}),
    ],
)
def test_a_sweep_without_validation_to_rank_on_is_refused(preset, options):
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("sentiment", preset, options)
    assert_one_sentence(str(error.value))
    assert "ranks its runs on validation" in str(error.value) and "--valid-fraction 0.2" in str(error.value)
    # Given a validation split, the same sweep goes ahead.
    plan = sweep.plan_sweep("sentiment", "quality-all", {"lr": "1e-3,3e-3", "valid_fraction": "0.2"})
    assert [config.valid_fraction for config in plan.configs] == [0.2, 0.2]


def test_a_hundred_runs_need_yes():
    options = {"lr": ",".join(f"{i}e-3" for i in range(1, 11)), "seed": ",".join(str(i) for i in range(10))}
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", options)
    assert "100 runs" in str(error.value) and "--yes" in str(error.value)
    assert len(sweep.plan_sweep("charlm", "default", options, limit=None).configs) == 100
    options["seed"] = "1,2,3,4,5,6,7,8,9"
    assert len(sweep.plan_sweep("charlm", "default", options).configs) == 90


def test_a_combination_that_cannot_run_is_named():
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", {"steps": "5,10", "epochs": "1"})
    assert str(error.value) == "--steps 5: give either steps or epochs, not both."
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", {"steps": "5", "epochs": "1", "lr": "1e-3,1e-2"})
    assert str(error.value) == "The settings given once do not go together: give either steps or epochs, not both."
    with pytest.raises(sweep.SweepError) as error:
        sweep.plan_sweep("charlm", "default", {"batch_size": "62,64", "nproc_per_node": "1,4"})
    assert str(error.value).startswith("The run with --batch-size 62 --nproc-per-node 4 is not usable: the batch size")


def test_a_sweep_is_queued_as_one_named_group_and_ranked(runs_root, text_file):
    plan = sweep.plan_sweep("charlm", "default", {"data": str(text_file), "lr": "1e-3,1e-2", "seed": "1,2"})
    runs = sweep.queue_sweep(runs_root, "lr", plan)
    assert [run.name for run in runs] == ["lr-1", "lr-2", "lr-3", "lr-4"]
    assert list(queue.positions(runs_root)) == ["lr-1", "lr-2", "lr-3", "lr-4"]
    assert {entry.sweep for entry in queue.entries(runs_root)} == {"lr"}
    assert sweep.membership(runs_root) == dict.fromkeys(["lr-1", "lr-2", "lr-3", "lr-4"], "lr")
    assert json.loads(RunDir(runs_root / "lr-3").config_path.read_text())["lr"] == 0.01
    assert all(read_meta(run.path).sweep == "lr" for run in runs)  # each run records its sweep
    for name, value in (("lr-1", 2.5), ("lr-2", 2.1), ("lr-3", None), ("lr-4", 1.9)):
        RunDir(runs_root / name).write_status(
            RunStatus(state="done" if value else "failed", best_metric="val_loss" if value else "", best_value=value)
        )
    rows = sweep.ranked(runs_root, "lr")
    assert [row.run for row in rows] == ["lr-4", "lr-2", "lr-1", "lr-3"]
    assert rows[0].settings == {"lr": "1e-2", "seed": "2"}


def test_accuracy_ranks_highest_first(runs_root, review_folder):
    plan = sweep.plan_sweep("sentiment", "default", {"data": str(review_folder), "lr": "1e-3,1e-2"})
    sweep.queue_sweep(runs_root, "acc", plan)
    for name, value in (("acc-1", 0.7), ("acc-2", 0.9)):
        RunDir(runs_root / name).write_status(RunStatus(state="done", best_metric="val_acc", best_value=value))
    assert [row.run for row in sweep.ranked(runs_root, "acc")] == ["acc-2", "acc-1"]


def test_names_that_would_clash_are_refused_before_queueing(runs_root, text_file):
    plan = sweep.plan_sweep("charlm", "default", {"data": str(text_file), "lr": "1e-3,1e-2"})
    sweep.queue_sweep(runs_root, "first", plan)
    for name, fragment in (("first", "already exists"), ("../up", "without /"), (".hidden", "dot"), ("", "needs")):
        with pytest.raises(sweep.SweepError) as error:
            sweep.queue_sweep(runs_root, name, plan)
        assert_one_sentence(str(error.value))
        assert fragment in str(error.value)
    queue.enqueue(runs_root, [(charlm_config(text_file), "taken-2")])
    with pytest.raises(sweep.SweepError, match="taken-2 already exists"):
        sweep.queue_sweep(runs_root, "taken", plan)
    assert sorted(run.name for run in list_runs(runs_root)) == ["first-1", "first-2", "taken-2"]
    assert sweep.sweep_names(runs_root) == ["first"]


def test_a_damaged_manifest_is_one_sentence(runs_root):
    (runs_root / ".sweeps").mkdir(parents=True)
    (runs_root / ".sweeps/broken.json").write_text('{"runs": ["a"]}')
    with pytest.raises(sweep.SweepError) as error:
        sweep.ranked(runs_root, "broken")
    assert_one_sentence(str(error.value))
    assert sweep.membership(runs_root) == {}


def test_default_names_are_short_and_free(runs_root, text_file):
    plan = sweep.plan_sweep("charlm", "default", {"data": str(text_file), "lr": "1e-3,1e-2"})
    assert sweep.default_sweep_name(runs_root) == "sweep-1"
    sweep.queue_sweep(runs_root, sweep.default_sweep_name(runs_root), plan)
    queue.enqueue(runs_root, [(charlm_config(text_file), "sweep-2-1")])  # a run by hand that the next would clash with
    assert sweep.default_sweep_name(runs_root) == "sweep-3"
    assert [run.name for run in sweep.queue_sweep(runs_root, "sweep-3", plan)] == ["sweep-3-1", "sweep-3-2"]
