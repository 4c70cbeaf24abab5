"""Recompute a torch recurrent layer one time step at a time and keep every number.

`trace_module(module, x)` walks any `nn.RNN`, `nn.LSTM` or `nn.GRU` (any number of
layers, uni- or bidirectional, batch_first or not, LSTM projections, with or without
bias) through the input, time step by time step, from the module's own parameters.
Each step records the input, the previous state, every named intermediate and the new
state next to torch's own value for the same layer, direction and time step.

The reference is torch's native kernel. On CPUs torch may hand float32 LSTMs to oneDNN,
whose fused kernel rounds differently (about 1e-7 per step); the trace compares against
the native kernel, which it reproduces bit for bit, so that differences mean something.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from engine.cells import CELLS
from engine.cells import cell as cell_spec
from engine.stepper.steps import LayerParams, gru_step, input_projection, layer_params, lstm_step, rnn_step


def abs_diff(ours: Tensor, theirs: Tensor) -> float:
    """Max |ours - theirs|, where equal values (overflowed infinities or NaNs on both sides) differ by 0."""
    same = (ours == theirs) | (ours.isnan() & theirs.isnan())
    diff = (ours - theirs).abs().nan_to_num(nan=math.inf)
    return float(torch.where(same, torch.zeros_like(diff), diff).max())


@dataclass
class StepTrace:
    """One time step of one layer and direction. Tensors have a leading batch dimension."""

    t: int  # position in the sequence (the reverse direction visits T-1 first)
    x: Tensor
    h_prev: Tensor
    c_prev: Tensor | None
    terms: dict[str, Tensor]
    h: Tensor
    c: Tensor | None
    torch_h: Tensor  # torch's own output for this layer, direction and position

    @property
    def diff(self) -> float:
        """Max abs difference between the recomputed h_t and torch's."""
        return abs_diff(self.h, self.torch_h)

    @property
    def unit_diffs(self) -> Tensor:
        """|h_t − torch's h_t| per unit (the batch's first row)."""
        return (self.h - self.torch_h).abs()[0]


@dataclass
class LayerTrace:
    """Every step of one layer and direction, in the order the cell visits them."""

    layer: int
    direction: int  # 0 forward, 1 reverse
    params: LayerParams
    steps: list[StepTrace] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"layer {self.layer} " + ("reverse" if self.direction else "forward")


@dataclass
class Trace:
    """The whole recomputation and how far it is from torch."""

    cell: str  # rnn | lstm | gru
    nonlinearity: str
    layers: list[LayerTrace]  # layer-major, forward before reverse
    output: Tensor  # (B, T, D*H_out): recomputed top-layer outputs
    torch_output: Tensor
    h_n: Tensor  # (layers*D, B, H_out)
    torch_h_n: Tensor
    c_n: Tensor | None
    torch_c_n: Tensor | None

    @property
    def max_abs_diff(self) -> float:
        """Largest |recomputed - torch| over outputs, final states and every step of every layer."""
        diffs = [abs_diff(self.output, self.torch_output), abs_diff(self.h_n, self.torch_h_n)]
        if self.c_n is not None and self.torch_c_n is not None:
            diffs.append(abs_diff(self.c_n, self.torch_c_n))
        diffs.extend(step.diff for lt in self.layers for step in lt.steps)
        return max(diffs)

    def layer(self, layer: int, direction: int = 0) -> LayerTrace:
        for lt in self.layers:
            if lt.layer == layer and lt.direction == direction:
                return lt
        raise IndexError(f"no layer {layer} direction {direction} in this trace")


class Visit(NamedTuple):
    """What one cell step consumed and produced."""

    t: int
    x: Tensor
    h_prev: Tensor
    c_prev: Tensor | None
    terms: dict[str, Tensor]
    h: Tensor
    c: Tensor | None


def cell_type(module: nn.Module) -> str:
    """'rnn', 'lstm' or 'gru' for torch's recurrent modules (engine.cells names them)."""
    for spec in CELLS.values():
        if isinstance(module, getattr(nn, spec.module)):
            return spec.name
    raise TypeError(f"expected nn.RNN, nn.LSTM or nn.GRU, got {type(module).__name__}")


