"""What the Train pane's plot draws, worked out without a widget: series, smoothing, axes, ticks, styles.

One run shows a metric group (train and validation loss, say), each series with its own marker; several
runs overlaid show one metric, each run with its own marker, labelled by its display name, so curves
tell apart without colour. Smoothing is an exponential moving average with TensorBoard's debiasing (the
first points are not pulled toward zero); the raw curve stays, drawn faint. The x axis is the optimizer
step, the training time (pauses excluded) or the tokens (reviews) seen. Ticks are whole numbers where
the axis counts things, with one format for all labels of an axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Smoothing weights `z`/`Z` step through (0: raw only).
SMOOTHING = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
X_AXES = ("step", "time", "seen")
#: Markers told apart without colour, one per series (cycled past ten).
MARKERS = ("•", "x", "+", "o", "*", "#", "@", "%", "=", "~")
#: Colours (plotext and Rich both know these names), one per series.
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red", "white")
FAINT = "gray"

#: Metrics a job's runs can plot. `m` cycles groups for one run and single metrics for an overlay.
PLOTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "charlm": [
        ("loss", ("train_loss", "val_loss")),
        ("bits per character", ("train_bpc", "val_bpc")),
        ("gradient norm (before clipping)", ("grad_norm",)),
        ("learning rate", ("lr",)),
    ],
    "sentiment": [
        ("loss", ("train_loss", "val_loss")),
        ("accuracy", ("train_acc", "val_acc")),
        ("gradient norm (before clipping)", ("grad_norm",)),
        ("learning rate", ("lr",)),
    ],
}


def plot_groups(job: str) -> list[tuple[str, tuple[str, ...]]]:
    """The metric groups a job's runs can plot, in the order `m` cycles through them."""
    return PLOTS.get(job, PLOTS["charlm"])


def overlay_metrics(job: str) -> list[str]:
    """Single metrics an overlay of a job's runs cycles through, validation first."""
    keys = [key for _, group in plot_groups(job) for key in group]
    return sorted(keys, key=lambda key: (not key.startswith("val_"), keys.index(key)))


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with debiasing (as TensorBoard's smoothing slider); weight 0 is the identity."""
    if weight <= 0:
        return list(values)
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight**count))
    return smoothed


def seen_per_step(job: str, config: dict[str, Any]) -> int | None:
    """Tokens (characters) a charlm step reads, or reviews a sentiment step reads; None when unknown."""
    batch = config.get("batch_size")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
        return None
    if job == "charlm":
        length = config.get("seq_length")
        return batch * length if isinstance(length, int) and not isinstance(length, bool) and length > 0 else None
    return batch


def x_label(axis: str, job: str) -> str:
    if axis == "time":
        return "training time"
    if axis == "seen":
        return "characters seen" if job == "charlm" else "reviews seen"
    return "step"


@dataclass(frozen=True)
class PlotOptions:
    """How curves are drawn: the smoothing weight, a log y axis, and what the x axis counts."""

    smoothing: float = 0.0
    log_y: bool = False
    x_axis: str = "step"

    def describe(self, job: str) -> str:
        """What differs from the default view (step, raw, linear), for the legend; blank when nothing does."""
        parts = [f"x: {x_label(self.x_axis, job)}"] if self.x_axis != "step" else []
        if self.smoothing:
            parts.append(f"EMA {self.smoothing:g}")
        if self.log_y:
            parts.append("log y")
        return " · ".join(parts)


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    marker: str
    colour: str


#: A run's metrics by name: (steps, training times or None, values), finite numbers only, in record order.
Columns = dict[str, tuple[list[float], list[float | None], list[float]]]
_NOT_METRICS = ("step", "time", "final")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def columns_of(records: Sequence[dict[str, Any]], into: Columns | None = None) -> Columns:
    """The metrics of `records` as columns (appended to `into`); records without a step are skipped.

    The Train pane builds these in its reading thread, so drawing a run of 10k records costs the
    event loop a few list comprehensions, not a pass over every record.
    """
    columns: Columns = {} if into is None else into
    for record in records:
        raw_step: Any = record.get("step")
        raw_time: Any = record.get("time")
        if not _finite(raw_step):
            continue
        step = float(raw_step)
        time = float(raw_time) if _finite(raw_time) else None
        for key, value in record.items():
            if key in _NOT_METRICS or not _finite(value):
                continue
            steps, times, values = columns.setdefault(key, ([], [], []))
            steps.append(step)
            times.append(time)
            values.append(float(value))
    return columns


