"""d (two temperatures side by side) gives both sides the same room, at 80x24 and at 160x48."""

from __future__ import annotations

import pytest

from tests.engine.generation.generation_helpers import make_charlm_run
from tests.tui.conftest import wait_until
from tests.tui.generate.test_generate_pane import open_pane
from tui.app import RnnTuiApp
from tui.generate.stream_view import StreamView


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_both_sides_of_d_have_room(tmp_path, size):
    """The right side had no width at either size, though its text was generated and saved."""
    make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=size) as pilot:
        await open_pane(pilot)
        app.query_one("#gen-out").focus()
        await pilot.press("d")
        left, right = app.query_one("#gen-out", StreamView), app.query_one("#gen-out2", StreamView)
        await wait_until(pilot, lambda: right.display and right.size.width > 0)
        await pilot.pause()
        assert abs(left.outer_size.width - right.outer_size.width) <= 1
        assert left.outer_size.width + right.outer_size.width >= size[0] - 32  # the chart takes 30 columns
        assert right.region.right <= app.query_one("#gen-chart").region.x  # side by side, not pushed off
