"""Batches that train fast: padded review batches (optionally length-bucketed) and character batches.

Every order is drawn from `numpy.random.default_rng([seed, epoch])`, so an epoch can be replayed
exactly (for a resumed run) without replaying the ones before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from corpora.encoding import EncodedSplit
from corpora.errors import CorpusError
from corpora.text import BOOK_WINDOW
from corpora.vocab import PAD_ID

BUCKET_POOL_BATCHES = 100  # shuffled pools of this many batches are sorted by length, then cut (torchtext's choice)


class ReviewBatch(NamedTuple):
    ids: torch.Tensor  # [B, T] int64, padded with <pad>=0
    lengths: torch.Tensor  # [B] int64 on the CPU (as pack_padded_sequence wants), each ≥ 1
    labels: torch.Tensor  # [B] float32, 0 neg / 1 pos
    rows: torch.Tensor  # [B] int64, each review's row in its table


class ReviewBatches:
    """Padded batches of one split, ready for `pack_padded_sequence(..., enforce_sorted=False)`.

    `bucket=True` makes batches of reviews of similar length: with `shuffle`, a shuffled pool of
    `BUCKET_POOL_BATCHES` batches is sorted by length and cut, and the batches are shuffled;
    without it, the whole split is sorted by length. `max_length` keeps each review's first
    tokens. A review with no tokens becomes one `<pad>` of length 1, so packing never sees length 0.
    """

    def __init__(
        self,
        split: EncodedSplit,
        batch_size: int = 32,
        *,
        shuffle: bool = False,
        bucket: bool = False,
        max_length: int | None = None,
        seed: int = 1,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise CorpusError(f"The batch size must be at least 1, not {batch_size}.")
        if max_length is not None and max_length < 1:
            raise CorpusError(f"The maximum review length must be at least 1 token, not {max_length}.")
        if len(split) == 0 or (drop_last and len(split) < batch_size):
            raise CorpusError(
                f"This split has {len(split):,} reviews, too few for one batch of {batch_size}; use a smaller batch."
            )
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.max_length = max_length
        self.seed = seed
        self.drop_last = drop_last
        self.lengths = split.lengths if max_length is None else np.minimum(split.lengths, max_length)

    def __len__(self) -> int:
        full, rest = divmod(len(self.split), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[ReviewBatch]:
        return self.epoch(0)

    def epoch(self, number: int, shard: tuple[int, int] = (0, 1)) -> Iterator[ReviewBatch]:
        """The batches of epoch `number`; the same number always gives the same batches.

        `shard=(index, count)` yields every `count`-th batch from the `index`-th: one process's share
        when `count` processes score a split together.
        """
        index, count = shard
        for positions in self.order(number)[index::count]:
            yield self._batch(positions)

    def order(self, number: int = 0) -> list[np.ndarray]:
        """Positions (into the split) of each batch of epoch `number`."""
        return batch_order(
            self.lengths,
            self.batch_size,
            shuffle=self.shuffle,
            bucket=self.bucket,
            seed=self.seed,
            epoch=number,
            drop_last=self.drop_last,
        )

    def padding_fraction(self, number: int = 0) -> float:
        """Share of the positions in epoch `number`'s padded batches that are `<pad>`."""
        return padding_fraction(self.lengths, self.order(number))

    def _batch(self, positions: np.ndarray) -> ReviewBatch:
        lengths = self.lengths[positions]
        width = max(int(lengths.max()), 1)
        steps = np.arange(width)
        mask = steps[None, :] < lengths[:, None]
        ids = np.full((len(positions), width), PAD_ID, dtype=np.int64)
        ids[mask] = self.split.ids[(self.split.starts[positions][:, None] + steps[None, :])[mask]]
        return ReviewBatch(
            ids=torch.from_numpy(ids),
            lengths=torch.from_numpy(np.maximum(lengths, 1).astype(np.int64)),
            labels=torch.from_numpy(self.split.labels[positions].astype(np.float32)),
            rows=torch.from_numpy(self.split.rows[positions].astype(np.int64)),
        )


