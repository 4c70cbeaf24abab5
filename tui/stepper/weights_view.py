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
from tui.numbers import fmt_column, fmt_typed
from tui.stepper.unit_table import UnitTable

if TYPE_CHECKING:
    from torch import Tensor

    from engine.stepper.trace import LayerTrace


class WeightsView(VerticalScroll):
    """W_xh, b_xh, W_hh, b_hh (and an LSTM's W_hr projection) with gate-labelled rows, and the input sequence.

    The matrices show as many columns as fit beside their bias (`[` `]` page through the rest) and
    all their rows: the view scrolls.
    """

    def compose(self) -> ComposeResult:
        yield Static(id="gate-legend")
        self._bias_widths = {"b_xh": 0, "b_hh": 0}  # the columns each bias table takes, margin included
        with Horizontal(classes="param-row"):
            yield UnitTable(budget=lambda table: self._beside("b_xh"), id="W_xh", classes="param")
            yield DataTable(id="b_xh", cursor_type="none", classes="param")
        with Horizontal(classes="param-row"):
            yield UnitTable(budget=lambda table: self._beside("b_hh"), id="W_hh", classes="param")
            yield DataTable(id="b_hh", cursor_type="none", classes="param")
        yield UnitTable(budget=lambda table: self._beside(None), id="W_hr", classes="param")
        yield UnitTable(budget=lambda table: self._beside(None), id="inputs", cursor_type="row", classes="param")

    def _beside(self, bias: str | None) -> int:
        """The columns a matrix may take: the view inside its scrollbar, less its margin and the bias beside it."""
        width = self.scrollable_content_region.width
        return 0 if width <= 0 else width - 1 - (self._bias_widths[bias] if bias else 0)

    def on_resize(self) -> None:
        self._refit()

    def on_show(self) -> None:
        self._refit()  # filled while hidden (no width then): fit now that there is room

    def _refit(self) -> None:
        for table in self.query(UnitTable):
            self.call_after_refresh(table.fit)

    def show_layer(self, cell: str, lt: LayerTrace) -> None:
        """Fill every table from the layer's parameters and the steps' inputs."""
        params = lt.params
        gates = GATES[cell]
        block = params.W_xh.shape[0] // len(gates)
        row_labels = [f"{gate}{unit}" for gate in gates for unit in range(block)]
        legend = " · ".join(f"[b]{g}[/] {GATE_NAMES[g]}" for g in gates)
        self.query_one("#gate-legend", Static).update(f"{lt.label} · rows in gate blocks: {legend}")
        hidden = params.W_hh.shape[1]
        below = "x" if lt.layer == 0 else "in"
        self._fill_bias("b_xh", params.b_xh.tolist(), row_labels)
        self._fill_bias("b_hh", params.b_hh.tolist(), row_labels)
        self._fill_matrix("W_xh", params.W_xh, row_labels, [f"{below}{j}" for j in range(params.W_xh.shape[1])], "W_xh")
        self._fill_matrix("W_hh", params.W_hh, row_labels, [f"h{j}" for j in range(hidden)], "W_hh")
        W_hr = self.query_one("#W_hr", UnitTable)
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
        inputs = self.query_one("#inputs", UnitTable)
        width = lt.steps[0].x.shape[-1]
        steps = sorted(lt.steps, key=lambda s: s.t)
        values = [v for step in steps for v in step.x[0].tolist()]
        texts = fmt_typed(values) if lt.layer == 0 else fmt_column(values)  # layer 0: what the user typed
        rows = [(str(step.t), texts[i * width : (i + 1) * width]) for i, step in enumerate(steps)]
        title = "input sequence x" if lt.layer == 0 else f"input to layer {lt.layer} (layer {lt.layer - 1} outputs)"
        inputs.set_rows(title, "t", [("x" if lt.layer == 0 else "in") + str(j) for j in range(width)], rows)

    def _fill_matrix(
        self, table_id: str, matrix: Tensor, row_labels: list[str], column_labels: list[str], title: str
    ) -> None:
        """One matrix in one number style (`fmt_column` over all of it)."""
        values = matrix.tolist()
        columns = len(column_labels)
        texts = fmt_column([v for row in values for v in row])
        rows = [
            (Text(label, style="bold"), texts[i * columns : (i + 1) * columns])
            for i, label in enumerate(row_labels[: len(values)])
        ]
        self.query_one(f"#{table_id}", UnitTable).set_rows(title, "", column_labels, rows)

    def _fill_bias(self, table_id: str, values: list[float], row_labels: list[str]) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        texts = fmt_column(values)
        label_width = max(len(label) for label in row_labels)
        value_width = max([len(table_id)] + [len(text) for text in texts])
        table.clear(columns=True)
        table.add_column("", width=label_width)  # widths given: never a frame with cut numbers
        table.add_column(table_id, width=value_width)
        for label, text in zip(row_labels, texts, strict=False):
            table.add_row(Text(label, style="bold"), text)
        table.border_title = table_id
        padding = 2 * table.cell_padding
        self._bias_widths[table_id] = 2 + label_width + value_width + 2 * padding + 1  # borders, columns, margin
