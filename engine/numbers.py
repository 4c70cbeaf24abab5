"""The one number parser behind every flag and form, and the ranges several places share (torch-free).

Every number a user types (a Stepper form field, a `train` option, a sampling setting) goes
through `parse_whole` or `parse_real`, so the same strings are accepted everywhere:
surrounding blanks are ignored, `,` and `_` may group digits ("1,000", "1_000"; "1,5" is no number), and a whole
number may be written as a float that is whole ("2.0", "1e3"). NaN and infinities are refused.
A string that is not a number raises `NumberError` with one sentence:
`The seed must be a whole number, not "abc".`  Range checks stay with the callers, which know
what each bound means.
"""

from __future__ import annotations

import math
import re

MAX_SEED = 2**63 - 1
SEED_RANGE = (0, MAX_SEED)
SEED_WORDS = "from 0 to 2**63 - 1"
#: The lowest sampling temperature above 0 (greedy). Logits are divided by it in float32: below
#: ~1.4e-45 the divisor itself rounds to 0 and gives NaN, and long before that the distribution is
#: a one-hot at the argmax anyway (a gap of 0.1 in logits is e^100 at 0.001).
MIN_TEMPERATURE = 0.001


class NumberError(ValueError):
    """Text that is not the number asked for; the message is one sentence."""


def shown(text: object) -> str:
    """What the user typed, on one line, for quoting in an error message."""
    return " ".join(str(text).split())


_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?")


def _quoted(text: str) -> str:
    """What was typed, as error messages quote it: "abc", or "a blank"."""
    return f'"{shown(text)}"' if text.strip() else "a blank"


def _cleaned(text: str) -> str:
    """`text` without blanks around it and without "," between groups of three digits ("1,000")."""
    text = text.strip()
    if "," in text and _GROUPED.fullmatch(text):
        return text.replace(",", "")
    return text


def read_whole(text: str) -> int | None:
    """The whole number in `text`, or None when it holds none."""
    cleaned = _cleaned(text)
    try:
        return int(cleaned)
    except ValueError:
        pass
    value = read_real(text)
    if value is None or not value.is_integer():
        return None
    return int(value)


def read_real(text: str) -> float | None:
    """The finite number in `text`, or None when it holds none."""
    value = _float_or_none(_cleaned(text))
    return value if value is not None and math.isfinite(value) else None


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_whole(text: str, what: str) -> int:
    """The whole number in `text`; NumberError naming `what` ("seed", "hidden size") otherwise."""
    value = read_whole(text)
    if value is None:
        raise NumberError(f"The {what} must be a whole number, not {_quoted(text)}.")
    return value


def parse_real(text: str, what: str) -> float:
    """The finite number in `text`; NumberError naming `what` otherwise."""
    value = read_real(text)
    if value is None:
        finite = "" if _float_or_none(_cleaned(text)) is None else "finite "  # "nan", "inf", "1e999"
        raise NumberError(f"The {what} must be a {finite}number, not {_quoted(text)}.")
    return value
