"""The live sampling keys do what their labels say, and fast repeats all count."""

from __future__ import annotations

from tests.engine.generation.generation_helpers import make_charlm_run
from tests.tui.conftest import SIZE
from tests.tui.generate.test_generate_pane import open_pane
from tui.app import RnnTuiApp
from tui.generate.widgets import TOP_KS, step_top_k


def test_top_k_steps_run_from_fewest_to_all():
    assert [step_top_k(k, 1) for k in TOP_KS] == [2, 3, 5, 10, 20, 40, 0, 0]
    assert [step_top_k(k, -1) for k in TOP_KS] == [1, 1, 2, 3, 5, 10, 20, 40]
    assert step_top_k(7, -1) == 5 and step_top_k(7, 1) == 10  # a value typed in the form
    assert step_top_k(500, -1) == 40 and step_top_k(500, 1) == 0


async def test_k_means_fewer_candidates_and_K_more(tmp_path):
    """k ("fewer") from 1 went to off, which keeps every candidate, and did nothing from off."""
    make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        app.query_one("#gen-out").focus()
        assert p.settings.top_k == 0
        await pilot.press("k")
        assert p.settings.top_k == 40
        await pilot.press("k", "k", "k")  # pressed fast: every press counts
        assert p.settings.top_k == 5
        await pilot.press(*"kkkkkk")
        assert p.settings.top_k == 1  # the fewest; more presses stay there
        await pilot.press("K")
        assert p.settings.top_k == 2
        await pilot.press(*"KKKKKKKK")
        assert p.settings.top_k == 0  # off: all candidates
