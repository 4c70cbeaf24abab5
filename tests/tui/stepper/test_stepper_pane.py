"""The Stepper driven by keys through Textual's Pilot, at 80×24."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from engine.stepper.scenario import PRESETS, StepperConfig, config_from_strings
from tests.tui.conftest import SIZE, settle, stepper, type_into, wait_until
from tui.app import RnnTuiApp
from tui.help import HelpScreen
from tui.stepper.form import StepperForm


def cell_text(table: DataTable, row: int, column: int) -> str:
    return str(table.get_cell_at((row, column)))


def status_text(app) -> str:
    return str(app.query_one("#stepper-status", Static).render())


async def test_chapter_scenario_on_first_screen():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        assert "RNN tanh · input 5 · hidden 2" in status_text(app)
        assert "max |Δ| vs torch 0.0e+00" in status_text(app)
        timeline = app.query_one("#timeline", DataTable)
        assert timeline.row_count == 3
        assert cell_text(timeline, 0, 2) == "[-0.3520, 0.5253]"  # 4 decimals, as in the detail table
        assert cell_text(timeline, 2, 3) == "[-0.8649, 0.9047]"
        detail = app.query_one("#detail", DataTable)
        labels = [cell_text(detail, row, 0) for row in range(detail.row_count)]
        assert labels == [
            "h_{t-1}",
            "x_t·W_xhᵀ + b_xh",
            "h_{t-1}·W_hhᵀ + b_hh",
            "z_t (pre-activation)",
            "h_t = tanh(z_t)",
            "torch h_t",
            "|Δ|",
        ]
        assert [cell_text(detail, 4, c) for c in (1, 2)] == ["-0.3520", "0.5253"]
        erratum = str(app.query_one("#erratum", Static).render())
        assert "[-0.2105, 0.5679]" in erratum and "b_hh" in erratum
        assert pane.has_focus


async def test_step_keys_move_through_time():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        timeline = app.query_one("#timeline", DataTable)
        detail = app.query_one("#detail", DataTable)
        await pilot.press("right")
        assert pane.index == 1 and timeline.cursor_row == 1
        assert cell_text(detail, 4, 1) == "-0.6842"
        assert "step 2/3 (t=1)" in status_text(app)
        await pilot.press("end")
        assert pane.index == 2 and cell_text(detail, 4, 2) == "0.9047"
        await pilot.press("right")  # already at the last step: stays
        assert pane.index == 2
        await pilot.press("home")
        assert pane.index == 0
        await pilot.press("left")
        assert pane.index == 0
        erratum = str(app.query_one("#erratum", Static).render())
        assert "t=0" in erratum


async def test_play_runs_to_the_end_and_stops():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("space")
        assert pane.playing and "playing" in status_text(app)
        await wait_until(pilot, lambda: pane.index == 2 and not pane.playing)
        await pilot.press("space")  # at the end, play starts over
        assert pane.index == 0 and pane.playing
        await pilot.press("space")
        assert not pane.playing


async def test_views_switch_and_weights_are_the_layers():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("2")
        assert app.query_one("#weights").display and not app.query_one("#step").display
        W_xh = app.query_one("#W_xh", DataTable)
        weights = pane.result.module.weight_ih_l0.tolist()
        assert W_xh.row_count == 2 and len(W_xh.columns) == 6
        assert cell_text(W_xh, 1, 3) == f"{weights[1][2]:.4f}"
        inputs = app.query_one("#inputs", DataTable)
        await pilot.press("right")
        assert inputs.cursor_row == 1
        await pilot.press("3")
        assert app.query_one("#gradients").display and not app.query_one("#weights").display
        assert app.query_one("#gradient-table", DataTable).row_count == 3
        await pilot.press("1")
        assert app.query_one("#step").display


async def test_gradient_controls_truncate_and_clip():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        pane.load(PRESETS["vanishing"][1])
        await settle(pilot)
        await pilot.press("k")  # not in the gradient view: the key does nothing
        await settle(pilot)
        assert pane.config.truncation is None
        await pilot.press("3", "k", "k")
        await settle(pilot)
        await wait_until(pilot, lambda: pane.config.truncation == 58)
        norms = pane.result.flow.norms[(0, 0)]
        assert norms[0] == 0.0 and norms[1] == 0.0 and norms[2] > 0.0
        table = app.query_one("#gradient-table", DataTable)
        assert "cut by truncation" in cell_text(table, 0, 2)
        assert "truncated to the last 58 steps" in str(app.query_one("#gradient-summary", Static).render())
        await pilot.press("K", "K", "K")
        await wait_until(pilot, lambda: pane.config.truncation is None)
        await pilot.press("x", "x", "x", "x")  # off → 100 → 10 → 5 → 1
        await wait_until(pilot, lambda: pane.config.clip == 1.0)
        flow = pane.result.flow
        assert flow.grad_norm > 1.0 and flow.clipped_norm == pytest.approx(1.0, rel=1e-4)
        summary = str(app.query_one("#gradient-summary", Static).render())
        assert "clip at 1" in summary and "(clipped)" in summary
        await pilot.press("X", "X", "X", "X", "X")
        await wait_until(pilot, lambda: pane.config.clip is None)


async def test_vanishing_preset_shows_orders_of_magnitude():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        stepper(app).load(PRESETS["vanishing"][1])
        await settle(pilot)
        await pilot.press("3")
        summary = str(app.query_one("#gradient-summary", Static).render())
        spread = float(summary.split("spans ")[1].split(" orders")[0])
        assert spread > 8  # ‖∂L/∂h_0‖ is a hundred-millionth of ‖∂L/∂h_59‖ or less


async def test_configure_form_applies_a_new_layer():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("c")
        assert isinstance(app.screen, StepperForm)
        await type_into(pilot, "#hidden_size", "3")
        await type_into(pilot, "#num_layers", "2")
        app.screen.query_one("#bidirectional").focus()
        await pilot.press("space")
        await type_into(pilot, "#sequence", "1,0,0,0,0; 0,1,0,0,0")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, StepperForm)
        await wait_until(pilot, lambda: pane.config.hidden_size == 3)
        assert pane.config.num_layers == 2 and pane.config.bidirectional and pane.config.length == 2
        assert "hidden 3 · 2 layers · bidirectional" in status_text(app)
        assert app.query_one("#detail", DataTable).row_count == 7
        await pilot.press("l")
        assert pane.shown == (0, 1)
        assert "layer 0 reverse" in status_text(app)
        assert pane.step.t == 1  # the reverse direction starts at the last position
        await pilot.press("l", "l", "l")
        assert pane.shown == (0, 0)


async def test_configure_form_changes_cell_by_keys():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("c")
        await pilot.press("enter", "down", "enter")  # open the cell list, pick the next entry (LSTM)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: pane.config.cell == "lstm")
        await settle(pilot)
        labels = [cell_text(app.query_one("#detail", DataTable), r, 0) for r in range(4)]
        assert "c_{t-1}" in labels
        assert "LSTM" in status_text(app)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("#sequence", "1,1,1,1,x", 'has "x", which is not a number'),
        ("#sequence", "1,1,1; 2,2,2", "has 3 numbers, but the input size is 5"),
        ("#hidden_size", "0", "hidden size must be between 1 and 256"),
        ("#hidden_size", "100000", "hidden size must be between 1 and 256"),
        ("#input_size", "0", "input size must be between 1 and 256"),
        ("#num_layers", "99", "number of layers must be between 1 and 8"),
        ("#seed", "abc", 'seed must be a whole number, not "abc"'),
        ("#seed", "-3", "seed must be between 0 and"),
        ("#random_length", "5000", "random sequence length must be between 1 and 1000"),
        ("#w_hh_scale", "lots", 'W_hh scale must be a number, not "lots"'),
    ],
)
async def test_bad_input_keeps_the_form_open_and_the_old_layer(field, text, message):
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        before = pane.result
        await pilot.press("c")
        await type_into(pilot, field, text)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, StepperForm)
        error = str(app.screen.query_one("#form-error", Static).render())
        assert message in error and "\n" not in error
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, StepperForm)
        assert pane.result is before and pane.config == StepperConfig()


async def test_engine_failure_is_reported_and_the_scenario_stays(monkeypatch):
    import engine.stepper.run

    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        before = pane.result

        def broken(config):
            raise RuntimeError("out of memory")

        monkeypatch.setattr(engine.stepper.run, "run_stepper", broken)
        pane.load(config_from_strings(hidden_size=4))
        await settle(pilot)
        message = str(app.query_one("#stepper-message", Static).render())
        assert "Could not compute that scenario: out of memory" in message
        assert pane.result is before and app.is_running


async def test_help_screen_lists_every_key_and_closes():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.keys_markdown()
        for binding_id in ("stepper.next", "stepper.play", "stepper.configure", "stepper.truncate_less", "app.quit"):
            assert binding_id in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_command_palette_loads_a_scenario():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("ctrl+p")
        await pilot.press(*"exploding")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.config == PRESETS["exploding"][1])
        assert pane.view == "gradients"
        assert pane.result.flow.clipped


async def test_keymap_remaps_a_binding_by_id():
    app = RnnTuiApp(keymap={"stepper.next": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = stepper(app)
        await pilot.press("n")
        assert pane.index == 1
        await pilot.press("right")  # the old key no longer steps
        assert pane.index == 1


async def test_first_frame_does_not_wait_for_torch(monkeypatch):
    """The pane says it is loading, and the engine is only asked for from a worker thread."""
    import threading

    import engine.stepper.run

    real = engine.stepper.run.run_stepper
    threads = []

    def recording(config):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(config)

    monkeypatch.setattr(engine.stepper.run, "run_stepper", recording)
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
    assert threads == [False]


async def test_keymap_with_unknown_ids_warns():
    app = RnnTuiApp(keymap={"stepper.nxet": "n"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("stepper.nxet" in str(n.message) for n in app._notifications)


def _slow_train_reads(monkeypatch, seconds: float) -> None:
    """The Train pane's reads of the runs root take `seconds` (a big root, or a slow disk)."""
    import time

    import tui.train.pane as train_pane

    real = train_pane.read_snapshot

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_pane, "read_snapshot", slow)


