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
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Static

from corpora import gutenberg
from corpora.text import FALLBACK_SOURCE
from engine.generation.loading import default_run, find_checkpoint, model_runs
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
from engine.generation.settings import GenerateInputError, SamplingSettings
from engine.training.config import DEFAULT_DATA, TrainConfigError, parse_train_config
from engine.training.jobs import create_run, start_job
from engine.training.runs import ACTIVE_STATES, RunDir, RunError
from tui.generate.classify_view import classification_text
from tui.generate.generate_view import GenerateView
from tui.generate.model_process import HeldModel, ModelProcess
from tui.generate.readouts import ModelLine, failure
from tui.generate.widgets import ClassifyResult, ReviewArea, focus_now
from tui.run_picker import ModelPicker

STARTER_PRESET = "default"  # the charlm preset `n` trains for a newcomer: about a minute on a laptop CPU
STARTER_EVERY_S = 1.0  # how often its progress is read while it trains
STARTER_ABOUT = (
    "Press n to train the default character model: rnn-tui's `default` charlm preset, an LSTM that learns "
    "Jules Verne's The Mysterious Island (downloaded once from Project Gutenberg) in 1,400 steps, about a minute "
    "on a laptop CPU. It loads here as soon as it saves its first checkpoint; the Train pane (F3) shows it too."
)


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
        self._focus_in: dict[str, str] = {}  # mode -> the widget last focused in it (where switching back lands)
        self.starter: RunDir | None = None  # the default character model `n` started
        self.starter_overrides: dict[str, Any] = {}  # settings laid over its preset (tests make it tiny)
        self._starter_timer: Timer | None = None
        self._starter_data = ""  # the data source it trains on
        self._offline = False  # the book could not be downloaded: `n` trains on the Python docs instead
        self._no_charlm = False  # no run has a character model checkpoint (as of the last look)

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
        """Whether a model of `job` is on its way (loading, or the default character model training for it)."""
        return job in self._loading or (job == "charlm" and self.loaded["charlm"] is None and self.starter_running())

    def focus_on(self, selector: str) -> None:
        focus_now(self.query_one(selector))

    def focus_target(self) -> str:
        """Where the focus goes when the pane or a mode is shown: where it was last in this mode, else the text
        to type in; with no character model and none coming, the output, whose `n` trains one."""
        if self.mode == "generate" and self.offers_training():
            return "#gen-out"
        return self._focus_in.get(self.mode, "#gen-prompt" if self.mode == "generate" else "#cls-text")

    def offers_training(self) -> bool:
        """Whether `n` (train the default character model) is offered: there is no character model to load.

        Asked for every key each time the footer is drawn: it reads no file (load_default looked for runs).
        """
        return (
            self._no_charlm
            and self.loaded["charlm"] is None
            and "charlm" not in self._loading
            and not self.starter_running()
        )

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
        self.loaded[job] = HeldModel(
            RunDir(Path(reply.run)), reply.name, reply.describe, reply.checkpoint, stamp, reply.step
        )
        if job == self.job:
            self._refresh_model_line()
        if job == "charlm":
            self.generate_view.model_loaded()
            if self.starter is not None and self.starter.path == Path(reply.run):
                self.generate_view.explain(
                    f"{reply.name} is loaded at step {reply.step:,} and trains on (F3); m loads its newest "
                    "checkpoint, and it reloads once it is done. Type a prompt and press Enter (i goes to the prompt)."
                )
            self._refresh_keys()

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
        if job == "charlm":
            self._no_charlm = run is None
        if run is None:
            if job == "charlm" and self.starter is not None:
                self._follow_starter()
                return
            self.query_one(ModelLine).show_missing(job, self.runs_root)
            if job == "charlm":
                self.generate_view.explain(STARTER_ABOUT)
                if self.app.focused is self.query_one("#gen-prompt"):
                    focus_now(self.query_one("#gen-out"))  # where `n` is a key, not a letter of the prompt
            return
        self.load(run, job)

    # ---------------------------------------------------------------- the newcomer's first model
    def starter_running(self) -> bool:
        """Whether the default character model `n` started is still being followed (it has not ended)."""
        return self.starter is not None and self._starter_timer is not None

    def train_default(self) -> None:
        """`n`: start the default character model as the Train pane starts a job; it loads here at its first checkpoint."""
        if self.starter_running():
            assert self.starter is not None
            self.generate_view.status(
                f"{self.starter.name} is training already; it loads here at its first checkpoint."
            )
            return
        data = FALLBACK_SOURCE if self._offline else DEFAULT_DATA["charlm"]
        try:
            config = parse_train_config("charlm", STARTER_PRESET, **{"data": data, **self.starter_overrides})
            run = create_run(self.runs_root, config)
            start_job(run)
        except (TrainConfigError, RunError, OSError) as error:
            self.query_one(ModelLine).show_failure(f"Could not start the default character model: {error}")
            return
        self.starter, self._starter_data = run, data
        self.query_one(ModelLine).show_training(run.name, "starting", 0, 0)
        self.generate_view.explain(
            f"Training {run.name} on {'the Python documentation' if self._offline else 'The Mysterious Island'}. "
            "It loads here as soon as it saves its first checkpoint; the Train pane (F3) shows its curves. "
            "Meanwhile you can type a prompt (i): it starts when the model is ready."
        )
        if self._starter_timer is not None:
            self._starter_timer.stop()
        self._starter_timer = self.set_interval(STARTER_EVERY_S, self._follow_starter)
        self._refresh_keys()

    def _follow_starter(self) -> None:
        """The starter's progress on the model line; its first checkpoint loaded; a failure explained."""
        run = self.starter
        if run is None:
            return
        status = run.status()
        has_checkpoint = True
        try:
            find_checkpoint(run)
        except GenerateInputError:
            has_checkpoint = False
        held = self.loaded["charlm"]
        if held is None and "charlm" not in self._loading and has_checkpoint:
            self.load(run, "charlm")
        elif held is not None and held.run == run and status.state == "done":
            self.reload_if_stale("charlm")  # its last best checkpoint
        if status.state in ACTIVE_STATES:
            if held is None and not has_checkpoint and "charlm" not in self._loading:
                self.query_one(ModelLine).show_training(
                    run.name, str(status.extra.get("phase") or status.state), status.step, status.total
                )
            return
        if self._starter_timer is not None:
            self._starter_timer.stop()
            self._starter_timer = None
        if status.state != "failed":
            return
        if held is not None and held.run == run:  # it failed after its first checkpoint: that model stays
            self.notify(f"{run.name} failed: {status.error or 'see its log.txt'}", severity="warning", timeout=10)
        else:
            self._starter_failed(run, status.error or "it failed; see its log.txt", self._starter_data)

    def _starter_failed(self, run: RunDir, error: str, data: str) -> None:
        self.starter = None
        self.generate_view.model_lost()
        book = data.removeprefix("gutenberg:")
        offline = (
            data.startswith("gutenberg:") and not gutenberg.book_path(int(book) if book.isdigit() else 0).is_file()
        )
        if offline and not self._offline:
            self._offline = True
            self.query_one(ModelLine).show_failure("The book could not be downloaded: n trains on the Python docs.")
            self.generate_view.explain(
                "The Mysterious Island could not be downloaded from Project Gutenberg (offline?). Press n to "
                "train on the Python documentation that ships with Python instead, or on a text file of yours: "
                "rnn-tui train charlm --data FILE (or F3, n)."
            )
        else:
            self.query_one(ModelLine).show_failure(f"{run.name} failed: n tries again; F3 shows its log.")
            self.generate_view.explain(
                f"{error}\n\nIts log is {run.log_path}. Press n to try again, or train one with your own settings "
                "in the Train pane (F3, n) or with rnn-tui train charlm --data FILE."
            )
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        """The footer again: `n` comes and goes with the character model (GenerateBody.check_action)."""
        self.generate_view.query_one("#gen-body").refresh_bindings()

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

    def watch_mode(self, old: str, mode: str) -> None:
        if not self.is_mounted:
            return
        focused = self.app.focused
        left = self.query_one("#gen-generate" if old == "generate" else "#gen-classify")
        if focused is not None and focused.id and left in focused.ancestors:
            self._focus_in[old] = f"#{focused.id}"  # switching back lands here, not in a text a letter key types into
        self.generate_view.cancel()
        self.query_one("#gen-modes", ContentSwitcher).current = "gen-generate" if mode == "generate" else "gen-classify"
        self._refresh_model_line()
        focus_now(self.query_one(self.focus_target()))

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
