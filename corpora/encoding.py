"""Reviews → token ids through cached `datasets.map`: a second run reads Arrow files instead of tokenising again.

Tokens and ids are written next to the source table's Arrow files (the `datasets` cache) under
fingerprints of the table, the tokenizer version and the vocabulary, so they are rebuilt exactly
when one of those changes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpora.reviews import ReviewCorpus, quiet_datasets
from corpora.tokenize import tokenize
from corpora.vocab import UNK_ID, WordVocab

if TYPE_CHECKING:
    import datasets

# Bump when `tokenize` changes, so cached tokens are not reused.
TOKENIZER_VERSION = "book-tokenizer-1"
_IDS_VERSION = "ids-1"
_PARALLEL_ROWS = 5_000  # below this, worker start-up costs more than it saves


@dataclass(frozen=True)
class EncodedSplit:
    """One split as token ids: views into the flat id array of its table, plus labels."""

    ids: np.ndarray  # int32, every review of the table end to end (shared by the splits of that table)
    starts: np.ndarray  # int64, where each review of the split starts in `ids`
    lengths: np.ndarray  # int64, tokens per review; 0 for a review with no tokens
    labels: np.ndarray  # int64, 0 neg / 1 pos
    rows: np.ndarray  # int64, each review's row in its table

    def __len__(self) -> int:
        return len(self.rows)

    def review(self, index: int) -> np.ndarray:
        start = self.starts[index]
        return self.ids[start : start + self.lengths[index]]


@dataclass(frozen=True)
class EncodedReviews:
    vocab: WordVocab
    splits: dict[str, EncodedSplit]


def encode_reviews(
    corpus: ReviewCorpus,
    *,
    vocab: WordVocab | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    num_proc: int | None = None,
) -> EncodedReviews:
    """Tokenise and numericalise every split; the vocabulary comes from the train split unless given."""
    with quiet_datasets():
        tokens = {"train": tokenized(corpus.train_all, num_proc=num_proc)}
        if corpus.test is not None:
            tokens["test"] = tokenized(corpus.test, num_proc=num_proc)
        if vocab is None:
            vocab = WordVocab.from_counts(
                token_counts(tokens["train"], corpus.train_indices), min_count=min_count, max_size=max_size
            )
        flat = {name: _flat_ids(numericalized(table, vocab)) for name, table in tokens.items()}
    splits = {}
    for name in corpus.split_names:
        ids, offsets, labels = flat["test" if name == "test" else "train"]
        rows = corpus.indices(name).astype(np.int64)
        splits[name] = EncodedSplit(ids, offsets[rows], offsets[rows + 1] - offsets[rows], labels[rows], rows)
    return EncodedReviews(vocab, splits)


def tokenized(table: datasets.Dataset, *, num_proc: int | None = None) -> datasets.Dataset:
    """`table` with `text` replaced by `tokens` (the book's tokenizer), computed once and cached."""
    from datasets.fingerprint import Hasher

    return table.map(
        _tokenize_rows,
        batched=True,
        remove_columns=["text"],
        num_proc=_procs(num_proc, len(table)),
        # An explicit fingerprint: `datasets` would hash our module-level function by name only,
        # so a changed tokenizer would silently reuse old tokens.
        new_fingerprint=Hasher.hash([table._fingerprint, TOKENIZER_VERSION]),
        desc="tokenising",
    )


def token_counts(tokens: datasets.Dataset, rows: np.ndarray) -> list[tuple[str, int]]:
    """(token, count) over the given rows, in first-seen order (what Counter gives), counted by Arrow."""
    column = tokens.data.column("tokens").take(pa.array(rows))
    counts = pc.value_counts(pc.list_flatten(column))
    return list(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


def token_lengths(tokens: datasets.Dataset, rows: np.ndarray) -> np.ndarray:
    """Tokens per review for the given rows."""
    return pc.list_value_length(tokens.data.column("tokens")).to_numpy()[rows]


def numericalized(tokens: datasets.Dataset, vocab: WordVocab) -> datasets.Dataset:
    """`tokens` replaced by `ids` (unknown tokens → `<unk>`), looked up by Arrow and cached per vocabulary."""
    from datasets.fingerprint import Hasher

    digest = hashlib.sha256("\n".join(vocab.itos).encode()).hexdigest()
    return tokens.with_format("arrow").map(
        _ids_rows,
        batched=True,
        batch_size=5_000,
        remove_columns=["tokens"],
        fn_kwargs={"known": vocab.itos[UNK_ID + 1 :]},
        new_fingerprint=Hasher.hash([tokens._fingerprint, _IDS_VERSION, digest]),
        desc="numericalising",
    )


def _tokenize_rows(batch: dict) -> dict:
    return {"tokens": [tokenize(text) for text in batch["text"]]}


def _ids_rows(batch: pa.Table, known: list[str]) -> pa.Table:
    """Ids of `known` start at 2, after <pad> and <unk>; index_in gives null for unknown tokens."""
    tokens = batch.column("tokens").combine_chunks()
    found = pc.index_in(tokens.flatten(), value_set=pa.array(known, pa.string()))
    ids = pc.add(found, UNK_ID + 1).fill_null(UNK_ID).cast(pa.int32())
    offsets = pc.subtract(tokens.offsets, tokens.offsets[0])
    return pa.table({"ids": pa.ListArray.from_arrays(offsets, ids), "label": batch.column("label")})


def _flat_ids(table: datasets.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, offsets, labels) as numpy: ids of row r are ids[offsets[r]:offsets[r + 1]]."""
    column = table.data.column("ids").combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    ids = column.values.to_numpy(zero_copy_only=False)
    return ids, offsets, table.data.column("label").to_numpy().astype(np.int64)


def _procs(num_proc: int | None, rows: int) -> int | None:
    if num_proc is not None:
        return num_proc if num_proc > 1 else None
    return min(os.cpu_count() or 1, 4) if rows >= _PARALLEL_ROWS else None
