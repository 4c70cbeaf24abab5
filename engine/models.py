"""The chapter's two models, a review classifier and a character language model, and the character model's fast step.

`build_model(config, vocab_size)` builds either from a training config. `CharLMStep` runs a
CharLM's recurrence one character at a time through the cells' own ATen ops (`torch.lstm_cell`
and friends, which `nn.LSTMCell` uses) on the model's weights, with the first layer's input
projection precomputed for every character of the vocabulary: several times faster on a CPU
than calling the `nn.LSTM` module with one time step (about 0.25 ms against 1.5–4 ms for the
book's E256 H512 LSTM on two cores), and equal to the model's own forward up to float rounding
(about 1e-7). Training samples with it (`CharLM.sample`) and so does engine.generation's Sampler.
Which torch module and op each cell uses comes from engine.stepper.steps, the one registry of cells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from engine.cells import CELLS, cell_of_mode
from engine.cells import cell as cell_spec

#: A recurrent state: h (LSTM: the pair h, c), each [layers × directions, batch, hidden].
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def make_rnn(
    cell: str, input_size: int, hidden_size: int, layers: int, *, bidirectional: bool, dropout: float
) -> nn.RNNBase:
    """A batch-first torch RNN/LSTM/GRU; dropout between layers only where there are layers to drop between."""
    module: Callable[..., nn.RNNBase] = getattr(nn, cell_spec(cell).module)  # nn.RNN, nn.LSTM or nn.GRU
    return module(
        input_size,
        hidden_size,
        num_layers=layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=dropout if layers > 1 else 0.0,
    )


def detach_state(state: State) -> State:
    """The same state cut from the graph that made it (truncated BPTT)."""
    return (state[0].detach(), state[1].detach()) if isinstance(state, tuple) else state.detach()


class SentimentClassifier(nn.Module):
    """Embedding(padding_idx=0) → RNN/LSTM/GRU layers → pooling → Linear → ReLU → Linear → one logit.

    `pooling="last"` feeds the top layer's final hidden state (both directions) to the MLP, as the
    book does; "max" and "mean" pool the top layer's outputs over each review's real tokens.

    The results are exactly those of `pack_padded_sequence`, computed without it: on the CPU a
    packed RNN's backward pass costs O(T²) (every time step's slice is zero-filled at full size),
    while a padded batch runs the fused kernels. Padding sits after each review, so a forward layer's
    outputs at real tokens never see it; the backward direction reads each review reversed within
    its own length (padding still at the end), and its outputs are flipped back.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
        fc_size: int = 64,
    ) -> None:
        super().__init__()
        self.pooling = pooling
        self.directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        width = hidden_size * self.directions
        self.forward_layers = nn.ModuleList(
            make_rnn(cell, embed_size if i == 0 else width, hidden_size, 1, bidirectional=False, dropout=0.0)
            for i in range(layers)
        )
        self.backward_layers = nn.ModuleList(
            make_rnn(cell, embed_size if i == 0 else width, hidden_size, 1, bidirectional=False, dropout=0.0)
            for i in range(layers if bidirectional else 0)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(width, fc_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(fc_size, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits [B] for ids [B, T] padded at the end, and their lengths [B] (each ≥ 1)."""
        lengths = lengths.to(ids.device)
        steps = torch.arange(ids.shape[1], device=ids.device)
        real = steps[None, :] < lengths[:, None]  # [B, T]
        # Position t of a review reversed within its length; padding stays put. Its own inverse.
        reverse = torch.where(real, lengths[:, None] - 1 - steps[None, :], steps[None, :])
        rows = torch.arange(ids.shape[0], device=ids.device)
        x = self.dropout(self.embedding(ids))
        for i, forward_rnn in enumerate(self.forward_layers):
            if i:
                x = self.dropout(x)
            ahead, _ = forward_rnn(x)
            if not self.backward_layers:
                x = ahead
                continue
            behind_reversed, _ = self.backward_layers[i](_gather_steps(x, reverse))
            x = torch.cat([ahead, _gather_steps(behind_reversed, reverse)], dim=2)
        if self.pooling == "last":
            last = lengths - 1
            features = x[rows, last]  # forward: after the last token
            if self.backward_layers:
                hidden = x.shape[2] // 2
                features = torch.cat([features[:, :hidden], x[:, 0, hidden:]], dim=1)  # backward: after the first
        elif self.pooling == "max":
            features = x.masked_fill(~real[:, :, None], float("-inf")).max(dim=1).values
        else:
            features = x.masked_fill(~real[:, :, None], 0.0).sum(dim=1) / lengths[:, None].to(x.dtype)
        return self.fc2(self.relu(self.fc1(self.dropout(features)))).squeeze(1)


def _gather_steps(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x[b, positions[b, t]] for every b, t (x: [B, T, D], positions: [B, T])."""
    return x.gather(1, positions[:, :, None].expand(-1, -1, x.shape[2]))


class CharLM(nn.Module):
    """Embedding → RNN/LSTM/GRU layers over whole sequences (state in, state out) → Linear to next-character logits."""

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        *,
        cell: str = "lstm",
        layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(cell, embed_size, hidden_size, layers, bidirectional=False, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits [B, T, V] for ids [B, T], and the state after the last character (None starts from zeros)."""
        outputs, state = self.rnn(self.dropout(self.embedding(ids)), state)
        return self.fc(self.dropout(outputs)), state

    def step(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One character per sequence: logits [B, V] for ids [B], and the next state (for sampling)."""
        logits, state = self(ids[:, None], state)
        return logits[:, 0], state

    @torch.no_grad()
    def sample(
        self,
        prompt: torch.Tensor,
        length: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """`length` ids drawn one at a time after warming the state up on `prompt` (1-D ids, at least one).

        Each id is drawn from softmax(logits / temperature); the book's `scale_factor` is 1 / temperature.
        The state is carried one character at a time through the cells' own ops (CharLMStep), which
        is several times faster on a CPU than calling the recurrent module with one time step.
        """
        was_training = self.training
        self.eval()
        try:
            return sample_ids(self, prompt, length, temperature=temperature, generator=generator)
        finally:
            self.train(was_training)


# ------------------------------------------------------------------ one character at a time


class OneThread:
    """One torch thread for the calling thread while inside (OpenMP's thread count is per thread), then as before.

    A character model's step is a few small matrix-vector products: a second thread costs more in
    synchronisation than it saves, and waits a whole scheduler slice when another process holds
    the other core.
    """

    __slots__ = ("active", "threads")

    def __init__(self, active: bool = True) -> None:
        self.active = active
        self.threads = 1

    def __enter__(self) -> None:
        if self.active:
            import torch

            self.threads = torch.get_num_threads()
            if self.threads != 1:
                torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.active and self.threads != 1:
            torch.set_num_threads(self.threads)


class CharLMStep:
    """A CharLM's recurrence for one character, through the cells' ATen ops on the model's own weights.

    The first layer's input projection W_ih·e + b_ih is precomputed for every character (a [V, G]
    table), so a step is one matrix-vector product per layer plus the output layer. Built once per
    LoadedModel (the weights of a loaded model do not change); the state lives with each Sampler.
    """

    def __init__(self, model: Any) -> None:
        rnn = model.rnn
        self.lstm = rnn.mode == "LSTM"
        self.cell = getattr(torch, cell_of_mode(rnn.mode).ops[rnn.mode])
        with torch.inference_mode():
            weights = [
                [getattr(rnn, f"{name}_l{layer}").detach() for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                for layer in range(rnn.num_layers)
            ]
            w_ih, w_hh, b_ih, b_hh = weights[0]
            self.table = torch.addmm(b_ih, model.embedding.weight.detach(), w_ih.t()).contiguous()
            self.no_input = torch.empty(1, 0, dtype=w_hh.dtype, device=w_hh.device)
            weights[0] = [torch.empty(w_hh.shape[0], 0, dtype=w_hh.dtype, device=w_hh.device), w_hh, None, b_hh]
            self.layers = weights
            self.fc_weight = model.fc.weight.detach()
            self.fc_bias = model.fc.bias.detach()

    @staticmethod
    def supports(model: Any) -> bool:
        rnn = getattr(model, "rnn", None)
        return (
            rnn is not None
            and any(rnn.mode in spec.ops for spec in CELLS.values())
            and rnn.bias
            and not rnn.bidirectional
            and not getattr(rnn, "proj_size", 0)
            and getattr(model.fc, "bias", None) is not None
        )

    def initial(self, state: Any) -> list[Any]:
        """Per-layer state ([1, H], or (h, c) for an LSTM) from the module's state ([layers, 1, H])."""
        if self.lstm:
            h, c = state
            return [(h[layer].contiguous(), c[layer].contiguous()) for layer in range(len(self.layers))]
        return [state[layer].contiguous() for layer in range(len(self.layers))]

    def step(self, index: int, state: list[Any]) -> Any:
        """Logits [V] after feeding character `index`; `state` is updated in place (the list, not the tensors)."""
        cell = self.cell
        x = self.no_input
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            if layer == 0:
                b_ih = self.table[index]
            if self.lstm:
                h, c = cell(x, state[layer], w_ih, w_hh, b_ih, b_hh)
                state[layer] = (h, c)
            else:
                h = cell(x, state[layer], w_ih, w_hh, b_ih, b_hh)
                state[layer] = h
            x = h
        return torch.addmv(self.fc_bias, self.fc_weight, x[0])


def sample_ids(model: Any, prompt: torch.Tensor, length: int, *, temperature: float, generator: Any) -> list[int]:
    """CharLM.sample's loop on the fast step: `length` ids drawn from softmax(logits / temperature)."""
    fast = CharLMStep(model) if CharLMStep.supports(model) else None
    with OneThread(prompt.device.type == "cpu"), torch.inference_mode():
        logits, state = model(prompt[None, :])
        last = logits[0, -1].float()
        if fast is not None:
            state = fast.initial(state)
        drawn: list[int] = []
        for _ in range(length):
            probs = torch.softmax((last - last.max()) / temperature, dim=-1)  # the largest is 0: no inf - inf
            index = int(torch.multinomial(probs, 1, generator=generator))
            drawn.append(index)
            if fast is not None:
                last = fast.step(index, state)
            else:
                step_logits, state = model(torch.tensor([[index]], device=prompt.device), state)
                last = step_logits[0, -1].float()
    return drawn


class ModelShape(Protocol):
    """What `build_model` reads of a config: engine.training.config.TrainConfig has these fields."""

    @property
    def job(self) -> str: ...
    @property
    def cell(self) -> str: ...
    @property
    def embed_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def layers(self) -> int: ...
    @property
    def bidirectional(self) -> bool: ...
    @property
    def dropout(self) -> float: ...
    @property
    def pooling(self) -> str: ...
    @property
    def fc_size(self) -> int: ...


def build_model(config: ModelShape, vocab_size: int) -> SentimentClassifier | CharLM:
    """The model `config` describes, freshly initialised from torch's current RNG."""
    if config.job == "sentiment":
        return SentimentClassifier(
            vocab_size,
            config.embed_size,
            config.hidden_size,
            cell=config.cell,
            layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            pooling=config.pooling,
            fc_size=config.fc_size,
        )
    return CharLM(
        vocab_size,
        config.embed_size,
        config.hidden_size,
        cell=config.cell,
        layers=config.layers,
        dropout=config.dropout,
    )
