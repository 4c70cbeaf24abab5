"""Sampling settings (torch-free): temperature, top-k, top-p, length, seed and stop string, validated.

`parse_settings` takes what a user typed (strings from a flag or a form) or values; `SamplingSettings`
validates its fields in its constructor, with one sentence (`GenerateInputError`) for anything
impossible. Numbers are read by engine.numbers, the parser every flag and form shares.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from dataclasses import replace as _replace
from typing import Any

from engine.numbers import MAX_SEED, MIN_TEMPERATURE, SEED_WORDS, NumberError, parse_real, parse_whole, shown

MAX_LENGTH = 100_000


class GenerateInputError(ValueError):
    """One clear sentence for the user (CLI exits 2 with it)."""


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class SamplingSettings:
    """How characters are drawn; the constructor validates (GenerateInputError) and normalises types."""

    temperature: float = 1.0  # 0 means greedy (argmax)
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off; must be in (0, 1]
    length: int = 500  # 1..MAX_LENGTH
    seed: int = 1
    stop: str = ""  # stop after this string has been generated ("" = never)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            checked = _CHECKS[item.name](value)
            if checked is not value:
                object.__setattr__(self, item.name, checked)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def scale_factor(self) -> float | None:
        """The book's `scale_factor` (logits are multiplied by it): 1 / temperature; None when greedy."""
        return None if self.greedy else 1.0 / self.temperature

    @property
    def plain(self) -> bool:
        """Temperature 1, no top-k, no top-p: the softmax of the logits as they are."""
        return self.temperature == 1.0 and self.top_k == 0 and self.top_p == 1.0

    def replace(self, **changes: Any) -> SamplingSettings:
        """A validated copy with some settings changed (strings are parsed as parse_settings does)."""
        unknown = sorted(set(changes) - {item.name for item in fields(self)})
        if unknown:
            raise GenerateInputError(
                f"Unknown sampling setting {unknown[0]!r}; use temperature, top_k, top_p, length, seed or stop."
            )
        parsed = {name: _PARSERS[name](value) if isinstance(value, str) else value for name, value in changes.items()}
        return _replace(self, **parsed)

    def describe(self) -> str:
        """One line, e.g. 'temperature 0.8 · top-k 40 · top-p 0.95 · 500 chars · seed 1'."""
        parts = ["greedy" if self.greedy else f"temperature {self.temperature:g}"]
        if self.top_k:
            parts.append(f"top-k {self.top_k}")
        if self.top_p < 1:
            parts.append(f"top-p {self.top_p:g}")
        parts += [f"{self.length:,} chars", f"seed {self.seed}"]
        if self.stop:
            parts.append(f"stop at {self.stop!r}")
        return " · ".join(parts)


def _shown(value: Any, typed: Any = None) -> str:
    """How a rejected value is quoted: as typed when it was typed."""
    if isinstance(typed, str):
        return f'"{shown(typed)}"' if typed.strip() else "a blank"
    return repr(value)


def _check_temperature(value: Any, typed: Any = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise GenerateInputError(
            f"The temperature must be a number of at least 0 (0 always picks the likeliest character), not {_shown(value, typed)}."
        )
    if 0 < value < MIN_TEMPERATURE:
        raise GenerateInputError(
            f"The temperature must be 0 (always the likeliest character) or at least {MIN_TEMPERATURE:g}, "
            f"not {_shown(value, typed)}: below that sampling is greedy anyway and the arithmetic breaks down."
        )
    return float(value)


def _check_top_p(value: Any, typed: Any = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):  # NaN fails too
        raise GenerateInputError(
            f"The top-p must be a number above 0 and at most 1 (1 turns it off), not {_shown(value, typed)}."
        )
    return float(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _check_top_k(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or number < 0:
        raise GenerateInputError(
            f"The top-k must be a whole number of at least 0 (0 turns it off), not {_shown(value, typed)}."
        )
    return number


def _check_length(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or not (1 <= number <= MAX_LENGTH):
        raise GenerateInputError(
            f"The length must be a whole number of characters from 1 to {MAX_LENGTH:,}, not {_shown(value, typed)}."
        )
    return number


def _check_seed(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or not (0 <= number <= MAX_SEED):
        raise GenerateInputError(f"The seed must be a whole number {SEED_WORDS}, not {_shown(value, typed)}.")
    return number


def _check_stop(value: Any, typed: Any = None) -> str:
    if not isinstance(value, str):
        raise GenerateInputError(f"The stop string must be text, not {value!r}.")
    return value


_CHECKS = {
    "temperature": _check_temperature,
    "top_k": _check_top_k,
    "top_p": _check_top_p,
    "length": _check_length,
    "seed": _check_seed,
    "stop": _check_stop,
}


def _parse_number(text: str, check: Any, *, whole: bool, what: str) -> Any:
    """`check` of the number in `text`, read by engine.numbers (so every flag and form accepts the same strings)."""
    try:
        value = parse_whole(text, what) if whole else parse_real(text, what)
    except NumberError as error:
        raise GenerateInputError(str(error)) from None
    return check(value, text)


_PARSERS = {
    "temperature": lambda text: _parse_number(text, _check_temperature, whole=False, what="temperature"),
    "top_k": lambda text: _parse_number(text, _check_top_k, whole=True, what="top-k"),
    "top_p": lambda text: _parse_number(text, _check_top_p, whole=False, what="top-p"),
    "length": lambda text: _parse_number(text, _check_length, whole=True, what="length"),
    "seed": lambda text: _parse_number(text, _check_seed, whole=True, what="seed"),
    "stop": _check_stop,
}


def parse_settings(
    *,
    temperature: str | float = "1",
    top_k: str | int = "0",
    top_p: str | float = "1",
    length: str | int = "500",
    seed: str | int = "1",
    stop: str = "",
) -> SamplingSettings:
    """Settings from what a user typed (strings) or values; GenerateInputError with one sentence for a bad one."""
    values = dict(temperature=temperature, top_k=top_k, top_p=top_p, length=length, seed=seed, stop=stop)
    parsed: dict[str, Any] = {
        name: _PARSERS[name](value) if isinstance(value, str) else _CHECKS[name](value)
        for name, value in values.items()
    }
    return SamplingSettings(**parsed)


# ------------------------------------------------------------------------------ typed stop strings

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}
_TYPED = {value: "\\" + key for key, value in _ESCAPES.items()}


def unescape_stop(typed: str) -> str:
    r"""A stop string as typed on a flag or in a form: \n, \t and \\ mean a newline, a tab and a backslash."""
    return re.sub(r"\\([nt\\])", lambda match: _ESCAPES[match.group(1)], typed)


def escape_stop(stop: str) -> str:
    """The stop string as one types it back (the inverse of `unescape_stop`)."""
    return "".join(_TYPED.get(char, char) for char in stop)