def column_points(
    columns: Columns, key: str, axis: str, per_step: int | None, log_y: bool
) -> tuple[list[float], list[float]]:
    """(xs, ys) of metric `key` on the x `axis` (positive values only on a log axis)."""
    steps, times, values = columns.get(key, ([], [], []))
    if axis == "time":
        pairs = [(t, v) for t, v in zip(times, values, strict=True) if t is not None]
    elif axis == "seen":
        pairs = [(s * per_step, v) for s, v in zip(steps, values, strict=True)] if per_step else []
    else:
        pairs = list(zip(steps, values, strict=True))
    if log_y:
        pairs = [(x, y) for x, y in pairs if y > 0]
    return [x for x, _ in pairs], [y for _, y in pairs]


def points(
    records: Sequence[dict[str, Any]], key: str, axis: str, per_step: int | None, log_y: bool
) -> tuple[list[float], list[float]]:
    """(xs, ys) of metric `key` over the records that have it (finite; positive on a log axis)."""
    return column_points(columns_of(records), key, axis, per_step, log_y)


def thin(xs: list[float], ys: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most about `limit` points, evenly taken, the last one kept (a plot has only so many columns)."""
    if len(xs) <= limit or limit <= 0:
        return xs, ys
    stride = math.ceil(len(xs) / limit)
    keep = list(range(0, len(xs), stride))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def nice_step(span: float, count: int, whole: bool) -> float:
    """A tick spacing of 1, 2 or 5 × 10^k giving about `count` ticks over `span` (at least 1 when `whole`)."""
    raw = span / max(count, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    spacing = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return max(spacing, 1.0) if whole else spacing


def fmt_count(value: float) -> str:
    """A whole count compactly: 950, 1.5k, 12k, 3.2M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            text = f"{value / size:.1f}".rstrip("0").rstrip(".")
            return text + suffix
    return f"{value:.0f}"


def fmt_clock(seconds: float) -> str:
    """Seconds as 45s, 12:30 or 1:02:00 on a time axis."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def x_ticks(low: float, high: float, axis: str, width: int) -> tuple[list[float], list[str]]:
    """Ticks and labels for the x axis: whole steps, counts or clock times, about one per 12 columns."""
    count = max(2, width // 12)
    spacing = nice_step(high - low, count, whole=True)
    if axis == "time" and high - low > 120:  # whole minutes
        spacing = 60.0 * nice_step((high - low) / 60.0, count, whole=True)
    first = math.ceil(low / spacing) * spacing
    ticks: list[float] = []
    value = first
    while value <= high + 1e-9 and len(ticks) < 50:
        ticks.append(value)
        value += spacing
    if not ticks:
        ticks = [low]
    labels = [fmt_clock(tick) if axis == "time" else fmt_count(tick) for tick in ticks]
    return ticks, labels


def y_ticks(low: float, high: float, height: int) -> tuple[list[float], list[str]]:
    """Ticks and labels for a linear y axis: about one per 3 rows, all with the same number of decimals."""
    if high <= low:
        high = low + (abs(low) or 1.0) * 0.1
    spacing = nice_step(high - low, max(2, height // 3), whole=False)
    decimals = max(0, -math.floor(math.log10(spacing))) if spacing < 1 else 0
    first = math.ceil(low / spacing) * spacing
    ticks: list[float] = []
    value = first
    while value <= high + spacing * 1e-6 and len(ticks) < 50:
        ticks.append(value)
        value += spacing
    labels = [f"{tick:.{decimals}f}" if abs(tick) < 1e5 else f"{tick:.2e}" for tick in ticks]
    return ticks, [("0" if label.strip("-0.") == "" else label) for label in labels]


def style_of(index: int) -> tuple[str, str]:
    """(marker, colour) of the index-th series."""
    return MARKERS[index % len(MARKERS)], COLOURS[index % len(COLOURS)]
