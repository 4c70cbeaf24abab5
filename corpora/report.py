"""`rnn-tui corpus show SOURCE`: what a user wants to know about a corpus before training."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from corpora.errors import CorpusError
from corpora.text import BOOK_WINDOW, FALLBACK_SOURCE, load_text

SAMPLE_CHARACTERS = 240
REVIEW_BATCH_SIZE = 32
PERCENTILES = (5, 25, 50, 75, 95, 99)


def describe_source(source: str) -> dict:
    """One JSON-serialisable summary of SOURCE: a file path, a folder, `gutenberg:ID`, `python-docs` or `imdb`."""
    from corpora.reviews import HUB_SOURCE, is_review_file

    if source == HUB_SOURCE:
        return describe_reviews(source)
    if source.startswith("gutenberg:") or source == FALLBACK_SOURCE:
        return describe_text(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise CorpusError(
            f"{source} does not exist; pass a text file, a review file or folder, gutenberg:ID, "
            f"{FALLBACK_SOURCE} or {HUB_SOURCE}."
        )
    if path.is_dir() or is_review_file(path):
        return describe_reviews(source)
    return describe_text(source)


def describe_text(source: str) -> dict:
    text, info = load_text(source)
    counts = Counter(text)
    details = info.as_dict()
    return {
        "kind": "text",
        "source": details.pop("spec"),
        **details,
        "characters": len(text),
        "unique_characters": len(counts),
        "lines": text.count("\n") + (not text.endswith("\n")),
        "words": len(text.split()),
        "windows": len(text) - BOOK_WINDOW + 1,
        "window": BOOK_WINDOW,
        "vocabulary": "".join(sorted(counts)),
        "top_characters": [[char, count] for char, count in counts.most_common(10)],
        "sample": text[:SAMPLE_CHARACTERS],
    }


def describe_reviews(source: str) -> dict:
    import numpy as np

    from corpora.batching import batch_order, padding_fraction
    from corpora.encoding import token_counts, token_lengths, tokenized
    from corpora.reviews import DEFAULT_VALID_SIZE, LABEL_NAMES, load_reviews, quiet_datasets

    corpus = load_reviews(source)
    with quiet_datasets():
        tokens = tokenized(corpus.train_all)
        vocab_size = len(token_counts(tokens, corpus.train_indices)) + 2
        lengths = token_lengths(tokens, corpus.train_indices)
    first = corpus.train_all[int(corpus.train_indices[0])]
    files = [Path(f) for paths in corpus.source.files.values() for f in paths]
    return {
        "kind": "reviews",
        "source": source,
        "origin": corpus.source.origin,
        "name": corpus.source.name,
        "files": corpus.source.files,
        "columns": corpus.source.columns,
        "bytes": sum(_size(f) for f in files) if files else None,
        "reviews": len(corpus.train_all) + (len(corpus.test) if corpus.test is not None else 0),
        "splits": corpus.split_sizes,
        "valid_fraction": DEFAULT_VALID_SIZE,
        "seed": corpus.seed,
        "label_balance": {
            name: dict(zip(LABEL_NAMES, np.bincount(corpus.labels(name), minlength=2).tolist(), strict=True))
            for name in corpus.split_names
        },
        "vocab_size": vocab_size,
        "tokenizer": "book",
        "train_tokens": int(lengths.sum()),
        "length_percentiles": {
            **{
                f"p{p}": int(v)
                for p, v in zip(PERCENTILES, np.percentile(lengths, PERCENTILES, method="nearest"), strict=True)
            },
            "max": int(lengths.max()),
            "mean": round(float(lengths.mean()), 1),
        },
        "padding": {
            "batch_size": REVIEW_BATCH_SIZE,
            "shuffled": round(
                padding_fraction(lengths, batch_order(lengths, REVIEW_BATCH_SIZE, shuffle=True, bucket=False)), 4
            ),
            "bucketed": round(
                padding_fraction(lengths, batch_order(lengths, REVIEW_BATCH_SIZE, shuffle=True, bucket=True)), 4
            ),
        },
        "sample": {"label": LABEL_NAMES[first["label"]], "text": first["text"][:SAMPLE_CHARACTERS]},
    }


def render_text(info: dict) -> str:
    """The human-readable form of `describe_source`'s dict; ends with a newline."""
    lines = _render_text_source(info) if info["kind"] == "text" else _render_reviews(info)
    return "\n".join(lines) + "\n"


def _render_text_source(info: dict) -> list[str]:
    where = {
        "file": "",
        "python-docs": f", read from {info['path']}",
        "gutenberg": f", cached at {info['path']}"
        if info["cached"]
        else f", downloaded from {info['url']} into {info['path']}",
    }[info["origin"]]
    cut = {
        "book": "the book's own cut (THE MYSTERIOUS ISLAND … End of the Project Gutenberg)",
        "markers": "the body between the Project Gutenberg START and END lines",
        "none": "none (the whole file)",
    }[info["cut"]]
    lines = [info["title"]]
    if info["fallback_for"]:
        lines.append(f"  FALLBACK    shown because {info['fallback_for']} is unavailable: {info['notice']}")
    top = "  ".join(
        f"{_show_char(char)} {count / info['characters']:.1%}" for char, count in info["top_characters"][:8]
    )
    lines += [
        f"  source      {info['path'] if info['origin'] == 'file' else info['source']}{where}",
        f"  kind        text, {info['bytes']:,} bytes; cut: {cut}",
        f"  characters  {info['characters']:,} ({info['unique_characters']} unique)",
        f"  lines       {info['lines']:,}",
        f"  words       {info['words']:,}",
        f"  windows     {info['windows']:,} of {info['window']} characters (input {info['window'] - 1}, target shifted by one)",
        f"  most common {top}",
        f"  sample      {_one_line(info['sample'])}",
    ]
    return lines


def _render_reviews(info: dict) -> list[str]:
    size = f", {info['bytes']:,} bytes" if info["bytes"] else ""
    splits = ", ".join(f"{name} {count:,}" for name, count in info["splits"].items())
    balance = "; ".join(
        f"{name} {counts['neg']:,} neg / {counts['pos']:,} pos" for name, counts in info["label_balance"].items()
    )
    pct = info["length_percentiles"]
    padding = info["padding"]
    return [
        f"{info['name']} ({info['origin']})",
        f"  kind        reviews, {info['reviews']:,} labelled{size}",
        f"  splits      {splits} (valid: a seeded {info['valid_fraction']:.0%} of train, seed {info['seed']})",
        f"  labels      {balance}",
        f"  vocabulary  {info['vocab_size']:,} tokens in the train split, <pad> and <unk> included "
        f"({info['tokenizer']} tokenizer)",
        f"  length      tokens per train review: p5 {pct['p5']}, p25 {pct['p25']}, median {pct['p50']}, "
        f"p75 {pct['p75']}, p95 {pct['p95']}, p99 {pct['p99']}, max {pct['max']:,}, mean {pct['mean']}",
        f"  padding     batches of {padding['batch_size']}: {padding['shuffled']:.1%} of positions are <pad> shuffled, "
        f"{padding['bucketed']:.1%} with length bucketing",
        f"  sample      [{info['sample']['label']}] {_one_line(info['sample']['text'])}",
    ]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*.txt"))
    return path.stat().st_size


def _show_char(char: str) -> str:
    return {" ": "' '", "\n": "\\n", "\t": "\\t"}.get(char, char)


def _one_line(text: str) -> str:
    flat = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return flat + ("…" if len(text) == SAMPLE_CHARACTERS else "")
