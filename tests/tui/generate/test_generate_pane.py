"""The Generate pane driven by keys through Pilot at 80×24, on tiny checkpoints written by the tests."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input, Static

from engine.generation.loading import load_model
from engine.generation.sampler import generate
from engine.generation.settings import SamplingSettings
from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run
from tests.tui.conftest import SIZE, type_into, wait_until
from tui.app import RnnTuiApp
from tui.generate.pane import GeneratePane
from tui.generate.settings_form import SettingsForm
from tui.generate.stream_view import StreamView
from tui.generate.widgets import TEMPERATURES, step_through


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("genruns")
    make_charlm_run(root, train_steps=30)
    make_sentiment_run(root)
    return root


def pane(app) -> GeneratePane:
    return app.query_one(GeneratePane)


def plain(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def open_pane(pilot, job: str = "charlm") -> GeneratePane:
    await pilot.press("f4")
    p = pane(pilot.app)
    await wait_until(pilot, lambda: p.loaded["charlm"] is not None)
    return p


async def generate_text(pilot, prompt: str) -> GeneratePane:
    p = pane(pilot.app)
    await type_into(pilot, "#gen-prompt", prompt)
    await pilot.press("enter")
    await wait_until(pilot, lambda: not p.generating and p.stop_reason in ("length", "stop"))
    await pilot.pause()
    return p


async def test_generates_what_the_engine_generates_and_streams_it(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        assert "charlm-tiny" in plain(app, "#gen-model")
        p.change(length=200)
        await generate_text(pilot, "the island")
        out = app.query_one("#gen-out", StreamView)
        expected = generate(
            load_model(runs / "charlm-tiny", job="charlm"), "the island", SamplingSettings(length=200, seed=1)
        )
        assert out.text == "the island" + expected
        assert "done" in plain(app, "#gen-status") and "200/200" in plain(app, "#gen-status")
        # The view wrapped the text into lines no wider than itself, and nothing was lost.
        width = out.content_region.width
        assert out.line_count > 1 and all(len(line) <= width for line in out.lines)
        assert "".join(out.lines).replace(" ", "") == out.text.replace(" ", "").replace("\n", "")
        # The output has the keys now: the chart shows the next character's distribution.
        assert app.focused is out
        assert "next char" in plain(app, "#gen-chart") and "T 1" in plain(app, "#gen-chart")


async def test_temperature_keys_change_settings_live_and_the_chart(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        await generate_text(pilot, "the")
        before = p.candidates[0].prob
        await pilot.press("t", "t")
        assert p.settings.temperature == step_through(TEMPERATURES, step_through(TEMPERATURES, 1.0, -1), -1) == 0.8
        assert "T 0.8 (scale 1.25)" in plain(app, "#gen-settings")
        # The model process sends the distribution under the new temperature: sharper.
        await wait_until(pilot, lambda: p.candidates[0].prob > before)
        assert "T 0.8" in plain(app, "#gen-chart") and f"{p.candidates[0].prob:.1%}" in plain(app, "#gen-chart")
        for _ in range(len(TEMPERATURES)):
            await pilot.press("t")
        assert p.settings.temperature == 0 and "greedy" in plain(app, "#gen-settings")
        await pilot.press("T", "k", "k", "K", "p", "L")  # top-k: off, then fewer (40, 20), then more (40)
        assert (
            p.settings.temperature == 0.1
            and p.settings.top_k == 40
            and p.settings.top_p == 0.95
            and p.settings.length == 1000
        )


class GreedyRun:
    """How many characters at the end of a growing text are each the model's argmax after the ones before.

    It feeds the model only what is new since the last call, carrying the state, so that a test can poll it.
    """

    def __init__(self, loaded) -> None:
        self.loaded = loaded
        self.fed = 0
        self.state = None
        self.next_argmax = None  # the argmax after the last character fed
        self.run = 0

    def length(self, text: str) -> int:
        import torch

        new = [int(i) for i in self.loaded.vocab.encode(text[self.fed :])]
        if not new:
            return self.run
        ids = torch.as_tensor(new)
        with torch.no_grad():
            logits, self.state = self.loaded.model(ids[None], self.state)
        argmax = logits[0].argmax(-1)
        for i, char in enumerate(new):
            expected = self.next_argmax if i == 0 else int(argmax[i - 1])
            self.run = self.run + 1 if expected == char else 0
        self.next_argmax = int(argmax[-1])
        self.fed = len(text)
        return self.run


async def test_escape_cancels_a_long_generation_and_keys_reach_a_running_sampler(runs):
    import torch

    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        p.change(length=100_000)
        await type_into(pilot, "#gen-prompt", "the")
        await pilot.press("enter")
        out = app.query_one("#gen-out", StreamView)
        await wait_until(pilot, lambda: p.produced > 50)
        # The keys go in as the terminal sends them, without Pilot's press: that waits for the whole process to
        # be idle after each key (up to 1 s while text streams), and on a busy machine the 100,000 characters
        # were done before Esc came (seen in CI).
        for _ in range(len(TEMPERATURES)):  # live, down to greedy while the text streams
            app.simulate_key("t")
        await wait_until(pilot, lambda: p.settings.greedy)
        # The sampler runs ahead of the screen by whatever its pipe holds (hundreds of characters on a busy
        # machine, seen in CI), so the test waits for the effect itself: 200 argmax characters in a row.
        loaded = load_model(runs / "charlm-tiny", job="charlm")
        greedy = GreedyRun(loaded)
        await wait_until(pilot, lambda: greedy.length(out.text) >= 200)
        app.simulate_key("escape")
        await wait_until(pilot, lambda: not p.generating)
        assert "cancelled" in plain(app, "#gen-status")
        shown = len(out.text)
        assert 50 < p.produced < 100_000
        await pilot.pause(0.3)
        assert len(out.text) == shown  # nothing arrives after Esc
        # From some point after the keys, every character is the model's argmax: greedy reached the running sampler.
        ids = torch.as_tensor(loaded.vocab.encode(out.text))
        with torch.no_grad():
            logits, _ = loaded.model(ids[None, :-1])
        argmax = logits[0].argmax(-1)
        tail = slice(shown - 1 - 200, shown - 1)
        assert torch.equal(argmax[tail], ids[1:][tail])


async def test_side_by_side_uses_the_same_prompt_and_seed_at_two_temperatures(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        p.change(length=120)
        await generate_text(pilot, "the")
        await pilot.press("d")
        await wait_until(pilot, lambda: not p.generating and p.stop_reason == "length")
        left, right = app.query_one("#gen-out", StreamView), app.query_one("#gen-out2", StreamView)
        assert right.display and left.border_title == "T 1" and right.border_title == "T 2"
        loaded = load_model(runs / "charlm-tiny", job="charlm")
        assert left.text == "the" + generate(loaded, "the", SamplingSettings(length=120, seed=1))
        assert right.text == "the" + generate(loaded, "the", SamplingSettings(length=120, seed=1, temperature=2.0))


async def test_new_seed_history_and_save(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        p.change(length=80)
        await generate_text(pilot, "the sea")
        first = app.query_one("#gen-out", StreamView).text
        await pilot.press("g")
        await wait_until(pilot, lambda: not p.generating and p.stop_reason == "length")
        assert p.settings.seed == 2 and app.query_one("#gen-out", StreamView).text != first
        await pilot.press("w")
        saved = list((runs / "charlm-tiny" / "generations").glob("*-seed2.txt"))
        assert len(saved) == 1 and saved[0].read_text() == app.query_one("#gen-out", StreamView).text
        meta = json.loads(saved[0].with_suffix(".json").read_text())
        assert meta["prompt"] == "the sea" and meta["settings"]["seed"] == 2
        assert "Saved to" in plain(app, "#gen-status")
        # Back to the prompt: ↑ recalls it (and the history survives the session).
        await pilot.press("i")
        prompt = app.query_one("#gen-prompt", Input)
        prompt.value = ""
        await pilot.press("up")
        assert prompt.value == "the sea"


async def test_settings_form_refuses_bad_values_with_one_sentence(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        app.query_one("#gen-out").focus()
        await pilot.press("e")
        assert isinstance(app.screen, SettingsForm)
        for field, bad in (
            ("temperature", "-1"),
            ("top_p", "1.5"),
            ("top_k", "-2"),
            ("length", "0"),
            ("temperature", "warm"),
        ):
            await type_into(pilot, f"#set-{field}", bad)
            await pilot.press("ctrl+s")
            error = str(app.screen.query_one("#form-error", Static).render())
            assert isinstance(app.screen, SettingsForm) and "✗" in error and "\n" not in error.strip(), error
            await type_into(
                pilot, f"#set-{field}", {"temperature": "1", "top_p": "1", "top_k": "0", "length": "500"}[field]
            )
        await type_into(pilot, "#set-temperature", "0.5")
        await type_into(pilot, "#set-stop", ".")
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, SettingsForm)
        assert p.settings.temperature == 0.5 and p.settings.stop == "."


async def test_prompt_characters_outside_the_vocabulary_are_reported(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        p.change(length=20)
        await generate_text(pilot, "the QZ island")
        assert app.query_one("#gen-out", StreamView).text.startswith("the  island")
        notes = [n.message for n in app._notifications]
        assert any("'Q'" in note and "'Z'" in note for note in notes), notes


async def test_classify_a_review_by_keys(runs):
    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        await pilot.press("escape", "c")  # from the prompt to the output, then classify mode
        assert p.mode == "classify" and app.focused is app.query_one("#cls-text")
        await wait_until(pilot, lambda: p.loaded["sentiment"] is not None)
        assert "sentiment-tiny" in plain(app, "#gen-model")
        await pilot.press("enter")  # nothing typed yet
        assert "There is no text to classify" in plain(app, "#cls-output")
        review = "a great and superb film"
        for char in review:
            await pilot.press("space" if char == " " else char)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "P(positive)" in plain(app, "#cls-output"))
        shown = plain(app, "#cls-output")
        assert shown.startswith("positive") and review in shown
        assert app.query_one("#cls-text").text == review  # Enter scored it rather than adding a line
        await pilot.press("escape", "c")
        assert p.mode == "generate"


async def test_no_models_yet_says_what_to_do(tmp_path):
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: "No character model yet" in plain(app, "#gen-model"))
        await type_into(pilot, "#gen-prompt", "the")
        await pilot.press("enter")
        assert "No character model is loaded" in plain(app, "#gen-status")
        await pilot.press("escape", "m")
        assert any("checkpoint" in n.message for n in app._notifications)


async def test_a_corrupt_checkpoint_is_reported_not_raised(tmp_path):
    run = make_charlm_run(tmp_path, name="broken")
    (run.checkpoints / "best.pt").write_bytes(b"not a checkpoint")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        p = pane(app)
        await wait_until(pilot, lambda: "✗" in plain(app, "#gen-model"))
        assert p.loaded["charlm"] is None and "checkpoint" in plain(app, "#gen-model")


async def test_model_picker_switches_models(runs, tmp_path):
    make_charlm_run(tmp_path, name="older", train_steps=5, seed=3)
    make_charlm_run(tmp_path, name="newer", train_steps=5, seed=4)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        assert p.loaded["charlm"].run.name == "newer"
        await pilot.press("escape", "m")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: p.loaded["charlm"] is not None and p.loaded["charlm"].run.name == "older")
        assert "older" in plain(app, "#gen-model")


def test_stream_view_wraps_incrementally_like_all_at_once():
    """Appending piece by piece gives the same lines as appending everything at once, at any width."""
    import random

    rng = random.Random(0)
    words = ["the", "island", "was", "green", "and", "a", "verylongwordthatdoesnotfitanywhere", "\n", "sea,"]
    text = " ".join(rng.choice(words) for _ in range(400))
    for width in (7, 20, 53):
        whole, pieces = StreamView(), StreamView()
        for view in (whole, pieces):
            view._wrap_width = width
        whole.append(text)
        position = 0
        while position < len(text):
            step = rng.randint(1, 9)
            pieces.append(text[position : position + step])
            position += step
        assert whole.lines == pieces.lines and whole.line_starts == pieces.line_starts
        assert all(len(line) <= width for line in whole.lines)
        for line, start in zip(whole.lines, whole.line_starts, strict=False):
            assert text[start : start + len(line)] == line  # each line points at its place in the text


async def test_a_model_process_that_cannot_start_or_dies_is_reported(runs, monkeypatch):
    import subprocess

    app = RnnTuiApp(runs_root=runs)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        p.model_process.process.kill()  # the model process dies under the pane
        await wait_until(pilot, lambda: "ended unexpectedly" in plain(app, "#gen-model"))
        assert p.loaded["charlm"] is None

        def refuse(*args, **kwargs):
            raise OSError(24, "Too many open files")

        monkeypatch.setattr(subprocess, "Popen", refuse)
        await pilot.press("escape", "m", "enter")  # pick the model again: no process can start now
        await wait_until(pilot, lambda: "could not start (Too many open files)" in plain(app, "#gen-model"))
