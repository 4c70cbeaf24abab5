"""The Stepper's inspector: a trained run stepped through a text you type, one character (or token) per step.

The widget holds what is shown (the run, its trace, the step, the layer, the unit, the marked
spans) and its keys; a thread worker loads the checkpoint and traces the text with
engine.inspection (torch loads there, never on the first frame). Three views: Step (the units
table and the prediction, or P(positive) for a review), Heatmap (the text coloured by one unit)
and Find units (the units that follow the marked text or a probe). inspect_views.py and
heatmap.py draw them; nothing here does math.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, OptionList, Static
from textual.worker import Worker, WorkerState

from tui.inspect_cli import DEFAULT_REVIEW
from tui.stepper.heatmap import HeatmapColours, StripsView
from tui.stepper.inspect_find import FindUnits
from tui.stepper.inspect_forms import TextForm, UnitForm

WIDE_COLUMNS = 120  # from here on the prediction sits beside the units table
_STEP = Binding.Group("step")
_VIEW = Binding.Group("view", compact=True)
_UNIT = Binding.Group("unit", compact=True)
_SPAN = Binding.Group("span", compact=True)

KEYS: list[BindingType] = [
    Binding("left", "step(-1)", "back", id="inspect.prev", group=_STEP, tooltip="Previous character or token"),
    Binding("right", "step(1)", "next", id="inspect.next", group=_STEP, tooltip="Next character or token"),
    Binding("home", "first", "first", id="inspect.first", show=False, tooltip="First character or token"),
    Binding("end", "last", "last", id="inspect.last", show=False, tooltip="Last character or token"),
    Binding("t", "text", "text", id="inspect.text", tooltip="Type the text to step through"),
    Binding("l", "next_layer", "layer", id="inspect.layer", tooltip="Show the next layer / direction"),
    Binding("1", "view('step')", "step", id="inspect.view_step", group=_VIEW, tooltip="Units and prediction"),
    Binding(
        "4", "view('heatmap')", "heat", id="inspect.view_heatmap", group=_VIEW, tooltip="The text coloured by a unit"
    ),
    Binding("5", "view('find')", "find", id="inspect.view_find", group=_VIEW, tooltip="Units that follow marked text"),
    Binding("d", "rank", "by Δ", id="inspect.rank", show=False, tooltip="Rank the units by |h_t| or by |Δh_t|"),
    Binding("u", "unit_form", "unit", id="inspect.unit", show=False, tooltip="Type a unit number to pin and show"),
    Binding("right_square_bracket", "unit(1)", "unit+", id="inspect.next_unit", group=_UNIT, tooltip="Next unit"),
    Binding("left_square_bracket", "unit(-1)", "unit−", id="inspect.prev_unit", group=_UNIT, tooltip="Previous unit"),
    Binding("k", "kind", "h/c", id="inspect.kind", tooltip="Colour by the hidden state h or the cell state c"),
    Binding(
        "s", "span_start", "start", id="inspect.span_start", group=_SPAN, show=False, tooltip="Mark a span from here"
    ),
    Binding("e", "span_end", "end", id="inspect.span_end", group=_SPAN, show=False, tooltip="End the marked span here"),
    Binding("x", "clear_spans", "clear", id="inspect.clear_spans", show=False, tooltip="Forget the marked spans"),
    Binding("f", "find", "find", id="inspect.find", tooltip="Rank the units that follow the marked spans"),
    Binding(
        "p", "probe", "probe", id="inspect.probe", show=False, tooltip="Rank the units that follow a built-in probe"
    ),
    Binding("pagedown", "page(1)", show=False, id="inspect.page_down", tooltip="Next page of units"),
    Binding("pageup", "page(-1)", show=False, id="inspect.page_up", tooltip="Previous page of units"),
    Binding("down", "scroll(1)", show=False, id="inspect.scroll_down", tooltip="Scroll the heatmap"),
    Binding("up", "scroll(-1)", show=False, id="inspect.scroll_up", tooltip="Scroll the heatmap"),
    Binding("escape", "close", "back", id="inspect.close", tooltip="Back to the Stepper's toy layer"),
]


class Inspector(FindUnits, can_focus=True):
    """A trained run's units, step by step over a text, with its heatmap and unit finder."""

    BINDINGS = KEYS

    class Closed(Message):
        """The user went back to the toy layer."""

    def __init__(self, runs_root: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs_root = runs_root
        self.loaded: Any = None  # engine.generation.loading.LoadedModel
        self.trace: Any = None  # CharTrace or ReviewTrace
        self.text = ""
        self.pieces: list[str] = []  # what each step reads: a character, or a token and a space
        self.colours: HeatmapColours | None = None
        self.index = 0
        self.layer_keys: list[tuple[int, int]] = [(0, 0)]
        self.shown = (0, 0)
        self.view = "step"
        self.rank_by = "h"
        self.pinned: int | None = None
        self.page = 0
        self.unit = 0
        self.kind = "h"
        self.span_start: int | None = None
        self.spans: list[tuple[int, int]] = []
        self.found: list[Any] = []
        self.found_what = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="ins-status")
        yield Static(id="ins-message")
        yield Static(id="ins-views")
        with ContentSwitcher(initial="ins-step", id="ins-switch"):
            with Vertical(id="ins-step"):
                yield Static(id="ins-context")
                with Horizontal(id="ins-step-body"):
                    yield Static(id="ins-predict")
                    yield Static(id="ins-units")
            with Vertical(id="ins-heat"):
                yield Static(id="ins-legend")
                yield StripsView(id="ins-heatmap")
                yield StripsView(id="ins-strip")
            with Vertical(id="ins-find"):
                yield Static(id="ins-find-info")
                yield OptionList(id="ins-found")

    def on_mount(self) -> None:
        self.query_one("#ins-message").display = False

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE_COLUMNS, "-wide")
        self.call_after_refresh(self.redraw)

    # ------------------------------------------------------------- computing

    def open(self, spec: Any) -> None:
        """Load a run (a RunDir, a run name or a checkpoint) and trace its default text."""
        name = getattr(spec, "name", str(spec))
        self.query_one("#ins-status", Static).update(Text(f"Loading {name}…"))
        self.set_message("")
        self.compute(spec, None)

    @work(thread=True, exclusive=True, group="inspector", exit_on_error=False)
    def compute(self, spec: Any, text: str | None) -> tuple[Any, str, Any]:
        """Load (when `spec` is given) and trace off the event loop; torch is imported here."""
        from engine.generation.loading import load_model

        loaded = self.loaded if spec is None else load_model(spec, runs_root=self.runs_root)
        if text is None:
            text = DEFAULT_REVIEW if loaded.job == "sentiment" else (loaded.config.sample_prompt or "The ")
        from engine.inspection.charlm import trace_text
        from engine.inspection.sentiment import trace_review

        return loaded, text, (trace_review if loaded.job == "sentiment" else trace_text)(loaded, text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "inspector":
            return
        event.stop()
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            self._show(*event.worker.result)
        elif event.state == WorkerState.ERROR:
            lines = str(event.worker.error).strip().splitlines()
            self.set_message(lines[0] if lines else type(event.worker.error).__name__, error=True)
            if self.trace is None:
                self.query_one("#ins-status", Static).update("No run is inspected; o picks one, Esc goes back.")

    def _show(self, loaded: Any, text: str, trace: Any) -> None:
        new_model = loaded is not self.loaded
        self.loaded, self.text, self.trace = loaded, text, trace
        self.pieces = [token.text + " " for token in trace.tokens] if self.review else list(trace.text)
        self.colours = HeatmapColours(trace)
        self.layer_keys = [(layer, d) for layer in range(trace.layer_count) for d in range(trace.directions)]
        if new_model or self.shown not in self.layer_keys:
            self.shown = (trace.layer_count - 1, 0)
            self.pinned, self.kind, self.found = None, "h", []
            self.unit = trace.top_units(self.shown[0], 0, 1)[0]
        self.index, self.page, self.span_start, self.spans = 0, 0, None, []
        self.set_message(getattr(trace, "notice", None) or "")
        self.refresh_bindings()
        self.redraw()
        # torch, the model and the trace are here to stay: keep the collector's full passes (about 0.2 s over
        # them all) off later key presses. One full pass now (after a load the user waited for anyway), so only
        # live objects are frozen. What was frozen by the previous trace is thawed first, so garbage cycles
        # made since (old widgets, an old trace) are still collected: nothing piles up over a session.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys act once a trace is shown; some only in the view they belong to."""
        if action in ("close", "text"):
            return True if action == "close" or self.trace is not None else None
        if self.trace is None:
            return False
        if action == "next_layer":
            return len(self.layer_keys) > 1
        if action in ("unit", "kind", "scroll"):
            return self.view == "heatmap" and (action != "kind" or self.trace.cell == "lstm")
        if action in ("rank", "page"):
            return self.view == "step"
        return True

    def action_step(self, delta: int) -> None:
        if self.trace is not None:
            self.index = min(max(self.index + delta, 0), self.trace.length - 1)
            self.redraw()

    def action_first(self) -> None:
        self.action_step(-self.index)

    def action_last(self) -> None:
        if self.trace is not None:
            self.action_step(self.trace.length)

    def action_next_layer(self) -> None:
        position = self.layer_keys.index(self.shown)
        self.shown = self.layer_keys[(position + 1) % len(self.layer_keys)]
        self.page = 0
        self.redraw()

    def action_rank(self) -> None:
        self.rank_by = "delta" if self.rank_by == "h" else "h"
        self.page = 0
        self.redraw()

    def action_page(self, delta: int) -> None:
        self.page = max(self.page + delta, 0)
        self.redraw()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#ins-heatmap", StripsView).scroll_relative(y=lines, animate=False)

    def action_unit(self, delta: int) -> None:
        self.unit = (self.unit + delta) % self.trace.hidden_size
        self.redraw()

    def action_kind(self) -> None:
        self.kind = "c" if self.kind == "h" else "h"
        self.redraw()

    def action_unit_form(self) -> None:
        def pin(unit: int | None) -> None:
            if unit is not None:
                self.pinned = self.unit = unit
                self.page = 0
                self.set_message(f"Unit {unit} is pinned: first in the units table, shown in the heatmap.")
                self.redraw()

        self.app.push_screen(UnitForm(self.trace.hidden_size, self.pinned), pin)

    def action_text(self) -> None:
        def trace(text: str | None) -> None:
            if text is not None and text != self.text:
                self.set_message("Tracing…")
                self.compute(None, text)

        self.app.push_screen(TextForm(self.text, "review" if self.review else "text"), trace)

    def action_close(self) -> None:
        self.post_message(self.Closed())
