"""Review sources (files, folders, aclImdb, the Hub), validation of bad input, and cached tokenisation."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from corpora_helpers import assert_one_sentence, make_reviews, write_table

import corpora.encoding
import corpora.reviews
from corpora.encoding import encode_reviews, tokenized
from corpora.errors import CorpusError, SourceUnavailable
from corpora.reviews import HUB_DATASET, load_reviews
from corpora.tokenize import tokenize
from corpora.vocab import UNK_ID, WordVocab


def texts(table: datasets.Dataset, rows: np.ndarray) -> list[str]:
    column = table["text"]
    return [column[int(r)] for r in rows]


def test_folder_of_train_and_test_files(review_folder: Path) -> None:
    corpus = load_reviews(review_folder)
    assert corpus.split_sizes == {"train": 40, "valid": 10, "test": 20}
    assert corpus.source.origin == "files" and corpus.source.files["train"] == [str(review_folder / "train.parquet")]
    assert sorted(np.concatenate([corpus.train_indices, corpus.valid_indices]).tolist()) == list(range(50))
    expected = [row["label"] for row in make_reviews(50, seed=1)]
    assert corpus.labels("valid").tolist() == [expected[i] for i in corpus.valid_indices]
    assert corpus.split("valid")["text"] == texts(corpus.train_all, corpus.valid_indices)
    assert corpus.split("test").num_rows == 20 and corpus.train_all.column_names == ["text", "label"]


def test_validation_split_is_seeded(review_folder: Path) -> None:
    first, again = load_reviews(review_folder), load_reviews(review_folder)
    other = load_reviews(review_folder, seed=2)
    assert np.array_equal(first.valid_indices, again.valid_indices)
    assert not np.array_equal(first.valid_indices, other.valid_indices)
    assert np.array_equal(first.valid_indices, np.random.default_rng(1).permutation(50)[40:])
    assert load_reviews(review_folder, valid_size=7).split_sizes["valid"] == 7
    assert load_reviews(review_folder, valid_size=0).split_names == ["train", "test"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_single_files_in_each_format(tmp_path: Path, suffix: str) -> None:
    rows = make_reviews(30, seed=3)
    corpus = load_reviews(write_table(tmp_path / f"reviews{suffix}", rows))
    assert corpus.split_sizes == {"train": 24, "valid": 6}
    assert corpus.train_all["text"] == [row["text"] for row in rows]
    assert corpus.labels("train").tolist() == [rows[i]["label"] for i in corpus.train_indices]


def test_an_edited_file_is_converted_again(tmp_path: Path) -> None:
    path = write_table(tmp_path / "reviews.csv", make_reviews(6, seed=1))
    assert load_reviews(path, valid_size=0).train_all["text"] == [r["text"] for r in make_reviews(6, seed=1)]
    write_table(path, make_reviews(6, seed=2))
    assert load_reviews(path, valid_size=0).train_all["text"] == [r["text"] for r in make_reviews(6, seed=2)]


def test_kaggle_style_columns_and_word_labels(tmp_path: Path) -> None:
    rows = [{"review": r["text"], "sentiment": ["negative", "Positive"][r["label"]]} for r in make_reviews(10, seed=4)]
    corpus = load_reviews(write_table(tmp_path / "kaggle.csv", rows), valid_size=0)
    assert corpus.source.columns == {"text": "review", "label": "sentiment"}
    assert corpus.train_all["label"] == [0, 1] * 5


def make_aclimdb(root: Path) -> Path:
    for split, count in (("train", 6), ("test", 4)):
        for label, name in enumerate(("neg", "pos")):
            folder = root / "aclImdb" / split / name
            folder.mkdir(parents=True)
            for review_id in range(count):
                rating = 7 + review_id % 4 if label else 1 + review_id % 4
                text = f"{name} review {review_id}: {'a fine' if label else 'a poor'} film<br />Really."
                (folder / f"{review_id}_{rating}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "imdb.vocab").write_text("the\n", encoding="utf-8")
    return root


def test_unpacked_aclimdb_folder(tmp_path: Path) -> None:
    root = make_aclimdb(tmp_path)
    for path in (root, root / "aclImdb"):
        corpus = load_reviews(path, valid_size=2)
        assert corpus.source.origin == "aclImdb"
        assert corpus.split_sizes == {"train": 10, "valid": 2, "test": 8}
        assert corpus.test["label"] == [0, 0, 0, 0, 1, 1, 1, 1]
        assert corpus.test["text"][0] == "neg review 0: a poor film<br />Really."
    edited = root / "aclImdb" / "test" / "neg" / "0_1.txt"
    edited.write_text("edited after the first load, so the cache must not be reused", encoding="utf-8")
    assert load_reviews(root).test["text"][0].startswith("edited after")


def test_the_hub_dataset_through_datasets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    rows = make_reviews(10, seed=5)
    local = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(
                [{"text": r["text"], "label": r["label"]} for r in rows], features=features
            ),
            "test": datasets.Dataset.from_list([{"text": "fine", "label": 1}], features=features),
            "unsupervised": datasets.Dataset.from_list([{"text": "unlabelled", "label": -1}], features=features),
        }
    )
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, **kwargs: calls.append((name, kwargs)) or local)
    monkeypatch.setattr(corpora.reviews, "hub_reachable", lambda: True)
    corpus = load_reviews("imdb", hub_cache_dir=tmp_path)
    assert calls == [(HUB_DATASET, {"cache_dir": str(tmp_path)})]
    assert corpus.source.origin == "hub" and corpus.split_sizes == {"train": 8, "valid": 2, "test": 1}


def test_hub_offline_without_a_cache_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(corpora.reviews, "hub_reachable", lambda: False)
    before = (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE)
    with pytest.raises(SourceUnavailable) as caught:
        load_reviews("imdb", hub_cache_dir=tmp_path / "hf")
    message = str(caught.value)
    assert_one_sentence(message)
    assert "not in the Hugging Face cache" in message and "aclImdb" in message and "offline" in message
    assert before == (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE)


def test_hf_hub_offline_set_by_the_user_skips_the_probe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(corpora.reviews, "hub_reachable", lambda: pytest.fail("probed the network"))
    with pytest.raises(SourceUnavailable, match="cannot be reached"):
        load_reviews("imdb", hub_cache_dir=tmp_path / "hf")


def _bad_sources(tmp: Path) -> list[tuple[Path, str]]:
    rows = make_reviews(6, seed=6)
    (tmp / "not_a_corpus").mkdir()
    (tmp / "not_a_corpus" / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "header_only.csv").write_text("text,label\n", encoding="utf-8")
    (tmp / "binary.csv").write_bytes(b"text,label\n\x00\x01\x02\x03")
    (tmp / "latin1.csv").write_bytes('text,label\n"caf\u00e9 film",1\n'.encode("latin-1"))
    (tmp / "array.json").write_text('[{"text": "a", "label": 1}]', encoding="utf-8")
    (tmp / "fake.parquet").write_bytes(b"this is not parquet")
    (tmp / "broken.parquet").write_bytes(b"PAR1 and then garbage PAR1")
    (tmp / "notes.txt").write_text("plain text", encoding="utf-8")
    return [
        (tmp / "missing.csv", "does not exist"),
        (tmp / "not_a_corpus", "is not a corpus folder"),
        (tmp / "notes.txt", "is not a review table"),
        (tmp / "empty.csv", "is empty"),
        (tmp / "header_only.csv", "cannot be read as csv"),
        (tmp / "binary.csv", "binary"),
        (tmp / "latin1.csv", "not UTF-8"),
        (tmp / "array.json", "not JSON lines"),
        (tmp / "fake.parquet", "not a parquet file"),
        (tmp / "broken.parquet", "cannot be read as parquet"),
        (
            write_table(tmp / "no_label.parquet", [{"text": r["text"], "stars": 5} for r in rows]),
            "no label column (it has: text, stars)",
        ),
        (write_table(tmp / "no_text.csv", [{"body": r["text"], "label": 1} for r in rows]), "no text column"),
        (
            write_table(tmp / "ratings.csv", [{"text": r["text"], "label": i + 1} for i, r in enumerate(rows)]),
            "must be binary",
        ),
        (write_table(tmp / "words.csv", [{"text": r["text"], "label": "meh"} for r in rows]), "must be binary"),
        (write_table(tmp / "nulls.jsonl", [{"text": None, "label": 1}, *rows]), "rows with no text"),
        (write_table(tmp / "numbers.jsonl", [{"text": 5, "label": 1}]), "not text"),
    ]


def test_bad_review_sources_are_one_clear_sentence(tmp_path: Path) -> None:
    for path, phrase in _bad_sources(tmp_path):
        with pytest.raises(CorpusError) as caught:
            load_reviews(path)
        assert phrase in str(caught.value), (path.name, str(caught.value))
        assert_one_sentence(str(caught.value))


def test_too_few_reviews_to_hold_out(tmp_path: Path) -> None:
    path = write_table(tmp_path / "two.csv", make_reviews(2, seed=7))
    with pytest.raises(CorpusError, match="too few to hold out 5"):
        load_reviews(path, valid_size=5)
    with pytest.raises(CorpusError, match="validation fraction"):
        load_reviews(path, valid_size=1.5)


def test_encoded_ids_match_the_book_pipeline(review_folder: Path) -> None:
    corpus = load_reviews(review_folder)
    encoded = encode_reviews(corpus)
    train_texts = texts(corpus.train_all, corpus.train_indices)
    assert encoded.vocab == WordVocab.build(tokenize(t) for t in train_texts)  # Arrow counts == Counter order
    for name in ("train", "valid", "test"):
        split = encoded.splits[name]
        table = corpus.table(name)
        assert split.labels.tolist() == corpus.labels(name).tolist()
        for i, row in enumerate(split.rows):
            assert split.review(i).tolist() == encoded.vocab.encode(tokenize(table[int(row)]["text"]))


def test_unknown_tokens_and_a_capped_vocabulary(review_folder: Path) -> None:
    encoded = encode_reviews(load_reviews(review_folder), max_size=5)
    assert len(encoded.vocab) == 5
    ids = encoded.splits["test"].ids
    assert ids.max() < 5 and (ids == UNK_ID).any()


def test_a_second_run_reads_the_cache_instead_of_tokenising(
    review_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(corpora.encoding, "tokenize", lambda text: calls.append(text) or tokenize(text))
    first = encode_reviews(load_reviews(review_folder), num_proc=1)
    assert len(calls) == 70
    second = encode_reviews(load_reviews(review_folder), num_proc=1)  # a fresh load, as in a new process
    assert len(calls) == 70
    assert second.vocab == first.vocab and np.array_equal(first.splits["test"].ids, second.splits["test"].ids)
    encode_reviews(load_reviews(review_folder, seed=9), num_proc=1)  # another split: new vocabulary, same tokens
    assert len(calls) == 70
    cached = tokenized(load_reviews(review_folder).train_all)
    assert all(Path(f["filename"]).exists() for f in cached.cache_files) and len(calls) == 70
    monkeypatch.setattr(corpora.encoding, "TOKENIZER_VERSION", "changed")
    encode_reviews(load_reviews(review_folder), num_proc=1)
    assert len(calls) == 140


@pytest.mark.realdata
def test_imdb_splits_and_label_balance(data_dir: Path) -> None:
    corpus = load_reviews(data_dir / "imdb")
    assert corpus.split_sizes == {"train": 20_000, "valid": 5_000, "test": 25_000}
    balance = {name: np.bincount(corpus.labels(name)).tolist() for name in corpus.split_names}
    assert balance["test"] == [12_500, 12_500]
    assert np.add(balance["train"], balance["valid"]).tolist() == [12_500, 12_500]
    assert abs(balance["train"][1] / 20_000 - 0.5) < 0.01
    sample = load_reviews(data_dir / "imdb" / "train_sample_1000.csv")
    assert sample.split_sizes == {"train": 800, "valid": 200} and np.bincount(sample.labels("train")).sum() == 800
