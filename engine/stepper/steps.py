"""One time step of torch's RNN, LSTM and GRU cells, written out term by term.

Each function takes the layer's own parameters for one layer and direction, the input
projection x_t·W_xhᵀ + b_xh for this step (`input_projection` computes it for the whole
sequence at once, as torch does), and the previous state. It returns the new state plus
every named intermediate, in the order the chapter explains them. The arithmetic follows
ATen's native CPU cells operation for operation, so a float32 recomputation is bit-for-bit
torch's native kernel. The functions are differentiable: the gradient view reuses them
under autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class LayerParams:
    """The parameters of one layer and direction, named as the chapter names them."""

    W_xh: Tensor  # (gates*H, input)
    W_hh: Tensor  # (gates*H, H_out)
    b_xh: Tensor  # (gates*H,)
    b_hh: Tensor  # (gates*H,)
    W_hr: Tensor | None = None  # LSTM projection (proj_size, H), when proj_size > 0


def layer_params(module: torch.nn.RNNBase, layer: int, direction: int) -> LayerParams:
    """Read layer `layer`, direction `direction` (0 forward, 1 reverse) out of a torch module."""
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    W_xh = getattr(module, "weight_ih" + suffix)
    W_hh = getattr(module, "weight_hh" + suffix)
    if module.bias:
        b_xh = getattr(module, "bias_ih" + suffix)
        b_hh = getattr(module, "bias_hh" + suffix)
    else:
        b_xh = torch.zeros(W_xh.shape[0], dtype=W_xh.dtype, device=W_xh.device)
        b_hh = torch.zeros(W_hh.shape[0], dtype=W_hh.dtype, device=W_hh.device)
    W_hr = getattr(module, "weight_hr" + suffix, None) if getattr(module, "proj_size", 0) else None
    return LayerParams(W_xh=W_xh, W_hh=W_hh, b_xh=b_xh, b_hh=b_hh, W_hr=W_hr)


def input_projection(p: LayerParams, inputs: Tensor) -> Tensor:
    """x_t·W_xhᵀ + b_xh for every step of time-major `inputs` (T, B, I) in one matrix product."""
    return F.linear(inputs, p.W_xh, p.b_xh)


def rnn_step(
    p: LayerParams, x_part: Tensor, h_prev: Tensor, nonlinearity: str = "tanh"
) -> tuple[Tensor, dict[str, Tensor]]:
    """h_t = act(x_t·W_xhᵀ + b_xh + h_{t-1}·W_hhᵀ + b_hh)."""
    h_part = F.linear(h_prev, p.W_hh, p.b_hh)
    pre = h_part + x_part
    h_t = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    act = "tanh" if nonlinearity == "tanh" else "relu"
    terms = {
        "x_t·W_xhᵀ + b_xh": x_part,
        "h_{t-1}·W_hhᵀ + b_hh": h_part,
        "z_t (pre-activation)": pre,
        f"h_t = {act}(z_t)": h_t,
    }
    return h_t, terms


def lstm_step(
    p: LayerParams, x_part: Tensor, h_prev: Tensor, c_prev: Tensor
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """The LSTM cell: gates i, f, g, o, then c_t = f⊙c_{t-1} + i⊙g and h_t = o⊙tanh(c_t)."""
    x_parts = x_part.chunk(4, dim=-1)
    h_parts = F.linear(h_prev, p.W_hh, p.b_hh).chunk(4, dim=-1)
    pre = [h + x for h, x in zip(h_parts, x_parts, strict=False)]
    i_t = torch.sigmoid(pre[0])
    f_t = torch.sigmoid(pre[1])
    g_t = torch.tanh(pre[2])
    o_t = torch.sigmoid(pre[3])
    c_t = f_t * c_prev + i_t * g_t
    h_t = o_t * torch.tanh(c_t)
    terms: dict[str, Tensor] = {}
    for name, x_gate, h_gate in zip("ifgo", x_parts, h_parts, strict=False):
        terms[f"x_t·W_x{name}ᵀ + b_x{name}"] = x_gate
        terms[f"h_{{t-1}}·W_h{name}ᵀ + b_h{name}"] = h_gate
    terms["i_t = σ(·)"] = i_t
    terms["f_t = σ(·)"] = f_t
    terms["g_t = tanh(·)"] = g_t
    terms["o_t = σ(·)"] = o_t
    terms["c_t = f⊙c_{t-1} + i⊙g"] = c_t
    if p.W_hr is not None:
        terms["o⊙tanh(c_t)"] = h_t
        h_t = F.linear(h_t, p.W_hr)
        terms["h_t = W_hr·(o⊙tanh(c_t))"] = h_t
    else:
        terms["h_t = o⊙tanh(c_t)"] = h_t
    return h_t, c_t, terms


def gru_step(p: LayerParams, x_part: Tensor, h_prev: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """The GRU cell: r, z, then n = tanh(x-part + r⊙h-part) and h_t = (1-z)⊙n + z⊙h_{t-1}."""
    x_r, x_z, x_n = x_part.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h_prev, p.W_hh, p.b_hh).chunk(3, dim=-1)
    r_t = torch.sigmoid(h_r + x_r)
    z_t = torch.sigmoid(h_z + x_z)
    gated = h_n * r_t
    n_t = torch.tanh(x_n + gated)
    h_t = (h_prev - n_t) * z_t + n_t
    terms = {
        "x_t·W_xrᵀ + b_xr": x_r,
        "h_{t-1}·W_hrᵀ + b_hr": h_r,
        "x_t·W_xzᵀ + b_xz": x_z,
        "h_{t-1}·W_hzᵀ + b_hz": h_z,
        "x_t·W_xnᵀ + b_xn": x_n,
        "h_{t-1}·W_hnᵀ + b_hn": h_n,
        "r_t = σ(·)": r_t,
        "z_t = σ(·)": z_t,
        "r⊙(h_{t-1}·W_hnᵀ + b_hn)": gated,
        "n_t = tanh(·)": n_t,
        "h_t = (1-z)⊙n + z⊙h_{t-1}": h_t,
    }
    return h_t, terms
