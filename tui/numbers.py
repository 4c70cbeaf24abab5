"""Compact number formatting shared by the panes, the `rnn-tui step` report and the headless commands."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_VECTOR_ITEMS = 5


def fmt(value: float) -> str:
    """A number in at most ~9 characters: fixed for ordinary values, scientific for tiny or huge ones."""
    if not math.isfinite(value):
        return str(value)
    if value == 0.0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.4f}"
    return f"{value:.2e}"


def fmt_column(values: Iterable[float]) -> list[str]:
    """Numbers that sit together (a vector, a matrix, a table column) in one style, chosen as torch prints
    a tensor: 4 decimals, unless they span over 3 orders of magnitude, or some are under 1e-4 or over 1e4:
    then all in scientific notation (`7128.4277` never beside `1.02e+04`). Zero stays `0`."""
    items = list(values)
    finite = [abs(v) for v in items if math.isfinite(v) and v != 0.0]
    scientific = bool(finite) and (max(finite) / min(finite) > 1e3 or max(finite) >= 1e4 or min(finite) < 1e-4)
    style = "{:.2e}" if scientific else "{:.4f}"
    return ["0" if v == 0.0 else style.format(v) if math.isfinite(v) else str(v) for v in items]


def fmt_typed(values: Iterable[float]) -> list[str]:
    """Input a user typed: whole numbers as typed (`1, 2, 3`), else in one style (`fmt_column`)."""
    items = list(values)
    if all(math.isfinite(v) and float(v).is_integer() for v in items):
        return [fmt_plain(v) for v in items]
    return fmt_column(items)


def fmt_diff(value: float) -> str:
    """A difference to torch: `0` when exact, else one significant decimal in scientific notation."""
    return "0" if value == 0.0 else f"{value:.1e}"


def plural(count: int, noun: str) -> str:
    """`1 step`, `2 steps`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def fmt_plain(value: float) -> str:
    """Up to four decimals without trailing zeros: 1, -0.7645, 2.5 (for values a user typed)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_short(value: float) -> str:
    """Four significant digits, no trailing zeros: 1, -0.352, 1.2e-07."""
    return f"{value:.4g}"


def fmt_vector(values: Iterable[float] | Sequence[float], limit: int = MAX_VECTOR_ITEMS, plain: bool = False) -> str:
    """`[a, b, …]` with at most `limit` items shown, in one style (`fmt_column`; `plain`: as typed, `fmt_plain`).

    Accepts lists and 1-D tensors.
    """
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    texts = [fmt_plain(v) for v in items[:limit]] if plain else fmt_column(items[:limit])
    shown = ", ".join(texts)
    more = f", … +{len(items) - limit}" if len(items) > limit else ""
    return f"[{shown}{more}]"


def fmt_duration(seconds: float | None) -> str:
    """1:05 or 2:03:04; blank when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def fmt_speed(value: float | None, unit: str) -> str:
    """12.3k tokens/s or 412 reviews/s; blank when unknown."""
    if not value:
        return ""
    return f"{value / 1000:.1f}k {unit}" if value >= 10_000 else f"{value:.0f} {unit}"


def fmt_best(metric: str, value: float | None) -> str:
    """val_loss 1.402; blank when there is none yet."""
    return "" if value is None else f"{metric} {value:.4g}"


def fmt_devices(device: str, rank_devices: Sequence[str] | None = None) -> str:
    """Where a run trains, compactly: cpu, or cuda×8 for eight ranks on CUDA (8 ranks when they differ)."""
    if not rank_devices or len(rank_devices) < 2:
        return device
    kinds = {name.split(":")[0] for name in rank_devices}
    return f"{kinds.pop()}×{len(rank_devices)}" if len(kinds) == 1 else f"{len(rank_devices)} ranks"


def fmt_rank_devices(rank_devices: Sequence[str], limit: int = 16) -> str:
    """Every rank's device in rank order: 2 ranks: cpu, cpu (at most `limit` shown)."""
    shown = ", ".join(rank_devices[:limit]) + (f", … +{len(rank_devices) - limit}" if len(rank_devices) > limit else "")
    return f"{len(rank_devices)} ranks: {shown}"


def short_name(name: str) -> str:
    """'20261128-180000-charlm-ab12' -> '11-28 18:00 ab12'; other names are cut to 18 characters."""
    parts = name.split("-")
    if len(parts) == 4 and len(parts[0]) == 8 and len(parts[1]) == 6 and parts[0].isdigit() and parts[1].isdigit():
        day, clock = parts[0], parts[1]
        return f"{day[4:6]}-{day[6:8]} {clock[:2]}:{clock[2:4]} {parts[3]}"
    return name if len(name) <= 18 else name[:17] + "…"


def fit_path(path: str | Path, width: int, base: str | Path | None = None) -> str:
    """`path` as shown in `width` cells: whole if it fits, else relative to the working folder, else with the
    home folder as ~, else relative to `base`, else its tail after "…/" (the file name is always kept whole)."""
    path = Path(path)
    candidates = [str(path)]
    cwd = Path.cwd()
    if cwd != Path(cwd.anchor):  # relative to / would look relative to something else
        with contextlib.suppress(ValueError):
            candidates.append(str(path.relative_to(cwd)))
    with contextlib.suppress(ValueError):
        candidates.append(str(Path("~") / path.relative_to(Path.home())))
    if base is not None:
        with contextlib.suppress(ValueError):
            candidates.append(str(path.relative_to(base)))
    fitting = [text for text in candidates if len(text) <= width]
    if fitting:
        return fitting[0]
    parts = Path(min(candidates, key=len)).parts
    for start in range(1, len(parts)):
        tail = "…/" + "/".join(parts[start:])
        if len(tail) <= width:
            return tail
    return "…/" + path.name
