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

Nothing here imports torch: the model process loads the models, samples and classifies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from corpora.userdirs import data_dir
from engine.generation.loading import default_run, model_runs
from engine.generation.sampler import Candidate
from engine.generation.settings import GenerateInputError, SamplingSettings, parse_settings
from engine.training.runs import RunDir, RunError
from tui.forms import FormScreen
from tui.generate.stream_view import StreamView
from tui.numbers import short_name

TEMPERATURES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
TOP_KS = (0, 1, 2, 3, 5, 10, 20, 40)
TOP_PS = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
LENGTHS = (100, 200, 500, 1000, 2000, 5000, 10000)
HISTORY_SIZE = 100
SHOWN_CHARS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
BAR = "█▏▎▍▌▋▊▉"


def step_through(ladder: tuple[float, ...], value: float, direction: int) -> float:
    """The next value of `ladder` above (direction 1) or below (-1) `value`, or the end of the ladder."""
    if direction > 0:
        return next((v for v in ladder if v > value + 1e-9), ladder[-1])
    return next((v for v in reversed(ladder) if v < value - 1e-9), ladder[0])


def shown_char(char: str) -> str:
    return SHOWN_CHARS.get(char, char)


def history_path() -> Path:
    """Prompt history, in the user data folder (Linux: ~/.local/share/rnn-tui)."""
    return data_dir() / "prompt-history.json"


def load_history() -> list[str]:
    try:
        items = json.loads(history_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [item for item in items if isinstance(item, str)][-HISTORY_SIZE:] if isinstance(items, list) else []


def save_history(items: list[str]) -> None:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(items[-HISTORY_SIZE:]), encoding="utf-8")
    except OSError:
        pass  # history is a convenience: an unwritable home must not break generation


def focus_now(widget: Widget) -> None:
    """Move the focus at once: `Widget.focus()` waits its turn, and a key typed right after would go to the old widget."""
    widget.screen.set_focus(widget)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `fraction` (0..1) of `width` cells, in eighths."""
    eighths = round(max(0.0, min(fraction, 1.0)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (BAR[rest] if rest else "")


# ---------------------------------------------------------------------------- widgets


class PromptInput(Input):
    """The prompt, with history on up/down (newest last, as in a shell)."""

    BINDINGS = [
        Binding("up", "history(-1)", "previous prompt", show=False, id="gen.history_back"),
        Binding("down", "history(1)", "next prompt", show=False, id="gen.history_forward"),
    ]

    def __init__(self, history: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history = history
        self._position = len(history)
        self._draft = ""

    def remember(self, prompt: str) -> None:
        if prompt and (not self.history or self.history[-1] != prompt):
            self.history.append(prompt)
            del self.history[:-HISTORY_SIZE]
            save_history(self.history)
        self._position = len(self.history)

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(self._position + delta, len(self.history)))
        self.value = self.history[self._position] if self._position < len(self.history) else self._draft
        self.cursor_position = len(self.value)


class LiveText(Widget):
    """Text that changes often (a status line, a chart): a new value only repaints this widget.

    A Static's update also re-lays out its parent; here the size is fixed by the stylesheet.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._content: Text = Text()

    def update(self, content: str | Text) -> None:
        content = Text(content) if isinstance(content, str) else content
        if (
            content.plain != self._content.plain
            or content.spans != self._content.spans
            or content.style != self._content.style
        ):
            self._content = content
            self.refresh()

    def render(self) -> Text:
        return self._content


