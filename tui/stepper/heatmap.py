"""The inspector's heatmap: a text laid out as it reads, each character (or token) coloured by one unit's value.

Colours run on a diverging scale, blue (most negative) through white (0) to red (most positive),
scaled by the largest |value| the unit takes over the text, so its own range fills the scale. A
unit's colours are worked out once per (layer, direction, unit, kind) and kept (`HeatmapColours`),
so a key press only lays out a Rich Text from kept styles: no engine call, no tensor. The values
come from the trace (engine.inspection); this module only maps them to colours.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

LEVELS = 21  # colours on the scale: 10 blues, white, 10 reds
_BLUE, _WHITE, _RED = (49, 84, 196), (248, 248, 248), (196, 30, 42)
KEPT_UNITS = 64  # units whose colours are kept per trace


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], share: float) -> str:
    r, g, bl = (round(x + (y - x) * share) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _palette() -> list[Style]:
    styles = []
    middle = LEVELS // 2
    for level in range(LEVELS):
        if level < middle:
            background = _mix(_BLUE, _WHITE, level / middle)
        else:
            background = _mix(_WHITE, _RED, (level - middle) / middle)
        dark = abs(level - middle) > middle * 0.6
        styles.append(Style(bgcolor=background, color="#ffffff" if dark else "#000000"))
    return styles


PALETTE = _palette()
CURRENT = Style(underline=True, bold=True)


def level_of(value: float, scale: float) -> int:
    """The palette index of `value` on a scale from −scale (0) to +scale (LEVELS − 1)."""
    if scale <= 0 or value != value:
        return LEVELS // 2
    share = max(-1.0, min(1.0, value / scale))
    return round((share + 1.0) / 2.0 * (LEVELS - 1))


class UnitColours:
    """One unit's palette level at every step, with the range of its values."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self.low = min(self.values) if self.values else 0.0
        self.high = max(self.values) if self.values else 0.0
        self.scale = max(abs(self.low), abs(self.high))
        self.levels = [level_of(v, self.scale) for v in self.values]


class HeatmapColours:
    """Colours of the units a trace has shown, most recently used kept (KEPT_UNITS of them)."""

    def __init__(self, trace: Any) -> None:
        self.trace = trace
        self._kept: OrderedDict[tuple[int, int, int, str], UnitColours] = OrderedDict()

    def unit(self, layer: int, direction: int, unit: int, kind: str) -> UnitColours:
        key = (layer, direction, unit, kind)
        found = self._kept.get(key)
        if found is None:
            found = UnitColours(self.trace.values(layer, unit, kind, direction).tolist())
            self._kept[key] = found
            while len(self._kept) > KEPT_UNITS:
                self._kept.popitem(last=False)
        self._kept.move_to_end(key)
        return found


def shown_char(char: str) -> str:
    """A character as one visible cell: a newline as ↵ (the line still breaks after it), a tab as →."""
    return {"\n": "↵", "\t": "→", "\r": "␍"}.get(char, char if char.isprintable() else "·")


def heatmap_lines(pieces: Sequence[str], colours: UnitColours, current: int, width: int) -> tuple[list[Strip], int]:
    """The pieces laid out as the text reads in lines of at most `width` cells (a break after a space where one
    is near, and after every newline, shown as a coloured ↵), each coloured by the unit; the current step
    underlined. Returns the lines and the line the current step is on.

    Strips of Segments, not Rich Text: the compositor takes them as they are (no markup or span
    conversion per frame), which keeps a redraw of 1,000 coloured characters within a few milliseconds.
    """
    width = max(width, 8)
    lines: list[Strip] = []
    line: list[Segment] = []
    used, last_space = 0, -1
    levels = colours.levels

    def flush(upto: int | None = None) -> None:
        nonlocal line, used, last_space
        kept, rest = (line, []) if upto is None else (line[:upto], line[upto:])
        lines.append(Strip(Segment.simplify(kept)))  # one segment per run of a colour: less for the compositor
        line, last_space = rest, -1
        used = sum(len(segment.text) for segment in line)

    marked: Segment | None = None
    for step, piece in enumerate(pieces):
        shown = shown_char(piece) if piece == "\n" else piece
        style = PALETTE[levels[step]]
        if step == current:
            marked = Segment(shown.rstrip() or shown, style + CURRENT)
            segments = [marked]
            if shown.rstrip() and shown != shown.rstrip():
                segments.append(Segment(shown[len(shown.rstrip()) :], style))
        else:
            segments = [Segment(shown, style)]
        size = len(shown)
        if used + size > width and line:
            flush(last_space if last_space > 0 and len(line) - last_space < width // 3 else None)
        line.extend(segments)
        used += size
        if piece.endswith(" "):
            last_space = len(line)
        if piece == "\n":
            flush()
    if line:
        flush()
    current_line = next((index for index, strip in enumerate(lines) if any(seg is marked for seg in strip)), 0)
    return lines, current_line


def legend(colours: UnitColours, what: str) -> Text:
    """`what  -0.93 ▇▇▇…▇▇▇ +0.93  min -0.41 max +0.88`: the scale's colours between its ends, then the unit's range."""
    text = Text(f"{what}  ", "bold", no_wrap=True, overflow="crop")
    text.append(f"{-colours.scale:+.2f} ", "")
    for style in PALETTE:
        text.append(" ", style)
    text.append(f" {colours.scale:+.2f}", "")
    text.append(f"  min {colours.low:+.3f} max {colours.high:+.3f}", "dim")
    return text


def units_time_lines(
    pieces: Sequence[str], rows: Sequence[tuple[int, UnitColours]], current: int, width: int, label: str = "u"
) -> list[Strip]:
    """Rows of units × columns of steps around `current` (about `width` cells), each cell the step's first character
    coloured by that unit's value there; the current column underlined."""
    tag_width = max((len(f"{label}{unit}") for unit, _ in rows), default=2) + 1
    columns = max(width - tag_width, 8)
    count = len(pieces)
    start = max(0, min(current - columns // 2, count - columns))
    end = min(count, start + columns)
    chars = [shown_char(pieces[step][:1] or " ") for step in range(start, end)]
    bold = Style(bold=True)
    lines = []
    for unit, colours in rows:
        segments = [Segment(f"{label}{unit}".rjust(tag_width - 1) + " ", bold)]
        for offset, char in enumerate(chars):
            style = PALETTE[colours.levels[start + offset]]
            segments.append(Segment(char, style + CURRENT if start + offset == current else style))
        lines.append(Strip(Segment.simplify(segments)))
    return lines


class StripsView(ScrollView, can_focus=False):
    """Lines of segments drawn as they are (the Line API), scrolled when taller than the widget."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: list[Strip] = []

    @property
    def text(self) -> str:
        """The lines' plain text (for tests and captures)."""
        return "\n".join(line.text for line in self.lines)

    def show(self, lines: list[Strip], keep_visible: int | None = None) -> None:
        self.lines = lines
        self.virtual_size = Size(max((line.cell_length for line in lines), default=0), len(lines))
        if keep_visible is not None and self.size.height:
            top = self.scroll_offset.y
            if not top <= keep_visible < top + self.size.height:
                self.scroll_to(y=max(0, keep_visible - self.size.height // 2), animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = y + scroll_y
        width = self.size.width
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        return self.lines[index].crop_extend(scroll_x, scroll_x + width, self.rich_style)
