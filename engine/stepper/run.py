"""Everything the Stepper computes for a scenario: the layer, its trace, the gradient flow and the erratum."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from engine.cells import cell
from engine.stepper.bptt import GradientFlow, gradient_flow
from engine.stepper.scenario import ERRATUM_EXPLANATION, StepperConfig
from engine.stepper.trace import Trace, trace_module


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
                    "params": {
                        name: values(value.unsqueeze(0)) for name, value in vars(lt.params).items() if value is not None
                    },
                    "steps": [
                        {
                            "t": step.t,
                            "x": values(step.x),
                            "h_prev": values(step.h_prev),
                            "terms": {name: values(term) for name, term in step.terms.items()},
                            "h": values(step.h),
                            "c": values(step.c),
                            "torch_h": values(step.torch_h),
                            "abs_diff": _finite_or_none(step.diff),
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
            "max_abs_diff": _finite_or_none(self.trace.max_abs_diff),
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
    kwargs: dict[str, Any] = dict(
        input_size=config.input_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        batch_first=True,
    )
    torch.manual_seed(config.seed)
    spec = cell(config.cell)  # an unknown name is an error, never another cell
    if spec.name == "rnn":
        kwargs["nonlinearity"] = config.nonlinearity
    layer: nn.RNNBase = getattr(nn, spec.module)(**kwargs)
    if config.w_hh_scale != 1.0:
        with torch.no_grad():
            for name, param in layer.named_parameters():
                if name.startswith("weight_hh"):
                    param.mul_(config.w_hh_scale)
    return layer


def book_erratum_outputs(module: nn.RNNBase, x: Tensor) -> list[list[float]]:
    """The printed book's manual loop, b_hh in place of b_xh: tanh(x·W_xhᵀ + b_hh + h·W_hhᵀ + b_hh)."""
    W_xh, W_hh, b_hh = (module.get_parameter(name) for name in ("weight_ih_l0", "weight_hh_l0", "bias_hh_l0"))
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
