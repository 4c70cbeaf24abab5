"""Tiny trained runs for the generation tests (and the Generate pane's): a uniquely named module, so it never shadows another.

Both helpers write a real run directory (engine.training.jobs.create_run, status "done") with checkpoints
written by engine.training.checkpoint.save_checkpoint, exactly as a training job leaves them, in well under
a second of CPU.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch

from corpora.vocab import CharVocab, WordVocab
from engine.models import build_model
from engine.training.checkpoint import BEST, LAST, save_checkpoint
from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from engine.training.runs import RunDir, RunStatus
from tests.messages import assert_one_sentence  # noqa: F401 - re-exported for the tests here

TEXT = (
    "The island was green and the river ran down to the sea.\n"
    "The engineer built a kiln of clay, and the sailor caught fish.\n"
    "The boy watched the birds over the cliffs, and the dog ran on the sand.\n"
)

POSITIVE = ("great", "superb")
NEGATIVE = ("awful", "dull")
FILLER = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "a", "it", "this", "of"]


class one_thread:
    """Train with one torch thread: the tiny models are faster so, and never wait on a core another process holds."""

    def __enter__(self) -> None:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.threads)


def _finish(run: RunDir, checkpoint: dict[str, Any], *, best: bool, metric: str, value: float, steps: int) -> RunDir:
    if best:
        save_checkpoint(run.checkpoints / BEST, {**checkpoint, "optimizer": None})
    save_checkpoint(run.checkpoints / LAST, checkpoint)
    now = time.time()
    run.write_status(
        RunStatus(
            state="done",
            step=steps,
            total=steps,
            device="cpu",
            started_at=now - 1,
            updated_at=now,
            best_metric=metric,
            best_value=value,
        )
    )
    return run


def make_charlm_run(
    root: Path,
    *,
    name: str = "charlm-tiny",
    text: str | None = None,
    train_steps: int = 0,
    embed: int = 16,
    hidden: int = 32,
    seed: int = 0,
    best: bool = True,
    cell: str = "lstm",
    layers: int = 1,
) -> RunDir:
    """A finished charlm run with checkpoints/best.pt (unless best=False) and last.pt, over `text`'s characters.

    With `train_steps` > 0 the model is trained that many Adam steps on random 32-character windows
    of the text (in-process), so it has a learned distribution; otherwise its weights are random.
    """
    text = TEXT if text is None else text
    root = Path(root)
    data = root / name / "text.txt"
    config = parse_train_config(
        "charlm",
        "default",
        data=str(data),
        embed_size=embed,
        hidden_size=hidden,
        cell=cell,
        layers=layers,
        steps=max(train_steps, 1),
        seed=seed,
        amp="off",
        threads=1,
    )
    run = create_run(root, config, name)
    data.write_text(text, encoding="utf-8")
    vocab = CharVocab.from_text(text)
    torch.manual_seed(seed)
    model = build_model(config, len(vocab))
    with one_thread():
        loss_value = _train_charlm(model, vocab, text, train_steps, seed) if train_steps else float("nan")
    if loss_value != loss_value:  # untrained: record a uniform-guess-sized loss so the run lists like a real one
        loss_value = 4.0
    checkpoint = {
        "job": "charlm",
        "config": config.to_dict(),
        "step": train_steps,
        "elapsed": 0.0,
        "model": model.state_dict(),
        "optimizer": None,
        "vocab": {"kind": "char", "chars": list(vocab.chars)},
        "history": [],
        "best": {"metric": "val_loss", "value": loss_value, "step": train_steps},
        "loop": {},
    }
    return _finish(run, checkpoint, best=best, metric="val_loss", value=loss_value, steps=train_steps)


def _train_charlm(model: torch.nn.Module, vocab: CharVocab, text: str, steps: int, seed: int) -> float:
    ids = torch.from_numpy(vocab.encode(text))
    window = min(32, len(ids) - 1)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - window, (16,), generator=generator)
        batch = torch.stack([ids[s : s + window + 1] for s in starts.tolist()])
        logits, _ = model(batch[:, :-1])
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    model.eval()
    return float(loss.detach())


def synthetic_reviews(count: int, seed: int = 3) -> list[tuple[str, int]]:
    """Short reviews whose label is decided by one or two of great/superb (1) or awful/dull (0) among filler words."""
    rng = random.Random(seed)
    reviews = []
    for index in range(count):
        label = index % 2
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        reviews.append((" ".join(words), label))
    return reviews


def make_sentiment_run(
    root: Path,
    *,
    name: str = "sentiment-tiny",
    train_steps: int = 60,
    embed: int = 16,
    hidden: int = 16,
    seed: int = 0,
    best: bool = True,
    pooling: str = "max",
    bidirectional: bool = True,
    max_length: int | None = None,
) -> RunDir:
    """A finished sentiment run: a tiny SentimentClassifier trained in-process on `synthetic_reviews`.

    "great"/"superb" mean positive and "awful"/"dull" negative, so classify() gives a clear answer
    and those words get contributions of the right sign.
    """
    from corpora.tokenize import tokenize

    root = Path(root)
    config = parse_train_config(
        "sentiment",
        "default",
        data=str(root / name / "reviews.csv"),
        embed_size=embed,
        hidden_size=hidden,
        fc_size=16,
        dropout=0.0,
        pooling=pooling,
        bidirectional=bidirectional,
        max_length=max_length,
        steps=max(train_steps, 1),
        epochs=None,
        seed=seed,
        amp="off",
        threads=1,
    )
    run = create_run(root, config, name)
    reviews = synthetic_reviews(400, seed=3)
    tokens = [tokenize(text) for text, _ in reviews]
    vocab = WordVocab.build(tokens)
    torch.manual_seed(seed)
    model = build_model(config, len(vocab))
    with one_thread():
        accuracy = _train_sentiment(model, vocab, tokens, [label for _, label in reviews], train_steps, seed)
    checkpoint = {
        "job": "sentiment",
        "config": config.to_dict(),
        "step": train_steps,
        "elapsed": 0.0,
        "model": model.state_dict(),
        "optimizer": None,
        "vocab": {"kind": "word", "tokens": vocab.itos},
        "history": [],
        "best": {"metric": "val_acc", "value": accuracy, "step": train_steps},
        "loop": {},
    }
    return _finish(run, checkpoint, best=best, metric="val_acc", value=accuracy, steps=train_steps)


def _train_sentiment(
    model: torch.nn.Module, vocab: WordVocab, tokens: list[list[str]], labels: list[int], steps: int, seed: int
) -> float:
    ids = [torch.tensor(vocab.encode(row)) for row in tokens]
    targets = torch.tensor(labels, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def batch(rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(ids[r]) for r in rows])
        padded = torch.nn.utils.rnn.pad_sequence([ids[r] for r in rows], batch_first=True)
        return padded, lengths

    model.train()
    for _ in range(steps):
        rows = torch.randint(0, len(ids), (32,), generator=generator).tolist()
        padded, lengths = batch(rows)
        loss = loss_fn(model(padded, lengths), targets[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        padded, lengths = batch(list(range(len(ids))))
        return float(((model(padded, lengths) > 0).float() == targets).float().mean())
