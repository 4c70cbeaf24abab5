"""The Stepper's inspector driven by keys through Textual's Pilot, at 80×24: a trained run stepped through a text."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList, Static

from engine.generation.classify import classify
from engine.generation.loading import load_model
from engine.inspection.charlm import trace_text
from engine.inspection.units import SCORE_DEFINITION, find_units
from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run
from tests.tui.conftest import SIZE, settle, stepper, type_into, wait_until
from tui.app import RnnTuiApp
from tui.cli import main
from tui.run_picker import ModelPicker
from tui.stepper.heatmap import StripsView
from tui.stepper.inspect_forms import ProbePicker, TextForm, UnitForm
from tui.stepper.inspect_views import char_label
from tui.stepper.inspector import Inspector

REVIEW = "The plot was dull, but the acting was great and the ending superb."


@pytest.fixture(scope="module")
def charlm_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("charlm-runs")
    make_charlm_run(root, name="charlm-tiny", train_steps=20)
    return root


@pytest.fixture(scope="module")
def sentiment_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment-runs")
    make_sentiment_run(root, name="sentiment-tiny")
    return root


def shown(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def inspector(app) -> Inspector:
    return app.query_one(Inspector)


async def open_from_picker(pilot) -> Inspector:
    await settle(pilot)
    await pilot.press("o")
    assert isinstance(pilot.app.screen, ModelPicker)
    await pilot.press("enter")
    found = inspector(pilot.app)
    await wait_until(pilot, lambda: found.trace is not None)
    await pilot.pause()
    return found


async def test_open_a_run_from_the_picker_and_step(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root)
    async with app.run_test(size=SIZE) as pilot:
        ins = await open_from_picker(pilot)
        assert stepper(app).inspecting and ins.has_focus
        assert "charlm-tiny" in shown(app, "#ins-status")
        length = ins.trace.length
        assert ins.text == ins.loaded.config.sample_prompt and f"char 1/{length} x_t='T'" in shown(app, "#ins-status")
        await pilot.press("right", "right")
        assert ins.index == 2 and f"char 3/{length}" in shown(app, "#ins-status")
        guess = ins.trace.top_next(2, 1)[0]
        predict = shown(app, "#ins-predict")
        assert "true next" in predict and f"rank {int(ins.trace.rank[2])}" in predict
        assert f"{char_label(guess.char)}{guess.prob:.2f}".replace("0.", ".") in predict
        units = shown(app, "#ins-units")
        top = ins.trace.top_units(ins.shown[0], 2, 1)[0]
        assert "unit      i      f      g      o    c_t    h_t  torch" in units
        assert f"{float(ins.trace.activity(0).h[2, top]):+.3f}" in units
        await pilot.press("end")
        assert ins.index == length - 1 and "no true next one" in shown(app, "#ins-predict")
        await pilot.press("home", "d")
        assert ins.index == 0 and ins.rank_by == "delta" and "units by |Δh_t|" in shown(app, "#ins-units")
        await pilot.press("escape")
        assert not stepper(app).inspecting and stepper(app).has_focus
        await pilot.press("right")  # the toy layer's keys work again
        assert stepper(app).index == 1


async def test_heatmap_units_and_kinds(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root, run="charlm-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.press("4")
        assert ins.view == "heatmap"
        heatmap = app.query_one("#ins-heatmap", StripsView).text
        assert heatmap.replace("\n", "") == ins.text.replace("\n", "↵")
        unit = ins.unit
        await pilot.press("right_square_bracket")
        assert ins.unit == (unit + 1) % ins.trace.hidden_size
        values = ins.trace.values(ins.shown[0], ins.unit, "h")
        legend = shown(app, "#ins-legend")
        assert f"unit {ins.unit} h" in legend and f"max {float(values.max()):+.3f}" in legend
        await pilot.press("k")
        assert ins.kind == "c" and f"unit {ins.unit} c" in shown(app, "#ins-legend")
        assert f"u{ins.unit} " in app.query_one("#ins-strip", StripsView).text
        await pilot.press("u")
        assert isinstance(app.screen, UnitForm)
        await type_into(pilot, "#ins-unit-input", "999")
        await pilot.press("enter")
        assert isinstance(app.screen, UnitForm) and "from 0 to 31" in shown(app, "#form-error")
        await type_into(pilot, "#ins-unit-input", "3")
        await pilot.press("enter")
        assert not isinstance(app.screen, UnitForm)
        assert ins.unit == 3 and ins.pinned == 3 and "unit 3 c" in shown(app, "#ins-legend")


async def test_mark_a_span_and_find_units(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root, run="charlm-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.press("e")
        assert "No span is open" in shown(app, "#ins-message")
        await pilot.press("right", "right", "s", "right", "right", "right", "e")
        assert ins.spans == [(2, 6)] and "2:6" in shown(app, "#ins-message")
        await pilot.press("f")
        assert ins.view == "find"
        expected = find_units(ins.trace, ins.shown[0], spans=[(2, 6)], top=20)
        assert [score.unit for score in ins.found] == [score.unit for score in expected]
        options = app.query_one("#ins-found", OptionList)
        assert options.option_count == len(expected) and options.has_focus
        assert f"{expected[0].score:+.3f}" in str(options.get_option_at_index(0).prompt)
        assert SCORE_DEFINITION[:40] in shown(app, "#ins-find-info")
        await pilot.press("enter")
        assert ins.view == "heatmap" and ins.unit == expected[0].unit == ins.pinned


async def test_probe_list_ranks_units_and_a_flat_probe_is_one_message(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root, run="charlm-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.press("p")
        assert isinstance(app.screen, ProbePicker)
        await pilot.press("enter")  # "quotes": the sample prompt has none
        message = shown(app, "#ins-message")
        assert 'probe "quotes" is the same at every step' in message and "\n" not in message
        assert ins.view == "step"
        await pilot.press("p", "down", "down", "down", "enter")  # "in word"
        assert ins.view == "find" and "“in word”" in ins.found_what
        expected = find_units(ins.trace, ins.shown[0], probe="in word", top=20)
        assert [score.unit for score in ins.found] == [score.unit for score in expected]


async def test_bad_text_is_one_line_and_keeps_the_trace(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root, run="charlm-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        before = ins.trace
        await pilot.press("t")
        assert isinstance(app.screen, TextForm)
        app.screen.query_one("#ins-text-area").clear()
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, TextForm) and "There is no text to inspect" in shown(app, "#form-error")
        app.screen.query_one("#ins-text-area").insert("@@@")  # no character of it is in the vocabulary
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "vocabulary" in shown(app, "#ins-message"))
        assert "\n" not in shown(app, "#ins-message") and ins.trace is before
        await pilot.press("t")
        app.screen.query_one("#ins-text-area").clear()
        app.screen.query_one("#ins-text-area").insert("the sea\nthe sand")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: ins.text == "the sea\nthe sand")
        loaded = load_model(charlm_root / "charlm-tiny")
        assert ins.trace.length == trace_text(loaded, "the sea\nthe sand").length == 16


async def test_review_classifier_steps_through_tokens(sentiment_root):
    app = RnnTuiApp(runs_root=sentiment_root, run="sentiment-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.press("t")
        app.screen.query_one("#ins-text-area").clear()
        app.screen.query_one("#ins-text-area").insert(REVIEW)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: ins.text == REVIEW)
        await pilot.pause()
        trace = ins.trace
        assert "forward · units by" in shown(app, "#ins-units") and "backward · units by" in shown(app, "#ins-units")
        for step in range(1, trace.length):
            await pilot.press("right")
            assert ins.index == step
            assert f"token {step + 1}/{trace.length} {trace.tokens[step].text!r}" in shown(app, "#ins-status")
            assert f"P(positive) = {float(trace.running[step]):.3f}" in shown(app, "#ins-predict")
        expected = classify(load_model(sentiment_root / "sentiment-tiny"), REVIEW, attributions=False).probability
        summary = shown(app, "#ins-predict")
        assert (
            f"after {trace.tokens[-1].text!r} ({trace.length}/{trace.length}): P(positive) = {expected:.3f}" in summary
        )
        assert f"whole review: P(positive) = {expected:.3f}" in summary


def test_run_on_the_command_line_opens_the_app_with_it(charlm_root, monkeypatch):
    seen = {}

    class FakeApp:
        def __init__(self, keymap, runs_root, run):
            seen.update(runs_root=runs_root, run=run)

        def run(self):
            seen["ran"] = True

    monkeypatch.setattr("tui.app.RnnTuiApp", FakeApp)
    assert main(["--runs-dir", str(charlm_root), "--run", "charlm-tiny"]) == 0
    assert seen == {"runs_root": str(charlm_root), "run": "charlm-tiny", "ran": True}


def test_bad_run_on_the_command_line_is_one_line(tmp_path, capsys):
    assert main(["--runs-dir", str(tmp_path), "--run", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-tui: There is no run 'no-such-run'") and err.count("\n") == 1


async def test_palette_entry_opens_the_picker(charlm_root):
    app = RnnTuiApp(runs_root=charlm_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        commands["Inspect a trained run"].callback()
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)


async def test_layers_pages_and_a_review_heatmap(tmp_path):
    make_charlm_run(tmp_path, name="two-layers", layers=2, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path, run="two-layers")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.pause()
        assert ins.shown == (1, 0) and "layer 1 ·" in shown(app, "#ins-status")  # the top layer first
        await pilot.press("l")
        assert ins.shown == (0, 0) and "layer 0 ·" in shown(app, "#ins-status")
        first = shown(app, "#ins-units")
        await pilot.press("pagedown")
        assert ins.page == 1 and shown(app, "#ins-units") != first
        page = ins.trace.top_units(0, 0, ins.trace.hidden_size)
        assert f"\n{page[len(first.splitlines()) - 2]:>5}" in shown(app, "#ins-units")
        await pilot.press("pageup")
        assert ins.page == 0 and shown(app, "#ins-units") == first


async def test_review_heatmap_and_a_checkpoint_that_fails_to_load(sentiment_root, tmp_path):
    run = make_charlm_run(tmp_path, name="broken")
    (run.checkpoints / "best.pt").write_bytes(b"not a checkpoint")
    app = RnnTuiApp(runs_root=tmp_path, run="broken")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: bool(shown(app, "#ins-message")))
        assert ins.trace is None and "\n" not in shown(app, "#ins-message")
        assert "No run is inspected" in shown(app, "#ins-status")
        await pilot.press("right", "4", "escape")  # nothing to step; Esc still goes back
        assert not stepper(app).inspecting
    app = RnnTuiApp(runs_root=sentiment_root, run="sentiment-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.press("4", "right")
        heatmap = app.query_one("#ins-heatmap", StripsView).text
        assert " ".join(token.text for token in ins.trace.tokens) in heatmap.replace("\n", "")
        assert ins.trace.directions == 2
        await pilot.press("l")
        assert ins.shown == (0, 1) and "layer 0 backward" in shown(app, "#ins-status")


@pytest.mark.parametrize(
    ("cell", "heads"), [("gru", "unit      r      z      n    h_t  torch"), ("rnn", "unit    pre    h_t  torch")]
)
async def test_gru_and_rnn_units_tables(tmp_path, cell, heads):
    make_charlm_run(tmp_path, name=f"{cell}-tiny", cell=cell)
    app = RnnTuiApp(runs_root=tmp_path, run=f"{cell}-tiny")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ins = inspector(app)
        await wait_until(pilot, lambda: ins.trace is not None)
        await pilot.pause()
        assert heads in shown(app, "#ins-units")
        await pilot.press("4", "k")  # no cell state to colour by: h stays
        assert ins.kind == "h" and f"unit {ins.unit} h" in shown(app, "#ins-legend")
