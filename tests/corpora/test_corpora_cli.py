"""`rnn-tui corpus show`: the JSON and text reports, exit status 2 with one sentence for bad input, light imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpora_helpers import BODY, assert_one_sentence, gutenberg_file, make_reviews, write_table

from corpora.report import describe_source, render_text
from tui.cli import main


def show(capsys: pytest.CaptureFixture[str], source: str | Path, *extra: str) -> tuple[int, str, str]:
    rc = main(["corpus", "show", str(source), *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_text_file_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "book.txt"
    path.write_text(gutenberg_file(4242, "A Test Book"), encoding="utf-8")
    rc, out, err = show(capsys, path, "--json")
    info = json.loads(out)
    body = f"A TEST BOOK\n\n{BODY}"
    assert rc == 0 and err == ""
    assert info["kind"] == "text" and info["characters"] == len(body) and info["unique_characters"] == len(set(body))
    assert info["title"] == "A Test Book" and info["cut"] == "markers" and info["windows"] == len(body) - 40
    assert info["vocabulary"] == "".join(sorted(set(body))) and info["sample"] == body[:240]


def test_text_report_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(BODY, encoding="utf-8")
    rc, out, _ = show(capsys, path)
    assert rc == 0 and out.endswith("\n") and out.startswith("notes.txt\n")
    assert f"characters  {len(BODY):,} ({len(set(BODY))} unique)" in out


def test_python_docs_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = show(capsys, "python-docs")
    assert rc == 0 and "fallback" in out.splitlines()[0] and "pydoc_data" in out


def test_review_folder_json(review_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = show(capsys, review_folder, "--json")
    info = json.loads(out)
    assert rc == 0 and err == ""
    assert info["kind"] == "reviews" and info["splits"] == {"train": 40, "valid": 10, "test": 20}
    assert info["label_balance"]["test"] == {"neg": 10, "pos": 10}
    assert sum(info["label_balance"]["train"].values()) == 40
    assert 10 < info["vocab_size"] < 40 and info["length_percentiles"]["p50"] > 3
    assert 0 <= info["padding"]["bucketed"] <= info["padding"]["shuffled"] < 1
    assert info["sample"]["label"] in ("neg", "pos") and info["bytes"] > 0


def test_review_report_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_table(tmp_path / "reviews.jsonl", make_reviews(10, seed=8))
    rc, out, _ = show(capsys, path)
    assert rc == 0 and out.endswith("\n")
    assert "splits      train 8, valid 2" in out and "labels      train" in out and "vocabulary" in out


def test_render_text_matches_describe(review_folder: Path) -> None:
    info = describe_source(str(review_folder))
    assert json.loads(json.dumps(info)) == info
    lines = render_text(info).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "kind",
        "splits",
        "labels",
        "vocabulary",
        "length",
        "padding",
        "sample",
    ]
    assert f"vocabulary  {info['vocab_size']:,} tokens" in lines[4]


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "missing.txt",
        lambda d: _write(d / "empty.txt", b""),
        lambda d: _write(d / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        lambda d: _write(d / "latin1.txt", "na\u00efve caf\u00e9 ".encode("latin-1") * 10),
        lambda d: _write(d / "short.txt", b"too short"),
        lambda d: d,
        lambda d: write_table(d / "nolabel.csv", [{"text": "x", "stars": 3}]),
        lambda d: write_table(d / "nolabel.parquet", [{"review_text": "x", "label": 1}]),
        lambda d: write_table(d / "three.csv", [{"text": "x", "label": v} for v in (0, 1, 2)]),
        lambda d: "gutenberg:nope",
        lambda d: "gutenberg:1268",
        lambda d: _fifo(d / "pipe.txt"),
        lambda d: _fifo(d / "pipe.csv"),
        lambda d: "/dev/zero",
        lambda d: _write(d / "late-nul.txt", b"a" * 70_000 + b"\x00" + b"b" * 100),
        lambda d: _write(d / "late-nul.csv", b"text,label\n" + b"good film,1\n" * 7_000 + b"bad\x00,0\n"),
    ],
    ids=[
        "missing",
        "empty",
        "binary",
        "latin1",
        "short",
        "folder",
        "csv-columns",
        "parquet-columns",
        "labels",
        "bad-id",
        "offline",
        "fifo-text",
        "fifo-reviews",
        "dev-zero",
        "nul-after-64k",
        "nul-after-64k-csv",
    ],
)
def test_bad_input_exits_2_with_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str], make) -> None:
    rc, out, err = show(capsys, make(tmp_path))
    assert rc == 2 and out == ""
    assert err.startswith("rnn-tui: ") and err.endswith("\n") and err.count("\n") == 1
    assert_one_sentence(err.removeprefix("rnn-tui: ").rstrip("\n"))


def _fifo(path: Path) -> Path:
    """A named pipe nobody writes to: reading it would block for ever."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("this system has no named pipes")
    os.mkfifo(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_text_sources_do_not_import_torch_or_datasets(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(BODY, encoding="utf-8")
    code = (
        "import sys, json\n"
        "import corpora\n"
        "assert 'torch' not in sys.modules and 'datasets' not in sys.modules\n"
        "from corpora.report import describe_source\n"
        f"describe_source({str(path)!r})\n"
        "heavy = [m for m in ('torch', 'datasets', 'pyarrow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.realdata
def test_novel_and_imdb_sample_through_the_cli(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = show(capsys, data_dir / "mysterious_island_1268-0.txt", "--json")
    info = json.loads(out)
    assert rc == 0 and (info["characters"], info["unique_characters"], info["cut"]) == (1_112_350, 80, "book")
    rc, out, _ = show(capsys, data_dir / "imdb" / "test_sample_1000.csv", "--json")
    info = json.loads(out)
    assert rc == 0 and info["splits"] == {"train": 800, "valid": 200} and info["vocab_size"] > 10_000
