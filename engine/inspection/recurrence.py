"""One recurrent layer over a whole text, step by step by our own loop, beside torch's output for it.

`run_layer` is the tight loop behind every trace: the input projection x_t·W_ihᵀ + b_ih for all
T steps in one matrix product, then per step only h_{t-1}·W_hhᵀ + b_hh (torch.addmv into a
preallocated row: a quarter faster than ATen's addmm with one row) and the cell's elementwise
arithmetic in ATen's order (as engine.stepper.steps), written into [T, ·] buffers. It matches
torch's native kernel to float rounding: bit for bit for the book-sized model, within about 1e-7
where the matrix-vector product sums in another order (some odd sizes). Gates are kept after their
nonlinearity (LSTM i f g o, GRU r z n) and, for a plain RNN, the pre-activation (named "h" by
engine.cells, the registry of gate names).

The reference is torch's native CPU kernel (engine.stepper.trace.native_kernels), not oneDNN's
fused LSTM, whose rounding of c drifts by a few 1e-7 a step. `beside` runs it in a second thread
while our loop runs in this one: torch's kernels release the GIL, so on two cores the check costs
little (for the book-sized model, 0.18 s for both against 0.26 s one after the other). `Activities` is what
both traces (engine.inspection.charlm and .sentiment) answer queries with, by indexing only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from engine.cells import cell_of_mode
from engine.inspection.inputs import InspectInputError
from engine.stepper.trace import abs_diff, one_layer

A = TypeVar("A")
B = TypeVar("B")

#: Single-layer copies of multi-layer torch modules (sharing their parameters), built once per module.
_SINGLE_LAYERS: weakref.WeakKeyDictionary[nn.RNNBase, list[nn.RNNBase]] = weakref.WeakKeyDictionary()


@dataclass
class LayerActivity:
    """Everything one layer and direction computed over a text, each tensor [T, H] in text order.

    `h[t]` is the hidden state after reading step t; for the backward direction (direction 1, which
    reads the text from its end) that is after reading steps T-1 down to t. `gates` are keyed by
    engine.cells' names (LSTM i f g o, GRU r z n: after their nonlinearity; RNN "h": the
    pre-activation x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh). `torch_h` is torch's own output for
    the same layer and `max_diff` the largest |ours − torch's| over h (and the final c of an LSTM).
    """

    layer: int
    direction: int  # 0 forward, 1 backward
    cell: str  # rnn | lstm | gru
    h: Tensor
    c: Tensor | None
    gates: dict[str, Tensor]
    torch_h: Tensor
    max_diff: float

    @property
    def label(self) -> str:
        return f"layer {self.layer}" + (" backward" if self.direction else "")

    @property
    def kinds(self) -> tuple[str, ...]:
        """What `of` accepts: h, then c for an LSTM, then the gates (an RNN's pre-activation is only in `gates`)."""
        return ("h", *(("c",) if self.c is not None else ()), *(name for name in self.gates if name != "h"))

    def of(self, kind: str) -> Tensor:
        """The [T, H] values of h, c or a gate; InspectInputError naming the choices otherwise."""
        if kind == "h":
            return self.h
        if kind in self.kinds:
            return self.c if kind == "c" and self.c is not None else self.gates[kind]
        raise InspectInputError(
            f"A {self.cell.upper()} layer has no {kind!r} to show; choose one of {', '.join(self.kinds)}."
        )

    def previous_h(self) -> Tensor:
        """h before each step in reading order ([T, H]; zeros before the first step read)."""
        zero = torch.zeros_like(self.h[:1])
        if self.direction:
            return torch.cat([self.h[1:], zero])
        return torch.cat([zero, self.h[:-1]])


@dataclass
class Activities:
    """The layers of a trace and the queries a UI makes of them: indexing only, nothing recomputed."""

    cell: str
    hidden_size: int
    layer_count: int
    directions: int
    layers: list[LayerActivity] = field(repr=False)  # layer-major, forward before backward

    @property
    def length(self) -> int:
        """Time steps T (characters or tokens)."""
        return int(self.layers[0].h.shape[0])

    @property
    def max_diff(self) -> float:
        """The largest |ours − torch's| over every layer and direction."""
        return max(activity.max_diff for activity in self.layers)

    def check_layer(self, layer: int, direction: int = 0) -> None:
        if not 0 <= layer < self.layer_count:
            count = f"{self.layer_count} layer" + ("s" if self.layer_count != 1 else "")
            raise InspectInputError(
                f"The layer must be from 0 to {self.layer_count - 1} (the model has {count}), not {layer}."
            )
        if not 0 <= direction < self.directions:
            raise InspectInputError("This model reads its text forward only, so it has no backward direction.")

    def check_unit(self, unit: int) -> None:
        if not 0 <= unit < self.hidden_size:
            raise InspectInputError(
                f"The unit must be from 0 to {self.hidden_size - 1} (a layer has {self.hidden_size:,} units), not {unit}."
            )

    def check_step(self, t: int) -> None:
        if not 0 <= t < self.length:
            raise InspectInputError(f"The step must be from 0 to {self.length - 1}, not {t}.")

    def activity(self, layer: int, direction: int = 0) -> LayerActivity:
        """Layer `layer`, direction `direction` (0 forward, 1 backward)."""
        self.check_layer(layer, direction)
        return self.layers[layer * self.directions + direction]

    def unit_diffs(self, layer: int, t: int, direction: int = 0) -> Tensor:
        """|our h_t − torch's h_t| for every unit at step t: Tensor[H]."""
        self.check_step(t)
        activity = self.activity(layer, direction)
        return (activity.h[t] - activity.torch_h[t]).abs()

    def values(self, layer: int, unit: int, kind: str = "h", direction: int = 0) -> Tensor:
        """One unit's h, c or gate over the whole text: a view, Tensor[T]."""
        self.check_unit(unit)
        return self.activity(layer, direction).of(kind)[:, unit]

    def top_units(self, layer: int, t: int, n: int = 10, by: str = "h", direction: int = 0) -> list[int]:
        """The n units with the largest |h_t| (by="h") or |h_t − h_{t−1}| (by="delta"; h before the first step is 0).

        "Previous" is in reading order, so for the backward direction it is h_{t+1}. Ties keep unit order.
        """
        self.check_step(t)
        activity = self.activity(layer, direction)
        if by == "h":
            scores = activity.h[t].abs()
        elif by == "delta":
            before = t + 1 if direction else t - 1
            previous = activity.h[before] if 0 <= before < self.length else torch.zeros_like(activity.h[t])
            scores = (activity.h[t] - previous).abs()
        else:
            raise InspectInputError(f"Units are ranked by h or delta, not {by!r}.")
        order = torch.sort(scores, descending=True, stable=True).indices
        return [int(unit) for unit in order[: max(n, 0)]]

    def top_units_every_step(self, layer: int, n: int = 10, direction: int = 0) -> Tensor:
        """top_units(layer, t, n, by="h") for every step at once: unit indices [T, min(n, H)] (for tables and listings)."""
        activity = self.activity(layer, direction)
        return torch.sort(activity.h.abs(), dim=1, descending=True, stable=True).indices[:, : max(n, 0)]

    def at_units(
        self, layer: int, units: Tensor, direction: int = 0
    ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """h, c (None but for an LSTM) and the gates at the given units of each step, each [T, k] for units [T, k]."""
        activity = self.activity(layer, direction)
        c = activity.c.gather(1, units) if activity.c is not None else None
        return activity.h.gather(1, units), c, {name: gate.gather(1, units) for name, gate in activity.gates.items()}

    def nbytes(self) -> int:
        """Memory held by the tensors (for the cache's budget)."""
        tensors = [t for a in self.layers for t in (a.h, a.c, a.torch_h, *a.gates.values()) if t is not None]
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}  # views share one
        return sum(storages.values())


# ------------------------------------------------------------------------------ the loop


def weights_of(module: nn.RNNBase, layer: int = 0) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """W_ih, W_hh, b_ih, b_hh of one (forward) layer of a torch module; biases None without bias."""
    if getattr(module, "proj_size", 0) or module.bidirectional:
        raise InspectInputError("Layers with LSTM projections or fused directions cannot be inspected.")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if module.bias else ("weight_ih", "weight_hh")
    found = [getattr(module, f"{name}_l{layer}").detach() for name in names]
    return found[0], found[1], (found[2] if module.bias else None), (found[3] if module.bias else None)


def run_layer(module: nn.RNNBase, layer: int, x: Tensor) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
    """Our own recurrence of layer `layer` of `module` over x [T, I] from zero state: h [T, H], c (LSTM) and the gates.

    Call under torch.inference_mode(). Per step: one addmv (h_{t-1}·W_hhᵀ + b_hh) into a
    preallocated row, then the cell's elementwise operations in ATen's order, written into
    [T, ·] buffers through views (no tensor is allocated per step).
    """
    spec = cell_of_mode(module.mode)
    w_ih, w_hh, b_ih, b_hh = weights_of(module, layer)
    hidden = w_hh.shape[1]
    steps = x.shape[0]
    xp = torch.addmm(b_ih, x, w_ih.t()) if b_ih is not None else torch.mm(x, w_ih.t())
    bias = b_hh if b_hh is not None else w_hh.new_zeros(w_hh.shape[0])
    new = x.new_empty
    h_all = new(steps, hidden)
    h = x.new_zeros(hidden)
    blocks = [slice(k * hidden, (k + 1) * hidden) for k in range(len(spec.gates))]
    if spec.name == "lstm":
        gates = new(steps, 4 * hidden)
        c_all = new(steps, hidden)
        c = x.new_zeros(hidden)
        scratch = new(hidden)
        bi, bf, bg, bo = blocks
        for t in range(steps):
            row = torch.addmv(bias, w_hh, h, out=gates[t]).add_(xp[t])
            i, f, g, o = row[bi].sigmoid_(), row[bf].sigmoid_(), row[bg].tanh_(), row[bo].sigmoid_()
            c_t = torch.mul(f, c, out=c_all[t]).add_(torch.mul(i, g, out=scratch))
            h = torch.mul(o, torch.tanh(c_t, out=scratch), out=h_all[t])
            c = c_t
        return h_all, c_all, {name: gates[:, block] for name, block in zip(spec.gates, blocks, strict=True)}
    if spec.name == "gru":
        gates = new(steps, 3 * hidden)
        scratch = new(3 * hidden)
        br, bz, bn = blocks
        for t in range(steps):
            torch.addmv(bias, w_hh, h, out=scratch)
            xt, row = xp[t], gates[t]
            r = torch.add(scratch[br], xt[br], out=row[br]).sigmoid_()
            z = torch.add(scratch[bz], xt[bz], out=row[bz]).sigmoid_()
            n = torch.add(xt[bn], scratch[bn].mul_(r), out=row[bn]).tanh_()
            h = torch.sub(h, n, out=h_all[t]).mul_(z).add_(n)
        return h_all, None, {name: gates[:, block] for name, block in zip(spec.gates, blocks, strict=True)}
    pre = new(steps, hidden)
    tanh = module.mode == "RNN_TANH"
    for t in range(steps):
        row = torch.addmv(bias, w_hh, h, out=pre[t]).add_(xp[t])
        h = torch.tanh(row, out=h_all[t]) if tanh else torch.clamp(row, min=0.0, out=h_all[t])  # relu is clamp_min
    return h_all, None, {spec.gates[0]: pre}


# ------------------------------------------------------------------------------ torch's side


def single_layers(module: nn.RNNBase) -> list[nn.RNNBase]:
    """One single-layer torch module per layer of `module`, sharing its parameters, built once per module."""
    found = _SINGLE_LAYERS.get(module)
    if found is None:
        found = [one_layer(module, layer) for layer in range(module.num_layers)]
        _SINGLE_LAYERS[module] = found
    return found


def torch_layer(module: nn.RNNBase, x: Tensor) -> tuple[Tensor, Tensor | None]:
    """A single-layer torch module's own output [T, H] over x [T, I] from zero state, and its final c (LSTM)."""
    output, state = module(x[None])
    c_n = state[1][0, 0] if isinstance(state, tuple) else None
    return output[0], c_n


def compare(
    layer: int,
    direction: int,
    cell: str,
    ours: tuple[Tensor, Tensor | None, dict[str, Tensor]],
    torch_h: Tensor,
    torch_c_n: Tensor | None,
) -> LayerActivity:
    """A LayerActivity from our (h, c, gates) in text order and torch's output for the same layer."""
    h, c, gates = ours
    diff = abs_diff(h, torch_h)
    if c is not None and torch_c_n is not None:
        last = c[0] if direction else c[-1]
        diff = max(diff, abs_diff(last, torch_c_n))
    return LayerActivity(layer, direction, cell, h, c, gates, torch_h, diff)


def beside(background: Callable[[], A], foreground: Callable[[], B], *, parallel: bool) -> tuple[A, B]:
    """(background(), foreground()): with `parallel`, background runs in a second thread (one torch thread) meanwhile.

    torch's kernels release the GIL, so torch's reference runs on the other core while our
    Python loop runs here. An exception in either is raised here.
    """
    if not parallel:
        return background(), foreground()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            if torch.get_num_threads() != 1:
                torch.set_num_threads(1)  # this thread's own OpenMP setting: it shares the machine with ours
            with torch.inference_mode():
                box["value"] = background()
        except BaseException as error:  # handed to the calling thread
            box["error"] = error

    thread = threading.Thread(target=work, name="inspection-reference", daemon=True)
    thread.start()
    try:
        mine = foreground()
    finally:
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"], mine
