"""Padded and bucketed review batches, the book's character windows, TBPTT streams and the text split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from corpora_helpers import assert_one_sentence
from torch.nn.utils.rnn import pack_padded_sequence

from corpora.batching import (
    CharWindows,
    ReviewBatches,
    StreamBatches,
    batch_order,
    padding_fraction,
    split_text,
)
from corpora.encoding import EncodedSplit
from corpora.errors import CorpusError
from corpora.vocab import PAD_ID


def encoded_split(lengths: list[int], seed: int = 0) -> EncodedSplit:
    """Reviews of the given lengths with ids 2.. (never <pad>), stored end to end like a real table."""
    rng = np.random.default_rng(seed)
    lengths_array = np.array(lengths, dtype=np.int64)
    ids = rng.integers(2, 50, size=int(lengths_array.sum())).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(lengths_array)[:-1]]).astype(np.int64)
    n = len(lengths)
    return EncodedSplit(ids, starts, lengths_array, np.arange(n) % 2, np.arange(n, dtype=np.int64) + 100)


def test_padded_batches_hold_each_review_once_and_pack() -> None:
    split = encoded_split([5, 1, 9, 3, 7, 2, 8])
    batches = ReviewBatches(split, batch_size=3, shuffle=True, seed=4)
    seen = []
    for batch in batches.epoch(0):
        assert batch.ids.dtype == torch.int64 and batch.lengths.device.type == "cpu"
        assert batch.ids.shape == (len(batch.lengths), int(batch.lengths.max()))
        for row, length, table_row in zip(batch.ids, batch.lengths, batch.rows, strict=True):
            review = split.review(int(table_row) - 100)
            assert row[:length].tolist() == review.tolist() and (row[length:] == PAD_ID).all()
            seen.append(int(table_row))
        assert batch.labels.tolist() == [float((r - 100) % 2) for r in batch.rows.tolist()]
        packed = pack_padded_sequence(
            torch.nn.Embedding(50, 4)(batch.ids), batch.lengths, batch_first=True, enforce_sorted=False
        )
        assert int(packed.batch_sizes.sum()) == int(batch.lengths.sum())
    assert sorted(seen) == list(range(100, 107)) and len(batches) == 3


def test_epochs_are_reproducible_and_differ() -> None:
    batches = ReviewBatches(encoded_split(list(range(1, 41))), batch_size=8, shuffle=True, bucket=True, seed=2)
    first = [b.tolist() for b in batches.order(0)]
    assert first == [b.tolist() for b in batches.order(0)]
    assert first != [b.tolist() for b in batches.order(1)]
    assert [b.tolist() for b in ReviewBatches(batches.split, 8, shuffle=True, bucket=True, seed=3).order(0)] != first


def test_bucketing_cuts_padding() -> None:
    lengths = np.random.default_rng(0).lognormal(5, 0.7, size=4000).astype(np.int64) + 1
    split = encoded_split(lengths.tolist())
    plain = ReviewBatches(split, 32, shuffle=True).padding_fraction()
    bucketed = ReviewBatches(split, 32, shuffle=True, bucket=True).padding_fraction()
    sorted_eval = ReviewBatches(split, 32, bucket=True).padding_fraction()
    assert plain > 0.6 and bucketed < plain / 8 and sorted_eval < bucketed
    order = batch_order(lengths, 32, shuffle=True, bucket=True)
    assert sorted(np.concatenate(order).tolist()) == list(range(4000))
    assert padding_fraction(np.array([2, 4]), [np.array([0, 1])]) == pytest.approx(2 / 8)


def test_max_length_and_empty_reviews() -> None:
    split = encoded_split([0, 12, 3])
    batch = next(iter(ReviewBatches(split, batch_size=3, max_length=5)))
    assert batch.lengths.tolist() == [1, 5, 3] and batch.ids.shape == (3, 5)
    assert batch.ids[0].tolist() == [PAD_ID] * 5 and batch.ids[1].tolist() == split.review(1)[:5].tolist()


def test_drop_last_and_bad_settings() -> None:
    split = encoded_split([3] * 10)
    assert len(ReviewBatches(split, 4, drop_last=True)) == 2 and len(list(ReviewBatches(split, 4, drop_last=True))) == 2
    assert len(ReviewBatches(split, 4)) == 3
    for kwargs in ({"batch_size": 0}, {"batch_size": 11, "drop_last": True}, {"max_length": 0}):
        with pytest.raises(CorpusError) as caught:
            ReviewBatches(split, **kwargs)
        assert_one_sentence(str(caught.value))


def test_char_windows_are_the_books_chunks() -> None:
    ids = np.arange(100)
    windows = CharWindows(ids, seq_length=40, batch_size=16, seed=1)
    assert windows.num_windows == 60 and len(windows) == 3
    starts = []
    for batch in windows.epoch(0):
        assert batch.inputs.shape == batch.targets.shape == (16, 40)
        assert torch.equal(batch.targets[:, :-1], batch.inputs[:, 1:])
        assert torch.equal(batch.inputs - batch.inputs[:, :1], torch.arange(40).expand(16, 40))
        starts += batch.inputs[:, 0].tolist()
    assert len(starts) == len(set(starts)) == 48 and max(starts) <= 59
    step = windows.random_batch(7)
    assert torch.equal(step.inputs, windows.random_batch(7).inputs) and not torch.equal(
        step.inputs, windows.random_batch(8).inputs
    )
    assert len(set(step.inputs[:, 0].tolist())) == 16


def test_a_text_shorter_than_one_window_is_refused() -> None:
    assert len(list(CharWindows(np.arange(41)).epoch(0))) == 1
    with pytest.raises(CorpusError, match="fewer than one training window of 41") as caught:
        CharWindows(np.arange(40))
    assert_one_sentence(str(caught.value))


def test_streams_continue_from_chunk_to_chunk() -> None:
    ids = torch.arange(1000)
    streams = StreamBatches(ids, batch_size=4, seq_length=10)
    for number in (0, 1, 2):
        chunks = list(streams.epoch(number))
        assert len(chunks) == len(streams) == 25
        inputs = torch.cat([c.inputs for c in chunks], dim=1)
        targets = torch.cat([c.targets for c in chunks], dim=1)
        assert torch.equal(targets, inputs + 1)
        assert torch.equal(inputs[:, 1:] - inputs[:, :-1], torch.ones(4, inputs.shape[1] - 1, dtype=torch.int64))
        assert int(inputs[1, 0] - inputs[0, 0]) == inputs.shape[1]  # rows are consecutive spans
        assert int(targets.max()) < 1000
    assert [c.inputs[0, 0].item() for c in streams.epoch(0)][:2] == [0, 10]
    assert next(streams.epoch(1)).inputs[0, 0].item() != 0 or next(streams.epoch(2)).inputs[0, 0].item() != 0
    with pytest.raises(CorpusError, match="too few for 64 streams") as caught:
        StreamBatches(ids, batch_size=64, seq_length=40)
    assert_one_sentence(str(caught.value))


def test_split_text_holds_out_one_span() -> None:
    ids = np.arange(1000)
    tail = split_text(ids, 0.1)
    assert (
        tail.valid.tolist() == list(range(900, 1000))
        and tail.train.tolist() == list(range(900))
        and tail.valid_start == 900
    )
    seeded = split_text(ids, 0.1, seed=3)
    assert np.array_equal(seeded.valid, ids[seeded.valid_start : seeded.valid_start + 100])
    assert sorted(np.concatenate([seeded.train, seeded.valid]).tolist()) == list(range(1000))
    assert seeded.train[0] == (seeded.valid_start + 100) % 1000  # train reads on from the span's end
    assert split_text(ids, 0.1, seed=3).valid_start == seeded.valid_start != split_text(ids, 0.1, seed=4).valid_start
    with pytest.raises(CorpusError):
        split_text(np.arange(100), 0.1)


@pytest.mark.realdata
def test_novel_batches(data_dir: Path) -> None:
    from corpora.text import load_text
    from corpora.vocab import CharVocab

    text, _ = load_text(data_dir / "mysterious_island_1268-0.txt")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    batch = CharWindows(ids, seed=1).random_batch(0)
    assert len(vocab) == 80 and batch.inputs.shape == (64, 40)
    assert vocab.decode(batch.inputs[0]) in text
