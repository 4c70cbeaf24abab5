"""The Train pane's view of the selected run: header, progress, a metric plot, and its sample or log tail.

It draws a `RunRow` and the metric `History` the pane has read (tui/train/disk.py), with textual-plotext
for the curves. Four polls a second would otherwise re-lay out the pane each time: a Static is updated
only when its text changes, and the plot only when new records arrive or another metric is asked for.
"""

from __future__ import annotations

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
from tui.train.curves import (
    FAINT,
    PlotOptions,
    column_points,
    ema,
    overlay_metrics,
    plot_groups,
    seen_per_step,
    style_of,
    thin,
    x_ticks,
    y_ticks,
)
from tui.train.disk import History, RunRow
from tui.train.runs_table import state_text

DEFAULT_OPTIONS = PlotOptions()

__all__ = ["PlotOptions", "PlotSignature", "RunView", "plot_groups", "run_text"]


class PlotSignature(NamedTuple):
    """What the plot was last drawn from: the same signature again means nothing to redraw."""

    runs: tuple[Path, ...]  # the selected run first, then those overlaid on it
    lengths: tuple[int, ...]  # how many records of each run were drawn
    title: str
    size: Size
    options: PlotOptions = DEFAULT_OPTIONS


class RunView(Vertical):
    """One run: name, job, state and devices; a progress bar; curves with their legend; the latest sample.

    Other runs may be overlaid on the plot (one metric, each run with its own marker and name).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plotted: PlotSignature | None = None
        self.legend: Text = Text()
        self._shown: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="run-header")
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(id="run-progress", show_eta=False)
            yield Static(id="run-speed")
        yield Static(id="run-legend")
        yield PlotextPlot(id="run-plot")
        yield Static(id="run-text")

    def show(
        self,
        row: RunRow,
        overlay: list[RunRow],
        histories: dict[Path, History],
        plot_index: int,
        text: Text,
        text_rows: int = 4,
        options: PlotOptions = DEFAULT_OPTIONS,
    ) -> None:
        """Draw `row`'s run (with the `overlay` runs on the same plot) and `text` below the plot."""
        s = row.status
        others = [other for other in overlay if other.run != row.run]
        overlaid = f" · +{len(others)} overlaid" if others else ""
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
        tags = f" · #{' #'.join(row.meta.tags)}" if row.meta.tags else ""
        for name in (row.label, short_name(row.label)):
            header = Text.assemble(
                (name, "bold"),
                f" · {row.job} · ",
                state,
                f" · {devices}{swept}{overlaid}",
                (tested, "bold"),
                (tags, "dim"),
            )
            if header.cell_len <= self.size.width - 2:
                break  # else the short name, as in the table, where the full one cuts the rest
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
            (waiting if s.state == "queued" and not s.step else f"{s.step:,}/{s.total:,}")
            + (f" · ETA {eta}" if eta else "")
            + (f" · {fmt_speed(s.throughput, s.throughput_unit)}" if s.throughput and s.state == "running" else "")
            + (f" · {row.usage.describe()}" if row.usage is not None and s.state in ("running", "paused") else ""),
        )
        self.draw_plot(row, others, histories, plot_index, options)
        if text_rows != self._shown.get("rows"):
            self._shown["rows"] = text_rows
            self.query_one("#run-text", Static).styles.max_height = text_rows
        self._show("#run-text", text)

    def text_room(self, show_log: bool) -> tuple[int, int]:
        """(width, rows) the text under the plot may fill: 4 rows (2 on a short screen), or a third for the log."""
        width = self.query_one("#run-text", Static).content_size.width or self.size.width - 2
        short = self.app.size.height < 30
        rows = max(2 if short else 4, self.size.height // 3) if show_log else (2 if short else 4)
        return max(width, 10), rows

    def _show(self, selector: str, content: Text | str) -> None:
        """Update a Static only when what it shows changes: each update re-lays out the pane."""
        key = (content.plain, tuple(content.spans), str(content.style)) if isinstance(content, Text) else content
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            # A one-row Static cannot change height: no need to lay the screen out again.
            self.query_one(selector, Static).update(content, layout=selector not in ("#run-header", "#run-speed"))

    def forget_plot(self) -> None:
        """Redraw the plot next time, even if no new records arrived."""
        self.plotted = None

    def draw_plot(
        self,
        row: RunRow,
        overlay: list[RunRow],
        histories: dict[Path, History],
        plot_index: int,
        options: PlotOptions = DEFAULT_OPTIONS,
    ) -> None:
        """Plot `row`'s metric group `plot_index`, or with `overlay` runs one metric of each; unless drawn already.

        Only runs of the same job are overlaid (their metrics mean the same); the legend says which
        runs were left out and why.
        """
        others = [other for other in overlay if other.run != row.run]
        if others:
            keys_list = overlay_metrics(row.job)
            key = keys_list[plot_index % len(keys_list)]
            title, keys = key, (key,)  # type: tuple[str, tuple[str, ...]]
        else:
            title, keys = plot_groups(row.job)[plot_index % len(plot_groups(row.job))]
        runs = [row, *(other for other in others if other.job == row.job)]  # only the same metric is overlaid
        left_out = [
            f"{short_name(other.label)} ({other.job}, not {row.job})" for other in others if other.job != row.job
        ]
        lengths = tuple(  # -1: not read yet ("reading…"), so its first read redraws even with no records
            len(histories[other.run.path].records) if other.run.path in histories else -1 for other in runs
        )
        plot = self.query_one("#run-plot", PlotextPlot)
        signature = PlotSignature(tuple(other.run.path for other in runs), lengths, title, plot.size, options)
        if signature == self.plotted:
            return  # nothing new: no redraw
        self.plotted = signature
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        legend = Text(title, style="bold")
        series: list[tuple[str, list[float], list[float]]] = []
        reading = [other for other in runs if other.run.path not in histories]
        for other in runs:
            columns = histories.get(other.run.path, History()).columns
            per_step = seen_per_step(other.job, other.config)
            for key in keys:
                xs, ys = column_points(columns, key, options.x_axis, per_step, options.log_y)
                if xs:
                    series.append((key if not others else short_name(other.label), xs, ys))
                elif others:
                    left_out.append(f"{short_name(other.label)} (no {key} yet)")
        width = max(plot.size.width, 20)
        all_x = [x for _, xs, _ in series for x in xs]
        all_y = [y for _, _, ys in series for y in ys]
        for index, (label, xs, ys) in enumerate(series):
            marker, colour = style_of(index)
            limit = 2 * width
            if options.smoothing:
                plt.plot(*thin(xs, ys, limit), marker="braille", color=FAINT)
                plt.plot(*thin(xs, ema(ys, options.smoothing), limit), marker=marker, color=colour)
            else:
                plt.plot(*thin(xs, ys, limit), marker=marker, color=colour)
            legend.append("  ")
            legend.append(f"{marker} {label}", style=colour)
        if options.log_y and all_y:  # (plotext fails on a log axis without data)
            plt.yscale("log")
        elif all_y:
            plt.yticks(*y_ticks(min(all_y), max(all_y), plot.size.height))
        if all_x:
            plt.xticks(*x_ticks(min(all_x), max(all_x), options.x_axis, width))
        # No x label: it would cost the plot a row; the legend names the x axis when it is not the step.
        if reading:
            legend.append("  reading…", style="dim")
        elif not series:
            legend.append("  no records yet" if not others else "  none of these runs has it yet", style="dim")
        if left_out:
            legend.append(f"  · not overlaid: {', '.join(left_out)}", style="italic")
        if options.describe(row.job):
            legend.append(f"  · {options.describe(row.job)}", style="dim")
        self.legend = legend
        self.query_one("#run-legend", Static).update(legend)
        plot.refresh()


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
