"""What the Generate pane shows and nobody types into: the model line, the settings line, the status line
and the next-character chart. Each takes values and draws them; none of them knows the pane.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from engine.generation.sampler import Candidate
from engine.generation.settings import SamplingSettings
from tui.numbers import short_name

SHOWN_CHARS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
BAR = "█▏▎▍▌▋▊▉"
FAILED = ("✗ ", "bold red")


def shown_char(char: str) -> str:
    return SHOWN_CHARS.get(char, char)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `fraction` (0..1) of `width` cells, in eighths."""
    eighths = round(max(0.0, min(fraction, 1.0)) * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (BAR[rest] if rest else "")


def failure(text: str | Text) -> Text:
    """`text` after a red ✗: how the pane says something went wrong."""
    return Text.assemble(FAILED, text)


class ModelLine(Static):
    """The top line: which model each mode uses, or why there is none."""

    def show_model(self, mode: str, name: str, describe: str) -> None:
        self.update(Text.assemble((f" {mode} ", "bold reverse"), " ", (short_name(name), "bold"), " · ", describe))

    def show_loading(self, name: str) -> None:
        self.update(Text.assemble(("loading ", "dim"), name, ("…", "dim")))

    def show_missing(self, job: str, runs_root: Path) -> None:
        """No run of `job` has a checkpoint under `runs_root` (the picker, m, names the folder)."""
        if job == "charlm":
            self.update(
                Text.assemble(("No character model yet", "bold yellow"), ": press n to train the default one (~1 min).")
            )
        else:
            self.update(
                Text.assemble(
                    ("No sentiment model yet", "bold yellow"), ": train one in the Train pane (F3, n), then m."
                )
            )

    def show_training(self, name: str, phase: str, step: int, total: int) -> None:
        """The default character model (n) is training: how far, until its first checkpoint loads."""
        done = f"step {step:,}/{total:,}" if total else phase
        self.update(
            Text.assemble(
                ("training ", "dim"),
                (short_name(name), "bold"),
                f" · {done}",
                (" · loads at its first checkpoint", "dim"),
            )
        )

    def show_load_error(self, error: str) -> None:
        self.update(Text.assemble(FAILED, error, (" (m picks another)", "dim")))

    def show_failure(self, text: str) -> None:
        self.update(failure(text))


class SettingsLine(Static):
    """The sampling settings in use, and the second temperature when two are shown side by side."""

    def show(self, settings: SamplingSettings, temperature2: float, dual: bool) -> None:
        s = settings
        temperature = "greedy (T 0)" if s.greedy else f"T {s.temperature:g} (scale {s.scale_factor:.3g})"
        parts = [
            ("temp ", "dim"),
            (temperature, "bold"),
            ("  top-k ", "dim"),
            (str(s.top_k) if s.top_k else "off", "bold"),
            ("  top-p ", "dim"),
            (f"{s.top_p:g}" if s.top_p < 1 else "off", "bold"),
            ("  len ", "dim"),
            (f"{s.length:,}", "bold"),
            ("  seed ", "dim"),
            (str(s.seed), "bold"),
        ]
        if s.stop:
            parts += [("  stop ", "dim"), (repr(s.stop), "bold")]
        if dual:
            parts += [("  right: ", "dim"), (f"T {temperature2:g}", "bold")]
        self.update(Text.assemble(*parts))


class LiveText(Widget):
    """Text that changes often (a status line, a chart): a new value only repaints this widget.

    A Static's update also re-lays out its parent; here the size is fixed by the stylesheet.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._content: Text = Text()

    def update(self, content: str | Text) -> None:
        content = Text(content) if isinstance(content, str) else content
        if (
            content.plain != self._content.plain
            or content.spans != self._content.spans
            or content.style != self._content.style
        ):
            self._content = content
            self.refresh()

    def render(self) -> Text:
        return self._content


class StatusLine(LiveText):
    """Progress while generating, and how it ended (red for an error)."""

    def say(self, text: str | Text, error: bool = False) -> None:
        """One line: a longer text ends in … rather than wrapping out of sight (a path has no space to wrap at)."""
        self.set_class(error, "-error")
        line = Text(text) if isinstance(text, str) else text.copy()
        line.no_wrap, line.overflow = True, "ellipsis"
        self.update(line)


class NextCharChart(LiveText):
    """Bars of the likeliest next characters: after temperature and filtering, and (dim) the raw softmax."""

    def show(self, candidates: tuple[Candidate, ...], settings: SamplingSettings, where: str) -> None:
        width = max(self.size.width - self.styles.gutter.width, 16)
        bar_width = max(width - 15, 3)  # "  x " + bar + " 39.5%" + " 29%"
        heading = (
            "greedy (argmax)" if settings.greedy else f"T {settings.temperature:g} · scale {settings.scale_factor:.3g}"
        )
        text = Text.assemble(("next char", "bold"), (f" {where}\n", "dim"), (heading, "cyan"), "\n")
        text.append(f"{'':3} {'':{bar_width}} {'now':>5} {'raw':>4}\n", style="dim")
        top = max((c.prob for c in candidates), default=1.0) or 1.0
        for candidate in candidates:
            text.append(f"{shown_char(candidate.char):>3} ", style="bold")
            text.append(bar(candidate.prob / top, bar_width).ljust(bar_width), style="green")
            text.append(f" {candidate.prob:5.1%}")
            text.append(f" {candidate.raw:4.0%}\n", style="dim")
        if not candidates:
            text.append("(no candidates)", style="dim")
        self.update(text)

    def message(self, text: str) -> None:
        self.update(Text(text, style="dim"))
