"""The Generate pane: talk to what you trained.

Generate mode: pick a character model, type a prompt, press Enter and watch the text stream in,
one character at a time, carrying the recurrent state (engine.generation.sampler), in a model process of
its own (engine.generation.worker) so that drawing the screen never slows the sampling down.
Temperature, top-k, top-p and length change live; the chart beside the text is the distribution
of the next character at the current position, after temperature and filtering: the chapter's
temperature demo, made interactive. Esc cancels. `d` shows two temperatures side by side from the
same prompt and seed.

Classify mode (`c`): type or paste a review, press Enter, and a sentiment model gives the
probability that it is positive, with each word coloured by how much it pushed the model
(occlusion: the change in the logit when that word is left out).

GeneratePane coordinates: it holds the model process (tui.generate.model_process), loads the
models, dispatches the typed replies (engine.generation.messages) to the generate mode
(tui.generate.generate_view) or the classify result, and switches modes. Nothing here imports
torch: the model process loads the models, samples and classifies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, assert_never

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Static

from engine.generation.loading import default_run, model_runs
from engine.generation.messages import (
    Begin,
    Candidates,
    Chunk,
    Classified,
    Classify,
    Done,
    Error,
    Job,
    Load,
    Loaded,
    LoadError,
    ProcessExited,
    Unreadable,
)
from engine.generation.messages import Reply as ModelReply
from engine.generation.sampler import Candidate
from engine.generation.settings import SamplingSettings
from engine.training.runs import RunDir
from tui.generate.classify_view import classification_text
from tui.generate.generate_view import GenerateView
from tui.generate.model_process import HeldModel, ModelProcess
from tui.generate.readouts import ModelLine, failure
from tui.generate.widgets import ClassifyResult, ReviewArea, focus_now
from tui.run_picker import ModelPicker


class GeneratePane(Widget):
    """Generate text from a character model, or classify a review with a sentiment model."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "cancel",
            id="gen.cancel",
            tooltip="Stop generating (from the prompt: move to the output)",
        ),
    ]

    class Reply(Message):
        """A reply from the model process, posted from its reader thread."""

        def __init__(self, reply: ModelReply) -> None:
            super().__init__()
            self.reply = reply

    mode = reactive("generate")

    def __init__(self, runs_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_root = Path(runs_root)
        self.loaded: dict[str, HeldModel | None] = {"charlm": None, "sentiment": None}
        self.model_process = ModelProcess(lambda reply: self.post_message(self.Reply(reply)))
        self._loading: dict[str, str] = {}  # job -> run path being loaded
        self._review = ""  # the text being classified
        self._classify_token: int | None = None
        self._started_up = False  # the model process starts when the pane is first shown

    def compose(self) -> ComposeResult:
        yield ModelLine(id="gen-model")
        with ContentSwitcher(initial="gen-generate", id="gen-modes"):
            yield GenerateView(self, progress=lambda: self.progress_text(), id="gen-generate")
            with Vertical(id="gen-classify"):
                yield ReviewArea(controls=self, id="cls-text", soft_wrap=True, show_line_numbers=False)
                with ClassifyResult(controls=self, id="cls-result"):
                    yield Static(id="cls-output")

    def on_mount(self) -> None:
        self.query_one(ReviewArea).border_title = "review: type or paste, Enter scores it"
        self._show_result(Text("The probability that the review is positive shows here.", style="dim"))

    def on_show(self) -> None:
        """Load the model when the pane is first shown: a user who never opens it never pays for the model process.

        Shown again later, it reloads a model whose run has saved a newer checkpoint since.
        """
        if not self._started_up:
            self._started_up = True
            self._refresh_model_line()
            return
        self.reload_if_stale(self.job)

    def reload_if_stale(self, job: Job) -> bool:
        """Load `job`'s run again when its checkpoint moved on (not while it generates); True when it does."""
        held = self.loaded[job]
        if held is None or job in self._loading or self.generate_view.generating or not held.is_stale():
            return False
        self.load(held.run, job)
        return True

    def on_unmount(self) -> None:
        self.model_process.close()

    # ---------------------------------------------------------------- the generate mode, as tests and benches read it
    @property
    def generate_view(self) -> GenerateView:
        return self.query_one(GenerateView)

    @property
    def settings(self) -> SamplingSettings:
        return self.generate_view.settings

    def change(self, **changes: Any) -> None:
        """Change sampling settings; a running generation uses them from its next character."""
        self.generate_view.change(**changes)

    @property
    def generating(self) -> bool:
        return self.generate_view.generating

    @property
    def stop_reason(self) -> str | None:
        """How the last generation ended: "length", "stop" or "cancelled" (None while it runs)."""
        return self.generate_view.stop_reason

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The distribution of the next character the chart shows."""
        return self.generate_view.candidates

    @property
    def produced(self) -> int:
        """Characters generated so far by the running (or last) generation."""
        return self.generate_view.produced

    def progress_text(self) -> str:
        """The figures of the status line: here so that a snapshot test can fix them."""
        return self.generate_view.progress()

    # ---------------------------------------------------------------- asked by the widgets
    @property
    def job(self) -> Job:
        return "charlm" if self.mode == "generate" else "sentiment"

    def held(self, job: Job) -> HeldModel | None:
        return self.loaded[job]

    def is_loading(self, job: Job) -> bool:
        return job in self._loading

    def focus_on(self, selector: str) -> None:
        focus_now(self.query_one(selector))

    def toggle_mode(self) -> None:
        self.mode = "classify" if self.mode == "generate" else "generate"

    def action_cancel(self) -> None:
        view = self.generate_view
        if view.generating:
            view.cancel()
        elif self.mode == "generate" and self.app.focused is self.query_one("#gen-prompt"):
            focus_now(self.query_one("#gen-out"))

    # ---------------------------------------------------------------- replies
    def on_generate_pane_reply(self, message: Reply) -> None:
        view = self.generate_view
        match message.reply:
            case Loaded() as loaded:
                self._on_loaded(loaded)
            case LoadError() as error:
                self._on_load_error(error)
            case Begin() as begin:
                view.take_begin(begin)
            case Chunk() | Done() as chunk:
                view.take_chunk(chunk)
            case Candidates(candidates=candidates):
                view.show_candidates(candidates)
            case Classified(token=token, result=result):
                if token == self._classify_token:
                    self._show_result(classification_text(self._review, result))
            case Error(token=token, error=error):
                if view.generating and token == view.token:
                    view.finish(failure(error))
                elif token == self._classify_token:
                    self._show_result(failure(error))
            case ProcessExited() as exited:
                self._on_exit(exited)
            case Unreadable(error=sentence):
                self._on_unreadable(failure(sentence))
            case unexpected:
                assert_never(unexpected)

    def _on_loaded(self, reply: Loaded) -> None:
        job = reply.job
        if self._loading.get(job) != reply.run:
            return  # another model was asked for since
        del self._loading[job]
        stamp = HeldModel.stamp_of(reply.checkpoint)
        self.loaded[job] = HeldModel(RunDir(Path(reply.run)), reply.name, reply.describe, reply.checkpoint, stamp)
        if job == self.job:
            self._refresh_model_line()
        if job == "charlm":
            self.generate_view.model_loaded()

    def _on_load_error(self, reply: LoadError) -> None:
        job = reply.job
        if self._loading.get(job) != reply.run:
            return
        del self._loading[job]
        if job == "charlm":
            self.generate_view.model_lost()
        if job == self.job:
            self.query_one(ModelLine).show_load_error(reply.error)

    def _on_exit(self, reply: ProcessExited) -> None:
        """The model process ended (it was killed, or crashed): say so; the next request starts a new one."""
        if not self.is_mounted:
            return
        self.loaded = {"charlm": None, "sentiment": None}
        self._loading.clear()
        self.generate_view.model_lost()
        why = reply.error or f"the model process ended unexpectedly (exit status {reply.code})"
        log = self.model_process.log_path
        self.query_one(ModelLine).show_failure(
            f"{why[0].upper()}{why[1:]}; its log is {log}. Press m to load a model again."
        )
        if self.generating:
            self.generate_view.finish(failure("Generation stopped: the model process ended."))

    def _on_unreadable(self, error: Text) -> None:
        """A line from the model process that is not a reply: say so where the user is looking."""
        view = self.generate_view
        if view.generating:  # its chunks can no longer be trusted: stop it
            view.cancel(error)
        elif self.mode == "classify":
            self._show_result(error)
        else:
            view.status(error, error=True)

    # ---------------------------------------------------------------- models
    def load_default(self, job: Job) -> None:
        run = default_run(self.runs_root, job)
        if run is None:
            self.query_one(ModelLine).show_missing(job, self.runs_root)
            return
        self.load(run, job)

    def load(self, run: RunDir, job: Job) -> None:
        self._loading[job] = str(run.path)
        self.query_one(ModelLine).show_loading(run.name)
        self.model_process.send(Load(job, str(run.path)))

    def _refresh_model_line(self) -> None:
        held = self.loaded[self.job]
        if held is None:
            if self.job not in self._loading:
                self.load_default(self.job)
            return
        self.query_one(ModelLine).show_model(self.mode, held.name, held.describe)

    def pick_model(self) -> None:
        job = self.job
        runs = model_runs(self.runs_root, job)
        if not runs:
            self.notify(f"No run under {self.runs_root} has a {job} checkpoint yet.", severity="warning")
            return
        held = self.loaded[job]
        current = held.run if held is not None else None

        def picked(run: RunDir | None) -> None:
            if run is None:
                return
            if run != current or (held is not None and held.is_stale()):  # the same run again: its newest checkpoint
                self.generate_view.cancel()
                self.load(run, job)

        self.app.push_screen(ModelPicker(runs, job, current), picked)

    def watch_mode(self, mode: str) -> None:
        if not self.is_mounted:
            return
        self.generate_view.cancel()
        self.query_one("#gen-modes", ContentSwitcher).current = "gen-generate" if mode == "generate" else "gen-classify"
        self._refresh_model_line()
        focus_now(self.query_one("#gen-prompt" if mode == "generate" else "#cls-text"))

    # ---------------------------------------------------------------- classifying
    def classify(self, text: str) -> None:
        if self.loaded["sentiment"] is None:
            self._show_result(
                Text(
                    "The model is still loading; press Enter again in a moment."
                    if "sentiment" in self._loading
                    else "No sentiment model is loaded: press Esc then m to pick one, or train one in the Train pane (F3).",
                    style="yellow",
                )
            )
            return
        if not text.strip():
            self._show_result(failure("There is no text to classify; type or paste a review."))
            return
        self._show_result(Text("scoring…", style="dim"))
        self._classify_token = self.model_process.new_token()
        self._review = text
        self.model_process.send(Classify(self._classify_token, text))

    def _show_result(self, content: Text) -> None:
        self.query_one("#cls-output", Static).update(content)
