"""Plain text: decoding, Gutenberg cuts, local files, the Python docs fallback, the novel's figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpora_helpers import BODY, assert_one_sentence, gutenberg_file

from corpora.errors import CorpusError
from corpora.gutenberg import header_book_id, header_title, strip_boilerplate
from corpora.text import (
    BOOK_WINDOW,
    FALLBACK_SOURCE,
    decode_text,
    load_text,
    python_docs,
)


def test_decode_strips_bom_and_normalises_newlines_like_text_mode(tmp_path: Path) -> None:
    raw = "\ufeffline one\r\nline two\rline three\n".encode()
    path = tmp_path / "t.txt"
    path.write_bytes(raw)
    with open(path, encoding="utf-8-sig") as handle:
        expected = handle.read()
    assert decode_text(raw, "t.txt") == expected == "line one\nline two\nline three\n"


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b"", "is empty"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
        ("caf\u00e9 au lait".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 3)"),
    ],
)
def test_decode_refuses_bad_bytes_in_one_sentence(raw: bytes, phrase: str) -> None:
    with pytest.raises(CorpusError) as caught:
        decode_text(raw, "f.txt")
    message = str(caught.value)
    assert phrase in message and message.startswith("f.txt")
    assert_one_sentence(message)


def test_book_cut_for_1268_keeps_the_first_title_up_to_the_end_marker() -> None:
    text = gutenberg_file(1268, "The Mysterious Island")
    body, cut = strip_boilerplate(text)
    assert cut == "book"
    assert body.startswith("THE MYSTERIOUS ISLAND ***")  # the chapter's find() hits the START line first
    assert body == text[text.find("THE MYSTERIOUS ISLAND") : text.find("End of the Project Gutenberg")]


def test_other_books_are_cut_at_the_standard_markers() -> None:
    text = gutenberg_file(4242, "A Test Book")
    body, cut = strip_boilerplate(text)
    assert cut == "markers"
    assert body == f"A TEST BOOK\n\n{BODY}"
    assert header_book_id(text) == 4242 and header_title(text) == "A Test Book"


def test_text_without_markers_is_kept_whole() -> None:
    assert strip_boilerplate(BODY) == (BODY, "none")


def test_load_local_gutenberg_file_with_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_bytes(b"\xef\xbb\xbf" + gutenberg_file(4242, "A Test Book", newline="\r\n").encode())
    text, info = load_text(path)
    assert "\r" not in text and text.startswith("A TEST BOOK\n")
    assert (info.origin, info.cut, info.book_id, info.title) == ("file", "markers", 4242, "A Test Book")
    assert info.bytes == path.stat().st_size and len(info.sha256) == 64


def test_plain_local_file_is_named_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(BODY, encoding="utf-8")
    text, info = load_text(str(path))
    assert text == BODY and (info.title, info.cut, info.book_id) == ("notes.txt", "none", None)


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda d: d / "missing.txt", "does not exist"),
        (lambda d: d, "is a folder"),
        (lambda d: _write(d / "short.txt", "x" * (BOOK_WINDOW - 1)), "fewer than one training window of 41"),
        (lambda d: _write(d / "empty.txt", ""), "is empty"),
    ],
)
def test_bad_local_text_sources(tmp_path: Path, make, phrase: str) -> None:
    with pytest.raises(CorpusError, match=phrase) as caught:
        load_text(make(tmp_path))
    assert_one_sentence(str(caught.value))


def test_a_window_long_text_is_enough(tmp_path: Path) -> None:
    text, _ = load_text(_write(tmp_path / "one.txt", "y" * BOOK_WINDOW))
    assert len(text) == BOOK_WINDOW


def test_python_docs_fallback_is_real_english_and_labelled() -> None:
    text, info = python_docs()
    assert len(text) > 100_000 and " the " in text and "statement" in text
    assert info.origin == FALLBACK_SOURCE and "fallback" in info.title and info.path.endswith("topics.py")
    assert load_text(FALLBACK_SOURCE)[0] == text


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.realdata
def test_mysterious_island_has_the_books_figures(data_dir: Path) -> None:
    text, info = load_text(data_dir / "mysterious_island_1268-0.txt")
    assert (len(text), len(set(text))) == (1_112_350, 80)
    assert (info.cut, info.book_id, info.title) == ("book", 1268, "The Mysterious Island")
    raw_cut = (data_dir / "mysterious_island_1268-0.txt").read_bytes().decode("utf-8-sig")
    assert len(set(raw_cut[raw_cut.find("THE MYSTERIOUS ISLAND") : raw_cut.find("End of the Project Gutenberg")])) == 81
