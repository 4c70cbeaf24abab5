"""The sentiment job: reviews → token ids → padded batches (optionally length-bucketed) → a classifier.

Validation (the seeded split of the training reviews) picks best.pt. The test reviews are scored
once, when the run completes, with best.pt's weights; `test_every_eval` also scores them at every
validation, for benchmarks that chart test accuracy over time. Nothing is ever chosen on them.

`valid_fraction=0` trains on every training review: a recipe chosen on validation, refitted on all
the data. Such a run writes no best.pt, and its test score is that of its final weights.

With several ranks, each trains on its contiguous slice of every (bucketed) global batch, and scores
every W-th evaluation batch; the sums are shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from corpora.batching import ReviewBatch, ReviewBatches
from corpora.encoding import encode_reviews
from corpora.errors import CorpusError
from corpora.reviews import DEFAULT_SEED, load_reviews
from corpora.vocab import WordVocab
from engine.models import build_model
from engine.training.checkpoint import BEST, load_checkpoint
from engine.training.trainer import StepOutput, Trainer, Window, batches_from

EVAL_BATCH = 256


class SentimentTrainer(Trainer):
    unit = "reviews"

    def load_data(self, vocab_data: dict[str, Any] | None) -> None:
        config = self.config
        # The split is seeded apart from the model, so changing --seed keeps the same validation reviews.
        corpus = load_reviews(config.data, valid_size=config.valid_fraction, seed=DEFAULT_SEED)
        if config.valid_fraction and "valid" not in corpus.split_names:
            raise CorpusError(
                f"{config.data} has too few training reviews to hold out a fraction of {config.valid_fraction:g} for "
                "validation; give a larger one, or 0 to train on every review without validation."
            )
        vocab = WordVocab(vocab_data["tokens"][2:]) if vocab_data else None
        encoded = encode_reviews(corpus, vocab=vocab, min_count=config.min_count)
        splits = encoded.splits
        self.train_batches = ReviewBatches(
            splits["train"],
            config.batch_size,
            shuffle=True,
            bucket=config.bucket,
            max_length=config.max_length,
            seed=config.seed,
        )
        self.eval_batches: dict[str, ReviewBatches] = {
            name: ReviewBatches(splits[name], EVAL_BATCH, bucket=True, max_length=config.max_length)
            for name in ("valid", "test")
            if name in splits
        }
        self.batches_per_epoch = len(self.train_batches)
        self.vocab_data = {"kind": "word", "tokens": encoded.vocab.itos}
        self.vocab_size = len(encoded.vocab)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self._position: Any = None

    def step_loss(self, step: int) -> StepOutput:
        batch, self._position = batches_from(self.train_batches.epoch, step, self.batches_per_epoch, self._position)
        count = len(batch.labels)
        rows = self.group.shard(count)
        items = rows.stop - rows.start
        # An epoch's last, short batch may leave a rank nothing: it still joins the gradient all-reduce, with weight 0.
        part = _rows(batch, rows if items else slice(0, 1))
        labels = part.labels.to(self.device)
        logits = self.net(part.ids.to(self.device), part.lengths).float()
        correct = float(((logits > 0) == (labels > 0.5)).sum()) if items else 0.0
        return StepOutput(self.loss_fn(logits, labels), items, {"correct": correct}, share=items / count)

    def train_metrics(self, window: Window) -> Mapping[str, float | None]:
        return {"train_acc": window.stats.get("correct", 0.0) / max(window.items, 1)}

    def evaluate(self) -> Mapping[str, float | None]:
        metrics = self.score(self.model, "valid") if "valid" in self.eval_batches else {}
        if self.config.test_every_eval and "test" in self.eval_batches:
            metrics.update(self.score(self.model, "test"))
        return metrics

    @torch.no_grad()
    def score(self, model: nn.Module, split: str) -> dict[str, float]:
        """Mean loss and accuracy of `model` on `split`."""
        model.eval()
        loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
        total = correct = count = 0.0
        for batch in self.eval_batches[split].epoch(0, shard=(self.group.rank, self.group.world)):
            labels = batch.labels.to(self.device)
            with self.autocast():
                logits = model(batch.ids.to(self.device), batch.lengths).float()
            total += float(loss_fn(logits, labels))
            correct += float(((logits > 0) == (labels > 0.5)).sum())
            count += len(labels)
        total, correct, count = self.group.sum([total, correct, count])
        prefix = "val" if split == "valid" else split
        return {f"{prefix}_loss": total / count, f"{prefix}_acc": correct / count}

    def finish(self) -> dict[str, Any]:
        """Test metrics of best.pt (chosen on validation), when the source has test reviews.

        A run without validation has no best.pt: its final weights are scored.
        """
        if "test" not in self.eval_batches:
            return {}
        if "valid" not in self.eval_batches:
            return {**self.score(self.model, "test"), "test_model": "last"}
        best_path = self.run.checkpoints / BEST
        content = self.group.broadcast_bytes(best_path.read_bytes() if self.group.main and best_path.exists() else None)
        if content is None:
            return {}
        best = load_checkpoint(best_path, content)
        model = build_model(self.config, self.vocab_size).to(self.device)
        model.load_state_dict(best["model"])
        return {**self.score(model, "test"), "test_model": "best", "best_step": int(best["step"])}


def _rows(batch: ReviewBatch, rows: slice) -> ReviewBatch:
    """Some reviews of a batch, padded only to their own longest."""
    lengths = batch.lengths[rows]
    return ReviewBatch(batch.ids[rows, : int(lengths.max())], lengths, batch.labels[rows], batch.rows[rows])
