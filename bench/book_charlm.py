"""The book's character-level language model (chapter 15, part 3), written from scratch in its style.

The recipe as the book runs it: the text cut at the book's markers, `sorted(set(text))` as the
vocabulary, overlapping 41-character windows drawn by a shuffled DataLoader of batch 64,
Embedding(80, 256) → LSTM(256, 512) → Linear(512, 80), CrossEntropyLoss, Adam(lr=5e-3), the
hidden state reset every batch and the model stepped **one character at a time in a Python
loop**, with the loss summed over the 40 steps and printed divided by 40.

Two additions the book does not have, both needed to measure time to quality: the model trains on
the first 90% of the text only, and a fixed set of validation windows from the last 10% is scored
every `eval_every` steps (`window_loss`, the same scorer the harness uses for every side).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from book_common import RecipeEvents
from torch import nn
from torch.utils.data import DataLoader, Dataset

from corpora.text import load_text

WINDOW = 41  # 40 inputs plus the target shifted by one
SEQ_LENGTH = WINDOW - 1
BATCH_SIZE = 64
EMBED_DIM = 256
HIDDEN_SIZE = 512
LEARNING_RATE = 5e-3
VALID_FRACTION = 0.1


@dataclass(frozen=True)
class CharData:
    """The book's text and vocabulary, split into the first 90% (train) and the last 10% (valid)."""

    chars: list[str]
    train_ids: np.ndarray  # int64
    valid_ids: np.ndarray  # int64
    characters: int

    @property
    def vocab_size(self) -> int:
        return len(self.chars)


def load_char_data(path: str, valid_fraction: float = VALID_FRACTION) -> CharData:
    text, _ = load_text(path)
    chars = sorted(set(text))
    char2int = {ch: i for i, ch in enumerate(chars)}
    text_encoded = np.array([char2int[ch] for ch in text], dtype=np.int64)
    n_valid = round(len(text_encoded) * valid_fraction)
    return CharData(chars, text_encoded[:-n_valid], text_encoded[-n_valid:], len(text))


def validation_windows(valid_ids: np.ndarray, count: int | None = None) -> torch.Tensor:
    """Fixed 41-character validation windows, [N, 41] int64.

    Windows start every 40 characters, so each character of the validation text after the first
    is a target exactly once; `count` keeps that many, evenly spaced (the same ones every time).
    """
    starts = np.arange(0, len(valid_ids) - WINDOW + 1, SEQ_LENGTH)
    if count is not None and count < len(starts):
        starts = starts[np.linspace(0, len(starts) - 1, count).round().astype(np.int64)]
    ids = torch.from_numpy(np.ascontiguousarray(valid_ids))
    return ids[torch.from_numpy(starts)[:, None] + torch.arange(WINDOW)]


