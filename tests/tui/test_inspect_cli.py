"""`rnn-tui inspect`: text and JSON for a character model and a review classifier, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.generation.classify import classify
from engine.generation.loading import load_model
from engine.inspection.cache import TRACES
from engine.inspection.charlm import trace_text
from engine.inspection.sentiment import trace_review
from engine.inspection.units import SCORE_DEFINITION, find_units
from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from tests.engine.generation.generation_helpers import make_charlm_run, make_sentiment_run
from tests.messages import one_error_line
from tui.cli import main

TEXT = "The island was green.\nThe sea ran."
REVIEW = "A dull plot, but superb acting and a great end."


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """charlm-tiny (LSTM, 2 layers), sentiment-tiny (bidirectional) and a run with no checkpoint yet."""
    root = tmp_path_factory.mktemp("inspect-runs")
    make_sentiment_run(root, train_steps=30)
    make_charlm_run(root, layers=2, hidden=12, embed=8, train_steps=20)
    create_run(root, parse_train_config("charlm", "default", data=str(root / "x.txt")), "untrained")
    return root


def inspect(root: Path, *args: str) -> list[str]:
    return ["inspect", "--runs-dir", str(root), *args]


def test_a_character_model_step_by_step(capsys, root):
    assert main(inspect(root, "--run", "charlm-tiny", "--text", TEXT, "--top", "2")) == 0
    out, err = capsys.readouterr()
    assert err == ""
    trace = trace_text(load_model(root / "charlm-tiny"), TEXT)
    lines = out.splitlines()
    assert lines[0].startswith("layer 1 of 2 (LSTM, 12 units)")
    steps = [line for line in lines if line[:5].strip().isdigit()]
    assert len(steps) == len(TEXT) and steps[0].split()[1] == "'T'"
    assert f"next 'h' p {float(trace.true_prob[0]):.3f} rank {int(trace.rank[0])}" in steps[0]
    assert steps[-1].split("|")[0].strip().endswith("end of the text")
    units = lines[2:4]
    top = trace.top_units(1, 0, 2)
    assert [int(line.split()[1]) for line in units] == top
    assert all(f" {gate} " in units[0] for gate in ("h", "c", "i", "f", "g", "o"))
    assert (
        lines[-1]
        == f"mean {trace.mean_bits:.3f} bits per character ({trace.mean_nats:.3f} nats) over {len(TEXT) - 1} predictions · max |Δ| vs torch {trace.max_diff:.1e}"
    )


def test_a_character_model_as_json(capsys, root):
    assert (
        main(inspect(root, "--run", "charlm-tiny", "--text", TEXT + "§", "--layer", "0", "--unit", "5", "--json")) == 0
    )
    out, err = capsys.readouterr()
    assert "'§'" in one_error_line(err)  # the notice, as generate gives it
    result = json.loads(out)
    assert list(result) == [
        "run", "checkpoint", "job", "cell", "layers", "hidden_size", "layer", "text", "notice", "left_out", "steps",
        "mean_bits", "mean_nats", "max_abs_diff", "found",
    ]  # fmt: skip
    trace = trace_text(load_model(root / "charlm-tiny"), TEXT + "§")
    assert result["text"] == TEXT and result["left_out"] == ["§"] and result["found"] is None
    step = result["steps"][3]
    assert list(step) == ["t", "char", "units", "next", "actual"]
    assert step["units"] == [
        {
            "unit": 5,
            "h": float(trace.activity(0).h[3, 5]),
            "c": float(trace.activity(0).c[3, 5]),
            "gates": {name: float(gate[3, 5]) for name, gate in trace.activity(0).gates.items()},
        }
    ]
    assert step["actual"] == {
        "char": TEXT[4],
        "prob": float(trace.true_prob[3]),
        "rank": int(trace.rank[3]),
        "bits": float(trace.surprise[3]),
    }
    assert [guess["char"] for guess in step["next"]] == [guess.char for guess in trace.top_next(3, 3)]
    assert result["steps"][-1]["actual"] is None
    assert result["mean_bits"] == pytest.approx(trace.mean_bits) and result["max_abs_diff"] <= 1e-6


def test_find_and_probe_rank_units(capsys, root):
    trace = trace_text(load_model(root / "charlm-tiny"), TEXT)
    assert main(inspect(root, "--run", "charlm-tiny", "--text", TEXT, "--find", "4:10", "--top", "4")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "units of layer 1 whose h follows the characters 4:10 'island':"
    expected = find_units(trace, 1, spans=[(4, 10)], top=4)
    assert lines[1:5] == [f"{rank:>4}. unit {s.unit:>4}  {s.score:+.3f}" for rank, s in enumerate(expected, 1)]
    assert lines[5] == SCORE_DEFINITION and lines[6].startswith("mean ")
    assert main(inspect(root, "--run", "charlm-tiny", "--text", TEXT, "--probe", "line-position", "--json")) == 0
    found = json.loads(capsys.readouterr().out)["found"]
    assert found["probe"] == "line position" and found["spans"] is None and found["definition"] == SCORE_DEFINITION
    assert [u["unit"] for u in found["units"]] == [s.unit for s in find_units(trace, 1, probe="line position")]


def test_a_review_classifier_token_by_token(capsys, root):
    assert main(inspect(root, "--run", "sentiment-tiny", "--text", REVIEW + " zzyzx", "--top", "2")) == 0
    out, err = capsys.readouterr()
    assert err == ""
    loaded = load_model(root / "sentiment-tiny")
    trace = trace_review(loaded, REVIEW + " zzyzx")
    lines = out.splitlines()
    assert lines[0].startswith("layer 0 of 1 (LSTM, 16 units) (forward, then backward)")
    assert lines[1].split() == ["0", "a", "P(positive)", f"{float(trace.running[0]):.3f}"]
    assert [line.split()[0] for line in lines[2:6]] == ["forward", "forward", "backward", "backward"]
    assert "zzyzx*" in out and "* not in the vocabulary" in out
    result = classify(loaded, REVIEW + " zzyzx")
    label, shown, _, probability, *rest = lines[-1].split()
    assert label == result.label and rest[:4] == ["·", "moved", "it", "most:"]
    assert float(probability.rstrip(")")) == pytest.approx(result.probability, abs=2e-6)
    assert float(shown) == pytest.approx(
        result.probability if label == "positive" else 1 - result.probability, abs=0.006
    )


def test_a_review_classifier_as_json(capsys, root):
    assert main(inspect(root, "--run", "sentiment-tiny", "--text", REVIEW, "--json", "--top", "1")) == 0
    result = json.loads(capsys.readouterr().out)
    loaded = load_model(root / "sentiment-tiny")
    assert result["probability"] == pytest.approx(classify(loaded, REVIEW).probability, abs=1e-6)
    assert result["job"] == "sentiment" and result["bidirectional"] and result["pooling"] == "max"
    step = result["steps"][2]
    assert list(step) == ["t", "token", "span", "known", "p_positive", "units", "backward_units"]
    assert step["token"] == "plot" and step["span"] == [7, 11] and len(step["backward_units"]) == 1
    assert len(result["movers"]) == 3
    assert all(list(m) == ["t", "token", "before", "after", "change"] for m in result["movers"])
    assert result["steps"][-1]["p_positive"] == pytest.approx(result["probability"])


def test_the_default_run_prefers_a_character_model_and_says_so(capsys, root):
    assert main(inspect(root)) == 0
    out, err = capsys.readouterr()
    assert one_error_line(err).startswith("using charlm-tiny: ")
    assert out.splitlines()[-1].startswith("mean ")  # over the run's sample prompt


def test_reads_a_file_and_stdin(capsys, monkeypatch, root, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    assert main(inspect(root, "--run", "charlm-tiny", "--file", str(path), "--json")) == 0
    assert json.loads(capsys.readouterr().out)["text"] == TEXT
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(REVIEW))
    assert main(inspect(root, "--run", "sentiment-tiny", "--file", "-", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["text"] == REVIEW


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00abc")
    (tmp_path / "long.txt").write_text("a" * 10_001, encoding="utf-8")
    return {
        "binary": str(tmp_path / "binary.txt"),
        "long": str(tmp_path / "long.txt"),
        "folder": str(tmp_path),
        "missing": str(tmp_path / "nope.txt"),
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--run", "nope"], "There is no run 'nope'"),
        (["--run", "untrained"], "has no checkpoint yet"),
        (["--run", "charlm-tiny", "--text", ""], "There is no text"),
        (["--run", "charlm-tiny", "--text", "a" * 10_001], "10,001 characters"),
        (["--run", "charlm-tiny", "--text", "§§"], "None of the text's characters"),
        (["--run", "charlm-tiny", "--layer", "2"], "The layer must be from 0 to 1"),
        (["--run", "sentiment-tiny", "--layer", "1"], "The layer must be from 0 to 0"),
        (["--run", "charlm-tiny", "--layer", "one"], "The layer must be a whole number"),
        (["--run", "charlm-tiny", "--unit", "12"], "The unit must be from 0 to 11"),
        (["--run", "charlm-tiny", "--unit", "-1"], "The unit must be at least 0"),
        (["--run", "charlm-tiny", "--top", "0"], "from 1 to 1,000"),
        (["--run", "charlm-tiny", "--text", "The sea", "--find", "2:99"], "The span 2:99 is not inside the text"),
        (["--run", "charlm-tiny", "--find", "4-10"], "A span is START:END"),
        (["--run", "charlm-tiny", "--find", "10:4"], "A span is START:END"),
        (["--run", "charlm-tiny", "--text", "The sea", "--find", "0:7"], "covers every step"),
        (["--run", "charlm-tiny", "--probe", "zebra"], 'There is no probe "zebra"'),
        (
            ["--run", "charlm-tiny", "--text", "The sea", "--probe", "quotes"],
            'The probe "quotes" is the same at every step',
        ),
        (["--run", "charlm-tiny", "--find", "1:2", "--probe", "quotes"], "not both"),
        (["--run", "charlm-tiny", "--text", "a", "--file", "b"], "not allowed with argument --text"),
        (["--run", "charlm-tiny", "--file", "missing"], "cannot be read (no such file or directory)"),
        (["--run", "charlm-tiny", "--file", "folder"], "cannot be read (is a directory)"),
        (["--run", "charlm-tiny", "--file", "binary"], "is not UTF-8 text"),
        (["--run", "charlm-tiny", "--file", "long"], "more than 10,000 characters"),
        (["--run", "sentiment-tiny", "--text", "!!"], "no words the model can read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, root, files, args, fragment):
    args = [
        files.get(arg, arg) if previous == "--file" else arg for previous, arg in zip(["", *args], args, strict=False)
    ]
    assert main(inspect(root, *args)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert fragment in one_error_line(err)


def test_no_runs_at_all(capsys, tmp_path):
    assert main(["inspect", "--runs-dir", str(tmp_path / "none")]) == 2
    assert "There are no runs with a checkpoint" in one_error_line(capsys.readouterr().err)


@pytest.fixture(autouse=True)
def _fresh_cache():
    TRACES.clear()
    yield
    TRACES.clear()
