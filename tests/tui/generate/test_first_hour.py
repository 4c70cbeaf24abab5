"""Issue 12's Generate pane at 80×24, as a new user meets it: the saved path, the footer, the focus after
switching modes, classify colours and lists, the checkpoint in the saved JSON, and the first model (n)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input

from engine.generation.classify import Classification, WordScore
from engine.training.checkpoint import load_checkpoint
from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run
from tests.engine.training.training_helpers import write_text
from tests.tui.conftest import SIZE, wait_until
from tui.app import RnnTuiApp
from tui.generate.classify_view import classification_text, coloured_review, strongest_words
from tui.generate.pane import GeneratePane
from tui.generate.stream_view import StreamView
from tui.numbers import fit_path
from tui.run_picker import ModelPicker

TINY = dict(
    embed_size=8, hidden_size=16, batch_size=4, seq_length=12, eval_window=12, steps=6, eval_every=2,
    checkpoint_every=2, sample_every=0, log_every=2, amp="off", lr_schedule="none", threads=1,
)  # fmt: skip


def plain(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def open_pane(pilot) -> GeneratePane:
    await pilot.press("f4")
    pane = pilot.app.query_one(GeneratePane)
    await wait_until(pilot, lambda: pane.loaded["charlm"] is not None)
    return pane


def footer_keys(app) -> list[str]:
    """The keys the footer shows, in order."""
    return [key.key_display for key in app.screen.query("FooterKey")]


async def test_the_saved_path_fits_the_status_line_and_the_json_names_the_checkpoint(tmp_path):
    root = tmp_path.joinpath(*["a-long-folder-name"] * 4, "runs")  # the whole path cannot fit in 80 columns
    run = make_charlm_run(root, train_steps=30)
    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_pane(pilot)
        pane.change(length=40)
        await pilot.press(*"the", "enter")
        await wait_until(pilot, lambda: not pane.generating and pane.stop_reason == "length")
        await pilot.press("w")
        [saved] = (run.path / "generations").glob("*.txt")
        status = app.query_one("#gen-status")
        line = plain(app, "#gen-status")
        shown = line.removeprefix("Saved to ")
        assert line.startswith("Saved to ") and len(line) <= status.content_region.width
        assert shown == f"{run.name}/generations/{saved.name}" and len(str(saved)) > 80
        meta = json.loads(saved.with_suffix(".json").read_text())
        checkpoint = run.checkpoints / "best.pt"
        assert meta["run"] == str(run.path) and meta["checkpoint"] == str(checkpoint)
        assert meta["step"] == load_checkpoint(checkpoint)["step"] == pane.loaded["charlm"].step > 0


def test_a_path_is_shortened_from_its_start_and_keeps_its_file_name(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    monkeypatch.chdir("/")
    path = tmp_path / "runs" / "charlm-1" / "generations" / "20260101-120000-seed1.txt"
    assert fit_path(path, 200) == str(path)
    assert fit_path(path, 60) == "~/runs/charlm-1/generations/20260101-120000-seed1.txt"
    assert fit_path(path, 50, tmp_path / "runs") == "charlm-1/generations/20260101-120000-seed1.txt"
    assert fit_path(path, 40, tmp_path / "elsewhere") == "…/generations/20260101-120000-seed1.txt"
    assert fit_path(path, 10) == "…/20260101-120000-seed1.txt"  # never less than the file name


async def test_the_footer_fits_80_columns_and_help_keeps_the_rest(tmp_path):
    make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot)
        await pilot.press("escape")  # to the output, whose keys the footer shows
        await pilot.pause()
        keys = app.screen.query("FooterKey")
        assert [k.key_display for k in keys][:3] == ["m", "c", "t"]
        right = max(k.region.right for k in keys)
        assert right <= SIZE[0]  # the last key (help) is whole
        assert any("help" in str(k.render()) or k.key_display in ("?", "f1") for k in keys)
        bindings = {b.binding.key for b in app.active_bindings.values()}
        assert {"g", "e", "k", "K"} <= bindings  # not in the footer, still keys (and in help)


async def test_after_switching_modes_a_letter_key_acts_instead_of_typing(tmp_path):
    make_charlm_run(tmp_path, train_steps=5)
    make_sentiment_run(tmp_path)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_pane(pilot)
        prompt = app.query_one("#gen-prompt", Input)
        prompt.value = "the island"
        await pilot.press("escape", "c")  # the output has the keys; c: classify mode, where the review takes them
        assert pane.mode == "classify" and app.focused is app.query_one("#cls-text")
        await pilot.press("escape", "c")  # the result has the keys; c: back
        assert pane.mode == "generate" and app.focused is app.query_one("#gen-out", StreamView)
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        assert prompt.value == "the island"
        await pilot.press("escape", "c")
        assert app.focused is app.query_one("#cls-result")  # where it was in classify mode


def scores(*words: tuple[str, float]) -> tuple[WordScore, ...]:
    found, at = [], 0
    for token, contribution in words:
        found.append(WordScore(token, (at, at + len(token)), True, contribution))
        at += len(token) + 1
    return tuple(found)


def style_of(text: Text, start: int) -> str:
    return " ".join(str(span.style) for span in text.spans if span.start <= start < span.end)


def test_classify_colours_are_on_one_absolute_scale():
    # One word that did next to nothing: no colour (it was full red, the strongest of its review).
    lone = coloured_review("meh", scores(("meh", -0.001)))
    assert lone.spans == []
    review = "dull plot superb acting"
    words = scores(("dull", -0.12), ("plot", 0.02), ("superb", 2.5), ("acting", 0.4))
    text = coloured_review(review, words)
    assert style_of(text, 0) == "dim red" and style_of(text, 5) == ""
    assert style_of(text, 10) == "bold green" and style_of(text, 17) == "green"
    # The same word scores the same colour in another review, whatever else is in it.
    assert style_of(coloured_review("dull", scores(("dull", -0.12))), 0) == "dim red"


def test_a_word_is_listed_on_one_side_only():
    words = scores(("good", 0.5), ("bad", -0.6), ("good", -0.1), ("the", 0.001), ("film", -0.004))
    up, down = strongest_words(words)
    assert up == [("good", 2, pytest.approx(0.4))] and down == [("bad", 1, pytest.approx(-0.6))]
    shown = classification_text("good bad good the film", Classification(0.6, 0.4, words, "occlusion", 0)).plain
    assert "towards positive: good ×2 +0.40" in shown and "towards negative: bad -0.60\n" in shown
    assert "the +0.00" not in shown and "film" not in shown.split("negative:")[1].split("\n")[0]


@pytest.fixture
def starter(tmp_path) -> Path:
    """A small text for the default character model, made tiny by TINY (same preset, code and job launcher)."""
    return write_text(tmp_path / "island.txt")


async def test_a_newcomer_trains_the_default_character_model_with_one_key(tmp_path, starter):
    app = RnnTuiApp(runs_root=tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        pane = app.query_one(GeneratePane)
        pane.starter_overrides = {**TINY, "data": str(starter)}
        await wait_until(pilot, lambda: "No character model yet" in plain(app, "#gen-model"))
        model_line = plain(app, "#gen-model")
        assert "press n" in model_line and len(model_line) <= SIZE[0] - 2
        assert app.focused is app.query_one("#gen-out")  # where n is a key
        assert "n" in footer_keys(app) and "w" not in footer_keys(app)
        await pilot.press("n")
        run = pane.starter
        assert run is not None and run.config()["data"] == str(starter)
        assert "training" in plain(app, "#gen-model")  # progress, until the first checkpoint loads
        await pilot.pause()
        assert "n" not in footer_keys(app)  # one is coming
        await wait_until(pilot, lambda: pane.loaded["charlm"] is not None, timeout=120)
        assert pane.loaded["charlm"].run == run and run.name.split("-")[-1] in plain(app, "#gen-model")
        await pilot.pause()
        assert "n" not in footer_keys(app) and "w" in footer_keys(app)
        await wait_until(pilot, lambda: run.status().state == "done", timeout=120)
        await pilot.press("i", *"the", "enter")
        await wait_until(pilot, lambda: not pane.generating and pane.stop_reason == "length", timeout=60)
        assert app.query_one("#gen-out", StreamView).text.startswith("the")


async def test_offline_the_newcomer_is_told_what_to_do_and_n_trains_on_the_python_docs(tmp_path):
    app = RnnTuiApp(runs_root=tmp_path / "runs")  # tests are offline: the book cannot be downloaded
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        pane = app.query_one(GeneratePane)
        pane.starter_overrides = dict(TINY)  # the default data: gutenberg:1268
        await wait_until(pilot, lambda: "No character model yet" in plain(app, "#gen-model"))
        await pilot.press("n")
        first = pane.starter
        assert first is not None and first.config()["data"] == "gutenberg:1268"
        await wait_until(pilot, lambda: "could not be downloaded" in plain(app, "#gen-model"), timeout=120)
        assert len(plain(app, "#gen-model")) <= SIZE[0] - 2
        advice = plain(app, "#gen-chart")
        assert "Press n" in advice and "Python documentation" in advice and "--data FILE" in advice
        await pilot.press("n")
        second = pane.starter
        assert second is not None and second != first and second.config()["data"] == "python-docs"
        second.request("stop")
        await wait_until(pilot, lambda: second.status().state not in ("queued", "running", "paused"), timeout=120)
