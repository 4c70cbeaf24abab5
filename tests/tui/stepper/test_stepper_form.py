"""The Stepper's configuration form: checkboxes that read without colour, fields that fit the cell."""

from __future__ import annotations

from textual.widgets import Select

from tests.tui.conftest import SIZE, settle, stepper, wait_until
from tui.app import RnnTuiApp
from tui.forms import Toggle
from tui.stepper.form import StepperForm


def shown_text(widget) -> str:
    """What the widget draws on screen, as plain text (its visible width only: a cut label shows cut)."""
    return "".join(segment.text for segment in widget.render_line(0))


async def test_the_direction_checkbox_shows_its_state_in_text_and_whole():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        toggle = app.screen.query_one("#bidirectional", Toggle)
        off = shown_text(toggle)
        assert "▐ ▌" in off and "bidirectional" in off and "…" not in off
        toggle.focus()
        await pilot.press("space")
        on = shown_text(toggle)
        assert toggle.value and "▐X▌" in on and "bidirectional" in on
        assert on.replace("X", " ") == off  # the same text but for the mark: no colour needed


async def test_enter_on_the_checkbox_applies_the_form():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("c")
        app.screen.query_one("#bidirectional").focus()
        await pilot.press("space", "enter")
        assert not isinstance(app.screen, StepperForm)
        await wait_until(pilot, lambda: pane.config.bidirectional)


async def test_nonlinearity_is_offered_for_an_rnn_only():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        form = app.screen
        assert form.query_one("#nonlinearity").display and form.query_one("#nonlinearity-label").display
        form.query_one("#cell", Select).value = "gru"
        await pilot.pause()
        assert not form.query_one("#nonlinearity").display
        assert not form.query_one("#nonlinearity-label").display
        form.query_one("#cell", Select).value = "rnn"
        await pilot.pause()
        assert form.query_one("#nonlinearity").display


async def test_an_lstm_form_opens_without_the_nonlinearity():
    from engine.stepper.scenario import PRESETS

    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        pane.load(PRESETS["lstm"][1])
        await wait_until(pilot, lambda: pane.config.cell == "lstm")
        await pilot.press("c")
        assert not app.screen.query_one("#nonlinearity").display


async def test_train_form_checkboxes_without_help_say_yes_or_no(tmp_path):
    from tui.train.form import TrainForm

    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(TrainForm())
        await pilot.pause()
        form = app.screen
        form.job = "sentiment"
        await pilot.pause()
        await pilot.pause()
        toggle = form.query_one("#field-bidirectional", Toggle)
        text = shown_text(toggle)
        assert "…" not in text and ("▐ ▌ no" in text or "▐X▌ yes" in text)
