"""Snapshots of what users see (pytest-textual-snapshot). Update with `pytest --snapshot-update`."""

from __future__ import annotations

import os

import pytest

from engine.stepper.scenario import PRESETS, config_from_strings
from tests.tui.conftest import settle, stepper
from tui.app import RnnTuiApp


def _loaded(config=None, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if config is not None:
            stepper(pilot.app).load(config)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_chapter_step_view_80x24(snap_compare):
    assert snap_compare(RnnTuiApp(), terminal_size=(80, 24), run_before=_loaded(keys=("right",)))


def test_vanishing_gradients_80x24(snap_compare):
    assert snap_compare(RnnTuiApp(), terminal_size=(80, 24), run_before=_loaded(PRESETS["vanishing"][1], ("3",)))


def test_lstm_wide_160x45(snap_compare):
    config = config_from_strings(cell="lstm", num_layers=2, bidirectional=True)
    assert snap_compare(RnnTuiApp(), terminal_size=(160, 45), run_before=_loaded(config, ("right",)))


def test_wide_layer_1_step_and_weights_160x48(snap_compare):
    """Hidden 16 on layer 1: torch h_t and |Δ| stay on screen, units page, W_hh stays inside."""
    config = config_from_strings(hidden_size=16, num_layers=2)
    keys = ("l", "right", "right_square_bracket", "2")
    assert snap_compare(RnnTuiApp(), terminal_size=(160, 48), run_before=_loaded(config, keys))


def test_wide_lstm_layer_1_80x24(snap_compare):
    config = config_from_strings(cell="lstm", hidden_size=16, num_layers=2)
    assert snap_compare(RnnTuiApp(), terminal_size=(80, 24), run_before=_loaded(config, ("l", "down")))


def test_train_pane_80x24(snap_compare, tmp_path):
    from tests.tui.train.test_train_pane import make_run

    make_run(
        tmp_path, "20261128-090000-sentiment-bbbb", job="sentiment", state="failed", error="loss became NaN at step 40"
    )
    make_run(tmp_path, "20261128-100000-charlm-aaaa", state="stopped", records=12)

    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until

        await pilot.press("f3")
        pane = pilot.app.query_one("#train-pane")
        await wait_until(
            pilot, lambda: pane.plotted is not None and len(pane.plotted.lengths) and pane.plotted.lengths[0] == 12
        )
        await pilot.pause()

    assert snap_compare(RnnTuiApp(runs_root=tmp_path), terminal_size=(80, 24), run_before=run_before)


def _generate_runs(tmp_path):
    from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run

    make_charlm_run(tmp_path, name="charlm-snap", train_steps=30)
    make_sentiment_run(tmp_path, name="sentiment-snap")
    return tmp_path


def test_generate_pane_80x24(snap_compare, tmp_path, monkeypatch):
    from tests.tui.conftest import type_into, wait_until
    from tui.generate.pane import GeneratePane

    # Speeds and latencies are measurements, different on every run: the status shows fixed figures here.
    monkeypatch.setattr(
        GeneratePane,
        "progress_text",
        lambda self: f"{self.produced:,}/{self.settings.length:,} · 2,500 chars/s · first 20 ms",
    )

    async def run_before(pilot) -> None:
        await pilot.press("f4")
        pane = pilot.app.query_one(GeneratePane)
        await wait_until(pilot, lambda: pane.loaded["charlm"] is not None)
        pane.change(length=300)
        await type_into(pilot, "#gen-prompt", "the island")
        await pilot.press("enter")
        await wait_until(pilot, lambda: not pane.generating and pane.stop_reason == "length")
        await pilot.press("t", "t")
        await pilot.pause()

    assert snap_compare(RnnTuiApp(runs_root=_generate_runs(tmp_path)), terminal_size=(80, 24), run_before=run_before)


def test_classify_mode_80x24(snap_compare, tmp_path):
    from tests.tui.conftest import wait_until
    from tui.generate.pane import GeneratePane

    async def run_before(pilot) -> None:
        await pilot.press("f4")
        pane = pilot.app.query_one(GeneratePane)
        await wait_until(pilot, lambda: pane.loaded["charlm"] is not None)
        await pilot.press("escape", "c")
        assert pane.mode == "classify"
        await wait_until(pilot, lambda: pane.loaded["sentiment"] is not None)
        pilot.app.query_one("#cls-text").insert("The plot was dull, but the acting was great and the ending superb.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "P(positive)" in str(pilot.app.query_one("#cls-output").render()))
        await pilot.pause()

    assert snap_compare(RnnTuiApp(runs_root=_generate_runs(tmp_path)), terminal_size=(80, 24), run_before=run_before)


def _inspected(keys: tuple[str, ...], text: str | None = None):
    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until
        from tui.stepper.inspector import Inspector

        await settle(pilot)
        inspector = pilot.app.query_one(Inspector)
        await wait_until(pilot, lambda: inspector.trace is not None)
        if text is not None:
            inspector.compute(None, text)
            await wait_until(pilot, lambda: inspector.text == text)
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        await pilot.pause()

    return run_before


def test_inspector_step_view_80x24(snap_compare, tmp_path):
    from tests.engine.generation.generation_helpers import make_charlm_run

    make_charlm_run(tmp_path, name="charlm-snap", train_steps=30)
    app = RnnTuiApp(runs_root=tmp_path, run="charlm-snap")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_inspected(("right", "right", "right")))


def test_inspector_heatmap_160x48(snap_compare, tmp_path):
    from tests.engine.generation.generation_helpers import TEXT, make_charlm_run

    make_charlm_run(tmp_path, name="charlm-snap", train_steps=30)
    app = RnnTuiApp(runs_root=tmp_path, run="charlm-snap")
    keys = ("4", *["right"] * 12, "right_square_bracket")
    assert snap_compare(app, terminal_size=(160, 48), run_before=_inspected(keys, TEXT * 3))


def _compare_runs(root):
    """Three character models of a small sweep (one renamed and tagged) and a sentiment run: fixed figures."""
    import math

    from engine.training.runmeta import update_meta
    from engine.training.runs import RunDir, RunStatus

    settings = [(0.01, 256, 1.0), (0.003, 256, 1.4), (0.01, 384, 1.8)]
    for index, (lr, hidden, pace) in enumerate(settings):
        run = RunDir.create(
            root,
            "charlm",
            {"data": "tiny.txt", "lr": lr, "hidden_size": hidden, "batch_size": 32, "seq_length": 40},
            name=f"20261128-1{index}0000-charlm-s{index}aa",
        )
        for k in range(60):
            loss = 1.3 + 2.0 * math.exp(-k / (8 * pace)) + 0.08 * math.sin(k * 1.7)
            record = {"step": k * 25, "time": k * 2.0, "train_loss": loss, "lr": lr, "grad_norm": 1.0}
            if k % 3 == 0:
                record["val_loss"] = loss + 0.1
            run.append_metric(record)
        run.write_status(
            RunStatus(
                state="done", step=1500, total=1500, device="cpu", best_metric="val_loss", best_value=1.4 + index / 10
            )
        )
    update_meta(root / "20261128-100000-charlm-s0aa", display_name="baseline lr 1e-2", tags=["baseline", "book"])
    sentiment = RunDir.create(root, "sentiment", {"data": "imdb", "lr": 0.001}, name="20261128-090000-sentiment-bbbb")
    sentiment.append_metric({"step": 10, "train_loss": 0.6, "val_loss": 0.5, "val_acc": 0.8})
    sentiment.write_status(
        RunStatus(state="stopped", step=10, total=100, device="cpu", best_metric="val_acc", best_value=0.8)
    )
    return root


def _overlay_keys(*extra: str):
    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until

        await pilot.press("f3")
        pane = pilot.app.query_one("#train-pane")
        await wait_until(pilot, lambda: pane.plotted is not None and pane.plotted.lengths == (60,))
        # The sentiment run first (then left out, with a note), then the three character models.
        await pilot.press("down", "down", "down", "v", "up", "v", "up", "v", "up", "v", *extra)
        await wait_until(pilot, lambda: pane.plotted is not None and len(pane.plotted.runs) == 3)
        await pilot.pause()

    return run_before


def test_overlay_80x24(snap_compare, tmp_path):
    app = RnnTuiApp(runs_root=_compare_runs(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_overlay_keys())


def test_overlay_smoothed_160x48(snap_compare, tmp_path):
    app = RnnTuiApp(runs_root=_compare_runs(tmp_path))
    assert snap_compare(app, terminal_size=(160, 48), run_before=_overlay_keys("Z", "Z"))


async def _steady(pilot, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    before = pilot.app.export_screenshot()
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        now = pilot.app.export_screenshot()
        if now == before:
            return
        before = now


def _table_keys(pilot_keys: tuple[str, ...]):
    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until
        from tui.train.hparams import HParamsScreen

        await pilot.press("f3")
        pane = pilot.app.query_one("#train-pane")
        await wait_until(pilot, lambda: len(pane.rows) == 4)
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HParamsScreen) and pilot.app.screen.figures)
        await pilot.press(*pilot_keys)
        # A sort rebuilds the table, and DataTable sizes its columns on a later refresh, later still on a busy
        # machine: wait until two screens a moment apart are the same.
        await _steady(pilot)

    return run_before


def test_hparams_table_80x24(snap_compare, tmp_path):
    app = RnnTuiApp(runs_root=_compare_runs(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_table_keys(("space", "down", "space")))


def test_hparams_table_160x48(snap_compare, tmp_path):
    app = RnnTuiApp(runs_root=_compare_runs(tmp_path))
    keys = ("right", "right", "right", "right", "right", "s", "space", "down", "down", "space")
    assert snap_compare(app, terminal_size=(160, 48), run_before=_table_keys(keys))


def test_edit_run_form_80x24(snap_compare, tmp_path):
    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until
        from tui.train.manage import EditRunForm

        await pilot.press("f3")
        pane = pilot.app.query_one("#train-pane")
        await wait_until(pilot, lambda: len(pane.rows) == 4)
        await pilot.press("down", "down", "e")  # the renamed run
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EditRunForm))
        await pilot.pause()

    app = RnnTuiApp(runs_root=_compare_runs(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _queued_sweep_root(tmp_path):
    """A running run holding the one slot, a run queued by hand and a two-run sweep queued behind it."""
    from engine.training import queue
    from engine.training.config import parse_train_config
    from engine.training.sweep import plan_sweep, queue_sweep
    from tests.tui.train.test_train_pane import make_run

    root = tmp_path / "runs"
    make_run(root, "20261128-100000-charlm-aaaa", records=12, pid=os.getpid())  # this process plays its job
    queue.enqueue(root, [(parse_train_config("charlm", "default", data="tiny.txt"), "20261128-110000-charlm-cccc")])
    queue_sweep(root, "lr-grid", plan_sweep("charlm", "default", {"data": "tiny.txt", "lr": "1e-3,1e-2"}))
    return root


async def _select_a_queued_sweep_run(pilot) -> None:
    from tests.tui.conftest import wait_until

    await pilot.press("f3")
    pane = pilot.app.query_one("#train-pane")
    await wait_until(pilot, lambda: len(pane.rows) == 4)
    await pilot.press("down")  # rows go newest name first: the sweep's first run, second in line
    await wait_until(pilot, lambda: pane.selected is not None and pane.selected.name == "lr-grid-1")
    # Its records are read once the cursor rests on it (the plot says "reading…" until then).
    await wait_until(
        pilot, lambda: pane.plotted is not None and "reading" not in pane.query_one("#run-view").legend.plain
    )
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_train_pane_queue_and_sweep(snap_compare, tmp_path, monkeypatch, size):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # one slot, held by the running run: nothing starts
    root = _queued_sweep_root(tmp_path)
    assert snap_compare(RnnTuiApp(runs_root=root), terminal_size=size, run_before=_select_a_queued_sweep_run)
