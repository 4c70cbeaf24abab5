"""What the inspector's Step view draws from a trace (engine.inspection): Rich Text only, no math.

For a character model: the text around the current character, the surprise strip over the whole
text, the units table (gates, c_t, h_t, torch's h_t and |Δ|) and the next-character prediction.
For a review classifier: the tokens as read (unknown ones marked), P(positive) as read so far,
the tokens that moved it most and a units table per direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import ContentSwitcher, OptionList, Static

from tui.stepper.heatmap import HeatmapColours, StripsView, heatmap_lines, legend, shown_char, units_time_lines

BLOCKS = "▁▂▃▄▅▆▇█"
GATE_HEADS = {"h": "pre"}  # an RNN's pre-activation is kept as the gate "h"
VIEWS = {"step": ("1", "Step"), "heatmap": ("4", "Heatmap"), "find": ("5", "Find units")}
HEAT_ROWS = (6, 10)  # units in the units × time strip: narrow, tall terminals


def char_label(char: str) -> str:
    """A character for a sentence: 'e', '↵' (newline), '␣' (space)."""
    return "'" + ("␣" if char == " " else shown_char(char)) + "'"


def context_line(pieces: Sequence[str], t: int, width: int) -> Text:
    """One line of the text around step t, the current character reversed."""
    count = len(pieces)
    start = max(0, min(t - width // 2, count - width))
    text = Text(no_wrap=True, overflow="crop")
    for step in range(start, min(count, start + width)):
        char = "␣" if pieces[step] == " " and step == t else shown_char(pieces[step])
        text.append(char, "reverse bold" if step == t else "")
    return text


def spark(values: Sequence[float], t: int, width: int, low: float, high: float) -> Text:
    """A one-line strip of block characters from `low` to `high`, step t reversed; a long series is
    drawn one column per bucket of steps, each column its bucket's largest value."""
    count = len(values)
    text = Text(no_wrap=True, overflow="crop")
    if count == 0 or width <= 0:
        return text
    per = max(1, -(-count // width))
    span = (high - low) or 1.0
    for start in range(0, count, per):
        bucket = values[start : start + per]
        value = max(bucket)
        level = round((min(max(value, low), high) - low) / span * (len(BLOCKS) - 1))
        current = start <= t < start + per
        text.append(BLOCKS[level], "reverse bold" if current else "cyan")
    return text


def _num(value: float) -> str:
    return f"{value:+.3f}".rjust(7)


def draw_units(
    trace: Any, layer: int, direction: int, t: int, units: Sequence[int], pinned: int | None, title: str = ""
) -> Text:
    """Header and one row per unit: the gates (after their nonlinearity), c_t, h_t, torch's h_t and |Δ|."""
    activity = trace.activity(layer, direction)
    gates = {name: tensor[t].tolist() for name, tensor in activity.gates.items()}
    c = activity.c[t].tolist() if activity.c is not None else None
    h = activity.h[t].tolist()
    torch_h = activity.torch_h[t].tolist()
    diffs = trace.unit_diffs(layer, t, direction).tolist()
    heads = [GATE_HEADS.get(name, name) for name in gates] + (["c_t"] if c is not None else []) + ["h_t", "torch"]
    text = Text(no_wrap=True, overflow="crop")
    if title:
        text.append(title + "\n", "bold")
    text.append(" unit" + "".join(head.rjust(7) for head in heads) + "     |Δ|", "bold underline")
    for unit in units:
        row = [gates[name][unit] for name in gates] + ([c[unit]] if c is not None else []) + [h[unit], torch_h[unit]]
        mark = "•" if unit == pinned else " "
        text.append(f"\n{mark}{unit:>4}", "bold yellow" if unit == pinned else "bold")
        text.append("".join(_num(value) for value in row))
        text.append(f" {diffs[unit]:7.1e}", "dim")
    return text


def prediction_text(trace: Any, t: int, wide: bool) -> Text:
    """The true next character's probability, rank and surprise, and the ten likeliest next characters."""
    text = Text()
    guesses = trace.top_next(t, 10)
    if t < trace.predictions:
        true = trace.text[t + 1]
        text.append("true next ", "bold")
        text.append(char_label(true), "bold green")
        text.append(
            f" p {float(trace.true_prob[t]):.3f} · rank {int(trace.rank[t])} · {float(trace.surprise[t]):.2f} bits"
        )
    else:
        text.append("last character: no true next one to score", "dim")
    text.append("\n")
    if wide:
        text.append("likeliest next\n", "bold")
        for guess in guesses:
            bar = "█" * max(1, round(guess.prob * 16)) if guess.prob > 0.005 else ""
            text.append(f"{char_label(guess.char):>5} {guess.prob:6.3f} ")
            text.append(bar + "\n", "green" if t < trace.predictions and guess.char == trace.text[t + 1] else "cyan")
        text.rstrip()
        return text
    text.append("next ", "bold")
    for guess in guesses:
        hit = t < trace.predictions and guess.char == trace.text[t + 1]
        text.append(f"{char_label(guess.char)}", "bold green" if hit else "bold")
        text.append(f"{guess.prob:.2f}".removeprefix("0") + " ")
    return text


def review_tokens_text(trace: Any, t: int, budget: int) -> Text:
    """The tokens as the model read them around token t (about `budget` characters), the current one reversed,
    unknown ones (read as <unk>) marked with ? and in yellow."""
    tokens = trace.tokens
    start, used = t, 0
    while start > 0 and used + len(tokens[start - 1].text) + 1 <= budget // 2:
        start -= 1
        used += len(tokens[start].text) + 1
    text = Text("… " if start else "", "dim")
    used = 0
    for step in range(start, len(tokens)):
        token = tokens[step]
        used += len(token.text) + 2
        if used > budget and step > t:
            text.append("…", "dim")
            break
        style = "reverse bold" if step == t else ("yellow" if not token.known else "")
        text.append(token.text + ("?" if not token.known else ""), style)
        text.append(" ")
    text.rstrip()
    return text


def review_summary(trace: Any, t: int, width: int) -> Text:
    """P(positive) as read so far (a curve over the tokens, 0 to 1), the final probability and the movers."""
    running = trace.running.tolist()
    text = Text()
    text.append("P(positive) so far ", "bold")
    text.append_text(spark(running, t, max(width - 20, 8), 0.0, 1.0))
    token = trace.tokens[t]
    text.append(f"\nafter {token.text!r} ({t + 1}/{trace.length}): ")
    text.append(f"P(positive) = {running[t]:.3f}", "bold")
    if trace.truncated:
        text.append(f" · {trace.truncated:,} tokens beyond max_length unread", "dim")
    text.append(f"\nwhole review: P(positive) = {trace.probability:.3f} ({trace.label})")
    text.append("\nmoved it most:", "bold")
    used = len("moved it most:")
    for mover in trace.movers(5):
        change = mover.after - mover.before
        shown = f" {mover.token.text} {change:+.3f}"
        if used + len(shown) > width:
            break
        used += len(shown)
        text.append(f" {mover.token.text} ")
        text.append(f"{change:+.3f}", "green" if change > 0 else "red")
    text.rstrip()
    return text


class InspectorDrawing(Widget):
    """The inspector's drawing: its status and views from the state tui.stepper.inspector.Inspector keeps."""

    loaded: Any
    trace: Any
    pieces: list[str]
    colours: HeatmapColours | None
    index: int
    layer_keys: list[tuple[int, int]]
    shown: tuple[int, int]
    view: str
    rank_by: str
    pinned: int | None
    page: int
    unit: int
    kind: str
    span_start: int | None
    spans: list[tuple[int, int]]
    found: list[Any]
    found_what: str

    @property
    def review(self) -> bool:
        return self.loaded is not None and self.loaded.job == "sentiment"

    # ---------------------------------------------------------------- drawing

    def set_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#ins-message", Static)
        message.set_class(error, "-error")
        message.display = bool(text)
        message.update(Text(text))

    def redraw(self) -> None:
        if self.trace is None:
            return
        # Fixed-height lines: update without a layout pass (a key press must redraw within 50 ms).
        self.query_one("#ins-status", Static).update(self._status(), layout=False)
        bar = Text()
        for name, (key, title) in VIEWS.items():
            bar.append(f" {key} {title} ", "reverse bold" if name == self.view else "dim")
            bar.append(" ")
        self.query_one("#ins-views", Static).update(bar, layout=False)
        getattr(self, f"_draw_{self.view}")()

    def _status(self) -> Text:
        trace, (layer, direction), t = self.trace, self.shown, self.index
        text = Text.assemble((self.loaded.name, "bold"), f" · {self.loaded.describe()}\n")
        where = f"layer {layer}" + (" backward" if direction else "") if len(self.layer_keys) > 1 else f"layer {layer}"
        if self.review:
            token = trace.tokens[t]
            unknown = "" if token.known else " (unknown: read as <unk>)"
            text.append(f"{where} · token {t + 1}/{trace.length} {token.text!r}{unknown}")
        else:
            text.append(f"{where} · char {t + 1}/{trace.length} x_t={char_label(trace.text[t])}")
            if trace.mean_bits is not None:
                text.append(f" · {trace.mean_bits:.2f} bits/char")
        verdict = ("✓", "green") if trace.max_diff <= 1e-4 else ("✗", "red")
        text.append(f" · max |Δ| vs torch {trace.max_diff:.1e} ")
        text.append(*verdict)
        return text

    def _page_size(self, widget: Widget, reserved: int) -> int:
        height = widget.size.height
        return max(3, height - reserved) if height else 8

    def _ranked(self, direction: int, count: int) -> tuple[list[int], int, int]:
        """The page of units shown (the pinned one first), its first position and the total."""
        hidden = self.trace.hidden_size
        order = self.trace.top_units(self.shown[0], self.index, hidden, by=self.rank_by, direction=direction)
        if self.pinned is not None:
            order = [self.pinned, *(unit for unit in order if unit != self.pinned)]
        pages = max(1, -(-hidden // count))
        self.page = min(self.page, pages - 1)
        start = self.page * count
        return order[start : start + count], start, hidden

    def _draw_step(self) -> None:
        trace, t, width = self.trace, self.index, max(self.size.width - 2, 20)
        if self.review:
            context = review_tokens_text(trace, t, width * 2)
            summary = review_summary(trace, t, int(width * 0.4) - 3 if self.has_class("-wide") else width)
        else:
            context = context_line(self.pieces, t, width)
            surprise = trace.surprise.tolist()
            context.append("\nsurprise ", "bold")
            context.append_text(spark(surprise, t, width - 9, 0.0, max(surprise, default=1.0)))
            summary = prediction_text(trace, t, self.has_class("-wide"))
        self.query_one("#ins-context", Static).update(context)
        self.query_one("#ins-predict", Static).update(summary)
        self.call_after_refresh(self._draw_units)  # the units fill the height left once the lines above are laid out

    def _draw_units(self) -> None:
        if self.trace is None or self.view != "step":
            return
        trace, t = self.trace, self.index
        units_widget = self.query_one("#ins-units", Static)
        directions = range(trace.directions)
        count = max(2, (self._page_size(units_widget, 0) - 2 * len(directions)) // len(directions))
        tables = Text(no_wrap=True, overflow="crop")
        for direction in directions:
            units, start, total = self._ranked(direction, count)
            by = "|h_t| (d: by |Δh_t|)" if self.rank_by == "h" else "|Δh_t| (d: by |h_t|)"
            title = f"units by {by} · {start + 1}–{start + len(units)} of {total} · PgUp PgDn"
            if trace.directions > 1:
                title = ("backward · " if direction else "forward · ") + title
            if direction:
                tables.append("\n")
            tables.append_text(draw_units(trace, self.shown[0], direction, t, units, self.pinned, title))
        units_widget.update(tables, layout=False)

    def _draw_heatmap(self) -> None:
        assert self.colours is not None
        layer, direction = self.shown
        width = max(self.size.width - 2, 20)
        colours = self.colours.unit(layer, direction, self.unit, self.kind)
        self.query_one("#ins-legend", Static).update(legend(colours, f"unit {self.unit} {self.kind}"), layout=False)
        heatmap = self.query_one("#ins-heatmap", StripsView)
        lines, current_line = heatmap_lines(
            self.pieces, colours, self.index, heatmap.scrollable_content_region.width or width
        )
        heatmap.show(lines, keep_visible=current_line)
        rows = HEAT_ROWS[self.size.height >= 40]
        units = self.trace.top_units(layer, self.index, rows, direction=direction)
        if self.unit in units:
            units.remove(self.unit)
        kept = [(unit, self.colours.unit(layer, direction, unit, self.kind)) for unit in [self.unit, *units][:rows]]
        pieces = [piece[:1] for piece in self.pieces] if self.review else self.pieces
        title = Strip([Segment("units × time: this unit, then the top units at this step", Style(bold=True))])
        strip = self.query_one("#ins-strip", StripsView)
        if strip.styles.height is None or strip.styles.height.value != len(kept) + 1:
            strip.styles.height = len(kept) + 1
        strip.show([title, *units_time_lines(pieces, kept, self.index, width)])

    def action_view(self, view: str) -> None:
        self.view = view
        self.query_one(ContentSwitcher).current = {"step": "ins-step", "heatmap": "ins-heat", "find": "ins-find"}[view]
        (self.query_one(OptionList) if view == "find" and self.found else self).focus()
        self.refresh_bindings()
        self.redraw()
