"""The Stepper pane: walk a torch recurrent layer through its input one time step at a time.

The pane coordinates: its keys, the thread worker that computes, which view is on screen, and the
status line. `o` opens a trained run in the inspector (inspector.py; inspect_host.py shows it in
place of the toy layer until Esc). The three views draw what `engine.stepper.run.run_stepper` computes (step_view.py,
weights_view.py, gradients_view.py); nothing here does math. The engine (and torch) load in the
worker, so the first frame never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from engine.stepper.scenario import PRESETS, StepperConfig
from engine.training.runs import RunDir
from tui.numbers import plural
from tui.stepper.form import StepperForm
from tui.stepper.gradients_view import GradientsView
from tui.stepper.inspect_host import InspectHost
from tui.stepper.inspector import Inspector
from tui.stepper.step_view import StepView
from tui.stepper.unit_table import UnitTable
from tui.stepper.weights_view import WeightsView

if TYPE_CHECKING:
    from engine.stepper.run import StepperResult
    from engine.stepper.trace import LayerTrace, StepTrace

VIEWS = ("step", "weights", "gradients")
VIEW_TITLES = {"step": "Step", "weights": "Weights", "gradients": "Gradients"}
CLIP_LADDER: tuple[float | None, ...] = (None, 100.0, 10.0, 5.0, 1.0, 0.5, 0.1)
PLAY_INTERVAL_S = 0.7
TORCH_WAIT_S = 2.0  # the longest the first scenario waits for the other panes' first reads (StepperPane.torch_after)
WIDE_COLUMNS = 140  # from here on, the Step view stays on screen beside Weights or Gradients
SCROLLED = {"step": "#detail", "weights": "#weights", "gradients": "#gradient-table"}  # what ↑/↓ scroll per view

_STEP = Binding.Group("step")
_VIEW = Binding.Group("view", compact=True)
_TRUNC = Binding.Group("BPTT", compact=True)
_CLIP = Binding.Group("clip", compact=True)
_UNITS = Binding.Group("units", compact=True)

#: The pane's keys (the help screen lists them under these ids; a keymap may remap them).
KEYS: list[BindingType] = [
    Binding("left", "step(-1)", "back", id="stepper.prev", group=_STEP, tooltip="Previous time step"),
    Binding("right", "step(1)", "next", id="stepper.next", group=_STEP, tooltip="Next time step"),
    Binding("home", "first", "first", id="stepper.first", group=_STEP, key_display="Home", tooltip="First time step"),
    Binding("end", "last", "last", id="stepper.last", group=_STEP, key_display="End", tooltip="Last time step"),
    Binding("space", "play", "play", id="stepper.play", tooltip="Play or pause stepping"),
    Binding("c", "configure", "config", id="stepper.configure", tooltip="Cell, sizes, layers, seed, input"),
    Binding("l", "next_layer", "layer", id="stepper.layer", tooltip="Show the next layer / direction"),
    Binding(
        "o", "open_run", "open run", id="stepper.open_run", show=False, tooltip="Inspect a trained run on your own text"
    ),
    Binding("1", "view('step')", "step", id="stepper.view_step", group=_VIEW, tooltip="Per-step values"),
    Binding("2", "view('weights')", "weights", id="stepper.view_weights", group=_VIEW, tooltip="Weights and input"),
    Binding(
        "3",
        "view('gradients')",
        "grads",
        id="stepper.view_gradients",
        group=_VIEW,
        tooltip="Gradients through time",
    ),
    Binding("k", "truncate(-1)", "shorter", id="stepper.truncate_less", group=_TRUNC, tooltip="Truncate BPTT sooner"),
    Binding("K", "truncate(1)", "longer", id="stepper.truncate_more", group=_TRUNC, tooltip="Truncate BPTT later"),
    Binding("x", "clip(1)", "tighter", id="stepper.clip_tighter", group=_CLIP, tooltip="Lower the clipping threshold"),
    Binding("X", "clip(-1)", "looser", id="stepper.clip_looser", group=_CLIP, tooltip="Raise the clipping threshold"),
    Binding(
        "left_square_bracket",
        "page_units(-1)",
        "units",
        id="stepper.units_prev",
        group=_UNITS,
        tooltip="Previous page of units (columns)",
    ),
    Binding(
        "right_square_bracket",
        "page_units(1)",
        "units",
        id="stepper.units_next",
        group=_UNITS,
        tooltip="Next page of units (columns)",
    ),
    Binding("down", "scroll_view(1)", show=False, id="stepper.scroll_down", tooltip="Scroll the view down a line"),
    Binding("up", "scroll_view(-1)", show=False, id="stepper.scroll_up", tooltip="Scroll the view up a line"),
    Binding("pagedown", "scroll_view(10)", show=False, id="stepper.page_down", tooltip="Scroll the view down a page"),
    Binding("pageup", "scroll_view(-10)", show=False, id="stepper.page_up", tooltip="Scroll the view up a page"),
]


class StepperPane(InspectHost, can_focus=True):
    """Tables of a layer's weights, its per-step intermediates next to torch's, and gradients through time."""

    BINDINGS = KEYS

    view = reactive("step")
    index = reactive(0)  # position in the shown layer's visiting order
    playing = reactive(False)

    def __init__(
        self,
        config: StepperConfig | None = None,
        runs_root: Path | None = None,
        run: str | None = None,
        torch_after: asyncio.Event | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        # Set once the other panes' first reads are over (the app's): torch's import starts after it.
        self.torch_after = torch_after
        self.config = config or StepperConfig()
        # What the newest requested computation will show: keys change this at once, so fast repeats
        # (x x x) each move one rung from the one before, though `config` changes only when a worker ends.
        self.pending = self.config
        self.runs_root = runs_root
        self.initial_run = run  # a run to inspect once the first frame is up (rnn-tui --run)
        self.result: StepperResult | None = None
        self.layer_keys: list[tuple[int, int]] = [(0, 0)]
        self.shown = (0, 0)  # (layer, direction) on screen
        self._timer: Timer | None = None

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static("Loading PyTorch…", id="stepper-status")
        yield Static(id="stepper-message")
        yield Static(id="stepper-views")
        with Horizontal(id="stepper-views-area"):
            yield StepView(id="step", classes="view")
            yield WeightsView(id="weights", classes="view")
            yield GradientsView(id="gradients", classes="view")
        yield Inspector(self.runs_root, id="inspector")
        for table in self.query(DataTable):
            table.can_focus = False

    def on_mount(self) -> None:
        self.query_one("#stepper-message").display = False
        self._timer = self.set_interval(PLAY_INTERVAL_S, self._tick, pause=True)
        self._render_views_bar()
        # Start importing torch only once the first frame is on screen: the import holds the
        # GIL for over a second and would otherwise delay that frame.
        self.call_after_refresh(lambda: self.run_worker(self._first_compute(), exit_on_error=False))
        if self.initial_run:
            self.call_after_refresh(self.inspect, self.initial_run)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE_COLUMNS, "-wide")
        self._show_views()

    def _on_screen(self, name: str) -> bool:
        """One view at a time; on wide terminals the Step view stays beside the other two."""
        beside = "weights" if self.view == "step" else self.view
        return name == self.view or (self.has_class("-wide") and name in ("step", beside))

    def _show_views(self) -> None:
        for name in VIEWS:
            self.query_one(f"#{name}").display = self._on_screen(name)

    # ------------------------------------------------------------- computing

    async def _first_compute(self) -> None:
        """The first scenario, once `torch_after` is set (at most TORCH_WAIT_S later); an async worker, so
        that the wait holds up no other callback.

        Importing torch starves every other thread of the GIL for about a second and a half. The Train
        pane's first read of a big runs root (a thousand runs) takes a tenth of that alone, and over a
        second beside the import, so the import waits for it.
        """
        if self.torch_after is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.torch_after.wait(), TORCH_WAIT_S)
        busy = any(w.group == "stepper" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers)
        if self.result is None and not busy:
            self.compute(self.pending)  # unless a key asked for a scenario meanwhile

    @work(thread=True, exclusive=True, group="stepper", exit_on_error=False)
    def compute(self, config: StepperConfig) -> StepperResult:
        """Build and trace the layer off the event loop (the first call also imports torch)."""
        from engine.stepper.run import run_stepper

        return run_stepper(config)  # engine.stepper.trace.native_kernels lets one trace at a time run

    @work(thread=True, exclusive=True, group="stepper", exit_on_error=False)
    def recompute_gradients(self, result: StepperResult, truncation: int | None, clip: float | None) -> StepperResult:
        return result.with_gradient_settings(truncation, clip)

    def request(self, config: StepperConfig) -> None:
        """Make `config` the pending scenario and compute it; a newer request cancels an older one.

        Only the gradient settings changed: the layer and its trace are reused, else it is rebuilt.
        """
        self.pending = config
        shown = self.result
        if shown is not None and config == replace(shown.config, truncation=config.truncation, clip=config.clip):
            self.recompute_gradients(shown, config.truncation, config.clip)
        else:
            self.compute(config)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "stepper":
            return
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            if event.worker.result.config == self.pending:  # an older request's result is already out of date
                self._show_result(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.pending = self.config  # the next key starts again from what is on screen
            # The previous scenario stays on screen; say what went wrong in one line.
            self.set_message(f"Could not compute that scenario: {event.worker.error}", error=True)
            if self.result is None:
                self.query_one("#stepper-status", Static).update("The engine failed to start; see the message below.")

    def _show_result(self, result: StepperResult) -> None:
        same_shape = self.result is not None and self.result.config == replace(
            result.config, truncation=self.result.config.truncation, clip=self.result.config.clip
        )
        self.result = result
        self.config = result.config
        self.layer_keys = [(lt.layer, lt.direction) for lt in result.trace.layers]
        self.refresh_bindings()
        if not same_shape:
            if self.shown not in self.layer_keys:
                self.shown = (0, 0)
            self._show_layer()
            self.index = 0
        self._refresh_step()
        self._show_gradients()

    # ---------------------------------------------------------------- drawing

    @property
    def layer_trace(self) -> LayerTrace | None:
        return None if self.result is None else self.result.trace.layer(*self.shown)

    @property
    def step(self) -> StepTrace | None:
        lt = self.layer_trace
        return None if lt is None else lt.steps[self.index]

    def _render_views_bar(self) -> None:
        bar = Text()
        for number, name in enumerate(VIEWS, start=1):
            bar.append(f" {number} {VIEW_TITLES[name]} ", style="reverse bold" if self._on_screen(name) else "dim")
            bar.append(" ")
        self.query_one("#stepper-views", Static).update(bar)

    def _render_status(self) -> None:
        lt, step = self.layer_trace, self.step
        if self.result is None or lt is None or step is None:
            return
        diff = self.result.trace.max_abs_diff
        verdict = "[green]✓[/]" if diff <= 1e-6 else "[red]✗[/]"
        where = f"{lt.label}" if len(self.layer_keys) > 1 else "layer 0"
        self.query_one("#stepper-status", Static).update(
            f"[b]{self.config.describe()}[/]\n"
            f"{where} · step {self.index + 1}/{len(lt.steps)} (t={step.t}) · "
            f"max |Δ| vs torch {diff:.1e} {verdict}" + (" · [b]▶ playing[/]" if self.playing else "")
        )

    def _show_layer(self) -> None:
        """The views' tables that change with the layer shown, not with the step."""
        lt = self.layer_trace
        assert lt is not None and self.result is not None
        trace = self.result.trace
        self.query_one(StepView).show_layer(trace.cell, trace.nonlinearity, lt)
        self.query_one(WeightsView).show_layer(trace.cell, lt)

    def _refresh_step(self) -> None:
        """Everything that follows the current step: the status, highlights, the detail table, the erratum."""
        lt, step = self.layer_trace, self.step
        if self.result is None or lt is None or step is None:
            return
        self._render_status()
        erratum = self.result.erratum
        book = erratum[step.t] if erratum is not None and self.shown == (0, 0) else None
        self.query_one(StepView).show_step(lt, self.index, book)
        self.query_one(WeightsView).show_step(step.t)
        self.query_one(GradientsView).show_step(step.t)

    def _show_gradients(self) -> None:
        lt, step = self.layer_trace, self.step
        if self.result is not None and lt is not None:
            self.query_one(GradientsView).show_flow(
                self.result.flow, self.shown, lt.label, None if step is None else step.t
            )

    def set_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#stepper-message", Static)
        message.set_class(error, "-error")
        message.display = bool(text)
        message.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Gradient controls live in the gradient view; the layer key only where there is a choice."""
        if self.inspecting:
            return action == "open_run"
        if action in ("truncate", "clip"):
            return self.view == "gradients"
        if action == "next_layer":
            return len(self.layer_keys) > 1
        if action == "page_units":
            return any(table.pages for table in self._paged_tables())
        return True

    def _paged_tables(self) -> list[UnitTable]:
        """The tables of the view in front whose columns `[` `]` page."""
        return [table for table in self.query_one(f"#{self.view}").query(UnitTable) if table.display]

    # ------------------------------------------------------------- reactions

    def watch_index(self) -> None:
        self._refresh_step()

    def watch_view(self) -> None:
        self._show_views()
        self._render_views_bar()
        self.refresh_bindings()

    def watch_playing(self, playing: bool) -> None:
        if self._timer is not None:
            if playing:
                self._timer.reset()  # the first step comes a whole interval after the key, not a leftover one
            (self._timer.resume if playing else self._timer.pause)()
        self._render_status()

    def _tick(self) -> None:
        lt = self.layer_trace
        if lt is None or self.index >= len(lt.steps) - 1:
            self.playing = False
            return
        self.index += 1

    # --------------------------------------------------------------- actions

    def action_step(self, delta: int) -> None:
        lt = self.layer_trace
        if lt is not None:
            self.index = min(max(self.index + delta, 0), len(lt.steps) - 1)

    def action_first(self) -> None:
        self.index = 0

    def action_last(self) -> None:
        lt = self.layer_trace
        if lt is not None:
            self.index = len(lt.steps) - 1

    def action_play(self) -> None:
        lt = self.layer_trace
        if lt is None:
            return
        if not self.playing and self.index >= len(lt.steps) - 1:
            self.index = 0  # play from the start once at the end
        self.playing = not self.playing

    def action_next_layer(self) -> None:
        if self.result is None:
            return
        position = self.layer_keys.index(self.shown)
        self.shown = self.layer_keys[(position + 1) % len(self.layer_keys)]
        self.index = 0
        self._show_layer()
        self._refresh_step()
        self._show_gradients()

    def action_view(self, view: str) -> None:
        self.view = view

    def on_unit_table_fitted(self) -> None:
        self.refresh_bindings()

    def action_page_units(self, direction: int) -> None:
        for table in self._paged_tables():
            table.page(direction)

    def action_scroll_view(self, lines: int) -> None:
        self.query_one(SCROLLED[self.view]).scroll_relative(y=lines, animate=False)

    def action_truncate(self, direction: int) -> None:
        if self.result is not None:
            window, message = truncation_after(self.pending, direction)
            self.set_message(message)
            self.request(replace(self.pending, truncation=window))

    def action_clip(self, direction: int) -> None:
        if self.result is not None:
            clip, message = clip_after(self.pending, direction)
            self.set_message(message)
            self.request(replace(self.pending, clip=clip))

    def action_configure(self) -> None:
        self.playing = False
        self.app.push_screen(StepperForm(self.pending), self._apply_form)

    def _apply_form(self, config: StepperConfig | None) -> None:
        if config is not None and config != self.pending:
            self.set_message("")
            self.load(config)

    def load(self, config: StepperConfig) -> None:
        """Show a new scenario (the current one stays until it is computed)."""
        self.playing = False
        self.request(config)

    def inspect(self, spec: RunDir | str) -> None:
        self.playing = False
        super().inspect(spec)

    def commands(self) -> Iterable[SystemCommand]:
        """Command-palette entries for the Stepper's main actions and scenarios."""
        return palette_commands(self)


