"""`rnn-tui generate` and `rnn-tui classify`: streaming through a pipe, output formats, Ctrl+C and one-line errors."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.generation.sampler import generate
from engine.generation.settings import SamplingSettings
from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from tests.messages import one_error_line
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]


def start_generate(model_root: Path, *extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "tui.cli",
        "generate",
        "--run",
        "charlm-tiny",
        "--runs-dir",
        str(model_root),
        *extra,
    ]
    # As from a terminal, where Ctrl+C reaches it: a test run started in the background (`make test &`) ignores
    # SIGINT, its children inherit that, and Python then leaves it ignored, rightly, so Ctrl+C would never arrive.
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def read_at_least(process: subprocess.Popen, count: int, timeout: float = 120.0) -> bytes:
    """Bytes from the process's stdout as they arrive, until `count` of them (it is still running then)."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < count:
        assert time.monotonic() < deadline, "no output in time"
        chunk = os.read(process.stdout.fileno(), 4096)
        assert chunk, f"stdout closed early; stderr: {process.stderr.read().decode()}"
        data += chunk
    return data


# ---------------------------------------------------------------------------------- generate


def test_generate_streams_through_a_pipe_and_ctrl_c_exits_130(model_root, charlm):
    process = start_generate(model_root, "--prompt", "The ", "--length", "100000", "--seed", "5")
    try:
        first = read_at_least(process, 40)
        assert process.poll() is None  # the first characters arrived while it was still generating
        expected = "The " + generate(charlm, "The ", SamplingSettings(length=60, seed=5))
        assert expected.encode().startswith(first[:40])
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err


def test_generate_into_a_closed_pipe_exits_0_quietly(model_root):
    process = start_generate(model_root, "--length", "100000")
    try:
        read_at_least(process, 10)
        process.stdout.close()  # like `| head -c 10`
        assert process.wait(timeout=60) == 0
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert err == b"", err


