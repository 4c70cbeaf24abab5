"""The Generate pane's widgets that take keys: the prompt (with its history), the output and chart
(the sampling keys), the review and the classify result.

They act through the controls handed to them when they are composed (the protocols below: what
they may ask of the pane and of its generate mode), so they import neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, TextArea

from corpora.userdirs import data_dir
from engine.generation.settings import SamplingSettings
from tui.generate.stream_view import StreamView

TEMPERATURES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
TOP_KS = (1, 2, 3, 5, 10, 20, 40, 0)  # fewest candidates first; 0 (off) keeps them all, so it comes last
TOP_PS = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
LENGTHS = (100, 200, 500, 1000, 2000, 5000, 10000)
HISTORY_SIZE = 100
FOR_A_MODEL = ("temperature", "dual", "save", "regenerate")  # GenerateBody's actions that need a model's output


def step_through(ladder: tuple[float, ...], value: float, direction: int) -> float:
    """The next value of `ladder` above (direction 1) or below (-1) `value`, or the end of the ladder."""
    if direction > 0:
        return next((v for v in ladder if v > value + 1e-9), ladder[-1])
    return next((v for v in reversed(ladder) if v < value - 1e-9), ladder[0])


def step_top_k(value: int, direction: int) -> int:
    """The next top-k with more (direction 1) or fewer (-1) candidates: 1 is the fewest, off (0) keeps them all."""
    if value == 0:
        place = len(TOP_KS) - 1
    else:
        place = max((i for i, k in enumerate(TOP_KS[:-1]) if k <= value), default=0)
        if direction < 0 and TOP_KS[place] != value:
            return TOP_KS[place]  # down from a value typed in the form: the rung below it
    return TOP_KS[min(max(place + direction, 0), len(TOP_KS) - 1)]


def focus_now(widget: Widget) -> None:
    """Move the focus at once: `Widget.focus()` waits its turn, and a key typed right after would go to the old widget."""
    widget.screen.set_focus(widget)


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


class ModeControls(Protocol):
    """What the pane's letter keys ask of the pane: another model, the other mode; and moving the focus."""

    def pick_model(self) -> None: ...

    def toggle_mode(self) -> None: ...

    def focus_on(self, selector: str) -> None: ...


class SamplingControls(ModeControls, Protocol):
    """What the output's keys ask of the generate mode."""

    @property
    def settings(self) -> SamplingSettings: ...

    @property
    def temperature2(self) -> float: ...

    def change(self, **changes: Any) -> None: ...

    def change_temperature2(self, value: float) -> None: ...

    def regenerate(self) -> None: ...

    def toggle_dual(self) -> None: ...

    def edit_settings(self) -> None: ...

    def save_output(self) -> None: ...

    def train_default(self) -> None: ...

    def offers_training(self) -> bool: ...


class ReviewControls(ModeControls, Protocol):
    """What the review's keys ask of the pane."""

    def classify(self, text: str) -> None: ...


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


class PaneKeys:
    """Keys for the whole pane that are letters, so they act only where nothing is being typed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "pick_model", "model", id="gen.model", tooltip="Pick the model from the runs"),
        Binding(
            "c", "toggle_mode", "mode", id="gen.mode", tooltip="Switch between generating text and classifying reviews"
        ),
    ]
    controls: ModeControls

    def action_pick_model(self) -> None:
        self.controls.pick_model()

    def action_toggle_mode(self) -> None:
        self.controls.toggle_mode()


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
            show=False,  # the footer fits 80 columns; help (F1) lists every key
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
            show=False,
        ),
        Binding("w", "save", "save", id="gen.save", tooltip="Save the output to a file in the run's folder"),
        Binding("i,enter", "edit_prompt", "prompt", id="gen.prompt", tooltip="Back to the prompt", show=False),
        Binding(
            "n",
            "train_default",
            "train one",
            id="gen.train_default",
            tooltip="No character model yet: train the default one (about a minute on a laptop CPU); it loads here",
        ),
    ]

    controls: SamplingControls

    def __init__(self, *children: Widget, controls: SamplingControls, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self.controls = controls

    @property
    def outputs(self) -> tuple[StreamView, StreamView]:
        """The output views: the left one (the only one unless side by side) and the right one."""
        return self.query_one("#gen-out", StreamView), self.query_one("#gen-out2", StreamView)

    def label_outputs(self, settings: SamplingSettings, temperature2: float, dual: bool) -> None:
        """Side by side, each output is titled with its temperature; alone, it has no title."""
        left, right = self.outputs
        if dual:
            left.border_title = "greedy" if settings.greedy else f"T {settings.temperature:g}"
            right.border_title = "greedy" if temperature2 == 0 else f"T {temperature2:g}"
        else:
            left.border_title = None
        left.set_class(dual, "-dual")
        right.set_class(dual, "-dual")

    def action_temperature(self, direction: int) -> None:
        self.controls.change(temperature=step_through(TEMPERATURES, self.controls.settings.temperature, direction))

    def action_temperature2(self, direction: int) -> None:
        self.controls.change_temperature2(step_through(TEMPERATURES, self.controls.temperature2, direction))

    def action_top_k(self, direction: int) -> None:
        self.controls.change(top_k=step_top_k(self.controls.settings.top_k, direction))

    def action_top_p(self, direction: int) -> None:
        self.controls.change(top_p=step_through(TOP_PS, self.controls.settings.top_p, direction))

    def action_length(self, direction: int) -> None:
        self.controls.change(length=int(step_through(LENGTHS, self.controls.settings.length, direction)))

    def action_regenerate(self) -> None:
        self.controls.regenerate()

    def action_dual(self) -> None:
        self.controls.toggle_dual()

    def action_edit_settings(self) -> None:
        self.controls.edit_settings()

    def action_save(self) -> None:
        self.controls.save_output()

    def action_edit_prompt(self) -> None:
        self.controls.focus_on("#gen-prompt")

    def action_train_default(self) -> None:
        self.controls.train_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`n` is offered (in the footer, and acts) only while there is no character model to load; the keys
        that need a model's output leave the footer then, so that `n` fits in 80 columns."""
        newcomer = self.controls.offers_training()
        if action == "train_default":
            return newcomer
        return not (newcomer and action in FOR_A_MODEL)


class ReviewArea(TextArea):
    """The review to classify: Enter classifies (paste keeps its line breaks), Esc leaves the text."""

    BINDINGS = [
        Binding("enter", "classify", "classify", priority=True, id="gen.classify", tooltip="Score the review"),
        Binding(
            "escape", "leave", "leave text", id="gen.leave_review", tooltip="Move to the result (c switches mode there)"
        ),
    ]

    def __init__(self, *, controls: ReviewControls, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls = controls

    def action_classify(self) -> None:
        self.controls.classify(self.text)

    def action_leave(self) -> None:
        self.controls.focus_on("#cls-result")


class ClassifyResult(PaneKeys, VerticalScroll, can_focus=True):
    """The classify result (a Static, #cls-output, inside): scrolls, and takes the pane's letter keys."""

    BINDINGS = [
        *PaneKeys.BINDINGS,
        Binding("i,enter", "edit_review", "review", id="gen.edit_review", tooltip="Back to the review text"),
    ]

    def __init__(self, *children: Widget, controls: ModeControls, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self.controls = controls

    def action_edit_review(self) -> None:
        self.controls.focus_on("#cls-text")
