"""The book's IMDb sentiment recipe (chapter 15, part 2), written from scratch in its style.

The recipe: the 25,000 training reviews split 20,000/5,000 with a seed, the book's tokenizer,
a vocabulary counted with a Counter over the training split (`<pad>`=0, `<unk>`=1, then tokens by
frequency), a collate function that tokenises every review of every batch as it comes, padded
batches of 32 shuffled **without** length bucketing, `pack_padded_sequence(enforce_sorted=False)`,
Embedding(vocab, 20, padding_idx=0) → LSTM(20, 64) → last hidden → Linear(64, 64) → ReLU →
Linear(64, 1) → Sigmoid, BCELoss, Adam(lr=1e-3), 10 epochs.

For time to quality, test accuracy is measured after every epoch (report only: nothing is tuned
on it). Scoring uses batches of 256 reviews sorted by length: with packed sequences that gives the
same predictions as the book's batches of 32, faster, and its time is kept apart from training time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from book_common import RecipeEvents
from torch import nn
from torch.utils.data import DataLoader

from corpora.reviews import load_reviews
from corpora.tokenize import tokenize
from corpora.vocab import WordVocab

BATCH_SIZE = 32
EMBED_DIM = 20
RNN_HIDDEN_SIZE = 64
FC_HIDDEN_SIZE = 64
LEARNING_RATE = 1e-3
NUM_EPOCHS = 10
EVAL_BATCH_SIZE = 256


@dataclass(frozen=True)
class ReviewData:
    """(label, text) pairs of each split, as torchtext's IMDB yields them, and the book's vocabulary."""

    train: list[tuple[int, str]]
    valid: list[tuple[int, str]]
    test: list[tuple[int, str]]
    vocab: WordVocab


def load_review_data(source: str | Path) -> ReviewData:
    """The seeded 80/20 train/valid split of the training reviews (20,000/5,000 for IMDb) and the test set."""
    corpus = load_reviews(source)

    def pairs(name: str) -> list[tuple[int, str]]:
        table = corpus.split(name)
        return list(zip(table["label"], table["text"], strict=True))

    train = pairs("train")
    vocab = WordVocab.build(tokenize(text) for _, text in train)
    return ReviewData(train, pairs("valid"), pairs("test") if corpus.test is not None else [], vocab)


def make_collate(vocab: WordVocab) -> Callable:
    def text_pipeline(text: str) -> list[int]:
        return [vocab[token] for token in tokenize(text)]

    def collate_batch(batch):
        label_list, text_list, lengths = [], [], []
        for _label, _text in batch:
            label_list.append(float(_label))
            processed_text = torch.tensor(text_pipeline(_text), dtype=torch.int64)
            text_list.append(processed_text)
            lengths.append(processed_text.size(0))
        label_list = torch.tensor(label_list)
        lengths = torch.tensor(lengths)
        padded_text_list = nn.utils.rnn.pad_sequence(text_list, batch_first=True)
        return padded_text_list, label_list, lengths

    return collate_batch


class BookSentimentRNN(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, rnn_hidden_size: int, fc_hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True)
        self.fc1 = nn.Linear(rnn_hidden_size, fc_hidden_size)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(fc_hidden_size, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.embedding(text)
        out = nn.utils.rnn.pack_padded_sequence(out, lengths.cpu().numpy(), enforce_sorted=False, batch_first=True)
        out, (hidden, _cell) = self.rnn(out)
        out = hidden[-1, :, :]
        out = self.fc1(out)
        out = self.relu(out)
        out = self.fc2(out)
        return self.sigmoid(out)


@torch.no_grad()
def accuracy(model: BookSentimentRNN, pairs: list[tuple[int, str]], collate: Callable) -> float:
    """Share of `pairs` classified right, scored in length-sorted batches of EVAL_BATCH_SIZE."""
    if not pairs:
        return float("nan")
    was_training = model.training
    model.eval()
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][1]))
    correct = 0
    for first in range(0, len(order), EVAL_BATCH_SIZE):
        text_batch, label_batch, lengths = collate([pairs[i] for i in order[first : first + EVAL_BATCH_SIZE]])
        pred = model(text_batch, lengths)[:, 0]
        correct += ((pred >= 0.5).float() == label_batch).sum().item()
    model.train(was_training)
    return correct / len(pairs)


@dataclass
class EpochPoint:
    epoch: float  # fractional when a time cap stopped the epoch early
    train_s: float  # time in training batches so far, scoring excluded
    total_s: float  # wall time since training started, scoring included
    train_loss: float
    train_acc: float
    valid_acc: float
    test_acc: float


@dataclass
class SentimentRun:
    evals: list[EpochPoint] = field(default_factory=list)
    reviews: int = 0  # training reviews processed
    train_s: float = 0.0
    total_s: float = 0.0
    stopped: str = ""

    @property
    def reviews_per_s(self) -> float | None:
        return self.reviews / self.train_s if self.train_s else None


def train_book_sentiment(
    data: ReviewData,
    *,
    num_epochs: int = NUM_EPOCHS,
    target: float | None = 0.86,
    max_seconds: float | None = None,
    seed: int = 1,
    on_eval: Callable[[EpochPoint], None] | None = None,
) -> SentimentRun:
    """Train for `num_epochs`, scoring after each; stop at the first test accuracy ≥ `target` or after `max_seconds`."""
    torch.manual_seed(seed)
    collate = make_collate(data.vocab)
    train_dl = DataLoader(data.train, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate)
    model = BookSentimentRNN(len(data.vocab), EMBED_DIM, RNN_HIDDEN_SIZE, FC_HIDDEN_SIZE)
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    run = SentimentRun()
    start = time.perf_counter()

    for epoch in range(num_epochs):
        model.train()
        total_acc, total_loss, seen = 0.0, 0.0, 0
        capped = False
        batch_start = time.perf_counter()
        for text_batch, label_batch, lengths in train_dl:
            optimizer.zero_grad()
            pred = model(text_batch, lengths)[:, 0]
            loss = loss_fn(pred, label_batch)
            loss.backward()
            optimizer.step()
            total_acc += ((pred >= 0.5).float() == label_batch).float().sum().item()
            total_loss += loss.item() * label_batch.size(0)
            seen += label_batch.size(0)
            now = time.perf_counter()
            run.train_s += now - batch_start
            batch_start = now
            if max_seconds is not None and now - start >= max_seconds:
                capped = True
                break
        run.reviews += seen
        point = EpochPoint(
            epoch + seen / len(data.train),
            run.train_s,
            time.perf_counter() - start,
            total_loss / seen,
            total_acc / seen,
            accuracy(model, data.valid, collate),
            accuracy(model, data.test, collate),
        )
        run.evals.append(point)
        if on_eval:
            on_eval(point)
        if target is not None and point.test_acc >= target:
            run.stopped = f"target {target} reached"
            break
        if capped:
            run.stopped = f"time cap {max_seconds:g} s"
            break
    else:
        run.stopped = f"{num_epochs} epochs done"
    run.total_s = time.perf_counter() - start
    return run


def main(argv: list[str] | None = None) -> int:
    """Train the book's classifier and print one JSON line per event (ready, eval after each epoch, end)."""
    import argparse

    parser = argparse.ArgumentParser(description="The book's IMDb sentiment recipe, timed; JSON lines on stdout.")
    parser.add_argument("source", help="a review folder (train.* and test.*), file or aclImdb/ (see corpora.reviews)")
    parser.add_argument("--epochs", type=int, default=NUM_EPOCHS)
    parser.add_argument("--target", type=float, default=None, help="stop at the first test accuracy at or above this")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop after this much wall time, data preparation included"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    events = RecipeEvents(args.max_seconds)
    data = load_review_data(args.source)
    events.ready(train=len(data.train), valid=len(data.valid), test=len(data.test), vocab=len(data.vocab))
    run = train_book_sentiment(
        data,
        num_epochs=args.epochs,
        target=args.target,
        max_seconds=events.remaining_s(),
        seed=args.seed,
        on_eval=events.eval,
    )
    events.end(run, "reviews", "reviews_per_s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
