"""The queue in the Train pane at 80×24: positions, + and - to reorder, s to cancel, r to start now,
the form's Queue button, a sweep's column, and what a running job costs."""

from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable

from engine.training import queue
from engine.training.config import parse_train_config
from engine.training.runs import RunDir
from engine.training.sweep import plan_sweep, queue_sweep
from tests.tui.conftest import SIZE, wait_until
from tests.tui.train.test_train_pane import make_run, text_of
from tui.app import RnnTuiApp
from tui.train.pane import TrainPane

TINY = dict(embed_size=8, hidden_size=8, batch_size=4, seq_length=10, eval_window=10, steps=6, eval_every=3)
TINY |= dict(log_every=3, sample_every=0, checkpoint_every=3, threads=1, amp="off")


@pytest.fixture(autouse=True)
def _cpu_only(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("the island and the engineer walked along the shore. " * 40)
    return path


def queued_root(tmp_path, text_file):
    """A root whose one slot is held by a running run (this process plays its job), with three runs queued behind it."""
    root = tmp_path / "runs"
    make_run(root, "20261128-100000-charlm-busy", pid=os.getpid())
    config = parse_train_config("charlm", "default", data=str(text_file), **TINY)
    queue.enqueue(root, [(config, name) for name in ("q-a", "q-b", "q-c")])
    return root


def state_cell(app, name: str) -> str:
    table = app.query_one("#runs", DataTable)
    return str(table.get_cell(name, "state")) if name in {k.value for k in table.rows} else ""


async def select(pilot, name: str) -> None:
    """Move the table's cursor to the run `name` with ↑/↓, as a user would."""
    table = pilot.app.query_one("#runs", DataTable)
    target = table.get_row_index(name)
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")
    pane = pilot.app.query_one(TrainPane)
    await wait_until(pilot, lambda: pane.selected is not None and pane.selected.name == name)


async def test_queued_runs_show_their_place_and_move_with_plus_and_minus(tmp_path, text_file):
    root = queued_root(tmp_path, text_file)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.query_one("#runs", DataTable).row_count == 4)
        await wait_until(pilot, lambda: state_cell(app, "q-c") == "queued #3")
        assert [state_cell(app, name) for name in ("q-a", "q-b")] == ["queued #1", "queued #2"]
        await select(pilot, "q-c")
        await pilot.press("plus")
        await wait_until(pilot, lambda: state_cell(app, "q-c") == "queued #2")
        assert list(queue.positions(root)) == ["q-a", "q-c", "q-b"]
        assert "q-c is now place 2" in text_of(app, "#train-message")
        await pilot.press("plus")
        await pilot.press("plus")  # already first: one sentence, nothing moves
        await wait_until(pilot, lambda: "already first" in text_of(app, "#train-message"))
        assert list(queue.positions(root)) == ["q-c", "q-a", "q-b"]
        await pilot.press("minus")
        await wait_until(pilot, lambda: state_cell(app, "q-c") == "queued #2")
        assert "queued #2" in text_of(app, "#run-header")
        await select(pilot, "20261128-100000-charlm-busy")
        await pilot.press("plus")
        await wait_until(pilot, lambda: "not queued" in text_of(app, "#train-message"))


async def test_s_cancels_a_queued_run_and_r_starts_one_now(tmp_path, text_file):
    root = queued_root(tmp_path, text_file)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: state_cell(app, "q-b") == "queued #2")
        await select(pilot, "q-b")
        await pilot.press("s")
        await wait_until(pilot, lambda: state_cell(app, "q-b") == "")
        assert not (root / "q-b").exists() and "Cancelled q-b" in text_of(app, "#train-message")
        await wait_until(pilot, lambda: state_cell(app, "q-c") == "queued #2")
        await select(pilot, "q-c")
        await pilot.press("r")  # ahead of the queue, though the one slot is taken
        await wait_until(pilot, lambda: "Started q-c now" in text_of(app, "#train-message"))
        run = RunDir(root / "q-c")
        await wait_until(pilot, lambda: run.status().state == "done", timeout=90)
        assert list(queue.positions(root)) == ["q-a"] and state_cell(app, "q-a") == "queued #1"


async def test_the_app_starts_a_queued_run_when_the_slot_frees(tmp_path, text_file):
    root = queued_root(tmp_path, text_file)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: state_cell(app, "q-a") == "queued #1")
        await pilot.pause(0.6)  # a few polls: the slot is taken, so nothing starts
        assert list(queue.positions(root)) == ["q-a", "q-b", "q-c"]
        queue.cancel(root, "q-b")
        queue.cancel(root, "q-c")
        busy = RunDir(root / "20261128-100000-charlm-busy")
        status = busy.status()
        status.state = "done"
        busy.write_status(status)
        await wait_until(pilot, lambda: state_cell(app, "q-a") in ("running", "done"), timeout=60)
        assert queue.positions(root) == {}
        await wait_until(pilot, lambda: RunDir(root / "q-a").status().state == "done", timeout=90)


async def test_the_forms_queue_button_queues_instead_of_starting(tmp_path, text_file):
    root = queued_root(tmp_path, text_file)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.query_one("#runs", DataTable).row_count == 4)
        await pilot.press("n")
        await pilot.press("ctrl+t")  # the default recipe, queued behind the others
        await wait_until(pilot, lambda: app.query_one("#runs", DataTable).row_count == 5)
        (fresh,) = [name for name in queue.positions(root) if not name.startswith("q-")]
        assert queue.positions(root)[fresh] == 4
        await wait_until(pilot, lambda: state_cell(app, fresh) == "queued #4")
        assert "Queued" in text_of(app, "#train-message") and RunDir(root / fresh).status().state == "queued"


async def test_a_sweep_gets_a_column_and_a_running_job_shows_its_cost(tmp_path, text_file):
    root = queued_root(tmp_path, text_file)
    plan = plan_sweep("charlm", "default", {"data": str(text_file), "lr": "1e-3,1e-2"})
    queue_sweep(root, "grid", plan)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        table = app.query_one("#runs", DataTable)
        await wait_until(
            pilot, lambda: table.row_count == 6 and "sweep" in [c.label.plain for c in table.columns.values()]
        )
        assert str(table.get_cell("grid-1", "sweep")) == "grid" and str(table.get_cell("q-a", "sweep")) == ""
        await select(pilot, "20261128-100000-charlm-busy")
        await wait_until(pilot, lambda: "mem " in text_of(app, "#run-speed") and "thread" in text_of(app, "#run-speed"))
        await pilot.press("c")
        await wait_until(pilot, lambda: "cost" in [c.label.plain for c in table.columns.values()])
        await wait_until(pilot, lambda: "M" in str(table.get_cell("20261128-100000-charlm-busy", "cost")))
        assert str(table.get_cell("q-a", "cost")) == ""
        await pilot.press("c")
        await wait_until(pilot, lambda: "cost" not in [c.label.plain for c in table.columns.values()])
        assert table.row_count == 6  # the table keeps its rows when a column goes