def _spy_on_compute(monkeypatch) -> list[bool]:
    """Whether the app had read the runs root, at each call of the Stepper's compute (which imports torch)."""
    from tui.stepper.pane import StepperPane

    seen: list[bool] = []
    real = StepperPane.compute

    def spy(self, config):
        seen.append(self.app.runs_read.is_set())
        return real(self, config)

    monkeypatch.setattr(StepperPane, "compute", spy)
    return seen


async def test_torch_is_imported_after_the_train_panes_first_read(tmp_path, monkeypatch):
    """torch's import starves other threads of the GIL for over a second: the runs root is read before it."""
    _slow_train_reads(monkeypatch, 0.6)
    seen = _spy_on_compute(monkeypatch)
    app = RnnTuiApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert seen and seen[0] is True
        assert "max |Δ| vs torch 0.0e+00" in status_text(app)


async def test_a_train_read_that_hangs_delays_the_stepper_only_a_little(tmp_path, monkeypatch):
    import tui.stepper.pane as stepper_pane

    monkeypatch.setattr(stepper_pane, "TORCH_WAIT_S", 0.2)
    _slow_train_reads(monkeypatch, 4.0)
    seen = _spy_on_compute(monkeypatch)
    app = RnnTuiApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: stepper(app).result is not None, timeout=3.5)  # before the read ends
        assert seen == [False]
        assert "max |Δ| vs torch 0.0e+00" in status_text(app)
        await wait_until(pilot, app.runs_read.is_set, timeout=10)