def run_direction(
    cell: str,
    nonlinearity: str,
    params: LayerParams,
    inputs: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    reverse: bool,
    cut_at: int | None = None,
) -> list[Visit]:
    """Run one layer and direction over time-major `inputs` (T, B, I), in visiting order.

    `cut_at`: detach the incoming state at that position (truncated backpropagation
    through time). Differentiable when the parameters require grad.
    """
    spec = cell_spec(cell)  # an unknown name is an error (UnknownCell), never another cell
    projected = input_projection(params, inputs)
    visits: list[Visit] = []
    h, c = h0, c0
    length = inputs.shape[0]
    for t in range(length - 1, -1, -1) if reverse else range(length):
        if cut_at is not None and t == cut_at:
            h = h.detach()
            c = c.detach() if c is not None else None
        h_prev, c_prev = h, c
        if spec.name == "lstm":
            assert c_prev is not None  # an LSTM always carries c
            h, c, terms = lstm_step(params, projected[t], h_prev, c_prev)
        elif spec.name == "gru":
            h, terms = gru_step(params, projected[t], h_prev)
        else:
            h, terms = rnn_step(params, projected[t], h_prev, nonlinearity)
        visits.append(Visit(t, inputs[t], h_prev, c_prev, terms, h, c))
    return visits


def stack_by_position(visits: list[Visit]) -> Tensor:
    """The h_t of a direction's visits as time-major (T, B, H), in sequence order."""
    return torch.stack([visit.h for visit in sorted(visits, key=lambda visit: visit.t)])


def initial_states(module: nn.RNNBase, batch: int, dtype: torch.dtype, device: torch.device, hx=None):
    """Zero (or the given) initial states, shaped (layers*D, B, H_out) and (layers*D, B, H)."""
    directions = 2 if module.bidirectional else 1
    h_size = module.proj_size if getattr(module, "proj_size", 0) else module.hidden_size
    is_lstm = isinstance(module, nn.LSTM)
    if hx is None:
        h0 = torch.zeros(module.num_layers * directions, batch, h_size, dtype=dtype, device=device)
        c0 = torch.zeros(module.num_layers * directions, batch, module.hidden_size, dtype=dtype, device=device)
        return h0, (c0 if is_lstm else None)
    return (hx[0], hx[1]) if is_lstm else (hx, None)


def time_major(module: nn.RNNBase, x: Tensor) -> Tensor:
    """`x` as (T, B, I) whatever the module's layout; a 2-D `x` is one unbatched sequence."""
    if x.dim() == 2:
        return x.unsqueeze(1)
    return x.transpose(0, 1) if module.batch_first else x


_NATIVE_KERNELS = threading.RLock()  # torch's kernel switch is process-wide


@contextmanager
def native_kernels() -> Iterator[None]:
    """Run torch's recurrent layers on their native CPU kernels rather than oneDNN's.

    torch's switch is process-wide, so one thread's exit would turn oneDNN back on under another's
    feet: the block holds a lock, and traces from several threads (the Stepper's toy layer, a
    trained run being inspected) take turns.
    """
    with _NATIVE_KERNELS, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a notice about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def one_layer(module: nn.RNNBase, layer: int) -> nn.RNNBase:
    """A one-layer torch module (both directions, if `module` has them) sharing layer `layer`'s parameters.

    Torch returns only the top layer's outputs; this is how every trace gets torch's own output for
    any layer. Building a module draws from the global RNG, so that is forked and left as it was.
    """
    if module.num_layers == 1:
        return module
    w_ih = getattr(module, f"weight_ih_l{layer}")
    kwargs: dict[str, Any] = dict(
        bias=module.bias,
        bidirectional=module.bidirectional,
        batch_first=module.batch_first,
        device=w_ih.device,
        dtype=w_ih.dtype,
    )
    if cell_type(module) == "rnn":
        kwargs["nonlinearity"] = module.nonlinearity
    if getattr(module, "proj_size", 0):
        kwargs["proj_size"] = module.proj_size
    with torch.random.fork_rng(devices=[]):
        copy = type(module)(w_ih.shape[1], module.hidden_size, 1, **kwargs)
    for name in copy._flat_weights_names:  # assigning keeps the copy's flat weights list up to date
        setattr(copy, name, getattr(module, name.replace("_l0", f"_l{layer}")))
    return copy.train(module.training)


