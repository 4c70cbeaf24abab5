"""Padding waste in IMDb review batches of 32, with and without length bucketing.

Prints, for the book's 20,000-review train split (seed 1) and the 25,000-review test set:
  - the share of batch positions that are <pad> when every batch is padded to its longest review;
  - the sum over batches of the longest review: the sequential LSTM steps one epoch takes, with or
    without pack_padded_sequence (packing skips padded positions but not time steps).
Side by side: shuffled batches as in the book, shuffled length-bucketed batches (pools of 100
batches), and batches of the sorted split (what evaluation can use), plus the same with a
500-token cap.

Usage: python bench/corpora_padding.py [DATA_DIR]   (default ../shared/data; uses DATA_DIR/imdb)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from corpora.batching import BUCKET_POOL_BATCHES, batch_order, padding_fraction
from corpora.encoding import encode_reviews
from corpora.reviews import load_reviews

BATCH_SIZE = 32


def row(name: str, lengths: np.ndarray, **order: bool) -> str:
    batches = batch_order(lengths, BATCH_SIZE, seed=1, **order)
    steps = sum(int(np.maximum(lengths[b], 1).max()) for b in batches)
    return f"  {name:<29} padding {padding_fraction(lengths, batches):6.1%}   LSTM steps/epoch {steps:>9,}"


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    start = time.perf_counter()
    encoded = encode_reviews(load_reviews(data / "imdb"))
    print(
        f"IMDb from {data / 'imdb'} encoded in {time.perf_counter() - start:.1f} s; batch size {BATCH_SIZE}, "
        f"bucket pools of {BUCKET_POOL_BATCHES} batches\n"
    )
    for split in ("train", "test"):
        lengths = encoded.splits[split].lengths
        print(
            f"{split}: {len(lengths):,} reviews, {int(lengths.sum()):,} tokens, "
            f"median {int(np.median(lengths))}, max {int(lengths.max()):,}"
        )
        for cap in (None, 500):
            capped = lengths if cap is None else np.minimum(lengths, cap)
            suffix = "" if cap is None else f", max {cap}"
            print(row(f"shuffled (book){suffix}", capped, shuffle=True, bucket=False))
            print(row(f"shuffled + bucketed{suffix}", capped, shuffle=True, bucket=True))
            print(row(f"sorted (evaluation){suffix}", capped, shuffle=False, bucket=True))
        print()


if __name__ == "__main__":
    main()
