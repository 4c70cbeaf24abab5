"""The chapter's two models, built from a `TrainConfig`: a review classifier and a character language model."""

from __future__ import annotations

import torch
from torch import nn

from engine.train_config import TrainConfig

RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

#: A recurrent state: h (LSTM: the pair h, c), each [layers × directions, batch, hidden].
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def make_rnn(cell: str, input_size: int, hidden_size: int, layers: int, *, bidirectional: bool, dropout: float) -> nn.RNNBase:
    """A batch-first torch RNN/LSTM/GRU; dropout between layers only where there are layers to drop between."""
    return RNN_CLASSES[cell](
        input_size,
        hidden_size,
        num_layers=layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=dropout if layers > 1 else 0.0,
    )


def detach_state(state: State) -> State:
    """The same state cut from the graph that made it (truncated BPTT)."""
    return tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()


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
            make_rnn(cell, embed_size if i == 0 else width, hidden_size, 1, bidirectional=False, dropout=0.0) for i in range(layers)
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
        self, vocab_size: int, embed_size: int, hidden_size: int, *, cell: str = "lstm", layers: int = 1, dropout: float = 0.0
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
        The state is carried one character at a time through the cells' own ops (engine.generate), which
        is several times faster on a CPU than calling the recurrent module with one time step.
        """
        from engine.generate import sample_ids

        was_training = self.training
        self.eval()
        try:
            return sample_ids(self, prompt, length, temperature=temperature, generator=generator)
        finally:
            self.train(was_training)


def build_model(config: TrainConfig, vocab_size: int) -> SentimentClassifier | CharLM:
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
        vocab_size, config.embed_size, config.hidden_size, cell=config.cell, layers=config.layers, dropout=config.dropout
    )
