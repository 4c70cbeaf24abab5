"""The Stepper's scenario: which layer to build, on which input, and everything computed from it.

The default is the chapter's: `torch.manual_seed(1)`, `nn.RNN(5, 2, batch_first=True)`,
x = [[1]*5, [2]*5, [3]*5]. `config_from_strings` turns what a user typed (in the app's
form or on the command line) into a validated `StepperConfig`, raising
`StepperInputError` with one clear sentence for anything it cannot use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from engine.bptt import GradientFlow, gradient_flow
from engine.cells import CELL_TYPES
from engine.trace import Trace, trace_module

CHAPTER_SEQUENCE: tuple[tuple[float, ...], ...] = ((1.0,) * 5, (2.0,) * 5, (3.0,) * 5)
MAX_SIZE = 256
MAX_LAYERS = 8
MAX_STEPS = 1000
MAX_SEED = 2**63 - 1
MAX_SCALE = 100.0

ERRATUM_EXPLANATION = (
    "The book's manual loop adds b_hh where b_xh belongs, so b_hh is counted twice and b_xh never; "
    "nn.RNN adds each bias once."
)


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

    @property
    def length(self) -> int:
        return len(self.sequence)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def shows_erratum(self) -> bool:
        """The book's biased manual loop only exists for a tanh RNN."""
        return self.cell == "rnn" and self.nonlinearity == "tanh"

    def describe(self) -> str:
        cell = f"RNN {self.nonlinearity}" if self.cell == "rnn" else self.cell.upper()
        layers = f"{self.num_layers} layer" + ("s" if self.num_layers > 1 else "")
        parts = [
            cell,
            f"input {self.input_size}",
            f"hidden {self.hidden_size}",
            layers,
            "bidirectional" if self.bidirectional else "unidirectional",
            f"seed {self.seed}",
            f"T={self.length}",
        ]
        if self.w_hh_scale != 1.0:
            parts.append(f"W_hh×{self.w_hh_scale:g}")
        return " · ".join(parts)


@dataclass
class StepperResult:
    """A built layer, its input, its step-by-step trace, the gradient flow and the erratum."""

    config: StepperConfig
    module: nn.RNNBase
    inputs: Tensor  # (1, T, input_size)
    trace: Trace
    flow: GradientFlow
    erratum: list[list[float]] | None  # the book's biased manual outputs per step (layer 0 forward)

    def with_gradient_settings(self, truncation: int | None, clip: float | None) -> StepperResult:
        """The same scenario with a new truncation window or clipping threshold."""
        config = replace(self.config, truncation=truncation, clip=clip)
        flow = gradient_flow(self.module, self.inputs, truncation=truncation, clip=clip)
        return replace(self, config=config, flow=flow)

    def to_json(self) -> dict:
        """The trace as plain data: per-step values of every layer, outputs, and the diff to torch."""

        def values(tensor: Tensor | None):
            return None if tensor is None else _finite_or_none(tensor[0].tolist())

        layers = []
        for lt in self.trace.layers:
            layers.append(
                {
                    "layer": lt.layer,
                    "direction": "reverse" if lt.direction else "forward",
                    "params": {name: values(value.unsqueeze(0)) for name, value in vars(lt.params).items() if value is not None},
                    "steps": [
                        {
                            "t": step.t,
                            "x": values(step.x),
                            "h_prev": values(step.h_prev),
                            "terms": {name: values(term) for name, term in step.terms.items()},
                            "h": values(step.h),
                            "c": values(step.c),
                            "torch_h": values(step.torch_h),
                            "abs_diff": step.diff,
                        }
                        for step in lt.steps
                    ],
                }
            )
        flow = self.flow
        return {
            "config": {
                "cell": self.config.cell,
                "nonlinearity": self.config.nonlinearity,
                "input_size": self.config.input_size,
                "hidden_size": self.config.hidden_size,
                "num_layers": self.config.num_layers,
                "bidirectional": self.config.bidirectional,
                "seed": self.config.seed,
                "w_hh_scale": self.config.w_hh_scale,
            },
            "input": [list(step) for step in self.config.sequence],
            "outputs": values(self.trace.output),
            "torch_outputs": values(self.trace.torch_output),
            "h_n": _finite_or_none(self.trace.h_n[:, 0].tolist()),
            "c_n": None if self.trace.c_n is None else _finite_or_none(self.trace.c_n[:, 0].tolist()),
            "max_abs_diff": self.trace.max_abs_diff,
            "layers": layers,
            "gradients": {
                "loss": "sum of the top layer's output at the last time step",
                "truncation": flow.truncation,
                "clip": flow.clip,
                "grad_norm_before_clip": _finite_or_none(flow.grad_norm),
                "grad_norm_after_clip": _finite_or_none(flow.clipped_norm),
                "dL_dh_norms": {
                    f"layer {layer} {'reverse' if direction else 'forward'}": _finite_or_none(norms)
                    for (layer, direction), norms in flow.norms.items()
                },
            },
            "erratum": None
            if self.erratum is None
            else {"book_outputs": self.erratum, "explanation": ERRATUM_EXPLANATION},
        }


def _finite_or_none(value):
    """JSON has no inf or nan: replace them with null."""
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value if math.isfinite(value) else None


