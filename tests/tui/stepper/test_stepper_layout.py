"""The Stepper's tables fit the terminal at 80×24 and 160×48: nothing cut, the rest a key away, with a hint.

A hidden size of 16 on layer 1 is the case that pushed torch's h_t and |Δ| off screen, showed
units u0–u6 only and ran W_hh past the right edge.
"""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Static

from engine.stepper.scenario import PRESETS, config_from_strings
from tests.tui.conftest import settle, stepper, wait_until
from tui.app import RnnTuiApp
from tui.stepper.unit_table import UnitTable

SIZES = [(80, 24), (160, 48)]
WIDE = config_from_strings(hidden_size=16, num_layers=2)


async def open_layer_1(pilot, config=WIDE) -> None:
    await settle(pilot)
    pane = stepper(pilot.app)
    pane.load(config)
    await wait_until(pilot, lambda: pane.config == config)
    await pilot.press("l")  # layer 1: its x_t is layer 0's 16-wide h_t
    await pilot.pause()
    await pilot.pause()


def inside(widget, container) -> bool:
    """Is the widget's whole region within the container's, from left edge to right edge?"""
    return container.region.x <= widget.region.x and widget.region.right <= container.region.right


def cells(table: DataTable) -> list[str]:
    return [str(table.get_cell_at((r, c))) for r in range(table.row_count) for c in range(len(table.columns))]


@pytest.mark.parametrize("size", SIZES)
async def test_layer_1_of_hidden_16_fits(size):
    app = RnnTuiApp()
    async with app.run_test(size=size) as pilot:
        await open_layer_1(pilot)

        # The timeline keeps torch's h_t and |Δ| on screen: no column runs past the table's edge,
        # every vector is whole and its tail counted (… +K).
        timeline = app.query_one("#timeline", DataTable)
        labels = [str(column.label) for column in timeline.columns.values()]
        assert labels[-2:] == ["torch h_t", "|Δ|"]
        assert timeline.virtual_size.width <= timeline.scrollable_content_region.width
        assert all(cell.endswith("]") for cell in cells(timeline)[1::5])
        assert any("… +" in cell for cell in cells(timeline))

        # Every unit of the detail table is a page away, and the title says so.
        detail = app.query_one("#detail", UnitTable)
        assert detail.virtual_size.width <= detail.scrollable_content_region.width
        assert re.search(r"u0–u\d+ of 16 \[ \]", detail.border_title)
        seen: list[str] = []
        for _ in range(16):
            seen += [str(column.label) for column in list(detail.columns.values())[1:]]
            await pilot.press("right_square_bracket")
            await pilot.pause()
        assert sorted(set(seen), key=lambda u: int(u[1:])) == [f"u{j}" for j in range(16)]
        await pilot.press(*["left_square_bracket"] * 16)
        assert str(list(detail.columns.values())[1].label) == "u0"

        # The weights stay inside their view, W_hh included, with every row (the view scrolls).
        await pilot.press("2")
        await pilot.pause()
        await pilot.pause()
        view = app.query_one("#weights")
        for table_id in ("W_xh", "b_xh", "W_hh", "b_hh", "inputs"):
            assert inside(app.query_one(f"#{table_id}"), view), table_id
        W_hh = app.query_one("#W_hh", UnitTable)
        assert re.search(r"h0–h\d+ of 16 \[ \]", W_hh.border_title)
        assert W_hh.row_count == 16
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert str(list(W_hh.columns.values())[1].label) != "h0"
        assert inside(W_hh, view)


async def test_detail_rows_below_the_fold_are_counted_and_scroll_at_80x24():
    app = RnnTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_layer_1(pilot, config_from_strings(cell="lstm", hidden_size=16, num_layers=2))
        detail = app.query_one("#detail", UnitTable)
        rows = detail.row_count
        match = re.search(r"rows 1–(\d+) of (\d+) ↑↓", detail.border_title)
        assert match and int(match.group(2)) == rows and int(match.group(1)) < rows
        await pilot.press("down", "down")
        await pilot.pause()
        assert "rows 3–" in detail.border_title
        await pilot.press(*["pagedown"] * 3)
        await pilot.pause()
        assert f"of {rows} ↑↓" in detail.border_title and f"–{rows} of" in detail.border_title


async def test_the_units_key_shows_only_when_there_is_a_page_to_turn():
    app = RnnTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = stepper(app)
        assert not pane.check_action("page_units", (1,))  # the chapter's 2 units fit
        await open_layer_1(pilot)
        assert pane.check_action("page_units", (1,))


async def test_the_book_erratum_only_for_the_scenario_the_book_printed():
    app = RnnTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.query_one("#erratum", Static).display
        pane = stepper(app)
        pane.load(PRESETS["vanishing"][1])
        await wait_until(pilot, lambda: pane.config == PRESETS["vanishing"][1])
        await pilot.pause()
        assert not app.query_one("#erratum", Static).display


async def test_numbers_in_one_table_share_one_style():
    app = RnnTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = stepper(app)
        pane.load(PRESETS["exploding"][1])
        await wait_until(pilot, lambda: pane.config == PRESETS["exploding"][1])
        # Random inputs (rounded to 4 decimals) read -1.3090, never -1.309 beside -1.0163.
        timeline = app.query_one("#timeline", DataTable)
        typed = [str(timeline.get_cell_at((r, 1))) for r in range(timeline.row_count)]
        numbers = [n for cell in typed for n in re.findall(r"-?\d+\.\d+", cell)]
        assert numbers and all(re.fullmatch(r"-?\d+\.\d{4}", n) for n in numbers), typed
        await pilot.press("3")
        table = app.query_one("#gradient-table", DataTable)
        norms = [str(table.get_cell_at((r, 1))) for r in range(table.row_count)]
        styles = {"sci" if "e" in text else "fixed" for text in norms if text != "0"}
        assert len(styles) == 1, norms
        # 60 rows do not fit 80×24: the table's title says which are shown.
        assert re.search(r"rows 1–\d+ of 60 ↑↓", table.border_title)


async def test_a_window_of_one_step_is_singular():
    app = RnnTuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("3", "k", "k")  # 3 steps → 2 → 1
        await wait_until(pilot, lambda: pane.config.truncation == 1)
        await pilot.pause()
        summary = str(app.query_one("#gradient-summary", Static).render())
        assert "truncated to the last 1 step" in summary and "1 steps" not in summary
        assert "1 steps" not in str(app.query_one("#stepper-message", Static).render())
