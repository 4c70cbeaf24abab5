"""Why a training run cannot go on (torch-free): the worker writes `kind` to status.json as error_kind."""

from __future__ import annotations


class TrainingError(Exception):
    """A run that cannot go on; `kind` says why (the worker writes it to status.json as error_kind)."""

    kind = "error"


class JobInputError(TrainingError):
    """Something the user asked for that this machine or data cannot give (a device, a source, a length)."""

    kind = "input"


class TrainingHalted(TrainingError):
    """The loss became NaN or exploded: stopped, as char-rnn does, keeping the last good checkpoint."""

    kind = "halted"
