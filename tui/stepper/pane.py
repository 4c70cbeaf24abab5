"""The Stepper pane: walk a torch recurrent layer through its input one time step at a time.

The pane draws what `engine.stepper.run.run_stepper` computes; it does no math itself. The
engine (and torch) load in a thread worker, so the first frame never waits for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Sparkline, Static
from textual.worker import Worker, WorkerState

from engine.cells import GATE_NAMES, GATES
from engine.stepper.scenario import ERRATUM_EXPLANATION, PRESETS, StepperConfig
from tui.numbers import fmt, fmt_plain, fmt_vector
from tui.stepper.form import StepperForm

if TYPE_CHECKING:
    from engine.stepper.run import StepperResult
    from engine.stepper.trace import LayerTrace, StepTrace

VIEWS = ("step", "weights", "gradients")
VIEW_TITLES = {"step": "Step", "weights": "Weights", "gradients": "Gradients"}
CLIP_LADDER: tuple[float | None, ...] = (None, 100.0, 10.0, 5.0, 1.0, 0.5, 0.1)
PLAY_INTERVAL_S = 0.7
WIDE_COLUMNS = 140  # from here on, the Step view stays on screen beside Weights or Gradients

EQUATIONS = {
    "rnn": "h_t = ACT(x_t·W_xhᵀ + b_xh + h_{t-1}·W_hhᵀ + b_hh)",
    "lstm": "i,f,o = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   g = tanh(…)   c_t = f⊙c_{t-1} + i⊙g   h_t = o⊙tanh(c_t)",
    "gru": "r,z = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   n = tanh(x_t·W_xnᵀ + b_xn + r⊙(h_{t-1}·W_hnᵀ + b_hn))   h_t = (1−z)⊙n + z⊙h_{t-1}",
}

_STEP = Binding.Group("step")
_VIEW = Binding.Group("view", compact=True)
_TRUNC = Binding.Group("BPTT", compact=True)
_CLIP = Binding.Group("clip", compact=True)


class StepperPane(Widget, can_focus=True):
    """Tables of a layer's weights, its per-step intermediates next to torch's, and gradients through time."""

    BINDINGS = [
        Binding("left", "step(-1)", "back", id="stepper.prev", group=_STEP, tooltip="Previous time step"),
        Binding("right", "step(1)", "next", id="stepper.next", group=_STEP, tooltip="Next time step"),
        Binding(
            "home", "first", "first", id="stepper.first", group=_STEP, key_display="Home", tooltip="First time step"
        ),
        Binding("end", "last", "last", id="stepper.last", group=_STEP, key_display="End", tooltip="Last time step"),
        Binding("space", "play", "play", id="stepper.play", tooltip="Play or pause stepping"),
        Binding("c", "configure", "config", id="stepper.configure", tooltip="Cell, sizes, layers, seed, input"),
        Binding("l", "next_layer", "layer", id="stepper.layer", tooltip="Show the next layer / direction"),
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
        Binding(
            "k", "truncate(-1)", "shorter", id="stepper.truncate_less", group=_TRUNC, tooltip="Truncate BPTT sooner"
        ),
        Binding("K", "truncate(1)", "longer", id="stepper.truncate_more", group=_TRUNC, tooltip="Truncate BPTT later"),
        Binding(
            "x", "clip(1)", "tighter", id="stepper.clip_tighter", group=_CLIP, tooltip="Lower the clipping threshold"
        ),
        Binding(
            "X", "clip(-1)", "looser", id="stepper.clip_looser", group=_CLIP, tooltip="Raise the clipping threshold"
        ),
        Binding("down", "scroll_view(1)", show=False, id="stepper.scroll_down"),
        Binding("up", "scroll_view(-1)", show=False, id="stepper.scroll_up"),
        Binding("pagedown", "scroll_view(10)", show=False, id="stepper.page_down"),
        Binding("pageup", "scroll_view(-10)", show=False, id="stepper.page_up"),
    ]

    view = reactive("step")
    index = reactive(0)  # position in the shown layer's visiting order
    playing = reactive(False)

    def __init__(self, config: StepperConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config or StepperConfig()
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
            with Vertical(id="step", classes="view"):
                yield Static(id="equation")
                with Vertical(id="step-columns"):
                    yield DataTable(id="timeline", cursor_type="row", zebra_stripes=False)
                    yield DataTable(id="detail", cursor_type="none")
                yield Static(id="erratum")
            with VerticalScroll(id="weights", classes="view"):
                yield Static(id="gate-legend")
                with Horizontal(classes="param-row"):
                    yield DataTable(id="W_xh", cursor_type="none", classes="param")
                    yield DataTable(id="b_xh", cursor_type="none", classes="param")
                with Horizontal(classes="param-row"):
                    yield DataTable(id="W_hh", cursor_type="none", classes="param")
                    yield DataTable(id="b_hh", cursor_type="none", classes="param")
                yield DataTable(id="W_hr", cursor_type="none", classes="param")
                yield DataTable(id="inputs", cursor_type="row", classes="param")
            with Vertical(id="gradients", classes="view"):
                yield Static(id="gradient-summary")
                yield Sparkline(id="gradient-spark")
                yield DataTable(id="gradient-table", cursor_type="row")
        for table in self.query(DataTable):
            table.can_focus = False

    def on_mount(self) -> None:
        self.query_one("#stepper-message").display = False
        self.query_one("#erratum").display = False
        self._timer = self.set_interval(PLAY_INTERVAL_S, self._tick, pause=True)
        self._render_views_bar()
        # Start importing torch only once the first frame is on screen: the import holds the
        # GIL for over a second and would otherwise delay that frame.
        self.call_after_refresh(self.compute, self.config)

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE_COLUMNS, "-wide")
        self._show_views()

    def _show_views(self) -> None:
        """One view at a time; on wide terminals the Step view stays beside the other two."""
        wide = self.has_class("-wide")
        beside = "weights" if self.view == "step" else self.view
        for name in VIEWS:
            visible = name == self.view or (wide and name in ("step", beside))
            self.query_one(f"#{name}").display = visible

    # ------------------------------------------------------------- computing

    @work(thread=True, exclusive=True, group="stepper", exit_on_error=False)
    def compute(self, config: StepperConfig) -> StepperResult:
        """Build and trace the layer off the event loop (the first call also imports torch)."""
        from engine.stepper.run import run_stepper

        return run_stepper(config)

    @work(thread=True, exclusive=True, group="stepper", exit_on_error=False)
    def recompute_gradients(self, truncation: int | None, clip: float | None) -> StepperResult:
        assert self.result is not None
        return self.result.with_gradient_settings(truncation, clip)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "stepper":
            return
        if event.state == WorkerState.SUCCESS:
            self._show_result(event.worker.result)
        elif event.state == WorkerState.ERROR:
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
            self._fill_layer_tables()
            self.index = 0
        self._refresh_step()
        self._fill_gradients()

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
            beside = "weights" if self.view == "step" else self.view
            on_screen = name == self.view or (self.has_class("-wide") and name in ("step", beside))
            style = "reverse bold" if on_screen else "dim"
            bar.append(f" {number} {VIEW_TITLES[name]} ", style=style)
            bar.append(" ")
        self.query_one("#stepper-views", Static).update(bar)

    def _render_status(self) -> None:
        if self.result is None:
            return
        lt, step = self.layer_trace, self.step
        diff = self.result.trace.max_abs_diff
        verdict = "[green]✓[/]" if diff <= 1e-6 else "[red]✗[/]"
        where = f"{lt.label}" if len(self.layer_keys) > 1 else "layer 0"
        self.query_one("#stepper-status", Static).update(
            f"[b]{self.config.describe()}[/]\n"
            f"{where} · step {self.index + 1}/{len(lt.steps)} (t={step.t}) · "
            f"max |Δ| vs torch {diff:.1e} {verdict}" + (" · [b]▶ playing[/]" if self.playing else "")
        )

    def _fill_layer_tables(self) -> None:
        """Tables that change with the layer shown, not with the step."""
        lt = self.layer_trace
        assert lt is not None and self.result is not None
        cell = self.result.trace.cell
        act = self.result.trace.nonlinearity
        self.query_one("#equation", Static).update(EQUATIONS[cell].replace("ACT", act))

        hidden = lt.params.W_hh.shape[1]
        timeline = self.query_one("#timeline", DataTable)
        timeline.clear(columns=True)
        timeline.add_columns("t", "x_t", "h_t", "torch h_t", "|Δ|")
        for step in lt.steps:
            timeline.add_row(
                str(step.t),
                fmt_vector(step.x[0]),
                fmt_vector(step.h[0]),
                fmt_vector(step.torch_h[0]),
                f"{step.diff:.0e}",
            )

        gates = GATES[cell]
        block = lt.params.W_xh.shape[0] // len(gates)
        row_labels = [f"{gate}{unit}" for gate in gates for unit in range(block)]
        legend = " · ".join(f"[b]{g}[/] {GATE_NAMES[g]}" for g in gates)
        self.query_one("#gate-legend", Static).update(f"{lt.label} · rows in gate blocks: {legend}")
        self._fill_matrix("W_xh", lt.params.W_xh, row_labels, [f"x{j}" for j in range(lt.params.W_xh.shape[1])], "W_xh")
        self._fill_matrix("W_hh", lt.params.W_hh, row_labels, [f"h{j}" for j in range(hidden)], "W_hh")
        self._fill_matrix("b_xh", lt.params.b_xh.unsqueeze(1), row_labels, ["b_xh"], "b_xh")
        self._fill_matrix("b_hh", lt.params.b_hh.unsqueeze(1), row_labels, ["b_hh"], "b_hh")
        W_hr = self.query_one("#W_hr", DataTable)
        W_hr.display = lt.params.W_hr is not None
        if lt.params.W_hr is not None:
            labels = [f"h{j}" for j in range(lt.params.W_hr.shape[0])]
            self._fill_matrix(
                "W_hr", lt.params.W_hr, labels, [f"m{j}" for j in range(lt.params.W_hr.shape[1])], "W_hr (projection)"
            )

        inputs = self.query_one("#inputs", DataTable)
        inputs.clear(columns=True)
        width = lt.steps[0].x.shape[-1]
        inputs.add_columns("t", *[("x" if lt.layer == 0 else "in") + str(j) for j in range(width)])
        for step in sorted(lt.steps, key=lambda s: s.t):
            inputs.add_row(str(step.t), *[fmt_plain(v) for v in step.x[0].tolist()], key=str(step.t))
        inputs.border_title = (
            "input sequence x" if lt.layer == 0 else f"input to layer {lt.layer} (layer {lt.layer - 1} outputs)"
        )

    def _fill_matrix(self, table_id: str, matrix, row_labels: list[str], column_labels: list[str], title: str) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        table.clear(columns=True)
        table.add_column("")
        table.add_columns(*column_labels)
        for label, row in zip(row_labels, matrix.tolist(), strict=False):
            table.add_row(Text(label, style="bold"), *[fmt(v) for v in row])
        table.border_title = title

    def _refresh_step(self) -> None:
        """Everything that follows the current step: highlights, the detail table, the erratum."""
        lt, step = self.layer_trace, self.step
        if lt is None or step is None:
            return
        self._render_status()
        timeline = self.query_one("#timeline", DataTable)
        if timeline.row_count:
            timeline.move_cursor(row=self.index, animate=False)
        inputs = self.query_one("#inputs", DataTable)
        if inputs.row_count:
            inputs.move_cursor(row=step.t, animate=False)
        gradient_table = self.query_one("#gradient-table", DataTable)
        if gradient_table.row_count:
            gradient_table.move_cursor(row=step.t, animate=False)

        detail = self.query_one("#detail", DataTable)
        detail.clear(columns=True)
        units = max(value.shape[-1] for value in step.terms.values())
        detail.add_column(f"t={step.t}")
        detail.add_columns(*[f"u{j}" for j in range(units)])
        rows: list[tuple[str, list[float], str]] = [("h_{t-1}", step.h_prev[0].tolist(), "dim")]
        if step.c_prev is not None:
            rows.append(("c_{t-1}", step.c_prev[0].tolist(), "dim"))
        rows += [(name, value[0].tolist(), "") for name, value in step.terms.items()]
        rows.append(("torch h_t", step.torch_h[0].tolist(), "cyan"))
        rows.append(("|Δ|", (step.h - step.torch_h).abs()[0].tolist(), "dim"))
        for label, values, style in rows:
            is_output = label.startswith("h_t")
            label_style = "bold yellow" if is_output else (style or "bold")
            cells = [Text(fmt(v), style="bold yellow" if is_output else style) for v in values]
            if label == "|Δ|":
                cells = [Text(f"{v:.0e}", style=style) for v in values]
            detail.add_row(Text(label, style=label_style), *cells, *[""] * (units - len(cells)))
        detail.border_title = f"{lt.label} · step {self.index + 1} of {len(lt.steps)}"
        self._render_erratum()

    def _render_erratum(self) -> None:
        erratum = self.query_one("#erratum", Static)
        result = self.result
        show = result is not None and result.erratum is not None and self.shown == (0, 0)
        erratum.display = show
        if not show:
            return
        step = self.step
        book = result.erratum[step.t]
        erratum.update(
            f"[b]Book erratum[/] t={step.t}: printed {fmt_vector(book)} vs nn.RNN {fmt_vector(step.torch_h[0])}\n"
            f"[dim]{ERRATUM_EXPLANATION}[/]"
        )

    def _fill_gradients(self) -> None:
        result = self.result
        if result is None:
            return
        flow = result.flow
        norms = flow.norms[self.shown]
        window = "full BPTT" if flow.truncation is None else f"truncated to the last {flow.truncation} steps"
        if flow.clip is None:
            clip = f"no clipping · ‖∇θ‖ = {fmt(flow.grad_norm)}"
        else:
            verdict = "clipped" if flow.clipped else "under the threshold"
            clip = f"clip at {flow.clip:g}: ‖∇θ‖ {fmt(flow.grad_norm)} → {fmt(flow.clipped_norm)} ({verdict})"
        finite = [n for n in norms if n > 0 and math.isfinite(n)]
        spread = ""
        if len(finite) >= 2:
            spread = f"‖∂L/∂h_t‖ spans {math.log10(max(finite) / min(finite)):.1f} orders of magnitude\n"
        self.query_one("#gradient-summary", Static).update(
            f"[b]L = Σ output at t={len(norms) - 1}[/] · {self._layer_label()} · {window}\n{spread}{clip}"
        )
        logs = [math.log10(n) if n > 0 and math.isfinite(n) else -30.0 for n in norms]
        self.query_one("#gradient-spark", Sparkline).data = logs
        table = self.query_one("#gradient-table", DataTable)
        table.clear(columns=True)
        table.add_columns("t", "‖∂L/∂h_t‖", "log₁₀ scale")
        low = min((v for v in logs if v > -30.0), default=0.0)
        high = max(logs, default=0.0)
        span = max(high - low, 1e-9)
        for t, (norm, log) in enumerate(zip(norms, logs, strict=False)):
            if norm == 0.0:
                bar = Text("· cut by truncation" if flow.truncation is not None else "· no gradient", style="dim")
            else:
                bar = Text("█" * max(1, round(1 + 29 * (log - low) / span)), style="magenta")
            table.add_row(str(t), fmt(norm), bar)
        if self.step is not None:
            table.move_cursor(row=self.step.t, animate=False)

    def _layer_label(self) -> str:
        layer, direction = self.shown
        return f"layer {layer} " + ("reverse" if direction else "forward")

    def set_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#stepper-message", Static)
        message.set_class(error, "-error")
        message.display = bool(text)
        message.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Gradient controls live in the gradient view; the layer key only where there is a choice."""
        if action in ("truncate", "clip"):
            return self.view == "gradients"
        if action == "next_layer":
            return len(self.layer_keys) > 1
        return True

    # ------------------------------------------------------------- reactions

    def watch_index(self) -> None:
        self._refresh_step()

    def watch_view(self) -> None:
        self._show_views()
        self._render_views_bar()
        self.refresh_bindings()

    def watch_playing(self, playing: bool) -> None:
        if self._timer is not None:
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
        self._fill_layer_tables()
        self._refresh_step()
        self._fill_gradients()

    def action_view(self, view: str) -> None:
        self.view = view

    def action_scroll_view(self, lines: int) -> None:
        target = {"step": "#detail", "weights": "#weights", "gradients": "#gradient-table"}[self.view]
        self.query_one(target).scroll_relative(y=lines, animate=False)

    def action_truncate(self, direction: int) -> None:
        if self.result is None:
            return
        length = self.config.length
        current = self.config.truncation or length
        window = min(max(current + direction, 1), length)
        self.set_message(
            "Full backpropagation through time."
            if window >= length
            else f"Gradients stop {window} steps back from the loss."
        )
        self.recompute_gradients(None if window >= length else window, self.config.clip)

    def action_clip(self, direction: int) -> None:
        if self.result is None:
            return
        current = self.config.clip
        position = CLIP_LADDER.index(current) if current in CLIP_LADDER else 0
        position = min(max(position + direction, 0), len(CLIP_LADDER) - 1)
        clip = CLIP_LADDER[position]
        self.set_message("No gradient clipping." if clip is None else f"clip_grad_norm_ at {clip:g}.")
        self.recompute_gradients(self.config.truncation, clip)

    def action_configure(self) -> None:
        self.playing = False
        self.app.push_screen(StepperForm(self.config), self._apply_form)

    def _apply_form(self, config: StepperConfig | None) -> None:
        if config is not None and config != self.config:
            self.set_message("")
            self.load(config)

    def load(self, config: StepperConfig) -> None:
        """Show a new scenario (the current one stays until it is computed)."""
        self.playing = False
        self.compute(config)

    def commands(self) -> Iterable[SystemCommand]:
        """Command-palette entries for the Stepper's main actions and scenarios."""
        yield SystemCommand(
            "Stepper: configure", "Cell, sizes, layers, direction, seed and input", self.action_configure
        )
        yield SystemCommand("Stepper: play / pause", "Step through time automatically", self.action_play)
        yield SystemCommand(
            "Stepper: next layer or direction", "Cycle through the layers shown", self.action_next_layer
        )
        for name, title in VIEW_TITLES.items():
            yield SystemCommand(
                f"Stepper: {title.lower()} view", f"Show the {title.lower()} view", lambda n=name: self.action_view(n)
            )
        for name, (description, config) in PRESETS.items():

            def show(config: StepperConfig = config, name: str = name) -> None:
                self.load(config)
                if name in ("vanishing", "exploding"):
                    self.view = "gradients"

            yield SystemCommand(f"Scenario: {name}", description, show)
