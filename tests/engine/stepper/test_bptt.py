"""Gradients through time against autograd through torch's own modules, computed independently."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from engine.stepper.bptt import gradient_flow
from engine.stepper.run import run_stepper
from engine.stepper.scenario import config_from_strings

# torch notes, harmlessly, that oneDNN has no LSTM projections and falls back to its native kernel.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

REL = 1e-4

TORCH_NAMES = {"W_xh": "weight_ih", "W_hh": "weight_hh", "b_xh": "bias_ih", "b_hh": "bias_hh", "W_hr": "weight_hr"}


def torch_name(engine_name: str) -> str:
    """'W_xh l1_reverse' -> 'weight_ih_l1_reverse'; a bare 'W_xh' is layer 0 forward."""
    symbol, _, where = engine_name.partition(" ")
    return f"{TORCH_NAMES[symbol]}_{where or 'l0'}"


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12 + rel * 1e-6 * max(abs(a), abs(b), 1.0))


@dataclass
class Case:
    cell: str
    nonlinearity: str
    input_size: int
    hidden_size: int
    proj_size: int
    layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    batch: int
    length: int
    truncation: int | None
    seed: int

    def build(self) -> nn.RNNBase:
        torch.manual_seed(self.seed)
        return make_module(self, self.input_size, self.layers)

    def inputs(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        shape = (
            (self.batch, self.length, self.input_size)
            if self.batch_first
            else (self.length, self.batch, self.input_size)
        )
        return torch.randn(*shape, generator=generator)


def make_module(case: Case, input_size: int, layers: int) -> nn.RNNBase:
    kwargs = dict(
        input_size=input_size,
        hidden_size=case.hidden_size,
        num_layers=layers,
        bias=case.bias,
        batch_first=case.batch_first,
        bidirectional=case.bidirectional,
    )
    if case.cell == "rnn":
        return nn.RNN(nonlinearity=case.nonlinearity, **kwargs)
    if case.cell == "lstm":
        return nn.LSTM(proj_size=case.proj_size, **kwargs)
    return nn.GRU(**kwargs)


@st.composite
def cases(draw, bidirectional: bool) -> Case:
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    hidden = draw(st.integers(1, 5))
    length = draw(st.integers(1, 8))
    return Case(
        cell=cell,
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])) if cell == "rnn" else "tanh",
        input_size=draw(st.integers(1, 4)),
        hidden_size=hidden,
        proj_size=draw(st.integers(0, hidden - 1)) if cell == "lstm" and hidden > 1 else 0,
        layers=draw(st.integers(1, 3)),
        bidirectional=bidirectional,
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        batch=draw(st.integers(1, 2)),
        length=length,
        truncation=None if bidirectional else draw(st.one_of(st.none(), st.integers(1, length + 1))),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def time_slice(case: Case, x: torch.Tensor, t: int) -> torch.Tensor:
    return x[:, t : t + 1] if case.batch_first else x[t : t + 1]


def last_step(case: Case, out: torch.Tensor) -> torch.Tensor:
    """The output at the last position, (B, features)."""
    return out[:, -1] if case.batch_first else out[-1]


def cut_position(case: Case) -> int | None:
    k = case.truncation
    return case.length - k if k is not None and k < case.length else None


def detach_state(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def top_layer_norms_stepping_the_module(case: Case, module: nn.RNNBase, x: torch.Tensor) -> list[float]:
    """Step torch's own (multi-layer) module one time step at a time; ‖∂L/∂h_t‖ of its top layer."""
    cut = cut_position(case)
    state = None
    kept = []
    for t in range(case.length):
        if t == cut:
            state = detach_state(state)
        out, state = module(time_slice(case, x, t), state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        kept.append(h)
    out.retain_grad()
    last_step(case, out).sum().backward()
    norms = [float(h.grad[-1].norm()) if h.grad is not None else 0.0 for h in kept[:-1]]
    # The last step's top-layer h_t reaches the loss only as the output.
    norms.append(float(last_step(case, out.grad).norm()))
    return norms


def layer_modules(case: Case, module: nn.RNNBase) -> list[nn.RNNBase]:
    """One single-layer torch module per layer, holding the big module's own Parameter objects."""
    below = case.proj_size or case.hidden_size
    subs = []
    with torch.random.fork_rng():
        for layer in range(case.layers):
            sub = make_module(case, case.input_size if layer == 0 else below, 1)
            for name in sub._flat_weights_names:
                setattr(sub, name, getattr(module, name.replace("_l0", f"_l{layer}")))
            subs.append(sub)
    return subs


def all_layer_norms_stepping_each_layer(case: Case, module: nn.RNNBase, x: torch.Tensor) -> dict[int, list[float]]:
    """‖∂L/∂h_t‖ for every layer: each h_t feeds both the next step and the layer above."""
    subs = layer_modules(case, module)
    cut = cut_position(case)
    states = [None] * case.layers
    kept: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {layer: [] for layer in range(case.layers)}
    for t in range(case.length):
        layer_in = time_slice(case, x, t)
        for layer, sub in enumerate(subs):
            if t == cut and states[layer] is not None:
                states[layer] = detach_state(states[layer])
            out, states[layer] = sub(layer_in, states[layer])
            h = states[layer][0] if isinstance(states[layer], tuple) else states[layer]
            out.retain_grad()
            h.retain_grad()
            kept[layer].append((out, h))
            layer_in = out
    last_step(case, layer_in).sum().backward()
    norms: dict[int, list[float]] = {}
    for layer, pairs in kept.items():
        norms[layer] = []
        for out, h in pairs:
            total = torch.zeros_like(h[0])
            if out.grad is not None:
                total = total + last_step(case, out.grad)
            if h.grad is not None:
                total = total + h.grad[0]
            norms[layer].append(float(total.norm()))
    return norms


def autograd_param_norms(case: Case, module: nn.RNNBase, x: torch.Tensor) -> dict[str, float]:
    """Per-parameter gradient norms of L = Σ output[:, T-1] through torch's module forward."""
    module.zero_grad()
    out, _ = module(x)
    last_step(case, out).sum().backward()
    norms = {name: float(p.grad.norm()) for name, p in module.named_parameters()}
    module.zero_grad()
    return norms


def assert_norms_close(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs)
    scale = max(max(theirs), 1e-30)
    for t, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-7 * scale), (t, ours, theirs)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(bidirectional=False))
