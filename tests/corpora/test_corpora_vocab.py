"""The book's tokenizer, word and character vocabularies, and their JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from corpora_helpers import assert_one_sentence
from hypothesis import given
from hypothesis import strategies as st

from corpora.errors import CorpusError
from corpora.tokenize import tokenize
from corpora.vocab import PAD, PAD_ID, UNK, UNK_ID, CharVocab, WordVocab


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("This is a <b>GREAT</b> film!", ["this", "is", "a", "great", "film"]),
        ("Loved it :) and :-) but not :( ", ["loved", "it", "and", "but", "not", ":)", ":)", ":("]),
        ("Tags glue<br /><br />words", ["tags", "gluewords"]),
        ("so :) it ends in a word", ["so", "it", "ends", "in", "a", "word:)"]),  # emoticons appended with no space
        ("ends in an emoticon :)", ["ends", "in", "an", "emoticon", ":)"]),
        ("Big grin :D and =P", ["big", "grin", "d", "and", "p"]),  # lower-cased first, so :D never matches
        ("don't stop-motion 1,000", ["don", "t", "stop", "motion", "1", "000"]),
        ("naïve café", ["naïve", "café"]),
        ("", []),
    ],
)
def test_book_tokenizer(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_vocab_orders_by_count_keeping_first_seen_order_for_ties() -> None:
    vocab = WordVocab.build([["b", "a", "c"], ["a", "d", "c"], ["c"]])
    assert vocab.itos == [PAD, UNK, "c", "a", "b", "d"]
    assert (vocab[PAD], vocab[UNK], vocab["c"], vocab["never"]) == (PAD_ID, UNK_ID, 2, UNK_ID)
    assert vocab.encode(["a", "zzz", "d"]) == [3, 1, 5]
    assert vocab.decode([3, 1, 5]) == ["a", UNK, "d"]


def test_min_count_and_max_size() -> None:
    counts = [("x", 5), ("y", 1), ("z", 3), ("w", 3)]
    assert WordVocab.from_counts(counts, min_count=3).itos == [PAD, UNK, "x", "z", "w"]
    assert WordVocab.from_counts(counts, max_size=4).itos == [PAD, UNK, "x", "z"]
    assert WordVocab.from_counts([(PAD, 9), ("a", 1)]).itos == [PAD, UNK, "a"]
    for bad in ({"min_count": 0}, {"max_size": 1}):
        with pytest.raises(CorpusError):
            WordVocab.from_counts(counts, **bad)


def test_word_vocab_json_round_trip(tmp_path: Path) -> None:
    vocab = WordVocab.from_counts([("é", 2), ("b", 1)], min_count=1, max_size=10)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["tokens"] == [PAD, UNK, "é", "b"] and payload["format"] == "rnn-tui/word-vocab"
    loaded = WordVocab.load(path)
    assert loaded == vocab and (loaded.min_count, loaded.max_size) == (1, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]  # no temporary file left


def test_char_vocab_is_sorted_set_and_round_trips(tmp_path: Path) -> None:
    text = "The island, “mysterious”.\n"
    vocab = CharVocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.tolist() == [vocab.chars.index(c) for c in text]
    assert vocab.decode(ids) == text
    vocab.save(tmp_path / "chars.json")
    assert CharVocab.load(tmp_path / "chars.json") == vocab


def test_char_vocab_names_an_unknown_character() -> None:
    with pytest.raises(CorpusError, match=r"'z' \(position 2\)") as caught:
        CharVocab.from_text("abc").encode("abz")
    assert_one_sentence(str(caught.value))


@given(st.text(min_size=1, max_size=200))
def test_char_round_trip_any_text(text: str) -> None:
    vocab = CharVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text


@given(st.lists(st.lists(st.text(alphabet="abcde", min_size=1, max_size=3), max_size=8), max_size=8))
def test_word_round_trip_for_known_tokens(token_lists: list[list[str]]) -> None:
    vocab = WordVocab.build(token_lists)
    for tokens in token_lists:
        assert vocab.decode(vocab.encode(tokens)) == tokens
    assert len(vocab) == 2 + len({t for tokens in token_lists for t in tokens})


@pytest.mark.parametrize(
    ("content", "loader", "phrase"),
    [
        (None, WordVocab.load, "does not exist"),
        ("{not json", WordVocab.load, "not a readable JSON vocabulary"),
        (
            '{"format": "rnn-tui/char-vocab", "version": 1, "chars": ["a"]}',
            WordVocab.load,
            "not a rnn-tui/word-vocab file",
        ),
        (
            '{"format": "rnn-tui/word-vocab", "version": 1, "tokens": ["a"]}',
            WordVocab.load,
            "must start with <pad>, <unk>",
        ),
        ('{"format": "rnn-tui/word-vocab", "version": 9, "tokens": []}', WordVocab.load, "version 9"),
        ('{"format": "rnn-tui/char-vocab", "version": 1, "chars": ["ab"]}', CharVocab.load, "single characters"),
        ('{"format": "rnn-tui/char-vocab", "version": 1, "chars": ["b", "a"]}', CharVocab.load, "out of order"),
    ],
)
def test_bad_vocabulary_files(tmp_path: Path, content: str | None, loader, phrase: str) -> None:
    path = tmp_path / "vocab.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=phrase) as caught:
        loader(path)
    assert_one_sentence(str(caught.value))
