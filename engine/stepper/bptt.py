"""Gradients through time: how much of a loss on the last output reaches each h_t.

The chapter's argument for LSTMs, truncated BPTT and gradient clipping is that
∂L/∂h_t shrinks or grows geometrically as t moves away from the loss. This module
measures it for any torch recurrent layer: it reruns the layer's recurrence on copies
of its parameters under autograd, keeps the gradient of every h_t, and reports the
parameter gradient norm before and after `clip_grad_norm_`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.stepper.steps import LayerParams, layer_params
from engine.stepper.trace import cell_type, initial_states, run_direction, stack_by_position, time_major


@dataclass
class GradientFlow:
    """‖∂L/∂h_t‖ for every layer, direction and position, with L = Σ(top-layer output at T-1)."""

    loss: float
    norms: dict[tuple[int, int], list[float]]  # (layer, direction) -> norm at each position t
    truncation: int | None  # gradients stop this many steps back from the loss (None: full BPTT)
    clip: float | None  # clip_grad_norm_ threshold (None: no clipping)
    grad_norm: float  # total parameter gradient norm before clipping
    clipped_norm: float  # the same after clipping
    param_norms: dict[str, tuple[float, float]]  # parameter name -> (before, after) clipping

    @property
    def clipped(self) -> bool:
        return self.clip is not None and self.grad_norm > self.clip


def _param_name(name: str, layer: int, direction: int, module: nn.RNNBase) -> str:
    """'W_hh' for a one-layer unidirectional module, else 'W_hh l1_reverse' and the like."""
    if module.num_layers == 1 and not module.bidirectional:
        return name
    return f"{name} l{layer}" + ("_reverse" if direction else "")


def gradient_flow(
    module: nn.RNNBase,
    x: Tensor,
    truncation: int | None = None,
    clip: float | None = None,
) -> GradientFlow:
    """Backpropagate L = Σ output[:, T-1] through the recurrence of `module` on input `x`.

    `truncation=k` detaches the state k steps back from the loss, so only h_{T-k} … h_{T-1}
    receive gradient (truncated BPTT). `clip` applies `clip_grad_norm_` to the parameter
    gradients and reports the norms before and after. The module itself is not touched.
    """
    if truncation is not None and truncation < 1:
        raise ValueError("truncation window must be at least 1")
    if clip is not None and not clip > 0:
        raise ValueError("clipping threshold must be positive")
    cell = cell_type(module)
    inputs = time_major(module, x).detach()
    length = inputs.shape[0]
    cut_at = length - truncation if truncation is not None and truncation < length else None
    directions = 2 if module.bidirectional else 1
    nonlinearity = getattr(module, "nonlinearity", "tanh") if cell == "rnn" else "tanh"
    h0, c0 = initial_states(module, inputs.shape[1], inputs.dtype, inputs.device)

    named: dict[str, Tensor] = {}
    states: dict[tuple[int, int], list] = {}
    layer_input = inputs
    with torch.enable_grad():
        for layer in range(module.num_layers):
            outputs = []
            for direction in range(directions):
                source = layer_params(module, layer, direction)
                copies = {
                    name: value.detach().clone().requires_grad_()
                    for name, value in vars(source).items()
                    if value is not None
                }
                if not module.bias:
                    copies["b_xh"].requires_grad_(False)
                    copies["b_hh"].requires_grad_(False)
                for name, value in copies.items():
                    if value.requires_grad:
                        named[_param_name(name, layer, direction, module)] = value
                params = LayerParams(**copies)
                index = layer * directions + direction
                visits = run_direction(
                    cell,
                    nonlinearity,
                    params,
                    layer_input,
                    h0[index],
                    c0[index] if c0 is not None else None,
                    reverse=bool(direction),
                    cut_at=None if direction else cut_at,
                )
                for visit in visits:
                    visit.h.retain_grad()
                states[(layer, direction)] = visits
                outputs.append(stack_by_position(visits))
            layer_input = torch.cat(outputs, dim=-1)
        loss = layer_input[-1].sum()
        loss.backward()

    norms: dict[tuple[int, int], list[float]] = {}
    for key, visits in states.items():
        by_position = sorted(visits, key=lambda visit: visit.t)
        norms[key] = [float(v.h.grad.norm()) if v.h.grad is not None else 0.0 for v in by_position]

    before = {name: float(p.grad.norm()) if p.grad is not None else 0.0 for name, p in named.items()}
    grad_norm = math.sqrt(sum(value**2 for value in before.values()))
    with_grad = [p for p in named.values() if p.grad is not None]
    if clip is not None and with_grad:
        torch.nn.utils.clip_grad_norm_(with_grad, clip)
    after = {name: float(p.grad.norm()) if p.grad is not None else 0.0 for name, p in named.items()}
    clipped_norm = math.sqrt(sum(value**2 for value in after.values()))
    return GradientFlow(
        loss=float(loss.detach()),
        norms=norms,
        truncation=truncation,
        clip=clip,
        grad_norm=grad_norm,
        clipped_norm=clipped_norm,
        param_norms={name: (before[name], after[name]) for name in named},
    )