def test_norms_match_autograd_stepping_torchs_module(case: Case):
    module = case.build()
    x = case.inputs()
    before = {name: p.detach().clone() for name, p in module.named_parameters()}

    flow = gradient_flow(module, x, truncation=case.truncation)

    # gradient_flow leaves the module alone: no gradients, same parameters.
    for name, p in module.named_parameters():
        assert p.grad is None, name
        assert torch.equal(p, before[name]), name
    assert set(flow.norms) == {(layer, 0) for layer in range(case.layers)}

    top = top_layer_norms_stepping_the_module(case, module, x)
    assert_norms_close(flow.norms[(case.layers - 1, 0)], top)
    module.zero_grad()

    every = all_layer_norms_stepping_each_layer(case, module, x)
    for layer in range(case.layers):
        assert_norms_close(flow.norms[(layer, 0)], every[layer])

    cut = cut_position(case)
    if cut is not None:
        for layer in range(case.layers):
            assert all(norm == 0.0 for norm in flow.norms[(layer, 0)][:cut])
    else:
        # Full BPTT: parameter gradients are torch's own.
        torch_norms = autograd_param_norms(case, module, x)
        assert {torch_name(name) for name in flow.param_norms} == set(torch_norms)
        for name, (grad_before, _) in flow.param_norms.items():
            assert close(grad_before, torch_norms[torch_name(name)]), name
        assert close(flow.grad_norm, math.sqrt(sum(v * v for v in torch_norms.values())))
    # The top layer's last step always receives ∂L/∂h = 1 for every unit.
    h_out = case.proj_size or case.hidden_size
    assert flow.norms[(case.layers - 1, 0)][-1] == pytest.approx(math.sqrt(case.batch * h_out), rel=1e-6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(bidirectional=True))
def test_bidirectional_parameter_gradients_match_autograd(case: Case):
    module = case.build()
    x = case.inputs()
    flow = gradient_flow(module, x)
    torch_norms = autograd_param_norms(case, module, x)
    assert {torch_name(name) for name in flow.param_norms} == set(torch_norms)
    for name, (grad_before, grad_after) in flow.param_norms.items():
        assert close(grad_before, torch_norms[torch_name(name)]), name
        assert grad_after == grad_before  # no clipping asked for
    assert close(flow.grad_norm, math.sqrt(sum(v * v for v in torch_norms.values())))
    assert set(flow.norms) == {(layer, d) for layer in range(case.layers) for d in (0, 1)}
    assert all(len(norms) == case.length for norms in flow.norms.values())


def test_bidirectional_top_layer_reverse_gets_gradient_only_at_the_last_position():
    # The loss reads output[:, T-1]; the top reverse direction produces it from its very first visit.
    torch.manual_seed(0)
    module = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    flow = gradient_flow(module, torch.randn(1, 6, 3))
    reverse_top = flow.norms[(1, 1)]
    assert reverse_top[-1] == pytest.approx(2.0)  # sqrt(4 units)
    assert all(norm == 0.0 for norm in reverse_top[:-1])
    # The lower reverse direction feeds the top forward direction at every position.
    assert all(norm > 0.0 for norm in flow.norms[(0, 1)])


