"""The `rnn-tui step` report: a Stepper result as plain-text tables, for scripts and SSH.

It draws what `engine.stepper.run.run_stepper` computed (no math of its own) with rich
tables: the layer's parameters in gate blocks, every intermediate of every step next to
torch's value, the chapter's erratum, and the gradient norms through time.
"""

from __future__ import annotations

import math
import shutil
import struct
import sys
from collections.abc import Sequence
from io import StringIO
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from engine.cells import GATE_NAMES, GATES
from engine.stepper.scenario import ERRATUM_EXPLANATION
from tui.numbers import fmt, fmt_column

if TYPE_CHECKING:
    from engine.stepper.run import StepperResult
    from engine.stepper.trace import LayerTrace

DEFAULT_WIDTH = 100
MAX_COLUMNS = 7  # matrix columns and vector items shown before "…"
MAX_ROWS = 32  # matrix rows shown before "…"
BAR_WIDTH = 30


def render_text(result: StepperResult, width: int | None = None) -> str:
    """The whole trace as text: terminal width (or 100 columns) and colour only on a terminal."""
    tty = sys.stdout.isatty()
    if width is None:
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if tty else DEFAULT_WIDTH
    out = StringIO()
    console = Console(
        file=out,
        width=width,
        force_terminal=tty,
        color_system="auto" if tty else None,
        highlight=False,
        markup=False,
        emoji=False,
    )
    for block in _blocks(result):
        console.print(block)
        console.print()
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    return "\n".join(lines).rstrip("\n") + "\n"


def _blocks(result: StepperResult) -> list[RenderableType]:
    trace, config = result.trace, result.config
    blocks: list[RenderableType] = [_header(result)]
    for lt in trace.layers:
        blocks.extend(_parameter_tables(config.cell, lt))
    blocks.append(_input_table(result))
    for lt in trace.layers:
        blocks.append(_step_table(lt))
    blocks.append(_output_table(result))
    if result.erratum is not None:
        blocks.append(_erratum_table(result))
    blocks.append(_gradient_summary(result))
    blocks.append(_gradient_table(result))
    return blocks


