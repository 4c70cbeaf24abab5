"""The Generate pane's generate mode (#gen-generate): the settings line, the prompt, the output and chart,
and the status line, with what they do: start a generation, stream its replies into the output, change
the sampling settings live (and side by side), cancel, and save.

It sends its requests through the pane's model process and is handed the replies of its generations
by the pane, which also tells it when the character model arrives or is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input

from engine.generation.messages import Begin, Cancel, Chunk, Done, Generate, Job, UpdateSettings
from engine.generation.sampler import Candidate
from engine.generation.settings import GenerateInputError, SamplingSettings
from tui.generate.model_process import HeldModel, ModelProcess
from tui.generate.readouts import NextCharChart, SettingsLine, StatusLine
from tui.generate.saving import save_generation
from tui.generate.settings_form import SettingsForm
from tui.generate.stream_view import StreamView
from tui.generate.widgets import GenerateBody, ModeControls, PromptInput, focus_now, load_history
from tui.numbers import fit_path

STATUS_EVERY_S = 0.1  # the chart and the status line while generating: 10 times a second


class GenerateHost(ModeControls, Protocol):
    """What the generate mode asks of the pane around it."""

    @property
    def model_process(self) -> ModelProcess: ...

    def held(self, job: Job) -> HeldModel | None: ...

    def is_loading(self, job: Job) -> bool: ...

    def train_default(self) -> None: ...

    def offers_training(self) -> bool: ...


class GenerateView(Vertical):
    """Generate text from the character model the model process holds, streamed into one or two outputs."""

    dual = reactive(False)

    def __init__(self, host: GenerateHost, *, progress: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.status_progress = progress or self.progress  # the figures the status line shows
        self.settings = SamplingSettings()
        self.temperature2 = 2.0
        self.generating = False
        self.last_prompt: str | None = None
        self.stop_reason: str | None = None
        self.candidates: tuple[Candidate, ...] = ()
        self.token: int | None = None  # of the generation whose replies this view takes
        self.produced = 0
        self._started = 0.0
        self._first_char_s: float | None = None
        self._status_at = 0.0
        self._pending_prompt: str | None = None  # typed before the model finished loading

    def compose(self) -> ComposeResult:
        yield SettingsLine(id="gen-settings")
        yield PromptInput(load_history(), placeholder="a prompt, then Enter (↑/↓ history)", id="gen-prompt")
        with GenerateBody(controls=self, id="gen-body"):
            with Horizontal(id="gen-outputs"):
                yield StreamView(id="gen-out")
                yield StreamView(id="gen-out2")
            yield NextCharChart(id="gen-chart")
        yield StatusLine(id="gen-status")

    def on_mount(self) -> None:
        self.query_one("#gen-out2").display = False
        self._show_settings()
        self.query_one(NextCharChart).message(
            "Type a prompt and press Enter. While the text streams in, t/T change the temperature and Esc cancels."
        )
        self.status("")

    def explain(self, text: str) -> None:
        """A longer note where the chart goes until there is something to chart (no model yet, how to get one)."""
        self.query_one(NextCharChart).message(text)

    # ---------------------------------------------------------------- asked by the keys
    def pick_model(self) -> None:
        self.host.pick_model()

    def train_default(self) -> None:
        self.host.train_default()

    def offers_training(self) -> bool:
        return self.host.offers_training()

    def toggle_mode(self) -> None:
        self.host.toggle_mode()

    def focus_on(self, selector: str) -> None:
        focus_now(self.query_one(selector))

    def toggle_dual(self) -> None:
        self.dual = not self.dual

    # ---------------------------------------------------------------- settings
    def change(self, **changes: Any) -> None:
        """Change sampling settings; a running generation uses them from its next character."""
        try:
            self.settings = self.settings.replace(**changes)
        except GenerateInputError as error:
            self.notify(str(error), severity="error")
            return
        self._settings_changed()

    def change_temperature2(self, value: float) -> None:
        self.temperature2 = value
        self._settings_changed()

    def _settings_changed(self) -> None:
        self._show_settings()
        if self.host.held("charlm") is not None:
            count = 2 if self.dual and self.generating else 1
            self.host.model_process.send(UpdateSettings(self._settings_for(count)))
        self._update_chart()

    def _settings_for(self, count: int) -> tuple[SamplingSettings, ...]:
        """The settings of the left side, and of the right one (the second temperature) when `count` is 2."""
        return (self.settings, self.settings.replace(temperature=self.temperature2))[:count]

    def _show_settings(self) -> None:
        self.query_one(SettingsLine).show(self.settings, self.temperature2, self.dual)
        self.query_one(GenerateBody).label_outputs(self.settings, self.temperature2, self.dual)

    def watch_dual(self, dual: bool) -> None:
        if not self.is_mounted:
            return
        self.query_one("#gen-out2").display = dual
        self._show_settings()
        if self.last_prompt is not None:
            self.start(self.last_prompt)

    def edit_settings(self) -> None:
        def applied(result: tuple[SamplingSettings, float] | None) -> None:
            if result is None:
                return
            seed_changed = result[0].seed != self.settings.seed
            self.settings, self.temperature2 = result
            self._settings_changed()
            if seed_changed and self.last_prompt is not None and not self.generating:
                self.start(self.last_prompt)

        self.app.push_screen(SettingsForm(self.settings, self.temperature2), applied)

    # ---------------------------------------------------------------- generating
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "gen-prompt":
            return
        event.stop()
        prompt = event.value
        self.query_one(PromptInput).remember(prompt)
        self.start(prompt)
        focus_now(self.query_one("#gen-out"))  # the output takes the keys (t/T, k/K, …) while it streams

    def regenerate(self) -> None:
        if self.last_prompt is None:
            self.status("Type a prompt and press Enter first.")
            return
        self.settings = self.settings.replace(seed=self.settings.seed + 1)
        self._show_settings()
        self.start(self.last_prompt)

    def start(self, prompt: str) -> None:
        if self.host.held("charlm") is None and self.host.is_loading("charlm"):
            self._pending_prompt = prompt
            self.status("The model is still loading; generation starts as soon as it is ready.")
            return
        if self.host.held("charlm") is None:
            self.status(
                "No character model is loaded: press m to pick one, or train one in the Train pane (F3).", error=True
            )
            return
        self.cancel()
        self.last_prompt = prompt
        self.token = self.host.model_process.new_token()
        count = 2 if self.dual else 1
        self.generating = True
        self.stop_reason = None
        self._started = time.perf_counter()
        self._first_char_s = None
        self.produced = 0
        for view in self.outputs[:count]:
            view.clear()
            view.set_streaming(True)
        self.status("warming up on the prompt…")
        self.host.model_process.send(Generate(self.token, prompt, self._settings_for(count)))

    def model_loaded(self) -> None:
        """The character model arrived: start what was typed while it loaded."""
        self.candidates = ()
        if self._pending_prompt is not None:
            prompt, self._pending_prompt = self._pending_prompt, None
            self.start(prompt)

    def model_lost(self) -> None:
        """The character model could not load, or the process ended: nothing waits for it any more."""
        self._pending_prompt = None

    @property
    def outputs(self) -> tuple[StreamView, StreamView]:
        return self.query_one(GenerateBody).outputs

    def take_begin(self, reply: Begin) -> None:
        """The prompt as the model reads it, before the first character."""
        if reply.token != self.token:
            return
        for view, prompt in zip(self.outputs, reply.prompts, strict=False):
            view.clear(prompt)
        if reply.message:
            self.notify(reply.message, severity="warning", timeout=8)

    def take_chunk(self, reply: Chunk | Done) -> None:
        if reply.token != self.token:
            return  # a cancelled generation's last words
        for view, text in zip(self.outputs, reply.texts, strict=False):
            view.append(text)
        if reply.texts and reply.texts[0] and self._first_char_s is None:
            self._first_char_s = time.perf_counter() - self._started
        self.produced = reply.produced
        self.candidates = reply.candidates
        now = time.perf_counter()
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self._update_chart()
            self.status(self.status_progress())
        if isinstance(reply, Done):
            self.stop_reason = reply.reason
            self.finish()

    def show_candidates(self, candidates: tuple[Candidate, ...]) -> None:
        self.candidates = candidates
        self._update_chart()

    def progress(self) -> str:
        """e.g. '300/500 · 2,512 chars/s · first 21 ms'."""
        elapsed = time.perf_counter() - self._started
        rate = self.produced / elapsed if elapsed > 0 else 0.0
        first = f" · first {self._first_char_s * 1000:.0f} ms" if self._first_char_s is not None else ""
        return f"{self.produced:,}/{self.settings.length:,} · {rate:,.0f} chars/s{first}"

    def finish(self, error: Text | None = None) -> None:
        """The generation ended: how (`stop_reason`), or with `error`."""
        self.generating = False
        for view in self.outputs:
            view.set_streaming(False)
        self._update_chart()
        if error is not None:
            self.status(error)
            return
        reason = {"stop": f"stopped at {self.settings.stop!r}", "length": "done"}.get(
            self.stop_reason or "", "cancelled"
        )
        self.status(f"{reason} · {self.status_progress()}")

    def cancel(self, error: Text | None = None) -> None:
        """Stop a running generation (the model process stops after the character in hand), with `error` if given."""
        if not self.generating:
            return
        self.token = None
        self.host.model_process.send(Cancel())
        self.stop_reason = "cancelled"
        self.finish(error)

    def _update_chart(self) -> None:
        if not self.candidates:
            return
        where = f"at {self.produced:,}" if self.produced else "after the prompt"
        self.query_one(NextCharChart).show(self.candidates, self.settings, where)

    def status(self, text: str | Text, error: bool = False) -> None:
        self.query_one(StatusLine).say(text, error)

    # ---------------------------------------------------------------- saving
    def save_output(self) -> None:
        left, right = (view.text for view in self.outputs)
        held = self.host.held("charlm")
        if not left or held is None or self.last_prompt is None:
            self.status("Nothing to save yet: generate something first.")
            return
        try:
            path = save_generation(
                held.run.path,
                model=held.name,
                checkpoint=held.checkpoint,
                step=held.step,
                prompt=self.last_prompt,
                settings=self.settings,
                text=left,
                right=(self.temperature2, right) if self.dual else None,
            )
        except OSError as error:
            self.status(f"Could not save to {held.run.path / 'generations'}: {error.strerror or error}.", error=True)
            return
        status = self.query_one(StatusLine)
        room = status.size.width - status.styles.gutter.width - len("Saved to ")  # whole, ~/…, or the run's part
        self.status(f"Saved to {fit_path(path, room, held.run.path.parent)}")
