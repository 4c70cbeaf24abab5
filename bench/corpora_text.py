"""The character corpus: The Mysterious Island with the book's cut, and the offline fallback text.

Prints characters, unique characters and 41-character windows (book: 1,112,350 and 80), what the
raw-bytes reading the book warns about would give instead, and the load and encode times.

Usage: python bench/corpora_text.py [DATA_DIR]   (default ../shared/data)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from corpora.text import BOOK_WINDOW, load_text
from corpora.vocab import CharVocab

BOOK = (1_112_350, 80)


def report(source: str | Path) -> None:
    start = time.perf_counter()
    text, info = load_text(source)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    encoded = time.perf_counter() - start
    print(
        f"{info.title} ({info.origin}, cut: {info.cut}): {len(text):,} characters, {len(vocab)} unique, "
        f"{len(text) - BOOK_WINDOW + 1:,} windows of {BOOK_WINDOW}; load {loaded * 1000:.0f} ms, "
        f"vocabulary + encode {encoded * 1000:.0f} ms ({ids.nbytes / 1e6:.1f} MB of int64 ids)"
    )


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    novel = data / "mysterious_island_1268-0.txt"
    report(novel)
    raw = novel.read_bytes().decode("utf-8-sig")
    cut = raw[raw.find("THE MYSTERIOUS ISLAND") : raw.find("End of the Project Gutenberg")]
    print(
        f"  book: {BOOK[0]:,} characters, {BOOK[1]} unique; the same cut with CRLF kept (raw bytes): "
        f"{len(cut):,} characters, {len(set(cut))} unique"
    )
    report("python-docs")


if __name__ == "__main__":
    main()
