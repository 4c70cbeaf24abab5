"""Word attributions' cost (issue 13, item 5): `classify` with word scores, capped vs scoring every word.

The book-sized sentiment model (Embedding(V, 20) → LSTM(20, 64) → last hidden → 64 → 1, random
weights: speed does not depend on them) classifies random reviews of N tokens, three ways:

  label    P(positive) alone (what `classify` and `classify --json` do without `--words`)
  capped   with occlusion word scores as rnn-tui computes them now: words are scored from the start
           until ATTRIBUTION_BUDGET token reads are spent, so the cost grows linearly with N
  all      every word scored (the old behaviour, n² token reads), the baseline; skipped above
           `--all-limit` tokens, where it takes minutes

Usage: python bench/classify_words.py [--lengths 1000,3000,6000,100000] [--all-limit 6000] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import print_header


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1000,3000,6000,100000")
    parser.add_argument("--all-limit", type=int, default=6000, help="score every word only up to this many tokens")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from corpora.vocab import WordVocab
    from engine.generation.classify import ATTRIBUTION_BUDGET, classify, scored_words
    from engine.generation.loading import LoadedModel
    from engine.models import build_model
    from engine.training.config import parse_train_config

    torch.set_num_threads(args.threads)
    print_header(f"classify word scores: {' '.join(sys.argv)}")
    words = [f"w{index}" for index in range(5_000)]
    vocab = WordVocab.build([words])
    config = parse_train_config("sentiment", "book", data="reviews.csv")
    torch.manual_seed(0)
    model = build_model(config, len(vocab)).eval()
    loaded = LoadedModel(
        "sentiment", "bench", Path("bench.pt"), None, 0, config, None, model, vocab, torch.device("cpu")
    )
    rng = random.Random(0)
    print(f"budget {ATTRIBUTION_BUDGET:,} token reads; {args.threads} torch thread(s)\n")
    print(f"{'tokens':>8} {'label s':>9} {'capped s':>9} {'scored':>8} {'all s':>9}  all / capped")
    for length in [int(x) for x in args.lengths.split(",")]:
        text = " ".join(rng.choice(words) for _ in range(length))
        figures = {}
        for name, kwargs in (
            ("label", {"attributions": False}),
            ("capped", {}),
            ("all", {"budget": math.inf}),
        ):
            if name == "all" and length > args.all_limit:
                continue
            start = time.perf_counter()
            result = classify(loaded, text, **kwargs)
            figures[name] = time.perf_counter() - start
            if name == "capped":
                assert len(result.words) == scored_words(length)
        ratio = f"{figures['all'] / figures['capped']:.1f}×" if "all" in figures else "-"
        all_s = f"{figures['all']:9.2f}" if "all" in figures else f"{'skipped':>9}"
        print(
            f"{length:>8,} {figures['label']:9.2f} {figures['capped']:9.2f} {scored_words(length):>8,} {all_s}  {ratio}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