def batch_order(
    lengths: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    bucket: bool,
    seed: int = 1,
    epoch: int = 0,
    drop_last: bool = False,
) -> list[np.ndarray]:
    """Positions of each batch of one epoch over items of the given lengths (see `ReviewBatches`)."""
    rng = np.random.default_rng([seed, epoch])
    n = len(lengths)
    positions = rng.permutation(n) if shuffle else np.arange(n)
    if bucket:
        if shuffle:
            pool = batch_size * BUCKET_POOL_BATCHES
            pools = np.split(positions, range(pool, n, pool))
            positions = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in pools])
        else:
            positions = positions[np.argsort(lengths[positions], kind="stable")]
    batches = [positions[i : i + batch_size] for i in range(0, n, batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if bucket and shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of padded positions when each batch is padded to its longest item (empty items count as 1)."""
    lengths = np.maximum(lengths, 1)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - sum(int(lengths[b].sum()) for b in batches) / padded


class CharBatch(NamedTuple):
    inputs: torch.Tensor  # [B, T] int64
    targets: torch.Tensor  # [B, T] int64, the inputs shifted by one character


def _as_tensor(ids: np.ndarray | torch.Tensor) -> torch.Tensor:
    return ids.to(torch.int64) if isinstance(ids, torch.Tensor) else torch.from_numpy(np.asarray(ids, dtype=np.int64))


class CharWindows:
    """The book's batches: random overlapping windows of `seq_length + 1` characters.

    Window i is ids[i : i + seq_length + 1]; its first `seq_length` ids are the input and its last
    `seq_length` the target. `epoch(n)` visits every window once in a seeded order (dropping the
    last partial batch); `random_batch(step)` draws one batch as the book's loop does each step.
    """

    def __init__(
        self, ids: np.ndarray | torch.Tensor, seq_length: int = BOOK_WINDOW - 1, batch_size: int = 64, *, seed: int = 1
    ) -> None:
        self.ids = _as_tensor(ids)
        self.seq_length = seq_length
        self.batch_size = batch_size
        self.seed = seed
        self.num_windows = len(self.ids) - seq_length
        if seq_length < 1 or batch_size < 1:
            raise CorpusError(
                f"The window length and batch size must be at least 1, not {seq_length} and {batch_size}."
            )
        if self.num_windows < 1:
            raise CorpusError(
                f"The text has {len(self.ids):,} characters, fewer than one training window of {seq_length + 1}; "
                f"use a longer text."
            )
        self._offsets = torch.arange(seq_length + 1)

    def __len__(self) -> int:
        return max(self.num_windows // self.batch_size, 1)

    def epoch(self, number: int) -> Iterator[CharBatch]:
        starts = np.random.default_rng([self.seed, number]).permutation(self.num_windows)
        size = min(self.batch_size, self.num_windows)
        for first in range(0, len(starts) - size + 1, size):
            yield self._batch(starts[first : first + size])

    def random_batch(self, step: int) -> CharBatch:
        """A batch of `batch_size` distinct random windows for training step `step`."""
        rng = np.random.default_rng([self.seed, step])
        size = min(self.batch_size, self.num_windows)
        return self._batch(rng.choice(self.num_windows, size=size, replace=False))

    def _batch(self, starts: np.ndarray) -> CharBatch:
        windows = self.ids[torch.from_numpy(starts)[:, None] + self._offsets]
        return CharBatch(windows[:, :-1], windows[:, 1:])


class StreamBatches:
    """Contiguous streams for truncated BPTT: the text cut into `batch_size` rows, read `seq_length` at a time.

    Row b of chunk k+1 continues row b of chunk k, so the hidden state can be carried (detached)
    from one chunk to the next. Each epoch starts at a seeded offset below `seq_length`, so chunk
    borders move between epochs; the last chunk of an epoch may be shorter.
    """

    def __init__(
        self, ids: np.ndarray | torch.Tensor, batch_size: int = 64, seq_length: int = BOOK_WINDOW - 1, *, seed: int = 1
    ) -> None:
        self.ids = _as_tensor(ids)
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.seed = seed
        if seq_length < 1 or batch_size < 1:
            raise CorpusError(f"The chunk length and batch size must be at least 1, not {seq_length} and {batch_size}.")
        # Room for an epoch offset below seq_length plus the one-character shift of the targets.
        self.stream_length = (len(self.ids) - seq_length) // batch_size
        if self.stream_length < seq_length:
            raise CorpusError(
                f"The text has {len(self.ids):,} characters, too few for {batch_size} streams of at least "
                f"{seq_length + 1}; use a longer text or fewer streams."
            )

    def __len__(self) -> int:
        return -(-self.stream_length // self.seq_length)

    def epoch(self, number: int) -> Iterator[CharBatch]:
        offset = int(np.random.default_rng([self.seed, number]).integers(self.seq_length)) if number else 0
        length = self.stream_length
        span = self.ids[offset : offset + self.batch_size * length + 1]
        inputs = span[:-1].view(self.batch_size, length)
        targets = span[1:].view(self.batch_size, length)
        for first in range(0, length, self.seq_length):
            yield CharBatch(inputs[:, first : first + self.seq_length], targets[:, first : first + self.seq_length])

    def __iter__(self) -> Iterator[CharBatch]:
        return self.epoch(0)


@dataclass(frozen=True)
class TextSplit:
    train: np.ndarray
    valid: np.ndarray
    valid_start: int  # where `valid` starts in the original ids


def split_text(
    ids: np.ndarray, valid_fraction: float = 0.1, *, seed: int | None = None, window: int = BOOK_WINDOW
) -> TextSplit:
    """Hold out one contiguous span of the text for validation (no window overlaps both parts).

    `seed=None` holds out the last `valid_fraction`, as char-rnn does; a seed places the span at a
    seeded position, and train is the rest read on from the span's end, wrapping to the start
    (one seam, like a boundary between documents).
    """
    n = len(ids)
    if not 0.0 < valid_fraction < 1.0:
        raise CorpusError(f"The validation fraction must be between 0 and 1, not {valid_fraction}.")
    n_valid = round(n * valid_fraction)
    if min(n_valid, n - n_valid) < window:
        raise CorpusError(
            f"The text has {n:,} characters, too few to hold out {valid_fraction:.0%} and still fill a window of {window} "
            f"on each side; use a longer text."
        )
    start = n - n_valid if seed is None else int(np.random.default_rng(seed).integers(n - n_valid + 1))
    ids = np.asarray(ids)
    train = np.concatenate([ids[start + n_valid :], ids[:start]])
    return TextSplit(train, ids[start : start + n_valid], start)
