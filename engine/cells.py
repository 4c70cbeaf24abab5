"""The one registry of recurrent cells: names, gates and the torch pieces that compute them (torch-free).

Every list of cells in rnn-tui reads this module: the Stepper's form and math, the training
config and form, the chapter's models and the sampler's per-character step. An unknown name is
an error everywhere (`cell()` raises `UnknownCell`), never a silent fallback to some other cell.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnknownCell(ValueError):
    """A cell name that is not rnn, lstm or gru; the message is one sentence."""


@dataclass(frozen=True)
class Cell:
    """One kind of recurrent cell, as the chapter and torch name its parts."""

    name: str  # "rnn" | "lstm" | "gru": what users type
    label: str  # "RNN" | "LSTM" | "GRU": how tables and titles show it
    module: str  # the torch.nn class that runs a whole sequence
    gates: tuple[str, ...]  # blocks of the stacked weight matrices, top to bottom, as torch stores them
    ops: dict[str, str]  # torch RNNBase.mode -> the ATen op that computes one step of it
    cell_state: bool = False  # carries c_t beside h_t (LSTM)


CELLS: dict[str, Cell] = {
    "rnn": Cell("rnn", "RNN", "RNN", ("h",), {"RNN_TANH": "rnn_tanh_cell", "RNN_RELU": "rnn_relu_cell"}),
    "lstm": Cell("lstm", "LSTM", "LSTM", ("i", "f", "g", "o"), {"LSTM": "lstm_cell"}, cell_state=True),
    "gru": Cell("gru", "GRU", "GRU", ("r", "z", "n"), {"GRU": "gru_cell"}),
}
CELL_NAMES: tuple[str, ...] = tuple(CELLS)

#: Gate blocks per cell name (the Stepper's tables and reports).
GATES: dict[str, tuple[str, ...]] = {name: spec.gates for name, spec in CELLS.items()}

GATE_NAMES = {
    "h": "hidden",
    "i": "input gate",
    "f": "forget gate",
    "g": "cell candidate",
    "o": "output gate",
    "r": "reset gate",
    "z": "update gate",
    "n": "new gate",
}


def cell(name: str) -> Cell:
    """The cell called `name`; `UnknownCell` with one sentence for anything else."""
    found = CELLS.get(name)
    if found is None:
        raise UnknownCell(f"Unknown cell {name!r}; choose one of {', '.join(CELL_NAMES)}.")
    return found


def cell_of_mode(mode: str) -> Cell:
    """The cell behind a torch RNNBase `mode` ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")."""
    for spec in CELLS.values():
        if mode in spec.ops:
            return spec
    raise UnknownCell(f"Unknown recurrent mode {mode!r}; rnn-tui knows {', '.join(CELL_NAMES)}.")
