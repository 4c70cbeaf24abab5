"""Tokenising and numericalising the 25,000 IMDb train reviews: the book's plain loop vs `datasets`, cold and cached.

All three build the vocabulary on the book's 20,000-review train split (seed 1) and turn all
25,000 reviews into token ids:
  - plain loop: the book's code path, `Counter.update(tokenizer(text))` then `[vocab[t] for t in tokenizer(text)]`
    over the texts already in memory;
  - cold: a fresh cache; `datasets` converts the parquet file to Arrow, tokenises with a batched,
    multi-process `map`, counts with Arrow and looks ids up with Arrow, writing each step's cache;
  - cached: the same call again in a fresh `load_reviews`, as a second run would do.
Checks that all three agree on the vocabulary and on every id. Target (issue 3): cached ≥ 10× faster than the plain loop.

Usage: python bench/corpora_tokenize.py [DATA_DIR]   (default ../shared/data; uses DATA_DIR/imdb/train.parquet)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

BOOK_VOCAB_SIZE = 69_023


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    source = data / "imdb" / "train.parquet"
    with tempfile.TemporaryDirectory(prefix="rnn-tui-bench-") as cache:
        os.environ["RNN_TUI_CACHE"] = cache
        from corpora.encoding import encode_reviews
        from corpora.reviews import load_reviews
        from corpora.tokenize import tokenize
        from corpora.vocab import WordVocab

        start = time.perf_counter()
        corpus = load_reviews(source)
        cold_load = time.perf_counter() - start
        start = time.perf_counter()
        cold = encode_reviews(corpus)
        cold_encode = time.perf_counter() - start

        start = time.perf_counter()
        corpus = load_reviews(source)
        warm_load = time.perf_counter() - start
        start = time.perf_counter()
        cached = encode_reviews(corpus)
        warm_encode = time.perf_counter() - start

        texts = corpus.train_all["text"]
        start = time.perf_counter()
        counts: Counter[str] = Counter()
        for row in corpus.train_indices:
            counts.update(tokenize(texts[row]))
        vocab = WordVocab.from_counts(counts.items())
        plain_ids = [[vocab[token] for token in tokenize(text)] for text in texts]
        plain = time.perf_counter() - start

    assert vocab == cold.vocab == cached.vocab, "the vocabularies differ"
    split = cached.splits["train"]
    for position, row in enumerate(split.rows):
        assert split.review(position).tolist() == plain_ids[row], f"ids differ for review {row}"
    print(
        f"{len(texts):,} IMDb train reviews from {source}; vocabulary on the {len(corpus.train_indices):,}-review "
        f"train split (seed 1): {len(vocab):,} tokens with <pad> and <unk> (book: {BOOK_VOCAB_SIZE:,} on its own split)"
    )
    print(f"  book's plain loop (texts in memory)  {plain:6.2f} s")
    print(
        f"  datasets, cold: load {cold_load:5.2f} s + tokenise/count/ids {cold_encode:5.2f} s = {cold_load + cold_encode:6.2f} s"
    )
    print(
        f"  datasets, cached: load {warm_load:5.2f} s + tokenise/count/ids {warm_encode:5.2f} s "
        f"= {warm_load + warm_encode:6.2f} s"
    )
    print(
        f"  cached vs plain loop: {plain / warm_encode:5.1f}× (encode only), "
        f"{plain / (warm_load + warm_encode):5.1f}× (with the load)"
        f"; target ≥ 10×"
    )
    print(
        f"  tokens in the train split: {int(split.lengths.sum()):,}; mean {float(np.mean(split.lengths)):.1f} per review"
    )


if __name__ == "__main__":
    main()
