"""Finding units: which hidden units follow a stretch of text you mark, or a built-in probe, over a whole trace.

A signal is one number per character of the text (1 inside a marked span, or a probe's value).
Each unit is scored by the Pearson correlation between its activation over the text and the
signal (SCORE_DEFINITION says so in one sentence for the UI), and units are ranked by its size.
For a character model's trace the time axis is the kept characters (CharTrace.text); for a
review's, each token takes the mean of the signal over the characters of its span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from engine.inspection.inputs import InspectInputError

if TYPE_CHECKING:
    from engine.inspection.charlm import CharTrace
    from engine.inspection.sentiment import ReviewTrace

SCORE_DEFINITION = (
    "A unit's score is the Pearson correlation, from −1 to 1, between its value at every step of the text and"
    " the signal (1 inside the marked text, 0 outside, or the probe's value); units are ranked by its size,"
    " and a negative score means the unit goes down where the signal goes up."
)

QUOTES_OPEN, QUOTES_CLOSE, STRAIGHT_QUOTE = "“", "”", '"'
APOSTROPHES = "'’"


class UnitScore(NamedTuple):
    unit: int
    score: float  # Pearson correlation with the signal, sign kept (0 for a unit that never changes)


@dataclass(frozen=True)
class Probe:
    description: str  # one sentence: what the signal is
    signal: Callable[[str], Tensor]  # text -> Tensor[len(text)], float32


def rank_units(values: Tensor, signal: Tensor, top: int = 10) -> list[UnitScore]:
    """The `top` units of values [T, H] whose activation correlates most with signal [T], by |score| (ties by unit).

    A unit whose value never changes scores 0 (never NaN). InspectInputError when the signal is
    the same at every step: no unit could follow it more than another.
    """
    if values.dim() != 2 or signal.dim() != 1 or values.shape[0] != signal.shape[0]:
        raise InspectInputError(
            f"The signal has {signal.numel():,} steps but the values {values.shape[0] if values.dim() else 0:,}; they must match."
        )
    v = values.detach().double().cpu()
    s = signal.detach().double().cpu()
    if s.numel() < 2 or bool(s.max() == s.min()):
        raise InspectInputError(
            "The signal is the same at every step, so no unit can follow it better than another; mark only part of the text."
        )
    vc = v - v.mean(dim=0)
    sc = s - s.mean()
    spread = vc.norm(dim=0) * sc.norm()
    constant = v.amax(dim=0) == v.amin(dim=0)
    scores = torch.where(constant | (spread == 0), torch.zeros_like(spread), (sc @ vc) / spread).clamp(-1.0, 1.0)
    order = torch.sort(scores.abs(), descending=True, stable=True).indices[: max(top, 0)]
    return [UnitScore(int(unit), float(scores[unit])) for unit in order]


def span_signal(length: int, spans: Iterable[tuple[int, int]]) -> Tensor:
    """Tensor[length]: 1 inside any [start, end) span, 0 outside; InspectInputError for a span outside the text."""
    signal = torch.zeros(length)
    for start, end in spans:
        if not 0 <= start < end <= length:
            raise InspectInputError(
                f"The span {start}:{end} is not inside the text, which has {length:,} characters (0:{length} is all of it)."
            )
        signal[start:end] = 1.0
    return signal


# ------------------------------------------------------------------------------ probes


def _quotes(text: str) -> Tensor:
    inside, values = False, []
    for char in text:
        if char == STRAIGHT_QUOTE:
            inside = not inside
        elif char == QUOTES_OPEN:
            inside = True
        elif char == QUOTES_CLOSE:
            inside = False
        values.append(1.0 if inside else 0.0)
    return torch.tensor(values)


def _line_position(text: str) -> Tensor:
    position, values = 0, []
    for char in text:
        position = 0 if char == "\n" else position + 1
        values.append(float(position))
    return torch.tensor(values)


def _after_full_stop(text: str) -> Tensor:
    after, values = False, []
    for char in text:
        if char == ".":
            after = True
        elif char.isalpha():
            after = False
        values.append(1.0 if after else 0.0)
    return torch.tensor(values)


def _in_word(text: str) -> Tensor:
    values = []
    for index, char in enumerate(text):
        inner = (
            char in APOSTROPHES
            and 0 < index < len(text) - 1
            and text[index - 1].isalpha()
            and text[index + 1].isalpha()
        )
        values.append(1.0 if char.isalpha() or inner else 0.0)
    return torch.tensor(values)


PROBES: dict[str, Probe] = {
    "quotes": Probe(
        '1 from an opening quotation mark up to its closing one (a straight " opens and closes in turn, “ opens, ” closes),'
        " the opening mark included and the closing one not, 0 elsewhere.",
        _quotes,
    ),
    "line position": Probe(
        "How many characters have been read since the last newline (0 at a newline, 1 at the first character of a line).",
        _line_position,
    ),
    "after full stop": Probe(
        "1 on a full stop and on every character after it up to the next letter, that letter 0: where the next letter"
        " begins a new sentence.",
        _after_full_stop,
    ),
    "in word": Probe(
        "1 on a letter, and on an apostrophe between two letters (don't), 0 on spaces, digits and punctuation.",
        _in_word,
    ),
}


def probe_named(name: str) -> tuple[str, Probe]:
    """(its name in PROBES, the probe) for `name` in any case, with "-" or "_" for spaces; InspectInputError naming the probes otherwise."""
    key = " ".join(name.replace("-", " ").replace("_", " ").lower().split())
    probe = PROBES.get(key)
    if probe is None:
        names = ", ".join(f'"{known}"' for known in PROBES)
        raise InspectInputError(f'There is no probe "{" ".join(name.split())}"; choose one of {names}.')
    return key, probe


def find_units(
    trace: CharTrace | ReviewTrace,
    layer: int,
    spans: Iterable[tuple[int, int]] | None = None,
    probe: str | None = None,
    kind: str = "h",
    top: int = 10,
    direction: int = 0,
) -> list[UnitScore]:
    """The units of one layer (and direction) whose `kind` (h, c or a gate) best follows the marked spans or a probe.

    Spans are [start, end) character offsets in trace.text. Give spans or a probe, not both.
    """
    if (spans is None) == (probe is None):
        raise InspectInputError("Mark a span of the text or choose a probe to find units for, one of the two.")
    values = trace.activity(layer, direction).of(kind)
    chars = span_signal(len(trace.text), spans) if spans is not None else probe_named(probe or "")[1].signal(trace.text)
    signal = trace.signal_of(chars)
    if signal.numel() < 2 or bool(signal.max() == signal.min()):
        what = "marked text covers every step" if spans is not None else f'probe "{probe}" is the same at every step'
        raise InspectInputError(
            f"The {what} of this text, so no unit can follow it better than another; {_hint(spans)}."
        )
    return rank_units(values, signal, top)


def _hint(spans: object) -> str:
    return "mark only part of the text" if spans is not None else "try a text where it changes"
