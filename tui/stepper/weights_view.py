"""The Stepper's Weights view (key 2): one layer's parameters in gate blocks, and the input it reads.

It draws the `LayerParams` and inputs of a `LayerTrace` (engine.stepper.trace) as tables; no math.
`show_layer` fills the tables when the layer changes, `show_step` highlights the current position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from engine.cells import GATE_NAMES, GATES
from tui.numbers import fmt, fmt_plain

if TYPE_CHECKING:
    from torch import Tensor

    from engine.stepper.trace import LayerTrace


class WeightsView(VerticalScroll):
    """W_xh, b_xh, W_hh, b_hh (and an LSTM's W_hr projection) with gate-labelled rows, and the input sequence."""

    def compose(self) -> ComposeResult:
        yield Static(id="gate-legend")
        with Horizontal(classes="param-row"):
            yield DataTable(id="W_xh", cursor_type="none", classes="param")
            yield DataTable(id="b_xh", cursor_type="none", classes="param")
        with Horizontal(classes="param-row"):
            yield DataTable(id="W_hh", cursor_type="none", classes="param")
            yield DataTable(id="b_hh", cursor_type="none", classes="param")
        yield DataTable(id="W_hr", cursor_type="none", classes="param")
        yield DataTable(id="inputs", cursor_type="row", classes="param")

    def show_layer(self, cell: str, lt: LayerTrace) -> None:
        """Fill every table from the layer's parameters and the steps' inputs."""
        params = lt.params
        gates = GATES[cell]
        block = params.W_xh.shape[0] // len(gates)
        row_labels = [f"{gate}{unit}" for gate in gates for unit in range(block)]
        legend = " · ".join(f"[b]{g}[/] {GATE_NAMES[g]}" for g in gates)
        self.query_one("#gate-legend", Static).update(f"{lt.label} · rows in gate blocks: {legend}")
        hidden = params.W_hh.shape[1]
        self._fill_matrix("W_xh", params.W_xh, row_labels, [f"x{j}" for j in range(params.W_xh.shape[1])], "W_xh")
        self._fill_matrix("W_hh", params.W_hh, row_labels, [f"h{j}" for j in range(hidden)], "W_hh")
        self._fill_matrix("b_xh", params.b_xh.unsqueeze(1), row_labels, ["b_xh"], "b_xh")
        self._fill_matrix("b_hh", params.b_hh.unsqueeze(1), row_labels, ["b_hh"], "b_hh")
        W_hr = self.query_one("#W_hr", DataTable)
        W_hr.display = params.W_hr is not None
        if params.W_hr is not None:
            labels = [f"h{j}" for j in range(params.W_hr.shape[0])]
            columns = [f"m{j}" for j in range(params.W_hr.shape[1])]
            self._fill_matrix("W_hr", params.W_hr, labels, columns, "W_hr (projection)")
        self._fill_inputs(lt)

    def show_step(self, t: int) -> None:
        """Highlight position `t` of the input sequence."""
        inputs = self.query_one("#inputs", DataTable)
        if inputs.row_count:
            inputs.move_cursor(row=t, animate=False)

    def _fill_inputs(self, lt: LayerTrace) -> None:
        inputs = self.query_one("#inputs", DataTable)
        inputs.clear(columns=True)
        width = lt.steps[0].x.shape[-1]
        inputs.add_columns("t", *[("x" if lt.layer == 0 else "in") + str(j) for j in range(width)])
        for step in sorted(lt.steps, key=lambda s: s.t):
            inputs.add_row(str(step.t), *[fmt_plain(v) for v in step.x[0].tolist()], key=str(step.t))
        inputs.border_title = (
            "input sequence x" if lt.layer == 0 else f"input to layer {lt.layer} (layer {lt.layer - 1} outputs)"
        )

    def _fill_matrix(
        self, table_id: str, matrix: Tensor, row_labels: list[str], column_labels: list[str], title: str
    ) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        table.clear(columns=True)
        table.add_column("")
        table.add_columns(*column_labels)
        for label, row in zip(row_labels, matrix.tolist(), strict=False):
            table.add_row(Text(label, style="bold"), *[fmt(v) for v in row])
        table.border_title = title
