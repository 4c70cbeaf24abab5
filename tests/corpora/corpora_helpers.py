"""Helpers shared by the corpora tests (a uniquely named module, so it never shadows another conftest)."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

POSITIVE = ["great", "wonderful", "moving", "superb", "brilliant", "charming", "delightful"]
NEGATIVE = ["awful", "boring", "dull", "clumsy", "tedious", "weak", "dreadful"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "a", "it", "this", "of"]


BODY = "The test island had one river, two hills and a lighthouse that nobody kept.\n" * 3


def gutenberg_file(book_id: int, title: str, body: str = BODY, newline: str = "\n") -> str:
    """A made-up book in the Project Gutenberg layout (header, START/END markers, licence)."""
    text = (
        f"The Project Gutenberg EBook of {title}, by Nobody\n\nTitle: {title}\n\n"
        f"Posting Date: today [EBook #{book_id}]\n\n"
        f"*** START OF THIS PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n\n"
        f"{title.upper()}\n\n{body}\n\n"
        f"End of the Project Gutenberg EBook of {title}, by Nobody\n\n"
        f"*** END OF THIS PROJECT GUTENBERG EBOOK {title.upper()} ***\n\nLicence text.\n"
    )
    return text.replace("\n", newline)


def assert_one_sentence(message: str) -> None:
    """A user-facing error: one line, one sentence, ending in a full stop."""
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message), message
    assert "Traceback" not in message


def make_reviews(count: int, seed: int) -> list[dict]:
    """Synthetic labelled reviews with a little HTML and an emoticon, alternating neg/pos."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = index % 2
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 30))]
        words.insert(rng.randrange(len(words)), rng.choice(POSITIVE if label else NEGATIVE))
        text = " ".join(words).capitalize() + (" :)" if label else " :-(") + "<br /><br />The end."
        rows.append({"text": text, "label": label, "id": index})
    return rows


def write_table(path: Path, rows: list[dict]) -> Path:
    """Write rows as parquet, CSV or JSON lines, by the path's suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path
