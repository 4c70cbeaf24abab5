"""The Train pane's view of the selected run: header, progress, a metric plot, and its sample or log tail.

It draws a `RunRow` and the metric `History` the pane has read (tui/train/disk.py), with textual-plotext
for the curves. Four polls a second would otherwise re-lay out the pane each time: a Static is updated
only when its text changes, and the plot only when new records arrive or another metric is asked for.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.widgets import ProgressBar, Static
from textual_plotext import PlotextPlot

from tui.numbers import fmt_duration, fmt_rank_devices, fmt_speed, short_name
from tui.train.disk import History, RunRow
from tui.train.runs_table import state_text

#: Plot groups per job: (title, metric keys drawn as series). Keys absent from a run are skipped.
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


class PlotSignature(NamedTuple):
    """What the plot was last drawn from: the same signature again means nothing to redraw."""

    runs: tuple[Path, ...]  # the selected run first, then the one compared with it
    lengths: tuple[int, ...]  # how many records of each run were drawn
    title: str
    size: Size


def plot_groups(job: str) -> list[tuple[str, tuple[str, ...]]]:
    """The metrics a job's runs can plot, in the order `m` cycles through them."""
    return PLOTS.get(job, PLOTS["charlm"])


class RunView(Vertical):
    """One run: name, job, state and devices; a progress bar; one metric's curves; the latest sample."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plotted: PlotSignature | None = None
        self._shown: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="run-header")
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(id="run-progress", show_eta=False)
            yield Static(id="run-speed")
        yield PlotextPlot(id="run-plot")
        yield Static(id="run-text")

    def show(
        self,
        row: RunRow,
        compared: RunRow | None,
        histories: dict[Path, History],
        plot_index: int,
        text: Text,
        text_rows: int = 4,
    ) -> None:
        """Draw `row`'s run (with `compared` on the same plot, if any) and `text` below the plot."""
        s = row.status
        other = ""
        if compared is not None and compared.run != row.run:
            marked = short_name(compared.run.name)
            same = compared.job == row.job
            other = f" · comparing with {marked}" if same else f" · {marked} is {compared.job}: not comparable"
        ranks = s.extra.get("rank_devices") or []
        devices = fmt_rank_devices(ranks) if len(ranks) > 1 else s.device or "device ?"
        history = histories.get(row.run.path)
        last = history.records[-1] if history and history.records else None
        final = last if last is not None and last.get("final") else None  # a finished run appends it last
        tested = (
            f" · test acc {final['test_acc']:.4f}" if final and isinstance(final.get("test_acc"), int | float) else ""
        )
        state = state_text(row)
        swept = f" · sweep {row.sweep}" if row.sweep else ""
        header = Text.assemble(
            (row.run.name, "bold"), f" · {row.job} · ", state, f" · {devices}{swept}{other}", (tested, "bold")
        )
        if (
            header.cell_len > self.size.width - 2
        ):  # the run's short name, as in the table, where the full one cuts the rest
            header = Text.assemble(
                (short_name(row.run.name), "bold"),
                f" · {row.job} · ",
                state,
                f" · {devices}{swept}{other}",
                (tested, "bold"),
            )
        self._show("#run-header", header)
        progress = self.query_one("#run-progress", ProgressBar)
        # Not before the bar has its width: it rounds the fraction to the half cells of its width then.
        laid_out = progress.query_one("#bar").size.width > 0
        # A queued run has not begun: an empty bar, not the bouncing one of a job that does not know its length yet.
        total = 1 if s.state == "queued" and not s.total else s.total or None
        if laid_out and (progress.total, progress.progress) != (total, s.step):
            progress.update(total=total, progress=s.step)
        eta = fmt_duration(s.eta_s)
        waiting = "not started" if row.queue_position is None else f"waiting: place {row.queue_position} in the queue"
        self._show(
            "#run-speed",
            (waiting if s.state == "queued" and not s.step else f"{s.step}/{s.total}")
            + (f" · ETA {eta}" if eta else "")
            + (f" · {fmt_speed(s.throughput, s.throughput_unit)}" if s.throughput and s.state == "running" else "")
            + (f" · {row.usage.describe()}" if row.usage is not None and s.state in ("running", "paused") else ""),
        )
        self.draw_plot(row, compared, histories, plot_index)
        if text_rows != self._shown.get("rows"):
            self._shown["rows"] = text_rows
            self.query_one("#run-text", Static).styles.max_height = text_rows
        self._show("#run-text", text)

    def text_room(self, show_log: bool) -> tuple[int, int]:
        """(width, rows) the text under the plot may fill: 4 rows, or a third of the view for the log tail."""
        width = self.query_one("#run-text", Static).content_size.width or self.size.width - 2
        rows = max(4, self.size.height // 3) if show_log else 4
        return max(width, 10), rows

    def _show(self, selector: str, content: Text | str) -> None:
        """Update a Static only when what it shows changes: each update re-lays out the pane."""
        key = (content.plain, tuple(content.spans), str(content.style)) if isinstance(content, Text) else content
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def forget_plot(self) -> None:
        """Redraw the plot next time, even if no new records arrived."""
        self.plotted = None

    def draw_plot(self, row: RunRow, compared: RunRow | None, histories: dict[Path, History], plot_index: int) -> None:
        """Plot metric group `plot_index` of `row`'s run (and of `compared`'s, if it is the same job), unless drawn."""
        groups = plot_groups(row.job)
        title, keys = groups[plot_index % len(groups)]
        comparable = compared is not None and compared.run != row.run and compared.job == row.job
        runs = [row.run] + ([compared.run] if compared is not None and comparable else [])
        lengths = tuple(len(histories.get(run.path, History()).records) for run in runs)
        signature = PlotSignature(tuple(run.path for run in runs), lengths, title, self.size)
        if signature == self.plotted:
            return  # nothing new: no redraw
        self.plotted = signature
        widget = self.query_one("#run-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel("step")
        drawn = False
        for run in runs:
            records = histories.get(run.path, History()).records
            prefix = "" if run == row.run else f"{short_name(run.name)} "
            for key in keys:
                points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
                points = [(x, y) for x, y in points if math.isfinite(y)]
                if points:
                    xs, ys = zip(*points, strict=False)
                    plt.plot(list(xs), list(ys), label=prefix + key, marker="braille")
                    drawn = True
        if not drawn:
            plt.title(f"{title}: no records yet")
        widget.refresh()


def run_text(
    row: RunRow, show_log: bool, sample: dict[str, Any] | None, log: list[str], room: tuple[int, int] = (80, 4)
) -> Text:
    """What goes under the plot: the error of a failed run, else the log tail or the newest sample.

    The log tail is the newest lines that fit in `room` (width, rows) once wrapped, so its last
    line is always on screen.
    """
    s = row.status
    if s.state == "failed" and s.error:
        return Text.assemble(("failed: ", "bold red"), s.error)
    if show_log:
        return Text("\n".join(tail_that_fits(log, *room)) or "(the log is empty)", style="dim")
    if sample:
        return Text.assemble((f"sample at step {sample.get('step')}: ", "bold"), str(sample.get("text", "")))
    return Text("no sample yet" if row.job == "charlm" else "", style="dim")


def tail_that_fits(lines: list[str], width: int, rows: int) -> list[str]:
    """The newest of `lines` that fit in `rows` rows of `width` cells, each line wrapped."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        height = max(1, -(-cell_len(line) // max(width, 1)))
        if kept and used + height > rows:
            break
        kept.append(line)
        used += height
    return kept[::-1]