class NextCharChart(LiveText):
    """Bars of the likeliest next characters: after temperature and filtering, and (dim) the raw softmax."""

    def show(self, candidates: list[Any], settings: SamplingSettings, where: str) -> None:
        width = max(self.size.width - self.styles.gutter.width, 16)
        bar_width = max(width - 15, 3)  # "  x " + bar + " 39.5%" + " 29%"
        heading = (
            "greedy (argmax)" if settings.greedy else f"T {settings.temperature:g} · scale {settings.scale_factor:.3g}"
        )
        text = Text.assemble(("next char", "bold"), (f" {where}\n", "dim"), (heading, "cyan"), "\n")
        text.append(f"{'':3} {'':{bar_width}} {'now':>5} {'raw':>4}\n", style="dim")
        top = max((c.prob for c in candidates), default=1.0) or 1.0
        for candidate in candidates:
            text.append(f"{shown_char(candidate.char):>3} ", style="bold")
            text.append(bar(candidate.prob / top, bar_width).ljust(bar_width), style="green")
            text.append(f" {candidate.prob:5.1%}")
            text.append(f" {candidate.raw:4.0%}\n", style="dim")
        if not candidates:
            text.append("(no candidates)", style="dim")
        self.update(text)

    def message(self, text: str) -> None:
        self.update(Text(text, style="dim"))


class PaneKeys:
    """Keys for the whole pane that are letters, so they act only where nothing is being typed."""

    BINDINGS = [
        Binding("m", "pick_model", "model", id="gen.model", tooltip="Pick the model from the runs"),
        Binding(
            "c", "toggle_mode", "mode", id="gen.mode", tooltip="Switch between generating text and classifying reviews"
        ),
    ]

    def action_pick_model(self) -> None:
        self.query_ancestor(GeneratePane).pick_model()  # type: ignore[attr-defined]

    def action_toggle_mode(self) -> None:
        pane = self.query_ancestor(GeneratePane)  # type: ignore[attr-defined]
        pane.mode = "classify" if pane.mode == "generate" else "generate"


class GenerateBody(PaneKeys, Horizontal):
    """The output and the chart; its keys act when the focus is here (not while typing a prompt)."""

    BINDINGS = [
        *PaneKeys.BINDINGS,
        Binding(
            "t",
            "temperature(-1)",
            "temp−",
            id="gen.temperature_down",
            tooltip="Lower the temperature (more predictable)",
        ),
        Binding("T", "temperature(1)", "temp+", id="gen.temperature_up", tooltip="Raise the temperature (more random)"),
        Binding(
            "k", "top_k(-1)", "top-k", id="gen.top_k_down", tooltip="Fewer candidates (top-k; 0 is off)", show=False
        ),
        Binding("K", "top_k(1)", "top-k+", id="gen.top_k_up", tooltip="More candidates (top-k)", show=False),
        Binding("p", "top_p(-1)", "top-p", id="gen.top_p_down", tooltip="A smaller nucleus (top-p)", show=False),
        Binding("P", "top_p(1)", "top-p+", id="gen.top_p_up", tooltip="A larger nucleus (top-p; 1 is off)", show=False),
        Binding("l", "length(-1)", "length", id="gen.length_down", tooltip="Generate fewer characters", show=False),
        Binding("L", "length(1)", "length+", id="gen.length_up", tooltip="Generate more characters", show=False),
        Binding(
            "y",
            "temperature2(-1)",
            "temp2−",
            id="gen.temperature2_down",
            tooltip="Lower the side-by-side temperature",
            show=False,
        ),
        Binding(
            "Y",
            "temperature2(1)",
            "temp2+",
            id="gen.temperature2_up",
            tooltip="Raise the side-by-side temperature",
            show=False,
        ),
        Binding(
            "g",
            "regenerate",
            "new seed",
            id="gen.regenerate",
            tooltip="Generate again from the same prompt with the next seed",
        ),
        Binding(
            "d", "dual", "2 temps", id="gen.dual", tooltip="Two temperatures side by side from the same prompt and seed"
        ),
        Binding(
            "e",
            "edit_settings",
            "settings",
            id="gen.settings",
            tooltip="Type exact settings: temperature, top-k, top-p, length, seed, stop",
        ),
        Binding("w", "save", "save", id="gen.save", tooltip="Save the output to a file in the run's folder"),
        Binding("i,enter", "edit_prompt", "prompt", id="gen.prompt", tooltip="Back to the prompt", show=False),
    ]

    def action_temperature(self, direction: int) -> None:
        self.pane.change(temperature=step_through(TEMPERATURES, self.pane.settings.temperature, direction))

    def action_temperature2(self, direction: int) -> None:
        self.pane.change_temperature2(step_through(TEMPERATURES, self.pane.temperature2, direction))

    def action_top_k(self, direction: int) -> None:
        self.pane.change(top_k=int(step_through(TOP_KS, self.pane.settings.top_k, direction)))

    def action_top_p(self, direction: int) -> None:
        self.pane.change(top_p=step_through(TOP_PS, self.pane.settings.top_p, direction))

    def action_length(self, direction: int) -> None:
        self.pane.change(length=int(step_through(LENGTHS, self.pane.settings.length, direction)))

    def action_regenerate(self) -> None:
        self.pane.regenerate()

    def action_dual(self) -> None:
        self.pane.dual = not self.pane.dual

    def action_edit_settings(self) -> None:
        self.pane.edit_settings()

    def action_save(self) -> None:
        self.pane.save_output()

    def action_edit_prompt(self) -> None:
        focus_now(self.pane.query_one("#gen-prompt"))

    @property
    def pane(self) -> GeneratePane:
        return self.query_ancestor(GeneratePane)


