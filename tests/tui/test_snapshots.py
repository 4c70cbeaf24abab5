"""Snapshots of what users see (pytest-textual-snapshot). Update with `pytest --snapshot-update`."""

from __future__ import annotations

from engine.scenario import PRESETS, config_from_strings
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


def test_train_pane_80x24(snap_compare, tmp_path):
    from tests.tui.test_train_pane import make_run

    make_run(tmp_path, "20261128-090000-sentiment-bbbb", job="sentiment", state="failed", error="loss became NaN at step 40")
    make_run(tmp_path, "20261128-100000-charlm-aaaa", state="stopped", records=12)

    async def run_before(pilot) -> None:
        from tests.tui.conftest import wait_until

        await pilot.press("f3")
        pane = pilot.app.query_one("#train-pane")
        await wait_until(pilot, lambda: pane._plotted is not None and len(pane._plotted[1]) and pane._plotted[1][0] == 12)
        await pilot.pause()

    assert snap_compare(RnnTuiApp(runs_root=tmp_path), terminal_size=(80, 24), run_before=run_before)