def _header(result: StepperResult) -> Text:
    config, trace = result.config, result.trace
    kind = {"rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}[config.cell]
    extra = f", nonlinearity='{config.nonlinearity}'" if config.cell == "rnn" else ""
    extra += ", bidirectional=True" if config.bidirectional else ""
    text = Text()
    text.append("rnn-tui step", style="bold")
    text.append(f" · {config.describe()}\n")
    text.append(
        f"torch.manual_seed({config.seed}); {kind}({config.input_size}, {config.hidden_size}, "
        f"num_layers={config.num_layers}{extra}, batch_first=True)"
    )
    if config.w_hh_scale != 1.0:
        text.append(f"; W_hh ×= {config.w_hh_scale:g}")
    text.append(f"\nmax |Δ| vs torch: {_diff(trace.max_abs_diff)}", style="bold")
    return text


# ----------------------------------------------------------------- parameters


def _parameter_tables(cell: str, lt: LayerTrace) -> list[RenderableType]:
    params = lt.params
    gates = GATES[cell]
    block = params.W_xh.shape[0] // len(gates)
    rows = [f"{gate}{unit}" for gate in gates for unit in range(block)]
    legend = ", ".join(f"{gate} {GATE_NAMES[gate]}" for gate in gates)
    below = "x" if lt.layer == 0 else "in"
    tables = [
        _with_note(
            _matrix(
                f"W_xh · {lt.label}", params.W_xh.tolist(), rows, [f"{below}{j}" for j in range(params.W_xh.shape[1])]
            ),
            f"rows in gate blocks: {legend}",
        ),
        _matrix(f"W_hh · {lt.label}", params.W_hh.tolist(), rows, [f"h{j}" for j in range(params.W_hh.shape[1])]),
        _matrix(
            f"b_xh, b_hh · {lt.label}",
            [list(pair) for pair in zip(params.b_xh.tolist(), params.b_hh.tolist(), strict=False)],
            rows,
            ["b_xh", "b_hh"],
        ),
    ]
    if params.W_hr is not None:
        W_hr = params.W_hr.tolist()
        tables.append(
            _matrix(
                f"W_hr (projection) · {lt.label}",
                W_hr,
                [f"h{j}" for j in range(len(W_hr))],
                [f"m{j}" for j in range(len(W_hr[0]))],
            )
        )
    return tables


def _table(title: str) -> Table:
    """A borderless table at least as wide as its title, so the title stays on one line."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), min_width=len(title) + 2)


def _with_note(table: RenderableType, note: str | None) -> RenderableType:
    return table if note is None else Group(table, Text(note))


def _matrix(title: str, values: list[list[float]], row_labels: list[str], column_labels: list[str]) -> RenderableType:
    table = _table(title)
    table.add_column("", style="bold")
    shown = column_labels[:MAX_COLUMNS]
    for label in shown:
        table.add_column(label, justify="right", no_wrap=True)
    hidden_columns = len(column_labels) - len(shown)
    if hidden_columns:
        table.add_column(f"… +{hidden_columns}")
    shown_rows = list(zip(row_labels, values, strict=False))[:MAX_ROWS]
    texts = fmt_column([v for _, row in shown_rows for v in row[: len(shown)]])  # one style per matrix
    for i, (label, _) in enumerate(shown_rows):
        cells = texts[i * len(shown) : (i + 1) * len(shown)]
        table.add_row(label, *cells, *(["…"] if hidden_columns else []))
    hidden_rows = len(values) - MAX_ROWS
    return _with_note(table, f"… and {hidden_rows} more rows (all of them in --json)" if hidden_rows > 0 else None)


def _input_table(result: StepperResult) -> RenderableType:
    sequence = result.config.sequence
    columns = [f"x{j}" for j in range(result.config.input_size)]
    return _matrix(
        "input sequence x", [list(step) for step in sequence], [f"t={t}" for t in range(len(sequence))], columns
    )


# ----------------------------------------------------------------- steps


def _step_table(lt: LayerTrace) -> Table:
    """Every intermediate of every step of one layer and direction, in the order the cell visits them."""
    table = _table(f"{lt.label} · step by step")
    table.add_column("t", justify="right", style="bold")
    table.add_column("quantity")
    table.add_column("value")
    x_name = "x_t" if lt.layer == 0 else f"x_t (layer {lt.layer - 1} output)"
    for step in lt.steps:
        rows: list[tuple[str, str]] = [
            (x_name, _vector(step.x[0].tolist())),
            ("h_{t-1}", _vector(step.h_prev[0].tolist())),
        ]
        if step.c_prev is not None:
            rows.append(("c_{t-1}", _vector(step.c_prev[0].tolist())))
        rows += [(name, _vector(value[0].tolist())) for name, value in step.terms.items()]
        rows.append(("torch h_t", _vector(step.torch_h[0].tolist())))
        rows.append(("|Δ|", _diff(step.diff)))
        for i, (name, value) in enumerate(rows):
            table.add_row(str(step.t) if i == 0 else "", name, value)
        table.add_section()
    return table


def _output_table(result: StepperResult) -> RenderableType:
    """The top layer's outputs at full float32 precision, as torch prints them, next to torch's own."""
    trace = result.trace
    table = _table("outputs (top layer) vs torch")
    table.add_column("t", justify="right", style="bold")
    table.add_column("recomputed h_t")
    table.add_column("torch output")
    table.add_column("|Δ|", justify="right")
    ours, theirs = trace.output[0], trace.torch_output[0]
    for t in range(ours.shape[0]):
        delta = float((ours[t] - theirs[t]).abs().max())
        table.add_row(str(t), _precise(ours[t].tolist()), _precise(theirs[t].tolist()), _diff(delta))
    return _with_note(table, f"max |Δ| vs torch over every step, output and final state: {_diff(trace.max_abs_diff)}")


def _erratum_table(result: StepperResult) -> RenderableType:
    table = _table("the book's erratum: its manual loop vs nn.RNN (layer 0 forward)")
    table.add_column("t", justify="right", style="bold")
    table.add_column("book (b_hh twice)")
    table.add_column("correct (nn.RNN)")
    table.add_column("|book − correct|", justify="right")
    steps = {step.t: step for step in result.trace.layer(0, 0).steps}
    for t, book in enumerate(result.erratum or []):
        correct = steps[t].torch_h[0].tolist()
        gap = max(abs(a - b) for a, b in zip(book, correct, strict=False))
        table.add_row(str(t), _precise(book), _precise(correct), fmt(gap))
    return _with_note(table, ERRATUM_EXPLANATION)


# ----------------------------------------------------------------- gradients


def _gradient_summary(result: StepperResult) -> Text:
    flow = result.flow
    window = "full BPTT" if flow.truncation is None else f"truncated BPTT, k = {flow.truncation} steps"
    text = Text()
    text.append("gradients through time", style="bold")
    text.append(f" · L = Σ top-layer output at t={result.config.length - 1} = {fmt(flow.loss)} · {window}\n")
    before, after = fmt_column([flow.grad_norm, flow.clipped_norm])
    if flow.clip is None:
        text.append(f"no clipping · grad norm ‖∇θ‖ = {before}")
    else:
        verdict = "clipped" if flow.clipped else "under the threshold, unchanged"
        text.append(f"clip_grad_norm_ at {flow.clip:g} · grad norm before clipping {before}, after {after} ({verdict})")
    return text


def _gradient_table(result: StepperResult) -> RenderableType:
    flow = result.flow
    keys = list(flow.norms)
    layers = result.config.num_layers
    bar_key = (layers - 1, 0)
    table = _table("‖∂L/∂h_t‖ per step")
    table.add_column("t", justify="right", style="bold")
    for layer, direction in keys:
        table.add_column(f"layer {layer} {'rev' if direction else 'fwd'}", justify="right")
    table.add_column("log scale", no_wrap=True, overflow="crop")
    bars = _log_bars(flow.norms[bar_key])
    columns = [fmt_column(flow.norms[key]) for key in keys]  # one style per column
    for t in range(result.config.length):
        table.add_row(str(t), *[column[t] for column in columns], bars[t])
    return _with_note(table, f"bars: layer {layers - 1} forward on a log₁₀ scale; · = no gradient reaches h_t")


def _log_bars(norms: Sequence[float]) -> list[str]:
    logs = [math.log10(n) if n > 0 and math.isfinite(n) else None for n in norms]
    known = [v for v in logs if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    span = max(high - low, 1e-9)
    bars = []
    for norm, log in zip(norms, logs, strict=False):
        if log is None:
            bars.append("·" if norm == 0.0 else "!")
        else:
            bars.append("█" * max(1, round(1 + (BAR_WIDTH - 1) * (log - low) / span)))
    return bars


# ----------------------------------------------------------------- numbers


def _vector(values: Sequence[float]) -> str:
    shown = ", ".join(fmt_column(values[:MAX_COLUMNS]))
    more = f", … +{len(values) - MAX_COLUMNS}" if len(values) > MAX_COLUMNS else ""
    return f"[{shown}{more}]"


def _float32(value: float) -> str:
    """The shortest text that reads back as the same float32, as torch and numpy print it."""
    if not math.isfinite(value):
        return str(value)
    as_float32 = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == as_float32:
            return text
    return repr(value)


def _precise(values: Sequence[float]) -> str:
    """Every float32 digit that matters, so the values compare with the book's printout."""
    shown = ", ".join(_float32(v) for v in values[:MAX_COLUMNS])
    more = f", … +{len(values) - MAX_COLUMNS}" if len(values) > MAX_COLUMNS else ""
    return f"[{shown}{more}]"


def _diff(value: float) -> str:
    return "0" if value == 0.0 else f"{value:.1e}"
