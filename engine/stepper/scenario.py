"""What the Stepper shows: which layer to build, on which input (torch-free, so the UI can validate instantly).

The default is the chapter's: `torch.manual_seed(1)`, `nn.RNN(5, 2, batch_first=True)`,
x = [[1]*5, [2]*5, [3]*5]. `config_from_strings` turns what a user typed (in the app's
form or on the command line) into a validated `StepperConfig`, raising
`StepperInputError` with one clear sentence for anything it cannot use.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from engine.cells import CELL_NAMES, GATES
from engine.numbers import MAX_SEED, NumberError, parse_real, parse_whole, shown

CHAPTER_SEQUENCE: tuple[tuple[float, ...], ...] = ((1.0,) * 5, (2.0,) * 5, (3.0,) * 5)
MAX_SIZE = 256
MAX_LAYERS = 8
MAX_STEPS = 1000
MAX_SCALE = 100.0
#: The most multiply-adds a scenario's forward pass may take: steps × layers × directions × gate
#: blocks × hidden × (input + hidden). Every size alone may reach its maximum, but not all at once:
#: the Stepper records every intermediate of every step (what it prints grows with the same product),
#: and 1,000 steps of an 8-layer bidirectional LSTM 256 wide (8.4 billion) took 5.6 minutes and
#: printed 2 GB of JSON. 10 million is e.g. 1,000 steps of an LSTM 32 wide on 32 inputs (15 MB of JSON),
#: or 250 steps of a GRU 64 wide on 64.
MAX_WORK = 10_000_000

ERRATUM_EXPLANATION = "The book's loop adds b_hh in place of b_xh: b_hh counts twice, b_xh never."


class StepperInputError(ValueError):
    """A value the user typed that the Stepper cannot use; the message is one sentence."""


@dataclass(frozen=True)
class StepperConfig:
    """Everything that determines a Stepper scenario."""

    cell: str = "rnn"
    nonlinearity: str = "tanh"
    input_size: int = 5
    hidden_size: int = 2
    num_layers: int = 1
    bidirectional: bool = False
    seed: int = 1
    sequence: tuple[tuple[float, ...], ...] = CHAPTER_SEQUENCE
    w_hh_scale: float = 1.0
    truncation: int | None = None
    clip: float | None = None
    random_length: int | None = None  # when set, `sequence` is `random_sequence(random_length, input_size, seed)`

    @property
    def length(self) -> int:
        return len(self.sequence)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def shows_erratum(self) -> bool:
        """The book printed its biased manual loop's outputs for its own scenario only (nn.RNN(5, 2), seed 1,
        x = 1s, 2s, 3s): no other layer or input has printed numbers to compare with."""
        return replace(self, truncation=None, clip=None) == StepperConfig()

    def describe(self) -> str:
        cell = f"RNN {self.nonlinearity}" if self.cell == "rnn" else self.cell.upper()
        layers = f"{self.num_layers} layer" + ("s" if self.num_layers > 1 else "")
        parts = [
            cell,
            f"input {self.input_size}",
            f"hidden {self.hidden_size}",
            layers,
            *(["bidirectional"] if self.bidirectional else []),
            f"seed {self.seed}",
            f"T={self.length}" + (" random" if self.random_length else ""),
        ]
        if self.w_hh_scale != 1.0:
            parts.append(f"W_hh×{self.w_hh_scale:g}")
        return " · ".join(parts)


def random_sequence(length: int, input_size: int, seed: int) -> tuple[tuple[float, ...], ...]:
    """A reproducible standard-normal sequence, rounded to 4 decimals so it reads well and retypes exactly."""
    rng = random.Random(seed)
    return tuple(tuple(round(rng.gauss(0.0, 1.0), 4) for _ in range(input_size)) for _ in range(length))


def parse_sequence(text: str, input_size: int) -> tuple[tuple[float, ...], ...]:
    """Parse `1,1,1,1,1; 2,2,2,2,2` (steps split by ';' or newlines, features by ',' or spaces)."""
    rows = [row.strip() for row in text.replace("\n", ";").split(";")]
    rows = [row for row in rows if row]
    if not rows:
        raise StepperInputError('The input sequence is empty: type time steps like "1,1,1,1,1; 2,2,2,2,2".')
    if len(rows) > MAX_STEPS:
        raise StepperInputError(f"The input sequence has {len(rows)} steps; at most {MAX_STEPS} are allowed.")
    sequence = []
    for t, row in enumerate(rows):
        fields = [field for field in row.replace(",", " ").split() if field]
        try:
            numbers = tuple(float(field) for field in fields)
        except ValueError:
            bad = next(field for field in fields if not _is_float(field))
            raise StepperInputError(f'Step {t} of the input has "{bad}", which is not a number.') from None
        if not all(math.isfinite(n) for n in numbers):
            raise StepperInputError(f"Step {t} of the input has an infinite or NaN value; use finite numbers.")
        if len(numbers) != input_size:
            raise StepperInputError(
                f"Step {t} of the input has {len(numbers)} numbers, but the input size is {input_size}; "
                "give one number per input feature."
            )
        sequence.append(numbers)
    return tuple(sequence)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_int(text: str | float, what: str, low: int, high: int) -> int:
    try:
        value = text if isinstance(text, int) else parse_whole(str(text), what)
    except NumberError as error:
        raise StepperInputError(str(error)) from None
    if not low <= value <= high:
        raise StepperInputError(f"The {what} must be between {low} and {high}; got {value}.")
    return value


def _parse_float(text: str | float, what: str, low: float, high: float) -> float:
    try:
        value = float(text) if isinstance(text, int | float) else parse_real(text, what)
    except NumberError as error:
        raise StepperInputError(str(error)) from None
    if not (math.isfinite(value) and low <= value <= high):
        raise StepperInputError(f"The {what} must be between {low:g} and {high:g}; got {shown(text)}.")
    return value


def _given(value: str | float | None) -> str | float | None:
    """None for what counts as "not given": None or a blank string."""
    return None if value is None or str(value).strip() == "" else value


def config_from_strings(
    *,
    cell: str = "rnn",
    nonlinearity: str = "tanh",
    input_size: str | int = 5,
    hidden_size: str | int = 2,
    num_layers: str | int = 1,
    bidirectional: bool = False,
    seed: str | int = 1,
    sequence: str | None = None,
    random_length: str | float | None = None,
    w_hh_scale: str | float = 1.0,
    truncation: str | float | None = None,
    clip: str | float | None = None,
) -> StepperConfig:
    """Validate user-typed values into a `StepperConfig` (raises `StepperInputError`).

    With neither `sequence` nor `random_length`, the input is the chapter's sequence
    (which needs input size 5). Empty strings count as "not given".
    """
    cell = cell.strip().lower()
    if cell not in CELL_NAMES:
        raise StepperInputError(f'The cell must be one of {", ".join(CELL_NAMES)}, not "{shown(cell)}".')
    nonlinearity = nonlinearity.strip().lower()
    if nonlinearity not in ("tanh", "relu"):
        raise StepperInputError(f'The nonlinearity must be tanh or relu, not "{shown(nonlinearity)}".')
    input_size_value = _parse_int(input_size, "input size", 1, MAX_SIZE)
    hidden_size_value = _parse_int(hidden_size, "hidden size", 1, MAX_SIZE)
    layers = _parse_int(num_layers, "number of layers", 1, MAX_LAYERS)
    seed_value = _parse_int(seed, "seed", 0, MAX_SEED)
    scale = _parse_float(w_hh_scale, "W_hh scale", 0.0, MAX_SCALE)

    typed_sequence, random_length = _given(sequence), _given(random_length)
    truncation, clip = _given(truncation), _given(clip)
    if typed_sequence is not None and random_length is not None:
        raise StepperInputError("Give either a typed input sequence or a random length, not both.")
    if random_length is not None:
        length = _parse_int(random_length, "random sequence length", 1, MAX_STEPS)
        values = random_sequence(length, input_size_value, seed_value)
    elif typed_sequence is not None:
        values = parse_sequence(str(typed_sequence), input_size_value)
    else:
        if input_size_value != len(CHAPTER_SEQUENCE[0]):
            raise StepperInputError(
                f"The chapter's input has 5 features but the input size is {input_size_value}; "
                "type a sequence or ask for a random one."
            )
        values = CHAPTER_SEQUENCE

    check_work(cell, len(values), input_size_value, hidden_size_value, layers, 2 if bidirectional else 1)
    window = _parse_int(truncation, "truncation window", 1, MAX_STEPS) if truncation is not None else None
    threshold = _parse_float(clip, "clipping threshold", 1e-6, 1e6) if clip is not None else None
    return StepperConfig(
        cell=cell,
        nonlinearity=nonlinearity,
        input_size=input_size_value,
        hidden_size=hidden_size_value,
        num_layers=layers,
        bidirectional=bidirectional,
        seed=seed_value,
        sequence=values,
        w_hh_scale=scale,
        truncation=window,
        clip=threshold,
        random_length=length if random_length is not None else None,
    )


def scenario_work(cell: str, steps: int, input_size: int, hidden_size: int, layers: int, directions: int) -> int:
    """Multiply-adds of the forward pass (layers above the first read the previous layer's output)."""
    total = 0
    for layer in range(layers):
        width_in = input_size if layer == 0 else hidden_size * directions
        total += steps * directions * len(GATES[cell]) * hidden_size * (width_in + hidden_size)
    return total


def check_work(cell: str, steps: int, input_size: int, hidden_size: int, layers: int, directions: int) -> None:
    """StepperInputError when the scenario as a whole is too large, though each size is within its own limit."""
    work = scenario_work(cell, steps, input_size, hidden_size, layers, directions)
    if work > MAX_WORK:
        raise StepperInputError(
            f"The scenario is too large to record step by step: {steps:,} steps of {layers} "
            f"{'bidirectional ' if directions == 2 else ''}{cell.upper()} layer{'s' if layers > 1 else ''} "
            f"{hidden_size} wide is {work / MAX_WORK:,.1f} times the {MAX_WORK:,} multiply-adds allowed; "
            "use fewer steps, layers or units."
        )


#: Scenarios worth a keystroke: name -> (what it shows, config).
PRESETS: dict[str, tuple[str, StepperConfig]] = {
    "chapter": ("The chapter's nn.RNN(5, 2), seed 1, x = 1s, 2s, 3s", StepperConfig()),
    "lstm": ("An LSTM on the chapter's input: gates i, f, g, o and the cell state", config_from_strings(cell="lstm")),
    "gru": ("A GRU on the chapter's input: reset, update and new gates", config_from_strings(cell="gru")),
    "vanishing": (
        "Vanishing gradients: a tanh RNN over 60 random steps",
        config_from_strings(input_size=4, hidden_size=16, random_length=60, seed=0),
    ),
    "exploding": (
        "Exploding gradients: the same RNN with W_hh scaled ×6, clipped at 1",
        config_from_strings(input_size=4, hidden_size=16, random_length=60, seed=0, w_hh_scale=6, clip=1.0),
    ),
}
