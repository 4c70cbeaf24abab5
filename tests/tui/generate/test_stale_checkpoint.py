"""A run that trains on is not stuck at the checkpoint first loaded: picking it again, or coming back, loads the newest."""

from __future__ import annotations

from tests.engine.generation.generation_helpers import make_charlm_run
from tests.tui.conftest import SIZE, wait_until
from tests.tui.generate.test_generate_pane import open_pane
from tui.app import RnnTuiApp


def move_best_on(run, step: int) -> None:
    """What a job does when validation improves: best.pt rewritten, at a later step."""
    from engine.training.checkpoint import load_checkpoint, save_checkpoint

    path = run.checkpoints / "best.pt"
    data = load_checkpoint(path)
    data["step"] = step
    save_checkpoint(path, data)


async def test_picking_the_same_run_again_loads_its_newest_checkpoint(tmp_path):
    run = make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        first = p.loaded["charlm"]
        assert not first.is_stale()
        move_best_on(run, 100)
        assert first.is_stale()
        await pilot.press("escape", "m")
        await pilot.press("enter")  # the same run (it was a no-op, so the pane kept step 5)
        await wait_until(pilot, lambda: p.loaded["charlm"] is not first)
        assert "step 100" in p.loaded["charlm"].describe and not p.loaded["charlm"].is_stale()


async def test_coming_back_to_the_pane_loads_a_newer_checkpoint(tmp_path):
    run = make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        first = p.loaded["charlm"]
        await pilot.press("f2")
        move_best_on(run, 200)
        await pilot.press("f4")
        await wait_until(pilot, lambda: p.loaded["charlm"] is not first)
        assert "step 200" in p.loaded["charlm"].describe
        again = p.loaded["charlm"]
        await pilot.press("f2", "f4")  # nothing new: nothing reloaded
        await pilot.pause(0.3)
        assert p.loaded["charlm"] is again
