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
from tui.numbers import fmt_column, fmt_diff, fmt_typed, fmt_vector
from tui.stepper.unit_table import UnitTable

if TYPE_CHECKING:
    from engine.stepper.trace import LayerTrace, StepTrace

EQUATIONS = {
    "rnn": "h_t = ACT(x_t·W_xhᵀ + b_xh + h_{t-1}·W_hhᵀ + b_hh)",
    "lstm": "i,f,o = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   g = tanh(…)   c_t = f⊙c_{t-1} + i⊙g   h_t = o⊙tanh(c_t)",
    "gru": "r,z = σ(x_t·W_x·ᵀ + b_x· + h_{t-1}·W_h·ᵀ + b_h·)   n = tanh(x_t·W_xnᵀ + b_xn + r⊙(h_{t-1}·W_hnᵀ + b_hn))   h_t = (1−z)⊙n + z⊙h_{t-1}",
}


MAX_TIMELINE_ITEMS = 24  # no terminal is wide enough to show more of a vector on one line


class StepView(Vertical):
    """The equation, the timeline of outputs, the detail table of one step and the book's erratum.

    The timeline shows as many items of each vector as fit its width (the `… +11` says how many
    more); the detail table shows every unit, a page of columns at a time, and scrolls its rows.
    """

    def compose(self) -> ComposeResult:
        yield Static(id="equation")
        with Vertical(id="step-columns"):
            yield DataTable(id="timeline", cursor_type="row", zebra_stripes=False)
            yield UnitTable(id="detail")
        yield Static(id="erratum")

    def on_mount(self) -> None:
        self.query_one("#erratum").display = False
        self._layer: LayerTrace | None = None
        self._timeline_width = -1

    def on_resize(self) -> None:
        if self._layer is not None and self.size.width != self._timeline_width:
            self._fill_timeline()

    def show_layer(self, cell: str, nonlinearity: str, lt: LayerTrace) -> None:
        """The equation and the timeline: what changes with the layer shown, not with the step."""
        self.query_one("#equation", Static).update(EQUATIONS[cell].replace("ACT", nonlinearity))
        self._layer = lt
        self._fill_timeline()

    def _fill_timeline(self) -> None:
        lt = self._layer
        assert lt is not None
        self._timeline_width = width = self.size.width
        timeline = self.query_one("#timeline", DataTable)
        cursor = timeline.cursor_row
        typed = lt.layer == 0  # layer 0 reads what the user typed
        rows = [
            (
                str(step.t),
                _items(step.x[0].tolist(), typed),
                _items(step.h[0].tolist(), False),
                _items(step.torch_h[0].tolist(), False),
                fmt_diff(step.diff),
            )
            for step in lt.steps
        ]
        x_header = "x_t"  # for layer ≥ 1 the layer below's h_t: the Weights view's input table says so
        x_count, h_count = _fitting_counts(rows, x_header, width or 80)
        shown = [(t, _vector(x, x_count), _vector(h, h_count), _vector(th, h_count), d) for t, x, h, th, d in rows]
        headers = ("t", x_header, "h_t", "torch h_t", "|Δ|")
        timeline.clear(columns=True)
        for column, header in enumerate(headers):  # widths given: never a frame with cut vectors
            timeline.add_column(header, width=max([len(header)] + [len(row[column]) for row in shown]))
        for row in shown:
            timeline.add_row(*row)
        if timeline.row_count:
            timeline.move_cursor(row=min(cursor, timeline.row_count - 1), animate=False)

    def show_step(self, lt: LayerTrace, index: int, book: list[float] | None) -> None:
        """Highlight step `index` of the timeline and list its intermediates; `book` is the erratum's output, if shown."""
        step = lt.steps[index]
        timeline = self.query_one("#timeline", DataTable)
        if timeline.row_count:
            timeline.move_cursor(row=index, animate=False)
        self._fill_detail(step, f"{lt.label} · step {index + 1} of {len(lt.steps)}")
        self._show_erratum(step, book)

    def _fill_detail(self, step: StepTrace, title: str) -> None:
        detail = self.query_one("#detail", UnitTable)
        units = max(value.shape[-1] for value in step.terms.values())
        rows: list[tuple[str, list[float], str]] = [("h_{t-1}", step.h_prev[0].tolist(), "dim")]
        if step.c_prev is not None:
            rows.append(("c_{t-1}", step.c_prev[0].tolist(), "dim"))
        rows += [(name, value[0].tolist(), "") for name, value in step.terms.items()]
        rows.append(("torch h_t", step.torch_h[0].tolist(), "cyan"))
        table: list[tuple[Text, list[Text]]] = []
        for label, values, style in rows:
            is_output = label.startswith("h_t")
            label_style = "bold yellow" if is_output else (style or "bold")
            table.append(
                (
                    Text(label, style=label_style),
                    [Text(text, style="bold yellow" if is_output else style) for text in fmt_column(values)],
                )
            )
        table.append((Text("|Δ|", style="dim"), [Text(fmt_diff(v), style="dim") for v in step.unit_diffs.tolist()]))
        detail.set_rows(title, f"t={step.t}", [f"u{j}" for j in range(units)], table)

    def _show_erratum(self, step: StepTrace, book: list[float] | None) -> None:
        erratum = self.query_one("#erratum", Static)
        erratum.display = book is not None
        if book is not None:
            erratum.update(
                f"[b]Book erratum[/] t={step.t}: printed {fmt_vector(book)} vs nn.RNN {fmt_vector(step.torch_h[0])}\n"
                f"[dim]{ERRATUM_EXPLANATION}[/]"
            )