def truncation_after(config: StepperConfig, direction: int) -> tuple[int | None, str]:
    """The BPTT window one step shorter (-1) or longer (+1) than `config`'s (None: full BPTT), and why."""
    length = config.length
    window = min(max((config.truncation or length) + direction, 1), length)
    if window >= length:
        return None, "Full backpropagation through time."
    return window, f"Gradients stop {plural(window, 'step')} back from the loss."


def clip_after(config: StepperConfig, direction: int) -> tuple[float | None, str]:
    """The next clipping threshold down (+1) or up (-1) the ladder from `config`'s (None: no clipping), and why."""
    position = CLIP_LADDER.index(config.clip) if config.clip in CLIP_LADDER else 0
    clip = CLIP_LADDER[min(max(position + direction, 0), len(CLIP_LADDER) - 1)]
    return clip, "No gradient clipping." if clip is None else f"clip_grad_norm_ at {clip:g}."


def palette_commands(pane: StepperPane) -> Iterable[SystemCommand]:
    """The Stepper's main actions, its views and the scenario presets, for the command palette."""
    yield SystemCommand("Inspect a trained run", "Step a trained model through your own text", pane.action_open_run)
    yield SystemCommand("Stepper: configure", "Cell, sizes, layers, direction, seed and input", pane.action_configure)
    yield SystemCommand("Stepper: play / pause", "Step through time automatically", pane.action_play)
    yield SystemCommand("Stepper: next layer or direction", "Cycle through the layers shown", pane.action_next_layer)
    for name, title in VIEW_TITLES.items():
        yield SystemCommand(
            f"Stepper: {title.lower()} view", f"Show the {title.lower()} view", lambda n=name: pane.action_view(n)
        )
    for name, (description, config) in PRESETS.items():

        def show(config: StepperConfig = config, name: str = name) -> None:
            pane.load(config)
            if name in ("vanishing", "exploding"):
                pane.view = "gradients"

        yield SystemCommand(f"Scenario: {name}", description, show)
