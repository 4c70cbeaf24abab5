"""Keys that change the Stepper's scenario act on the pending one: fast repeats are never lost.

The worker is held until every key is in, as on a slow machine where the gradients take a while.
"""

from __future__ import annotations

import threading

from engine.stepper.run import StepperResult
from engine.stepper.scenario import PRESETS, config_from_strings
from tests.tui.conftest import SIZE, settle, stepper, wait_until
from tui.app import RnnTuiApp


def hold_workers(monkeypatch) -> threading.Event:
    """Make gradient recomputations and scenario builds wait until the returned event is set."""
    import engine.stepper.run

    release = threading.Event()
    real_gradients = StepperResult.with_gradient_settings
    real_run = engine.stepper.run.run_stepper

    def held_gradients(self, truncation, clip):
        release.wait(10)
        return real_gradients(self, truncation, clip)

    def held_run(config):
        release.wait(10)
        return real_run(config)

    monkeypatch.setattr(StepperResult, "with_gradient_settings", held_gradients)
    monkeypatch.setattr(engine.stepper.run, "run_stepper", held_run)
    return release


async def test_three_fast_x_move_three_rungs(monkeypatch):
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("3")
        release = hold_workers(monkeypatch)
        await pilot.press("x", "x", "x")  # off → 100 → 10 → 5, while no worker has finished
        assert pane.config.clip is None  # nothing computed yet: the screen still shows the old scenario
        release.set()
        await wait_until(pilot, lambda: pane.config.clip == 5.0)
        await settle(pilot)
        assert pane.result.flow.clip == 5.0 and pane.config.clip == 5.0


async def test_fast_k_and_x_both_count(monkeypatch):
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        pane.load(PRESETS["vanishing"][1])
        await settle(pilot)
        await pilot.press("3")
        release = hold_workers(monkeypatch)
        await pilot.press("k", "k", "k", "x", "X", "x", "x")  # 60 → 57 steps; clip 100 → 10
        release.set()
        await wait_until(pilot, lambda: pane.config.truncation == 57 and pane.config.clip == 10.0)
        await settle(pilot)
        assert (pane.result.flow.truncation, pane.result.flow.clip) == (57, 10.0)


async def test_a_gradient_key_during_a_new_scenario_keeps_the_new_scenario(monkeypatch):
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("3")
        release = hold_workers(monkeypatch)
        pane.load(config_from_strings(hidden_size=4))  # still computing when x comes
        await pilot.press("x")
        release.set()
        await wait_until(pilot, lambda: pane.config.hidden_size == 4 and pane.config.clip == 100.0)
        await settle(pilot)
        assert pane.result.config.hidden_size == 4 and pane.result.flow.clip == 100.0


async def test_the_form_opens_on_the_pending_scenario(monkeypatch):
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        release = hold_workers(monkeypatch)
        pane.load(config_from_strings(hidden_size=4))
        await pilot.press("c")
        assert app.screen.query_one("#hidden_size").value == "4"
        await pilot.press("escape")
        release.set()
        await wait_until(pilot, lambda: pane.config.hidden_size == 4)
