"""Checks of what users read when something is wrong: one line, one sentence, no traceback."""

from __future__ import annotations

import re


def assert_one_sentence(message: str) -> None:
    """A user-facing error: one line, one sentence, no traceback."""
    assert message and "\n" not in message, message
    assert "Traceback" not in message, message
    assert not re.search(r"[.!?]\s+[A-Z]", message), message


def one_error_line(err: str) -> str:
    """The sentence of a CLI's stderr that must be exactly one `rnn-tui: …` line."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn-tui: "), err
    message = lines[0].removeprefix("rnn-tui: ")
    assert_one_sentence(message)
    return message
