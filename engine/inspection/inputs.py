"""What a user hands the inspection: the error every bad input raises, the text limit and spans (torch-free).

Every refusal is an `InspectInputError` carrying one sentence, which the command line prints as
`rnn-tui: <sentence>` with exit status 2 and a UI shows as it is.
"""

from __future__ import annotations

from engine.numbers import read_whole, shown

#: The longest text inspected in one pass, in characters (a trace keeps every gate of every step).
MAX_TEXT = 10_000


class InspectInputError(ValueError):
    """A text, span, layer, unit or probe the inspection cannot use; the message is one sentence."""


def check_text(text: str | None, what: str = "text") -> str:
    """`text` itself; InspectInputError when it is empty or longer than MAX_TEXT characters."""
    if not text:
        raise InspectInputError(f"There is no {what} to inspect; type or paste some.")
    if len(text) > MAX_TEXT:
        raise InspectInputError(
            f"The {what} has {len(text):,} characters, more than the {MAX_TEXT:,} inspected at once; shorten it."
        )
    return text


def parse_span(text: str) -> tuple[int, int]:
    """(start, end) from "START:END": character offsets, START before END, as in Python's text[start:end].

    Each number is read by engine.numbers, as every flag is ("1,000:1,200" too). Whether the span fits the text is
    checked where the text is known (engine.inspection.units.span_signal).
    """
    parts = text.split(":")
    start, end = (read_whole(part) for part in parts) if len(parts) == 2 else (None, None)
    if start is None or end is None or start < 0 or start >= end:
        raise InspectInputError(
            f'A span is START:END with whole numbers, START before END (such as 4:12), not "{shown(text)}".'
        )
    return start, end
