"""A scrolling text view that grows at its end, for generated text streaming in.

`StreamView.append` wraps only the new characters onto the last line (word wrap, breaking
inside a word only when it fills a whole line), and the view draws just the lines on screen
(Textual's line API). So each character costs the same however long the text grows; only a
change of width re-wraps everything, once.

It scrolls itself (an offset into its lines) rather than being a Textual ScrollView: a
ScrollView's scroll position change re-lays out and redraws the whole screen, which at 30
appends a second cost more than generating the text. Here an append repaints this widget only.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.strip import Strip
from textual.widget import Widget

CURSOR = "▌"


class StreamView(Widget, can_focus=True):
    """The prompt (bold) followed by generated text, followed live at the bottom unless scrolled up."""

    BINDINGS = [
        Binding("up", "scroll(-1)", "scroll up", show=False, id="stream.up"),
        Binding("down", "scroll(1)", "scroll down", show=False, id="stream.down"),
        Binding("pageup", "page(-1)", "page up", show=False, id="stream.page_up"),
        Binding("pagedown", "page(1)", "page down", show=False, id="stream.page_down"),
        Binding("home", "top", "top", show=False, id="stream.top"),
        Binding("end", "follow", "follow the end", show=False, id="stream.end"),
    ]
    DEFAULT_CSS = """
    StreamView {
        width: 1fr;  /* two side by side (d) share the row; alone, one takes it all */
        height: 1fr;
        padding: 0 1;
    }
    StreamView > .streamview--prompt {
        text-style: bold;
        color: $accent;
    }
    StreamView > .streamview--cursor {
        color: $accent;
    }
    StreamView > .streamview--more {
        color: $text-muted;
        background: $boost;
    }
    """
    COMPONENT_CLASSES = {"streamview--prompt", "streamview--cursor", "streamview--more"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._chunks: list[str] = []  # everything appended, to re-wrap at a new width
        self._length = 0  # characters appended
        self._prompt_length = 0
        self._lines: list[str] = [""]
        self._starts: list[int] = [0]  # offset of each line's first character in the whole text
        self._wrap_width = 0
        self._top: int | None = None  # first line shown; None follows the end
        self._style_cache: tuple[Style, Style, Style, Style] | None = None
        self.streaming = False

    # ------------------------------------------------------------------ content
    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def lines(self) -> tuple[str, ...]:
        """The text wrapped at the view's width, as drawn (a space where a line breaks is not drawn)."""
        return tuple(self._lines)

    @property
    def line_starts(self) -> tuple[int, ...]:
        """Where each of `lines` starts in `text`."""
        return tuple(self._starts)

    def clear(self, prompt: str = "") -> None:
        """Start over with `prompt` shown first."""
        self._chunks, self._length = [], 0
        self._lines, self._starts = [""], [0]
        self._prompt_length = len(prompt)
        self._top = None
        self.append(prompt)

    def append(self, text: str) -> None:
        """Add `text` at the end: only the last line changes (and lines after it are added)."""
        if not text:
            return
        self._chunks.append(text)
        self._feed(text)
        self.refresh()

    def set_streaming(self, streaming: bool) -> None:
        self.streaming = streaming
        self.refresh()

    def _feed(self, text: str) -> None:
        width = max(self._wrap_width, 1)
        lines, starts = self._lines, self._starts
        position = self._length
        for char in text:
            if char == "\n":
                lines.append("")
                starts.append(position + 1)
            elif char == "\r":
                pass  # a carriage return of a CRLF text: the newline after it breaks the line
            else:
                if char == "\t":
                    char = " "
                line = lines[-1]
                if len(line) < width:
                    lines[-1] = line + char
                elif char == " ":
                    lines.append("")  # the space at a break is not drawn
                    starts.append(position + 1)
                else:
                    cut = line.rfind(" ")
                    if cut > 0:  # move the word being written to the next line
                        lines[-1] = line[:cut]
                        lines.append(line[cut + 1 :] + char)
                        starts.append(starts[-1] + cut + 1)
                    else:
                        lines.append(char)
                        starts.append(position)
            position += 1
        self._length = position

    def _rewrap(self, width: int) -> None:
        self._wrap_width = width
        self._lines, self._starts, self._length = [""], [0], 0
        self._feed("".join(self._chunks))

    def on_resize(self) -> None:
        width = self.content_region.width
        if width != self._wrap_width:
            first = self._starts[self._top] if self._top is not None and self._top < len(self._starts) else None
            self._rewrap(width)
            if first is not None:  # keep the line that was at the top in view
                self._top = max(i for i, start in enumerate(self._starts) if start <= first)
            self.refresh()

    # ------------------------------------------------------------------ scrolling
    @property
    def top(self) -> int:
        """The first line on screen."""
        bottom = max(len(self._lines) - self.content_region.height, 0)
        return bottom if self._top is None else min(self._top, bottom)

    def _scroll_top_to(self, top: int) -> None:
        bottom = max(len(self._lines) - self.content_region.height, 0)
        self._top = None if top >= bottom else max(top, 0)
        self.refresh()

    def action_scroll(self, lines: int) -> None:
        self._scroll_top_to(self.top + lines)

    def action_page(self, pages: int) -> None:
        self._scroll_top_to(self.top + pages * max(self.content_region.height - 1, 1))

    def action_top(self) -> None:
        self._scroll_top_to(0)

    def action_follow(self) -> None:
        self._scroll_top_to(len(self._lines))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_scroll(-3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_scroll(3)

    # ------------------------------------------------------------------ drawing
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache = None

    def _styles(self) -> tuple[Style, Style, Style, Style]:
        """Base, prompt, cursor and "more below" styles; computing them is most of a line's cost, so they are kept."""
        if self._style_cache is None:
            base = self.rich_style
            prompt, cursor, more = (
                base + self.get_component_rich_style(f"streamview--{name}", partial=True)
                for name in ("prompt", "cursor", "more")
            )
            self._style_cache = (base, prompt, cursor, more)
        return self._style_cache

    def render_line(self, y: int) -> Strip:
        region = self.content_region
        height, width = region.height, region.width
        top = self.top
        index = top + y
        base, prompt_style, cursor_style, more_style = self._styles()
        below = len(self._lines) - (top + height)
        if self._top is not None and below > 0 and y == height - 1:
            more = f"↓ {below:,} more line{'s' if below > 1 else ''} · End follows the text"
            return Strip([Segment(more[:width], more_style)]).adjust_cell_length(width, more_style)
        if index >= len(self._lines):
            return Strip.blank(width, base)
        line, start = self._lines[index], self._starts[index]
        cut = min(max(self._prompt_length - start, 0), len(line))
        segments = [Segment(line[:cut], prompt_style), Segment(line[cut:], base)]
        if self.streaming and index == len(self._lines) - 1:
            segments.append(Segment(CURSOR, cursor_style))
        return Strip(segments).adjust_cell_length(width, base)
