"""The step-by-step trace against torch: the chapter's numbers, then random configurations."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from engine.stepper.run import book_erratum_outputs, build_layer, run_stepper
from engine.stepper.scenario import StepperConfig
from engine.stepper.trace import native_kernels, trace_module

# torch notes, harmlessly, that oneDNN has no LSTM projections and falls back to its native kernel.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

CHAPTER_OUTPUTS = [
    [-0.3519801, 0.52525216],
    [-0.68424344, 0.76074266],
    [-0.8649416, 0.90466356],
]
ERRATUM_OUTPUTS = [
    [-0.21046415, 0.56788784],
    [-0.5741978, 0.7945334],
    [-0.8130059, 0.918174],
]
CHAPTER_X = torch.tensor([[[1.0] * 5, [2.0] * 5, [3.0] * 5]])


def chapter_rnn() -> nn.RNN:
    torch.manual_seed(1)
    return nn.RNN(input_size=5, hidden_size=2, num_layers=1, batch_first=True)


# --------------------------------------------------------------------------- the chapter


def test_chapter_outputs_match_the_book():
    trace = trace_module(chapter_rnn(), CHAPTER_X)
    assert torch.allclose(trace.output[0], torch.tensor(CHAPTER_OUTPUTS), rtol=0, atol=1e-6)
    assert torch.allclose(trace.torch_output[0], torch.tensor(CHAPTER_OUTPUTS), rtol=0, atol=1e-6)
    assert trace.max_abs_diff <= 1e-6
    steps = trace.layer(0).steps
    assert [step.t for step in steps] == [0, 1, 2]
    for step, expected in zip(steps, CHAPTER_OUTPUTS, strict=False):
        assert step.h[0].tolist() == pytest.approx(expected, abs=1e-6)


def test_chapter_parameters_have_the_books_shapes():
    trace = trace_module(chapter_rnn(), CHAPTER_X)
    params = trace.layer(0).params
    assert params.W_xh.shape == (2, 5)
    assert params.W_hh.shape == (2, 2)
    assert params.b_xh.shape == (2,)
    assert params.b_hh.shape == (2,)
    assert params.W_hr is None


def test_chapter_scenario_through_run_stepper():
    result = run_stepper(StepperConfig())
    assert torch.allclose(result.trace.output[0], torch.tensor(CHAPTER_OUTPUTS), rtol=0, atol=1e-6)
    assert result.trace.max_abs_diff <= 1e-6
    assert result.erratum is not None
    assert len(result.erratum) == 3
    for got, want in zip(result.erratum, ERRATUM_OUTPUTS, strict=False):
        assert got == pytest.approx(want, abs=1e-6)


def test_erratum_uses_b_hh_twice_and_differs_from_torch():
    module = chapter_rnn()
    erratum = book_erratum_outputs(module, CHAPTER_X)
    assert erratum[0] == pytest.approx(ERRATUM_OUTPUTS[0], abs=1e-6)
    assert erratum[0] != pytest.approx(CHAPTER_OUTPUTS[0], abs=1e-3)
    # Swapping b_xh for b_hh in the module itself reproduces the book's printed loop.
    with torch.no_grad():
        module.bias_ih_l0.copy_(module.bias_hh_l0)
    with native_kernels():
        out, _ = module(CHAPTER_X)
    assert torch.allclose(out[0], torch.tensor(erratum), rtol=0, atol=1e-6)


def test_build_layer_seeds_right_before_the_layer_as_the_book_does():
    torch.manual_seed(123)  # whatever came before must not matter
    built = build_layer(StepperConfig())
    reference = chapter_rnn()
    for (name, ours), (_, theirs) in zip(built.named_parameters(), reference.named_parameters(), strict=False):
        assert torch.equal(ours, theirs), name


# --------------------------------------------------------------------------- terms


def test_rnn_terms_add_up():
    module = chapter_rnn()
    trace = trace_module(module, CHAPTER_X)
    p = trace.layer(0).params
    for step in trace.layer(0).steps:
        x_part = step.terms["x_t·W_xhᵀ + b_xh"]
        h_part = step.terms["h_{t-1}·W_hhᵀ + b_hh"]
        pre = step.terms["z_t (pre-activation)"]
        assert torch.equal(pre, x_part + h_part)
        assert torch.allclose(x_part, step.x @ p.W_xh.T + p.b_xh, atol=1e-6)
        assert torch.allclose(h_part, step.h_prev @ p.W_hh.T + p.b_hh, atol=1e-6)
        assert torch.equal(step.terms["h_t = tanh(z_t)"], torch.tanh(pre))
        assert torch.equal(step.h, torch.tanh(pre))


def test_relu_rnn_terms():
    torch.manual_seed(3)
    module = nn.RNN(3, 4, nonlinearity="relu")
    x = torch.randn(5, 1, 3)
    trace = trace_module(module, x)
    assert trace.nonlinearity == "relu"
    for step in trace.layer(0).steps:
        pre = step.terms["z_t (pre-activation)"]
        assert torch.equal(step.terms["h_t = relu(z_t)"], torch.relu(pre))
        assert torch.equal(step.h, torch.relu(pre))


def _gate_blocks(tensor: torch.Tensor, gates: int) -> list[torch.Tensor]:
    return list(tensor.chunk(gates, dim=-1))


@pytest.mark.parametrize("proj_size", [0, 2])
def test_lstm_terms(proj_size):
    torch.manual_seed(4)
    module = nn.LSTM(3, 4, proj_size=proj_size)
    x = torch.randn(6, 2, 3)
    trace = trace_module(module, x)
    p = trace.layer(0).params
    assert (p.W_hr is not None) == bool(proj_size)
    for step in trace.layer(0).steps:
        x_parts = _gate_blocks(step.x @ p.W_xh.T + p.b_xh, 4)
        h_parts = _gate_blocks(step.h_prev @ p.W_hh.T + p.b_hh, 4)
        for name, x_gate, h_gate in zip("ifgo", x_parts, h_parts, strict=False):
            assert torch.allclose(step.terms[f"x_t·W_x{name}ᵀ + b_x{name}"], x_gate, atol=1e-6)
            assert torch.allclose(step.terms[f"h_{{t-1}}·W_h{name}ᵀ + b_h{name}"], h_gate, atol=1e-6)
        i = step.terms["i_t = σ(·)"]
        f = step.terms["f_t = σ(·)"]
        g = step.terms["g_t = tanh(·)"]
        o = step.terms["o_t = σ(·)"]
        assert torch.allclose(i, torch.sigmoid(x_parts[0] + h_parts[0]), atol=1e-6)
        assert torch.allclose(f, torch.sigmoid(x_parts[1] + h_parts[1]), atol=1e-6)
        assert torch.allclose(g, torch.tanh(x_parts[2] + h_parts[2]), atol=1e-6)
        assert torch.allclose(o, torch.sigmoid(x_parts[3] + h_parts[3]), atol=1e-6)
        c = step.terms["c_t = f⊙c_{t-1} + i⊙g"]
        assert torch.equal(c, step.c)
        assert torch.allclose(c, f * step.c_prev + i * g, atol=1e-6)
        if proj_size:
            assert torch.allclose(step.terms["o⊙tanh(c_t)"], o * torch.tanh(c), atol=1e-6)
            assert torch.allclose(step.h, step.terms["o⊙tanh(c_t)"] @ p.W_hr.T, atol=1e-6)
            assert step.h.shape[-1] == proj_size
            assert torch.equal(step.terms["h_t = W_hr·(o⊙tanh(c_t))"], step.h)
        else:
            assert torch.allclose(step.h, o * torch.tanh(c), atol=1e-6)
            assert torch.equal(step.terms["h_t = o⊙tanh(c_t)"], step.h)


def test_gru_terms():
    torch.manual_seed(5)
    module = nn.GRU(3, 4)
    x = torch.randn(6, 2, 3)
    trace = trace_module(module, x)
    p = trace.layer(0).params
    for step in trace.layer(0).steps:
        x_r, x_z, x_n = _gate_blocks(step.x @ p.W_xh.T + p.b_xh, 3)
        h_r, h_z, h_n = _gate_blocks(step.h_prev @ p.W_hh.T + p.b_hh, 3)
        r = step.terms["r_t = σ(·)"]
        z = step.terms["z_t = σ(·)"]
        n = step.terms["n_t = tanh(·)"]
        assert torch.allclose(step.terms["x_t·W_xnᵀ + b_xn"], x_n, atol=1e-6)
        assert torch.allclose(step.terms["h_{t-1}·W_hnᵀ + b_hn"], h_n, atol=1e-6)
        assert torch.allclose(r, torch.sigmoid(x_r + h_r), atol=1e-6)
        assert torch.allclose(z, torch.sigmoid(x_z + h_z), atol=1e-6)
        assert torch.allclose(step.terms["r⊙(h_{t-1}·W_hnᵀ + b_hn)"], r * h_n, atol=1e-6)
        # The reset gate multiplies the whole hidden part, bias included (torch's GRU, not the 2014 paper's).
        assert torch.allclose(n, torch.tanh(x_n + r * h_n), atol=1e-6)
        assert torch.allclose(step.h, (1 - z) * n + z * step.h_prev, atol=1e-6)
        assert torch.equal(step.terms["h_t = (1-z)⊙n + z⊙h_{t-1}"], step.h)


def test_reverse_direction_visits_positions_backwards_and_layers_chain():
    torch.manual_seed(6)
    module = nn.GRU(3, 2, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 5, 3)
    trace = trace_module(module, x)
    assert [lt.label for lt in trace.layers] == [
        "layer 0 forward",
        "layer 0 reverse",
        "layer 1 forward",
        "layer 1 reverse",
    ]
    assert [step.t for step in trace.layer(0, 0).steps] == [0, 1, 2, 3, 4]
    assert [step.t for step in trace.layer(0, 1).steps] == [4, 3, 2, 1, 0]
    # The reverse direction starts from a zero state at the last position.
    assert torch.equal(trace.layer(0, 1).steps[0].h_prev, torch.zeros(2, 2))
    # Layer 1 sees layer 0's outputs of both directions, concatenated, at the same position.
    below_fwd = {step.t: step.h for step in trace.layer(0, 0).steps}
    below_rev = {step.t: step.h for step in trace.layer(0, 1).steps}
    for step in trace.layer(1, 1).steps:
        assert torch.equal(step.x, torch.cat([below_fwd[step.t], below_rev[step.t]], dim=-1))
    with pytest.raises(IndexError):
        trace.layer(2, 0)


def test_rejects_modules_that_are_not_recurrent():
    with pytest.raises(TypeError):
        trace_module(nn.Linear(3, 3), torch.zeros(2, 3))


# --------------------------------------------------------------------------- random configurations


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
    batch: int | None  # None: one unbatched 2-D sequence
    length: int
    given_hx: bool
    dropout: float
    weight_scale: float
    seed: int

    def build(self) -> nn.RNNBase:
        kwargs = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.layers,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )
        torch.manual_seed(self.seed)
        if self.cell == "rnn":
            module = nn.RNN(nonlinearity=self.nonlinearity, **kwargs)
        elif self.cell == "lstm":
            module = nn.LSTM(proj_size=self.proj_size, **kwargs)
        else:
            module = nn.GRU(**kwargs)
        if self.weight_scale != 1.0:
            with torch.no_grad():
                for param in module.parameters():
                    param.mul_(self.weight_scale)
        module.train()
        return module

    def inputs(self):
        generator = torch.Generator().manual_seed(self.seed)
        if self.batch is None:
            x = torch.randn(self.length, self.input_size, generator=generator) * 2
        elif self.batch_first:
            x = torch.randn(self.batch, self.length, self.input_size, generator=generator) * 2
        else:
            x = torch.randn(self.length, self.batch, self.input_size, generator=generator) * 2
        if not self.given_hx:
            return x, None
        rows = self.layers * (2 if self.bidirectional else 1)
        h_out = self.proj_size or self.hidden_size
        batch_dims = () if self.batch is None else (self.batch,)
        h0 = torch.randn(rows, *batch_dims, h_out, generator=generator)
        if self.cell != "lstm":
            return x, h0
        c0 = torch.randn(rows, *batch_dims, self.hidden_size, generator=generator)
        return x, (h0, c0)


@st.composite
def cases(draw) -> Case:
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    hidden = draw(st.integers(1, 6))
    layers = draw(st.integers(1, 3))
    return Case(
        cell=cell,
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])) if cell == "rnn" else "tanh",
        input_size=draw(st.integers(1, 6)),
        hidden_size=hidden,
        proj_size=draw(st.integers(0, hidden - 1)) if cell == "lstm" and hidden > 1 else 0,
        layers=layers,
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        batch=draw(st.one_of(st.none(), st.integers(1, 3))),
        length=draw(st.integers(1, 12)),
        given_hx=draw(st.booleans()),
        dropout=draw(st.sampled_from([0.0, 0.5])) if layers > 1 else 0.0,
        weight_scale=draw(st.sampled_from([1.0, 1.0, 2.5])),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _torch_forward(module: nn.RNNBase, x, hx):
    """Torch's own forward in eval mode (no dropout), returned batch-first with a batch dimension."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out, state = module(x, hx)
    finally:
        module.train(was_training)
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    if x.dim() == 2:
        return out.unsqueeze(0), h_n.unsqueeze(1), None if c_n is None else c_n.unsqueeze(1)
    if not module.batch_first:
        out = out.transpose(0, 1)
    return out, h_n, c_n


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _check_structure(case: Case, trace, x, hx) -> None:
    """Visiting order, state chaining, and what each layer reads as its input."""
    directions = 2 if case.bidirectional else 1
    assert len(trace.layers) == case.layers * directions
    time_major = x.unsqueeze(1) if x.dim() == 2 else (x.transpose(0, 1) if case.batch_first else x)
    if hx is not None:
        h0 = hx[0] if isinstance(hx, tuple) else hx
        h0 = h0.unsqueeze(1) if x.dim() == 2 else h0
    for lt in trace.layers:
        steps = lt.steps
        order = list(range(case.length))
        assert [step.t for step in steps] == (order[::-1] if lt.direction else order)
        index = lt.layer * directions + lt.direction
        if hx is not None:
            assert torch.equal(steps[0].h_prev, h0[index])
        else:
            assert not steps[0].h_prev.any()
        for before, after in itertools.pairwise(steps):
            assert after.h_prev is before.h or torch.equal(after.h_prev, before.h)
            if case.cell == "lstm":
                assert torch.equal(after.c_prev, before.c)
        if lt.layer == 0:
            for step in steps:
                assert torch.equal(step.x, time_major[step.t])
        else:
            below = [trace.layer(lt.layer - 1, d) for d in range(directions)]
            for step in steps:
                expected = torch.cat([next(s.h for s in b.steps if s.t == step.t) for b in below], dim=-1)
                assert torch.equal(step.x, expected)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_trace_matches_torch_on_random_configurations(case: Case):
    module = case.build()
    x, hx = case.inputs()
    before = {name: param.detach().clone() for name, param in module.named_parameters()}

    trace = trace_module(module, x, hx)

    # The module is left as it was found.
    assert module.training
    for name, param in module.named_parameters():
        assert torch.equal(param, before[name]), name

    assert trace.max_abs_diff <= 1e-6

    # Independently of the trace's own bookkeeping: torch's native kernels, run here.
    with native_kernels():
        out, h_n, c_n = _torch_forward(module, x, hx)
    batch = 1 if case.batch is None else case.batch
    h_out = case.proj_size or case.hidden_size
    directions = 2 if case.bidirectional else 1
    assert trace.output.shape == (batch, case.length, directions * h_out)
    assert _max_diff(trace.output, out) <= 1e-6
    assert _max_diff(trace.h_n, h_n) <= 1e-6
    if case.cell == "lstm":
        assert _max_diff(trace.c_n, c_n) <= 1e-6
    else:
        assert trace.c_n is None

    # The top layer's per-step h_t are torch's outputs at the same position and direction.
    for direction in range(directions):
        for step in trace.layer(case.layers - 1, direction).steps:
            expected = out[:, step.t, direction * h_out : (direction + 1) * h_out]
            assert _max_diff(step.h, expected) <= 1e-6

    _check_structure(case, trace, x, hx)

    # torch's default path (oneDNN on this CPU for some cells) rounds differently; default-init
    # modules are not chaotic, so it stays close.
    if case.weight_scale == 1.0:
        default_out, default_h_n, default_c_n = _torch_forward(module, x, hx)
        assert _max_diff(trace.output, default_out) <= 1e-5
        assert _max_diff(trace.h_n, default_h_n) <= 1e-5
        if case.cell == "lstm":
            assert _max_diff(trace.c_n, default_c_n) <= 1e-5


def test_trace_in_eval_mode_stays_in_eval_mode():
    torch.manual_seed(7)
    module = nn.LSTM(2, 3, num_layers=2, dropout=0.5).eval()
    trace_module(module, torch.randn(4, 1, 2))
    assert not module.training


def test_trace_restores_training_mode_even_when_torch_rejects_the_input():
    torch.manual_seed(8)
    module = nn.GRU(2, 3, num_layers=2, dropout=0.5)
    with pytest.raises(RuntimeError):
        trace_module(module, torch.randn(4, 1, 5))  # input size 5, module expects 2
    assert module.training


def test_trace_leaves_the_global_rng_alone():
    import torch

    from engine.stepper.trace import trace_module

    module = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(5, 1, 3)
    state = torch.get_rng_state()
    trace_module(module, x)
    assert torch.equal(torch.get_rng_state(), state)