def test_generate_prints_the_prompt_then_the_text(capsys, model_root, charlm):
    args = ["generate", "--run", "charlm-tiny", "--runs-dir", str(model_root), "--prompt", "The ", "--length", "80"]
    assert main([*args, "--temperature", "0.8", "--top-k", "5", "--top-p", "0.9", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    expected = generate(charlm, "The ", SamplingSettings(temperature=0.8, top_k=5, top_p=0.9, length=80, seed=3))
    assert out == "The " + expected + ("" if expected.endswith("\n") else "\n")
    assert err == ""
    assert main([*args, "--temperature", "0", "--stop", r"\n"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The ") and out.endswith("\n") and out.count("\n") == 1


def test_generate_defaults_to_the_newest_run_and_its_sample_prompt(capsys, model_root):
    assert main(["generate", "--runs-dir", str(model_root), "--length", "5"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("rnn-tui: using charlm-tiny: LSTM E16 H32 · step 150")
    assert out.startswith(parse_train_config("charlm", "default", data="x").sample_prompt)


def test_generate_warns_about_prompt_characters_it_cannot_use(capsys, model_root):
    assert (
        main(
            ["generate", "--run", "charlm-tiny", "--runs-dir", str(model_root), "--prompt", "Thé €sea", "--length", "5"]
        )
        == 0
    )
    out, err = capsys.readouterr()
    message = one_error_line(err)
    assert "'é', '€' are not in the model's vocabulary" in message and "left out of the prompt" in message
    assert out.startswith("Th sea")


# ---------------------------------------------------------------------------------- classify


def test_classify_prints_the_label_words_and_json(capsys, model_root):
    args = ["classify", "--run", "sentiment-tiny", "--runs-dir", str(model_root)]
    assert main([*args, "a great superb film"]) == 0
    label, probability = capsys.readouterr().out.split()
    assert label == "positive" and 0.5 < float(probability) <= 1
    assert main([*args, "awful dull", "--words"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("negative ")
    assert [line.split()[0] for line in lines[1:]] == ["awful", "dull"]
    assert all(line.split()[1].startswith("-") for line in lines[1:])
    assert main([*args, "--json", "The film was great!"]) == 0
    alone = json.loads(capsys.readouterr().out)  # --json without --words pays for no word scores
    assert alone["label"] == "positive" and alone["probability"] > 0.5 and alone["run"] == "sentiment-tiny"
    assert alone["words"] == [] and alone["method"] == "none" and alone["unscored"] == 0
    assert main([*args, "--json", "--words", "The film was great!"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["probability"] == alone["probability"] and result["method"] == "occlusion"
    assert [w["token"] for w in result["words"]] == ["the", "film", "was", "great"]
    great = result["words"][3]
    assert great["span"] == [13, 18] and great["known"] and great["contribution"] > 0


def test_classify_says_how_far_word_scores_reach(capsys, monkeypatch, model_root):
    import engine.generation.classify as module

    monkeypatch.setattr(module, "ATTRIBUTION_BUDGET", 30)  # 30 token reads: 3 words of a 11-token review
    args = ["classify", "--run", "sentiment-tiny", "--runs-dir", str(model_root), "--json", "--words"]
    assert main([*args, "great film " * 5 + "dull"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert [w["token"] for w in result["words"]] == ["great", "film", "great"] and result["unscored"] == 8
    assert "rnn-tui: word scores cover the first 3 of 11 tokens" in err


def test_classify_reads_stdin(capsys, monkeypatch, model_root):
    monkeypatch.setattr(sys, "stdin", io.StringIO("It was awful and dull.\n"))
    assert main(["classify", "--run", "sentiment-tiny", "--runs-dir", str(model_root)]) == 0
    assert capsys.readouterr().out.startswith("negative ")
    monkeypatch.setattr(sys, "stdin", io.StringIO("superb"))
    assert main(["classify", "-", "--run", "sentiment-tiny", "--runs-dir", str(model_root)]) == 0
    assert capsys.readouterr().out.startswith("positive ")


def test_classify_reads_a_real_pipe(model_root):
    command = [sys.executable, "-m", "tui.cli", "classify", "--runs-dir", str(model_root), "--json"]
    done = subprocess.run(
        command, cwd=ROOT, input="A great, superb film :)", capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] == "positive"
    assert done.stderr.startswith("rnn-tui: using sentiment-tiny:")


# ---------------------------------------------------------------------------------- errors


@pytest.fixture
def broken_root(tmp_path: Path, model_root: Path) -> Path:
    """A runs root with a run without checkpoints and a run whose checkpoints are corrupt."""
    root = tmp_path / "broken"
    create_run(root, parse_train_config("charlm", "default", data="x.txt", steps=10), "fresh")
    shutil.copytree(model_root / "charlm-tiny", root / "corrupt")
    for name in ("best.pt", "last.pt"):
        path = root / "corrupt" / "checkpoints" / name
        path.write_bytes(path.read_bytes()[:300])
    return root


GENERATE_ERRORS = [
    (["--temperature", "-1"], "temperature must be a number of at least 0"),
    (["--temperature", "abc"], 'not "abc"'),
    (["--temperature", "nan"], "temperature"),
    (["--top-p", "0"], "top-p must be a number above 0 and at most 1"),
    (["--top-p", "1.5"], "top-p"),
    (["--top-k", "-1"], "top-k must be a whole number of at least 0"),
    (["--length", "0"], "length must be a whole number"),
    (["--length", "100001"], "from 1 to 100,000"),
    (["--seed", "x"], "seed must be a whole number"),
    (
        ["--run", "sentiment-tiny"],
        "sentiment-tiny is a sentiment run; rnn-tui generate needs a character model (charlm).",
    ),
    (["--run", "nope"], "There is no run 'nope'"),
]


@pytest.mark.parametrize("extra, fragment", GENERATE_ERRORS)
def test_generate_errors_are_one_line_and_exit_2(capsys, model_root, extra, fragment):
    args = ["generate", "--runs-dir", str(model_root)]
    if "--run" not in extra:
        args += ["--run", "charlm-tiny"]
    assert main([*args, *extra]) == 2
    out, err = capsys.readouterr()
    assert fragment in one_error_line(err) and out == ""


@pytest.mark.parametrize(
    "command, run, fragment",
    [
        ("generate", "fresh", "The run fresh has no checkpoint yet;"),
        ("generate", "corrupt", "it may be truncated or corrupt."),
        ("classify", "corrupt", "is a charlm run; rnn-tui classify needs a sentiment model."),
    ],
)
def test_unusable_runs_are_one_line_and_exit_2(capsys, broken_root, command, run, fragment):
    extra = ["great"] if command == "classify" else []
    assert main([command, "--run", run, "--runs-dir", str(broken_root), *extra]) == 2
    out, err = capsys.readouterr()
    assert fragment in one_error_line(err) and out == ""


def test_classify_errors_are_one_line_and_exit_2(capsys, monkeypatch, model_root):
    base = ["classify", "--runs-dir", str(model_root)]
    for args, fragment in (
        (
            [*base, "--run", "charlm-tiny", "great"],
            "charlm-tiny is a charlm run; rnn-tui classify needs a sentiment model.",
        ),
        ([*base, "   "], "There is no text to classify; type or paste a review."),
        ([*base, "--run", "nope", "great"], "There is no run 'nope'"),
        ([*base, "?!"], "no words the model can read"),
    ):
        assert main(args) == 2, args
        out, err = capsys.readouterr()
        assert fragment in one_error_line(err) and out == "", args
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(base) == 2
    assert "There is no text to classify" in one_error_line(capsys.readouterr().err)


def test_no_runs_at_all(capsys, tmp_path):
    assert main(["generate", "--runs-dir", str(tmp_path / "none")]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert (
        message.startswith("There are no character-model runs with a checkpoint in")
        and "rnn-tui train charlm" in message
    )
    assert main(["classify", "great"]) == 2  # the default runs root ($RNN_TUI_RUNS, empty in tests)
    assert "There are no sentiment runs with a checkpoint" in one_error_line(capsys.readouterr().err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu(capsys, model_root):
    assert main(["generate", "--run", "charlm-tiny", "--runs-dir", str(model_root), "--device", "cuda"]) == 2
    assert "CUDA was asked for" in one_error_line(capsys.readouterr().err)
    assert (
        main(["classify", "great", "--run", "sentiment-tiny", "--runs-dir", str(model_root), "--device", "cuda"]) == 2
    )
    assert "CUDA was asked for" in one_error_line(capsys.readouterr().err)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--prompt",
        "--temperature",
        "--top-k",
        "--top-p",
        "--length",
        "--seed",
        "--stop",
        "--device",
        "--runs-dir",
    ):
        assert option in text
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    assert "--words" in capsys.readouterr().out


def test_words_on_a_terminal_are_one_coloured_line(capsys, monkeypatch, model_root):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["classify", "--run", "sentiment-tiny", "--runs-dir", str(model_root), "--words", "a great film"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("positive ") and len(lines) == 2
    assert "great(+" in lines[1] and "\x1b[" in lines[1]