def _single_layer_reference(module: nn.RNNBase, layer: int, inputs: Tensor, h0: Tensor, c0: Tensor | None) -> Tensor:
    """Torch's own time-major output for one layer, fed `inputs` from this layer's slice of (h0, c0)."""
    directions = 2 if module.bidirectional else 1
    rows = slice(layer * directions, (layer + 1) * directions)
    hx = (h0[rows].contiguous(), c0[rows].contiguous()) if c0 is not None else h0[rows].contiguous()
    copy = one_layer(module, layer)
    if copy.batch_first:  # `inputs` are time-major
        return copy(inputs.transpose(0, 1), hx)[0].transpose(0, 1)
    return copy(inputs, hx)[0]


@torch.no_grad()
def trace_module(module: nn.RNNBase, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> Trace:
    """Recompute `module(x, hx)` step by step and compare every step with torch.

    `x` is laid out as the module expects (batch_first or not); a 2-D `x` is one
    unbatched sequence, as torch allows (its `hx` is then unbatched too). The trace's
    tensors have a batch dimension; `output` and `torch_output` are batch-first.
    """
    cell = cell_type(module)
    unbatched = x.dim() == 2
    inputs = time_major(module, x)
    if unbatched and hx is not None:
        hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1)) if isinstance(hx, tuple) else hx.unsqueeze(1)
    h0, c0 = initial_states(module, inputs.shape[1], x.dtype, x.device, hx)

    was_training = module.training
    module.eval()  # inter-layer dropout would make torch's output random
    try:
        with native_kernels():
            batched_x = inputs if not module.batch_first else inputs.transpose(0, 1)
            torch_output, torch_state = module(batched_x, (h0, c0) if cell == "lstm" else h0)
            directions = 2 if module.bidirectional else 1
            nonlinearity = getattr(module, "nonlinearity", "tanh") if cell == "rnn" else "tanh"
            layers: list[LayerTrace] = []
            h_n: list[Tensor] = []
            c_n: list[Tensor] = []
            ours_in, ref_in = inputs, inputs
            for layer in range(module.num_layers):
                reference = _single_layer_reference(module, layer, ref_in, h0, c0)
                h_size = reference.shape[-1] // directions
                outputs = []
                for direction in range(directions):
                    index = layer * directions + direction
                    params = layer_params(module, layer, direction)
                    c_init = c0[index] if c0 is not None else None
                    visits = run_direction(cell, nonlinearity, params, ours_in, h0[index], c_init, bool(direction))
                    ref_dir = reference[..., direction * h_size : (direction + 1) * h_size]
                    steps = [StepTrace(*visit, torch_h=ref_dir[visit.t]) for visit in visits]
                    layers.append(LayerTrace(layer=layer, direction=direction, params=params, steps=steps))
                    h_n.append(visits[-1].h)
                    if c0 is not None:
                        c_last = visits[-1].c
                        assert c_last is not None  # c0 given: the cell carries c
                        c_n.append(c_last)
                    outputs.append(stack_by_position(visits))
                ours_in = torch.cat(outputs, dim=-1)
                ref_in = reference
    finally:
        module.train(was_training)

    torch_h_n, torch_c_n = torch_state if cell == "lstm" else (torch_state, None)
    if not module.batch_first:
        torch_output = torch_output.transpose(0, 1)
    return Trace(
        cell=cell,
        nonlinearity=nonlinearity,
        layers=layers,
        output=ours_in.transpose(0, 1),
        torch_output=torch_output,
        h_n=torch.stack(h_n),
        torch_h_n=torch_h_n,
        c_n=torch.stack(c_n) if c_n else None,
        torch_c_n=torch_c_n,
    )
