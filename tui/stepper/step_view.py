"""The Stepper's Step view (key 1): the cell's equation, every step's h_t next to torch's, one step's intermediates.

It draws a `LayerTrace` of `engine.stepper.trace` as `engine.stepper.run.run_stepper` computed it, and
the chapter's erratum from the `StepperResult`; it keeps no state of its own and does no math. The
Stepper pane says what to show: `show_layer` when the layer changes, `show_step` when the step does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engine.stepper.scenario import ERRATUM_EXPLANATION
from tui.numbers import fmt, fmt_vector

if TYPE_CHECKING:
    from engine.stepper.trace import LayerTrace, StepTrace

EQUATIONS = {
    "rnn": "h_t = ACT(x_t·W_xhᵀ + b_xh + h_{t-1}·W_hhᵀ + b_hh)",
    "lstm": "i,f,o = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   g = tanh(…)   c_t = f⊙c_{t-1} + i⊙g   h_t = o⊙tanh(c_t)",
    "gru": "r,z = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   n = tanh(x_t·W_xnᵀ + b_xn + r⊙(h_{t-1}·W_hnᵀ + b_hn))   h_t = (1−z)⊙n + z⊙h_{t-1}",
}


class StepView(Vertical):
    """The equation, the timeline of outputs, the detail table of one step and the book's erratum."""

    def compose(self) -> ComposeResult:
        yield Static(id="equation")
        with Vertical(id="step-columns"):
            yield DataTable(id="timeline", cursor_type="row", zebra_stripes=False)
            yield DataTable(id="detail", cursor_type="none")
        yield Static(id="erratum")

    def on_mount(self) -> None:
        self.query_one("#erratum").display = False

    def show_layer(self, cell: str, nonlinearity: str, lt: LayerTrace) -> None:
        """The equation and the timeline: what changes with the layer shown, not with the step."""
        self.query_one("#equation", Static).update(EQUATIONS[cell].replace("ACT", nonlinearity))
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

    def show_step(self, lt: LayerTrace, index: int, book: list[float] | None) -> None:
        """Highlight step `index` of the timeline and list its intermediates; `book` is the erratum's output, if shown."""
        step = lt.steps[index]
        timeline = self.query_one("#timeline", DataTable)
        if timeline.row_count:
            timeline.move_cursor(row=index, animate=False)
        self._fill_detail(step, f"{lt.label} · step {index + 1} of {len(lt.steps)}")
        self._show_erratum(step, book)

    def _fill_detail(self, step: StepTrace, title: str) -> None:
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
        rows.append(("|Δ|", step.unit_diffs.tolist(), "dim"))
        for label, values, style in rows:
            is_output = label.startswith("h_t")
            label_style = "bold yellow" if is_output else (style or "bold")
            cells = [Text(fmt(v), style="bold yellow" if is_output else style) for v in values]
            if label == "|Δ|":
                cells = [Text(f"{v:.0e}", style=style) for v in values]
            detail.add_row(Text(label, style=label_style), *cells, *[""] * (units - len(cells)))
        detail.border_title = title

    def _show_erratum(self, step: StepTrace, book: list[float] | None) -> None:
        erratum = self.query_one("#erratum", Static)
        erratum.display = book is not None
        if book is not None:
            erratum.update(
                f"[b]Book erratum[/] t={step.t}: printed {fmt_vector(book)} vs nn.RNN {fmt_vector(step.torch_h[0])}\n"
                f"[dim]{ERRATUM_EXPLANATION}[/]"
            )