class ReviewArea(TextArea):
    """The review to classify: Enter classifies (paste keeps its line breaks), Esc leaves the text."""

    BINDINGS = [
        Binding("enter", "classify", "classify", priority=True, id="gen.classify", tooltip="Score the review"),
        Binding(
            "escape", "leave", "leave text", id="gen.leave_review", tooltip="Move to the result (c switches mode there)"
        ),
    ]

    def action_classify(self) -> None:
        self.query_ancestor(GeneratePane).classify(self.text)

    def action_leave(self) -> None:
        focus_now(self.query_ancestor(GeneratePane).query_one("#cls-result"))


class ClassifyResult(PaneKeys, VerticalScroll, can_focus=True):
    BINDINGS = [
        *PaneKeys.BINDINGS,
        Binding("i,enter", "edit_review", "review", id="gen.edit_review", tooltip="Back to the review text"),
    ]

    def action_edit_review(self) -> None:
        focus_now(self.query_ancestor(GeneratePane).query_one("#cls-text"))


# ---------------------------------------------------------------------------- screens


class ModelPicker(ModalScreen[RunDir | None]):
    """The runs with a checkpoint for one job, newest first; Enter picks, Esc keeps the current model."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="gen.picker_cancel")]

    def __init__(self, runs: list[RunDir], job: str, current: RunDir | None) -> None:
        super().__init__()
        self.runs, self.job, self.current = runs, job, current

    def compose(self) -> ComposeResult:
        what = "character models" if self.job == "charlm" else "sentiment models"
        with Vertical(id="picker"):
            yield Static(f"[b]Pick one of {len(self.runs)} {what}[/]  [dim]Enter picks, Esc cancels[/]")
            yield OptionList(
                *[Option(self._label(run), id=str(index)) for index, run in enumerate(self.runs)], id="picker-list"
            )

    def _label(self, run: RunDir) -> Text:
        try:
            config = run.config()
            status = run.status()
        except RunError:
            return Text(run.name)
        shape = (
            f"{str(config.get('cell', '?')).upper()} E{config.get('embed_size', '?')} H{config.get('hidden_size', '?')}"
        )
        best = (
            f"{status.best_metric} {status.best_value:.3f}"
            if isinstance(status.best_value, (int, float))
            else "no validation yet"
        )
        mark = "● " if run == self.current else "  "
        return Text.assemble(
            mark, (run.name, "bold"), f"  {shape} · {status.state} · step {status.step:,} · ", (best, "cyan")
        )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.runs:
            options.highlighted = self.runs.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.runs[int(event.option.id or 0)])


class SettingsForm(FormScreen[tuple[SamplingSettings, float]]):
    """Exact sampling settings, validated by engine.generation.sampler (one sentence for a bad value)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="gen.settings_cancel"),
        Binding("ctrl+s", "apply", "Apply", id="gen.settings_apply"),
    ]
    errors = (GenerateInputError,)

    def __init__(self, settings: SamplingSettings, temperature2: float) -> None:
        super().__init__()
        self.settings, self.temperature2 = settings, temperature2

    def compose(self) -> ComposeResult:
        s = self.settings
        fields = (
            ("Temperature", "temperature", f"{s.temperature:g}", "0 = greedy; the book's scale_factor is 1/T"),
            ("Top-k", "top_k", str(s.top_k), "0 = off"),
            ("Top-p", "top_p", f"{s.top_p:g}", "in (0, 1]; 1 = off"),
            ("Length", "length", str(s.length), "characters to generate"),
            ("Seed", "seed", str(s.seed), "same seed, same text"),
            ("Stop at", "stop", s.stop, "stop after this text (blank: never)"),
            ("2nd temperature", "temperature2", f"{self.temperature2:g}", "the right side of d (side by side)"),
        )
        with Vertical(id="form"):
            yield Static("[b]Sampling settings[/]  [dim]Enter or ctrl+s applies, Esc cancels[/]")
            with Grid(id="form-grid"):
                for label, key, value, hint in fields:
                    yield Label(label)
                    yield Input(value, placeholder=hint, compact=True, id=f"set-{key}")
            yield Static(id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Apply", variant="primary", compact=True)
                yield Button("Cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#set-temperature", Input).focus()

    def build(self) -> tuple[SamplingSettings, float]:
        value = {
            key: self.query_one(f"#set-{key}", Input).value
            for key in ("temperature", "top_k", "top_p", "length", "seed", "stop")
        }
        settings = parse_settings(**value)
        second = parse_settings(temperature=self.query_one("#set-temperature2", Input).value).temperature
        return settings, second


# ---------------------------------------------------------------------------- the pane


class ModelProcess:
    """The model process (`python -m engine.generation.worker`) and a thread that reads its replies.

    Sampling runs there rather than in a thread of the app: the two would share one interpreter
    lock, and drawing the screen 30 times a second would halve the speed of both.
    """

    def __init__(self, on_reply: Callable[[dict[str, Any]], None]) -> None:
        self.on_reply = on_reply
        self.process: subprocess.Popen[str] | None = None

    @property
    def log_path(self) -> Path:
        return history_path().with_name("generate-worker.log")

    def send(self, message: dict[str, Any]) -> None:
        if self.process is None or self.process.poll() is not None:
            try:
                self._start()
            except OSError as error:  # no interpreter to start, no processes left, ...
                self.process = None
                self.on_reply(
                    {
                        "op": "exit",
                        "code": None,
                        "error": f"the model process could not start ({error.strerror or error})",
                    }
                )
                return
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.process = None  # the reader thread reports the exit

    def _start(self) -> None:
        from engine.training.jobs import child_env

        env = child_env("1")  # one thread: sampling is small matrix-vector products
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log: Any = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (the child writes to it until it ends)
        except OSError:
            log = subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.generation.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        threading.Thread(target=self._read, args=(self.process,), name="generate-worker-reader", daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                self.on_reply(json.loads(line))
            except ValueError:
                continue
        self.on_reply({"op": "exit", "code": process.wait()})

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()


@dataclass
class Loaded:
    """A model the model process holds for one mode."""

    run: RunDir
    name: str
    describe: str
    checkpoint: str


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
        """A line from the model process."""

        def __init__(self, data: dict[str, Any]) -> None:
            super().__init__()
            self.data = data

    mode = reactive("generate")
    dual = reactive(False)

    def __init__(self, runs_root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_root = Path(runs_root)
        self.settings = SamplingSettings()
        self.temperature2 = 2.0
        self.loaded: dict[str, Loaded | None] = {"charlm": None, "sentiment": None}
        self.worker = ModelProcess(lambda data: self.post_message(self.Reply(data)))
        self.generating = False
        self.last_prompt: str | None = None
        self.stop_reason: str | None = None
        self.candidates: list[Candidate] = []
        self._token = 0
        self._started = 0.0
        self._first_char_s: float | None = None
        self._produced = 0
        self._status_at = 0.0
        self._loading: dict[str, str] = {}  # job -> run path being loaded
        self._pending_prompt: str | None = None  # typed before the model finished loading
        self._review = ""
        self._started_up = False  # the model process starts when the pane is first shown

    def compose(self) -> ComposeResult:
        yield Static(id="gen-model")
        with ContentSwitcher(initial="gen-generate", id="gen-modes"):
            with Vertical(id="gen-generate"):
                yield Static(id="gen-settings")
                yield PromptInput(load_history(), placeholder="a prompt, then Enter (↑/↓ history)", id="gen-prompt")
                with GenerateBody(id="gen-body"):
                    with Horizontal(id="gen-outputs"):
                        yield StreamView(id="gen-out")
                        yield StreamView(id="gen-out2")
                    yield NextCharChart(id="gen-chart")
                yield LiveText(id="gen-status")
            with Vertical(id="gen-classify"):
                yield ReviewArea(id="cls-text", soft_wrap=True, show_line_numbers=False)
                with ClassifyResult(id="cls-result"):
                    yield Static(id="cls-output")

    def on_mount(self) -> None:
        self.query_one("#gen-out2").display = False
        self.query_one("#cls-text", TextArea).border_title = "review: type or paste, Enter scores it"
        self._show_settings()
        self.query_one("#gen-chart", NextCharChart).message(
            "Type a prompt and press Enter. While the text streams in, t/T change the temperature and Esc cancels."
        )
        self._status("")
        self.query_one("#cls-output", Static).update(
            Text("The probability that the review is positive shows here.", style="dim")
        )

    def on_show(self) -> None:
        """Load the model when the pane is first shown: a user who never opens it never pays for the model process."""
        if not self._started_up:
            self._started_up = True
            self._refresh_model_line()

    def on_unmount(self) -> None:
        self.worker.close()

    # ---------------------------------------------------------------- models
    @property
    def job(self) -> str:
        return "charlm" if self.mode == "generate" else "sentiment"

    def load_default(self, job: str) -> None:
        run = default_run(self.runs_root, job)
        if run is None:
            what = "character model" if job == "charlm" else "sentiment model"
            self._show_model(
                Text.assemble(
                    (f"No {what} yet", "bold yellow"),
                    f" in {self.runs_root}: train one in the Train pane (F3, n) or with `rnn-tui train {job}`, then press m.",
                )
            )
            return
        self.load(run, job)

    def load(self, run: RunDir, job: str) -> None:
        self._loading[job] = str(run.path)
        self._show_model(Text.assemble(("loading ", "dim"), run.name, ("…", "dim")))
        self.worker.send({"op": "load", "job": job, "run": str(run.path)})

    def on_generate_pane_reply(self, message: Reply) -> None:
        data = message.data
        handler = getattr(self, f"_on_{data.get('op')}", None)
        if handler is not None:
            handler(data)

    def _on_loaded(self, data: dict[str, Any]) -> None:
        job = data["job"]
        if self._loading.get(job) != data["run"]:
            return  # another model was asked for since
        del self._loading[job]
        self.loaded[job] = Loaded(RunDir(Path(data["run"])), data["name"], data["describe"], data["checkpoint"])
        if job == self.job:
            self._refresh_model_line()
        if job == "charlm":
            self.candidates = []
            if self._pending_prompt is not None:
                prompt, self._pending_prompt = self._pending_prompt, None
                self.start(prompt)

    def _on_load_error(self, data: dict[str, Any]) -> None:
        job = data["job"]
        if self._loading.get(job) != data["run"]:
            return
        del self._loading[job]
        if job == "charlm":
            self._pending_prompt = None
        if job == self.job:
            self._show_model(Text.assemble(("✗ ", "bold red"), data["error"], (" (m picks another)", "dim")))

    def _on_exit(self, data: dict[str, Any]) -> None:
        """The model process ended (it was killed, or crashed): say so; the next request starts a new one."""
        if not self.is_mounted:
            return
        self.loaded = {"charlm": None, "sentiment": None}
        self._loading.clear()
        self._pending_prompt = None
        why = data.get("error") or f"the model process ended unexpectedly (exit status {data.get('code')})"
        text = f"{why[0].upper()}{why[1:]}; its log is {self.worker.log_path}. Press m to load a model again."
        self._show_model(Text.assemble(("✗ ", "bold red"), text))
        if self.generating:
            self._finish(Text.assemble(("✗ ", "bold red"), "Generation stopped: the model process ended."))

    def _on_error(self, data: dict[str, Any]) -> None:
        if data.get("token") != self._token:
            return
        error = Text.assemble(("✗ ", "bold red"), str(data.get("error")))
        if self.mode == "classify" or not self.generating:
            self.query_one("#cls-output", Static).update(error)
        if self.generating:
            self._finish(error)

    def _refresh_model_line(self) -> None:
        loaded = self.loaded[self.job]
        if loaded is None:
            if self.job not in self._loading:
                self.load_default(self.job)
            return
        mode = "generate" if self.mode == "generate" else "classify"
        self._show_model(
            Text.assemble((f" {mode} ", "bold reverse"), " ", (short_name(loaded.name), "bold"), " · ", loaded.describe)
        )

    def _show_model(self, text: Text) -> None:
        self.query_one("#gen-model", Static).update(text)

    def pick_model(self) -> None:
        runs = model_runs(self.runs_root, self.job)
        if not runs:
            self.notify(f"No run under {self.runs_root} has a {self.job} checkpoint yet.", severity="warning")
            return
        current = self.loaded[self.job].run if self.loaded[self.job] else None

        def picked(run: RunDir | None) -> None:
            if run is not None and run != current:
                self.cancel()
                self.load(run, self.job)

        self.app.push_screen(ModelPicker(runs, self.job, current), picked)

    def watch_mode(self, mode: str) -> None:
        if not self.is_mounted:
            return
        self.cancel()
        self.query_one("#gen-modes", ContentSwitcher).current = "gen-generate" if mode == "generate" else "gen-classify"
        self._refresh_model_line()
        focus_now(self.query_one("#gen-prompt" if mode == "generate" else "#cls-text"))

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
        if self.loaded["charlm"] is not None:
            count = 2 if self.dual and self.generating else 1
            self.worker.send({"op": "settings", "settings": [asdict(self._settings_for(i)) for i in range(count)]})
        self._update_chart()

    def _settings_for(self, index: int) -> SamplingSettings:
        return self.settings if index == 0 else self.settings.replace(temperature=self.temperature2)

    def _show_settings(self) -> None:
        s = self.settings
        temperature = "greedy (T 0)" if s.greedy else f"T {s.temperature:g} (scale {s.scale_factor:.3g})"
        parts = [
            ("temp ", "dim"),
            (temperature, "bold"),
            ("  top-k ", "dim"),
            (str(s.top_k) if s.top_k else "off", "bold"),
            ("  top-p ", "dim"),
            (f"{s.top_p:g}" if s.top_p < 1 else "off", "bold"),
            ("  len ", "dim"),
            (f"{s.length:,}", "bold"),
            ("  seed ", "dim"),
            (str(s.seed), "bold"),
        ]
        if s.stop:
            parts += [("  stop ", "dim"), (repr(s.stop), "bold")]
        if self.dual:
            parts += [("  right: ", "dim"), (f"T {self.temperature2:g}", "bold")]
        self.query_one("#gen-settings", Static).update(Text.assemble(*parts))
        self._label_outputs()

    def _label_outputs(self) -> None:
        left, right = self.query_one("#gen-out", StreamView), self.query_one("#gen-out2", StreamView)
        if self.dual:
            left.border_title = "greedy" if self.settings.greedy else f"T {self.settings.temperature:g}"
            right.border_title = "greedy" if self.temperature2 == 0 else f"T {self.temperature2:g}"
        else:
            left.border_title = None
        left.set_class(self.dual, "-dual")
        right.set_class(self.dual, "-dual")

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
            self._status("Type a prompt and press Enter first.")
            return
        self.settings = self.settings.replace(seed=self.settings.seed + 1)
        self._show_settings()
        self.start(self.last_prompt)

    def start(self, prompt: str) -> None:
        if self.loaded["charlm"] is None and "charlm" in self._loading:
            self._pending_prompt = prompt
            self._status("The model is still loading; generation starts as soon as it is ready.")
            return
        if self.loaded["charlm"] is None:
            self._status(
                "No character model is loaded: press m to pick one, or train one in the Train pane (F3).", error=True
            )
            return
        self.cancel()
        self.last_prompt = prompt
        self._token += 1
        count = 2 if self.dual else 1
        self.generating = True
        self.stop_reason = None
        self._started = time.perf_counter()
        self._first_char_s = None
        self._produced = 0
        for view in self._views()[:count]:
            view.clear()
            view.set_streaming(True)
        self._status("warming up on the prompt…")
        self.worker.send(
            {
                "op": "generate",
                "token": self._token,
                "prompt": prompt,
                "settings": [asdict(self._settings_for(i)) for i in range(count)],
            }
        )

    def _views(self) -> list[StreamView]:
        return [self.query_one("#gen-out", StreamView), self.query_one("#gen-out2", StreamView)]

    def _on_begin(self, data: dict[str, Any]) -> None:
        """The prompt as the model reads it, before the first character."""
        if data["token"] != self._token:
            return
        for view, prompt in zip(self._views(), data["prompts"], strict=False):
            view.clear(prompt)
        if data.get("message"):
            self.notify(data["message"], severity="warning", timeout=8)

    def _on_chunk(self, data: dict[str, Any]) -> None:
        if data["token"] != self._token:
            return  # a cancelled generation's last words
        for view, text in zip(self._views(), data["texts"], strict=False):
            view.append(text)
        if data["texts"] and data["texts"][0] and self._first_char_s is None:
            self._first_char_s = time.perf_counter() - self._started
        self._produced = data["produced"]
        self.candidates = [Candidate(*c) for c in data["candidates"]]
        now = time.perf_counter()
        if now - self._status_at >= 0.1:  # the chart and the status line: 10 times a second
            self._status_at = now
            self._update_chart()
            self._status(self._progress())

    def _on_done(self, data: dict[str, Any]) -> None:
        if data["token"] != self._token:
            return
        self._on_chunk({**data, "candidates": data["candidates"]})
        self.stop_reason = data["reason"]
        self._finish()

    def _on_candidates(self, data: dict[str, Any]) -> None:
        self.candidates = [Candidate(*c) for c in data["candidates"]]
        self._update_chart()

    def _progress(self) -> str:
        elapsed = time.perf_counter() - self._started
        rate = self._produced / elapsed if elapsed > 0 else 0.0
        first = f" · first {self._first_char_s * 1000:.0f} ms" if self._first_char_s is not None else ""
        return f"{self._produced:,}/{self.settings.length:,} · {rate:,.0f} chars/s{first}"

    def _finish(self, error: Text | None = None) -> None:
        self.generating = False
        for view in self._views():
            view.set_streaming(False)
        self._update_chart()
        if error is not None:
            self._status(error)
            return
        reason = {"stop": f"stopped at {self.settings.stop!r}", "length": "done"}.get(
            self.stop_reason or "", "cancelled"
        )
        self._status(f"{reason} · {self._progress()}")

    def cancel(self) -> None:
        """Stop a running generation (the model process stops after the character in hand)."""
        if not self.generating:
            return
        self._token += 1
        self.worker.send({"op": "cancel"})
        self.stop_reason = "cancelled"
        self._finish()

    def action_cancel(self) -> None:
        if self.generating:
            self.cancel()
        elif self.mode == "generate" and self.app.focused is self.query_one("#gen-prompt"):
            focus_now(self.query_one("#gen-out"))

    def _update_chart(self) -> None:
        if not self.candidates:
            return
        where = f"at {self._produced:,}" if self._produced else "after the prompt"
        self.query_one("#gen-chart", NextCharChart).show(self.candidates, self.settings, where)

    def _status(self, text: str | Text, error: bool = False) -> None:
        status = self.query_one("#gen-status", LiveText)
        status.set_class(error, "-error")
        status.update(text)

    # ---------------------------------------------------------------- saving
    def save_output(self) -> None:
        view = self.query_one("#gen-out", StreamView)
        loaded = self.loaded["charlm"]
        if not view.text or loaded is None or self.last_prompt is None:
            self._status("Nothing to save yet: generate something first.")
            return
        folder = loaded.run.path / "generations"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-seed{self.settings.seed}.txt"
        meta = {
            "model": loaded.name,
            "checkpoint": loaded.checkpoint,
            "prompt": self.last_prompt,
            "settings": asdict(self.settings),
            "temperature2": self.temperature2 if self.dual else None,
        }
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(view.text, encoding="utf-8")
            if self.dual:
                path.with_name(path.stem + "-right.txt").write_text(
                    self.query_one("#gen-out2", StreamView).text, encoding="utf-8"
                )
            path.with_suffix(".json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        except OSError as error:
            self._status(f"Could not save to {folder}: {error.strerror or error}.", error=True)
            return
        self._status(f"Saved to {path}")

    # ---------------------------------------------------------------- classifying
    def classify(self, text: str) -> None:
        output = self.query_one("#cls-output", Static)
        if self.loaded["sentiment"] is None:
            loading = "sentiment" in self._loading
            message = (
                "The model is still loading; press Enter again in a moment."
                if loading
                else (
                    "No sentiment model is loaded: press Esc then m to pick one, or train one in the Train pane (F3)."
                )
            )
            output.update(Text(message, style="yellow"))
            return
        if not text.strip():
            output.update(Text.assemble(("✗ ", "bold red"), "There is no text to classify; type or paste a review."))
            return
        output.update(Text("scoring…", style="dim"))
        self._token += 1
        self._review = text
        self.worker.send({"op": "classify", "token": self._token, "text": text})

    def _on_classified(self, data: dict[str, Any]) -> None:
        if data["token"] != self._token:
            return
        self._show_classification(self._review, data["result"])

    def _show_classification(self, text: str, result: dict[str, Any]) -> None:
        probability = result["probability"]
        label = "positive" if probability >= 0.5 else "negative"
        colour = "green" if label == "positive" else "red"
        out = Text.assemble(
            (f"{label} ", f"bold {colour}"),
            (f"P(positive) = {probability:.3f}", "bold"),
            "  ",
            (bar(probability, 20).ljust(20), colour),
            (f"  logit {result['logit']:+.2f}\n", "dim"),
        )
        words = result["words"]
        scale = max((abs(w["contribution"]) for w in words), default=0.0) or 1.0
        coloured = Text(text)
        for word in words:
            if not word["span"] or word["contribution"] == 0:
                continue
            strength = min(abs(word["contribution"]) / scale, 1.0)
            style = ("green" if word["contribution"] > 0 else "red") + (" bold" if strength > 0.5 else "")
            if strength > 0.15:
                coloured.stylize(style if strength > 0.3 else f"dim {style}", *word["span"])
        out.append("\n")
        out.append(coloured)
        out.append("\n\n")
        ranked = sorted(words, key=lambda w: w["contribution"])
        pushes_up = [w for w in reversed(ranked) if w["contribution"] > 0][:5]
        pushes_down = [w for w in ranked if w["contribution"] < 0][:5]
        out.append("pushed towards positive: ", style="dim")
        out.append(", ".join(f"{w['token']} {w['contribution']:+.2f}" for w in pushes_up) or "nothing", style="green")
        out.append("\npushed towards negative: ", style="dim")
        out.append(", ".join(f"{w['token']} {w['contribution']:+.2f}" for w in pushes_down) or "nothing", style="red")
        unknown = sorted({w["token"] for w in words if not w["known"]})
        notes = [f"{result['method']}: the change in the logit when a word is left out"]
        if unknown:
            notes.append(
                f"{len(unknown)} word{'s' if len(unknown) > 1 else ''} not in the vocabulary read as <unk>: {', '.join(unknown[:8])}"
            )
        if result["truncated"]:
            notes.append(
                f"the review is longer than the model reads: its last {result['truncated']:,} tokens were not scored"
            )
        out.append("\n" + "\n".join(notes), style="dim")
        self.query_one("#cls-output", Static).update(out)
