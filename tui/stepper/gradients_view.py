"""The Stepper's Gradients view (key 3): ‖∂L/∂h_t‖ through time, truncation and clipping.

It draws a `GradientFlow` of `engine.stepper.bptt` for one layer and direction: a summary line, a
sparkline and a table of the norms on a log scale (only the scaling of the bars is done here).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from tui.numbers import fmt_column, plural
from tui.stepper.unit_table import UnitTable

if TYPE_CHECKING:
    from engine.stepper.bptt import GradientFlow

NO_GRADIENT = -30.0  # the log₁₀ drawn for a norm of zero (or not finite)
BAR_CELLS = 30


class GradientsView(Vertical):
    """The loss, the window and the clipping in words; the gradient norm at every position."""

    def compose(self) -> ComposeResult:
        yield Static(id="gradient-summary")
        yield Sparkline(id="gradient-spark")
        yield UnitTable(id="gradient-table", cursor_type="row")

    def show_flow(self, flow: GradientFlow, layer: tuple[int, int], label: str, t: int | None) -> None:
        """Draw the norms of `layer` (layer, direction), titled `label`; highlight position `t`."""
        norms = flow.norms[layer]
        self.query_one("#gradient-summary", Static).update(_summary(flow, norms, label))
        logs = [math.log10(n) if n > 0 and math.isfinite(n) else NO_GRADIENT for n in norms]
        self.query_one("#gradient-spark", Sparkline).data = logs
        table = self.query_one("#gradient-table", UnitTable)
        low = min((v for v in logs if v > NO_GRADIENT), default=0.0)
        high = max(logs, default=0.0)
        span = max(high - low, 1e-9)
        rows: list[tuple[str, list[str | Text]]] = []
        texts = fmt_column(norms)
        for position, (norm, log, text) in enumerate(zip(norms, logs, texts, strict=False)):
            if norm == 0.0:
                bar = Text("· cut by truncation" if flow.truncation is not None else "· no gradient", style="dim")
            else:
                bar = Text("█" * max(1, round(1 + (BAR_CELLS - 1) * (log - low) / span)), style="magenta")
            rows.append((str(position), [text, bar]))
        table.set_rows("", "t", ["‖∂L/∂h_t‖", "log₁₀ scale"], rows)  # its title counts the rows below the fold
        if t is not None:
            table.move_cursor(row=t, animate=False)

    def show_step(self, t: int) -> None:
        """Highlight position `t`."""
        table = self.query_one("#gradient-table", DataTable)
        if table.row_count:
            table.move_cursor(row=t, animate=False)


def _summary(flow: GradientFlow, norms: list[float], label: str) -> str:
    window = "full BPTT" if flow.truncation is None else f"truncated to the last {plural(flow.truncation, 'step')}"
    before, after = fmt_column([flow.grad_norm, flow.clipped_norm])
    if flow.clip is None:
        clip = f"no clipping · ‖∇θ‖ = {before}"
    else:
        verdict = "clipped" if flow.clipped else "under the threshold"
        clip = f"clip at {flow.clip:g}: ‖∇θ‖ {before} → {after} ({verdict})"
    finite = [n for n in norms if n > 0 and math.isfinite(n)]
    spread = ""
    if len(finite) >= 2:
        spread = f"‖∂L/∂h_t‖ spans {math.log10(max(finite) / min(finite)):.1f} orders of magnitude\n"
    return f"[b]L = Σ output at t={len(norms) - 1}[/] · {label} · {window}\n{spread}{clip}"