# --------------------------------------------------------------------------- clipping


@pytest.fixture
def lstm_and_input():
    torch.manual_seed(2)
    module = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    x = torch.randn(2, 7, 3)
    return module, x


def test_grad_norm_before_clipping_is_the_autograd_total(lstm_and_input):
    module, x = lstm_and_input
    out, _ = module(x)
    out[:, -1].sum().backward()
    total = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in module.parameters()))
    module.zero_grad(set_to_none=True)

    flow = gradient_flow(module, x)
    assert flow.grad_norm == pytest.approx(total, rel=REL)
    assert flow.clipped_norm == flow.grad_norm
    assert not flow.clipped
    assert flow.loss == pytest.approx(float(out[:, -1].sum().detach()), rel=1e-6)


def test_clipping_below_the_norm_scales_every_gradient_to_the_threshold(lstm_and_input):
    module, x = lstm_and_input
    unclipped = gradient_flow(module, x)
    threshold = unclipped.grad_norm / 3
    flow = gradient_flow(module, x, clip=threshold)
    assert flow.clipped
    assert flow.grad_norm == pytest.approx(unclipped.grad_norm, rel=1e-9)
    assert flow.clipped_norm == pytest.approx(threshold, rel=1e-5)
    ratio = threshold / unclipped.grad_norm
    for name, (grad_before, grad_after) in flow.param_norms.items():
        assert grad_after == pytest.approx(grad_before * ratio, rel=1e-5), name
    # Clipping changes parameter gradients, not ∂L/∂h_t.
    assert flow.norms == unclipped.norms


def test_clipping_above_the_norm_changes_nothing(lstm_and_input):
    module, x = lstm_and_input
    unclipped = gradient_flow(module, x)
    flow = gradient_flow(module, x, clip=unclipped.grad_norm * 2)
    assert not flow.clipped
    assert flow.clipped_norm == pytest.approx(flow.grad_norm, rel=1e-7)
    for grad_before, grad_after in flow.param_norms.values():
        assert grad_after == pytest.approx(grad_before, rel=1e-7)


@pytest.mark.parametrize("truncation", [0, -3])
def test_truncation_below_one_is_rejected(lstm_and_input, truncation):
    module, x = lstm_and_input
    with pytest.raises(ValueError):
        gradient_flow(module, x, truncation=truncation)


@pytest.mark.parametrize("clip", [0.0, -1.0, float("nan")])
def test_clip_threshold_must_be_positive(lstm_and_input, clip):
    module, x = lstm_and_input
    with pytest.raises(ValueError):
        gradient_flow(module, x, clip=clip)


# --------------------------------------------------------------------------- the chapter's argument


def test_a_long_tanh_rnn_makes_gradients_vanish():
    result = run_stepper(config_from_strings(random_length=60, input_size=4, hidden_size=16, seed=0))
    norms = result.flow.norms[(0, 0)]
    assert len(norms) == 60
    assert norms[-1] == pytest.approx(4.0)  # ∂L/∂h_{T-1} = ones(16)
    assert norms[0] < norms[-1] * 1e-8  # many orders of magnitude smaller, 59 steps back
    assert norms[0] < norms[30] < norms[-1]


def test_scaled_w_hh_makes_gradients_explode_and_clipping_tames_them():
    result = run_stepper(
        config_from_strings(random_length=60, input_size=4, hidden_size=16, seed=0, w_hh_scale=6, clip=1.0)
    )
    flow = result.flow
    norms = flow.norms[(0, 0)]
    assert norms[0] > 100 * norms[-1]
    assert max(norms[:10]) > norms[-1]
    assert flow.grad_norm > 100
    assert flow.clipped
    assert flow.clipped_norm == pytest.approx(1.0, rel=1e-5)


def test_truncation_stops_gradients_k_steps_back():
    result = run_stepper(config_from_strings(random_length=20, input_size=4, hidden_size=8, seed=3, truncation=5))
    norms = result.flow.norms[(0, 0)]
    assert all(norm == 0.0 for norm in norms[:15])
    assert all(norm > 0.0 for norm in norms[15:])
    full = result.with_gradient_settings(truncation=None, clip=None).flow.norms[(0, 0)]
    assert full[15:] == pytest.approx(norms[15:], rel=1e-6)  # the kept steps see the same gradient
    assert all(norm > 0.0 for norm in full)