class TextDataset(Dataset):
    """Every overlapping window of the training text, as the book's `text_chunks`."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = torch.from_numpy(np.ascontiguousarray(ids))

    def __len__(self) -> int:
        return len(self.ids) - WINDOW + 1

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = self.ids[index : index + WINDOW]
        return chunk[:-1], chunk[1:]


class BookCharRNN(nn.Module):
    """Embedding → LSTM → Linear, fed one character per call."""

    def __init__(self, vocab_size: int, embed_dim: int = EMBED_DIM, rnn_hidden_size: int = HIDDEN_SIZE) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn_hidden_size = rnn_hidden_size
        self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True)
        self.fc = nn.Linear(rnn_hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor):
        out = self.embedding(x).unsqueeze(1)
        out, (hidden, cell) = self.rnn(out, (hidden, cell))
        out = self.fc(out).reshape(out.size(0), -1)
        return out, hidden, cell

    def init_hidden(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.zeros(1, batch_size, self.rnn_hidden_size)
        cell = torch.zeros(1, batch_size, self.rnn_hidden_size)
        return hidden, cell


@torch.no_grad()
def window_loss(model: BookCharRNN, windows: torch.Tensor, batch_size: int = 512) -> float:
    """Mean cross-entropy over every target of `windows`, the state reset for each window."""
    was_training = model.training
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total = 0.0
    for first in range(0, len(windows), batch_size):
        batch = windows[first : first + batch_size]
        hidden, cell = model.init_hidden(len(batch))
        for c in range(SEQ_LENGTH):
            pred, hidden, cell = model(batch[:, c], hidden, cell)
            total += loss_fn(pred, batch[:, c + 1]).item()
    model.train(was_training)
    return total / (len(windows) * SEQ_LENGTH)


@dataclass
class EvalPoint:
    step: int
    train_s: float  # time in training steps so far, evaluation excluded
    total_s: float  # wall time since training started, evaluation included
    train_loss: float  # the last step's loss (averaged over its 40 characters)
    val_loss: float


@dataclass
class CharRun:
    evals: list[EvalPoint] = field(default_factory=list)
    steps: int = 0
    train_s: float = 0.0
    total_s: float = 0.0
    stopped: str = ""

    @property
    def tokens_per_s(self) -> float | None:
        return self.steps * BATCH_SIZE * SEQ_LENGTH / self.train_s if self.train_s else None


def train_book_charlm(
    data: CharData,
    windows: torch.Tensor,
    *,
    max_steps: int = 10_000,
    eval_every: int = 50,
    target: float | None = 1.40,
    max_seconds: float | None = None,
    seed: int = 1,
    on_eval: Callable[[EvalPoint], None] | None = None,
) -> CharRun:
    """Train the book's model until `max_steps`, the first evaluation at or below `target`, or `max_seconds` of wall time."""
    torch.manual_seed(seed)
    seq_dl = DataLoader(TextDataset(data.train_ids), batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
    model = BookCharRNN(data.vocab_size)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    run = CharRun()
    start = time.perf_counter()

    def evaluate(step: int, train_loss: float) -> bool:
        point = EvalPoint(step, run.train_s, time.perf_counter() - start, train_loss, window_loss(model, windows))
        run.evals.append(point)
        if on_eval:
            on_eval(point)
        return target is not None and point.val_loss <= target

    loss = float("nan")
    for epoch in range(max_steps):  # the book's "epoch" is one random batch
        step_start = time.perf_counter()
        hidden, cell = model.init_hidden(BATCH_SIZE)
        seq_batch, target_batch = next(iter(seq_dl))
        optimizer.zero_grad()
        loss = 0
        for c in range(SEQ_LENGTH):
            pred, hidden, cell = model(seq_batch[:, c], hidden, cell)
            loss += loss_fn(pred, target_batch[:, c])
        loss.backward()
        optimizer.step()
        loss = loss.item() / SEQ_LENGTH
        run.train_s += time.perf_counter() - step_start
        run.steps = epoch + 1
        if not np.isfinite(loss):
            run.stopped = f"loss became {loss} at step {run.steps}"
            break
        if (run.steps % eval_every == 0 or run.steps == max_steps) and evaluate(run.steps, loss):
            run.stopped = f"target {target} reached"
            break
        if max_seconds is not None and time.perf_counter() - start >= max_seconds:
            if not run.evals or run.evals[-1].step != run.steps:
                evaluate(run.steps, loss)
            run.stopped = f"time cap {max_seconds:g} s"
            break
    else:
        run.stopped = f"{max_steps} steps done"
    run.total_s = time.perf_counter() - start
    return run


def main(argv: list[str] | None = None) -> int:
    """Train the book's model on a text file and print one JSON line per event (ready, eval, end)."""
    import argparse

    parser = argparse.ArgumentParser(description="The book's character model, timed; JSON lines on stdout.")
    parser.add_argument("text", help="the text file (cut at the book's markers when it is the Gutenberg book)")
    parser.add_argument("--max-steps", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--target", type=float, default=1.40, help="stop at the first validation at or below this loss")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop after this much wall time, data preparation included"
    )
    parser.add_argument(
        "--val-windows", type=int, default=None, help="score this many evenly spaced windows (default: all)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    events = RecipeEvents(args.max_seconds)
    data = load_char_data(args.text)
    windows = validation_windows(data.valid_ids, args.val_windows)
    events.ready(
        characters=data.characters,
        vocab=data.vocab_size,
        train=len(data.train_ids),
        valid=len(data.valid_ids),
        windows=len(windows),
    )
    run = train_book_charlm(
        data,
        windows,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        target=args.target,
        max_seconds=events.remaining_s(),
        seed=args.seed,
        on_eval=events.eval,
    )
    events.end(run, "steps", "tokens_per_s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