def build_layer(config: StepperConfig) -> nn.RNNBase:
    """Build the torch layer as the book does: `torch.manual_seed(seed)` right before it."""
    kwargs = dict(
        input_size=config.input_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        batch_first=True,
    )
    torch.manual_seed(config.seed)
    if config.cell == "rnn":
        layer = nn.RNN(nonlinearity=config.nonlinearity, **kwargs)
    elif config.cell == "lstm":
        layer = nn.LSTM(**kwargs)
    else:
        layer = nn.GRU(**kwargs)
    if config.w_hh_scale != 1.0:
        with torch.no_grad():
            for name, param in layer.named_parameters():
                if name.startswith("weight_hh"):
                    param.mul_(config.w_hh_scale)
    return layer


def book_erratum_outputs(module: nn.RNN, x: Tensor) -> list[list[float]]:
    """The printed book's manual loop, b_hh in place of b_xh: tanh(x·W_xhᵀ + b_hh + h·W_hhᵀ + b_hh)."""
    W_xh, W_hh, b_hh = module.weight_ih_l0, module.weight_hh_l0, module.bias_hh_l0
    outputs: list[list[float]] = []
    with torch.no_grad():
        h = torch.zeros(1, module.hidden_size, dtype=x.dtype)
        for t in range(x.shape[1]):
            hidden = x[:, t] @ W_xh.T + b_hh
            h = torch.tanh(hidden + h @ W_hh.T + b_hh)
            outputs.append(h[0].tolist())
    return outputs


def run_stepper(config: StepperConfig) -> StepperResult:
    """Build the layer, trace it step by step, and measure gradients through time."""
    module = build_layer(config)
    inputs = torch.tensor(config.sequence, dtype=torch.float32).unsqueeze(0)
    trace = trace_module(module, inputs)
    flow = gradient_flow(module, inputs, truncation=config.truncation, clip=config.clip)
    erratum = book_erratum_outputs(module, inputs) if config.shows_erratum else None
    return StepperResult(config=config, module=module, inputs=inputs, trace=trace, flow=flow, erratum=erratum)


def random_sequence(length: int, input_size: int, seed: int) -> tuple[tuple[float, ...], ...]:
    """A reproducible standard-normal sequence, rounded to 4 decimals so it reads well and retypes exactly."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(length, input_size, generator=generator)
    return tuple(tuple(round(v, 4) for v in row) for row in values.tolist())


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


def _parse_int(text: str | int, what: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise StepperInputError(f'The {what} must be a whole number, not "{text}".') from None
    if not low <= value <= high:
        raise StepperInputError(f"The {what} must be between {low} and {high}; got {value}.")
    return value


def _parse_float(text: str | float, what: str, low: float, high: float) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise StepperInputError(f'The {what} must be a number, not "{text}".') from None
    if not (math.isfinite(value) and low <= value <= high):
        raise StepperInputError(f"The {what} must be between {low:g} and {high:g}; got {text}.")
    return value


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
    random_length: str | int | None = None,
    w_hh_scale: str | float = 1.0,
    truncation: str | int | None = None,
    clip: str | float | None = None,
) -> StepperConfig:
    """Validate user-typed values into a `StepperConfig` (raises `StepperInputError`).

    With neither `sequence` nor `random_length`, the input is the chapter's sequence
    (which needs input size 5). Empty strings count as "not given".
    """
    cell = cell.strip().lower()
    if cell not in CELL_TYPES:
        raise StepperInputError(f'The cell must be one of rnn, lstm or gru, not "{cell}".')
    nonlinearity = nonlinearity.strip().lower()
    if nonlinearity not in ("tanh", "relu"):
        raise StepperInputError(f'The nonlinearity must be tanh or relu, not "{nonlinearity}".')
    input_size_value = _parse_int(input_size, "input size", 1, MAX_SIZE)
    hidden_size_value = _parse_int(hidden_size, "hidden size", 1, MAX_SIZE)
    layers = _parse_int(num_layers, "number of layers", 1, MAX_LAYERS)
    seed_value = _parse_int(seed, "seed", 0, MAX_SEED)
    scale = _parse_float(w_hh_scale, "W_hh scale", 0.0, MAX_SCALE)

    given = lambda value: value is not None and str(value).strip() != ""  # noqa: E731
    if given(sequence) and given(random_length):
        raise StepperInputError("Give either a typed input sequence or a random length, not both.")
    if given(random_length):
        length = _parse_int(random_length, "random sequence length", 1, MAX_STEPS)
        values = random_sequence(length, input_size_value, seed_value)
    elif given(sequence):
        values = parse_sequence(str(sequence), input_size_value)
    else:
        if input_size_value != len(CHAPTER_SEQUENCE[0]):
            raise StepperInputError(
                f"The chapter's input has 5 features but the input size is {input_size_value}; "
                "type a sequence or ask for a random one."
            )
        values = CHAPTER_SEQUENCE

    window = _parse_int(truncation, "truncation window", 1, MAX_STEPS) if given(truncation) else None
    threshold = _parse_float(clip, "clipping threshold", 1e-6, 1e6) if given(clip) else None
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
    )