def _items(values: list[float], typed: bool) -> Items:
    """The first items of a vector as text, in one style, and how many items it has."""
    head = values[:MAX_TIMELINE_ITEMS]
    return (fmt_typed(head) if typed else fmt_column(head)), len(values)


def _vector(items: Items, count: int) -> str:
    """`[a, b, … +K]` with the first `count` items."""
    texts, total = items
    more = f", … +{total - count}" if total > count else ""
    return f"[{', '.join(texts[:count])}{more}]"


Items = tuple[list[str], int]  # a vector's first items as text, and its length


def _fitting_counts(rows: list[tuple[str, Items, Items, Items, str]], x_header: str, width: int) -> tuple[int, int]:
    """How many items of x_t and of h_t (and torch's h_t) fit `width` columns, as many as possible, same for both."""
    if not rows:
        return 0, 0
    x_total, h_total = rows[0][1][1], rows[0][2][1]
    fixed = max(len(row[0]) for row in rows) + max([len("|Δ|")] + [len(row[4]) for row in rows]) + 5 * 2 + 2

    def widths(column: int, total: int) -> list[int]:
        """The widest `[a, b, … +K]` of the column for each count of items shown (index: count)."""
        widest = [0] * (min(total, MAX_TIMELINE_ITEMS) + 1)
        for row in rows:
            texts = row[column][0]
            used = 2  # the brackets
            for count in range(1, len(widest)):
                used += len(texts[count - 1]) + (2 if count > 1 else 0)
                more = len(f", … +{total - count}") if total > count else 0
                widest[count] = max(widest[count], used + more)
        return widest

    x_widths, h_widths, torch_widths = widths(1, x_total), widths(2, h_total), widths(3, h_total)

    def needed(x_count: int, h_count: int) -> int:
        return (
            fixed
            + max(x_widths[x_count], len(x_header))
            + max(h_widths[h_count], 3)
            + max(torch_widths[h_count], len("torch h_t"))
        )

    # h_t and torch's h_t first: as many items as fit beside one item of x_t; then x_t takes what is left.
    for h_count in range(min(h_total, MAX_TIMELINE_ITEMS), 0, -1):
        if needed(1, h_count) <= width:
            x_count = max(
                c for c in range(1, min(x_total, MAX_TIMELINE_ITEMS) + 1) if c == 1 or needed(c, h_count) <= width
            )
            return x_count, h_count
    return 1, 1
