"""`rnn-tui step`: the JSON trace, the text report, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.stepper.run import run_stepper
from engine.stepper.scenario import ERRATUM_EXPLANATION, StepperConfig, config_from_strings
from tui.cli import main
from tui.stepper.report import render_text

ROOT = Path(__file__).resolve().parents[2]
CHAPTER_OUTPUTS = [[-0.3519801, 0.52525216], [-0.68424344, 0.76074266], [-0.8649416, 0.90466356]]
ERRATUM_T0 = [-0.21046415, 0.56788784]

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")


def run_json(capsys, *args: str) -> dict:
    assert main(["step", "--json", *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 1  # one JSON object on one line
    return json.loads(lines[0])


def assert_close(got: list, want: list, tol: float = 1e-6) -> None:
    assert len(got) == len(want)
    for row_got, row_want in zip(got, want, strict=False):
        assert row_got == pytest.approx(row_want, abs=tol)


# --------------------------------------------------------------------------- JSON


def test_json_default_is_the_chapter(capsys):
    data = run_json(capsys)
    assert_close(data["outputs"], CHAPTER_OUTPUTS)
    assert data["max_abs_diff"] <= 1e-6
    assert data["erratum"]["book_outputs"][0] == pytest.approx(ERRATUM_T0, abs=1e-6)
    assert data["config"]["cell"] == "rnn" and data["config"]["seed"] == 1


@pytest.mark.parametrize("cell, gate_term", [("lstm", "c_t = f⊙c_{t-1} + i⊙g"), ("gru", "n_t = tanh(·)")])
def test_json_other_cells(capsys, cell, gate_term):
    data = run_json(capsys, "--cell", cell)
    assert data["config"]["cell"] == cell
    assert len(data["outputs"]) == 3 and all(len(row) == 2 for row in data["outputs"])
    assert data["max_abs_diff"] <= 1e-6
    assert data["erratum"] is None  # the book's erratum is about its tanh RNN loop
    assert gate_term in data["layers"][0]["steps"][0]["terms"]
    assert (data["c_n"] is not None) == (cell == "lstm")
    # Torch's own outputs agree.
    assert_close(data["outputs"], data["torch_outputs"])


def test_json_layers_and_bidirectional(capsys):
    data = run_json(capsys, "--layers", "2", "--bidirectional")
    assert [(layer["layer"], layer["direction"]) for layer in data["layers"]] == [
        (0, "forward"),
        (0, "reverse"),
        (1, "forward"),
        (1, "reverse"),
    ]
    assert all(len(row) == 4 for row in data["outputs"])  # forward and reverse halves
    assert [step["t"] for step in data["layers"][1]["steps"]] == [2, 1, 0]
    assert len(data["h_n"]) == 4
    assert data["max_abs_diff"] <= 1e-6
    assert set(data["gradients"]["dL_dh_norms"]) == {
        "layer 0 forward",
        "layer 0 reverse",
        "layer 1 forward",
        "layer 1 reverse",
    }


def test_json_random_input(capsys):
    data = run_json(capsys, "--random", "7", "--input-size", "3", "--seed", "4")
    assert len(data["input"]) == 7 and all(len(step) == 3 for step in data["input"])
    assert len(data["outputs"]) == 7
    assert data["max_abs_diff"] <= 1e-6
    again = run_json(capsys, "--random", "7", "--input-size", "3", "--seed", "4")
    assert again["input"] == data["input"] and again["outputs"] == data["outputs"]


def test_json_typed_input(capsys):
    data = run_json(capsys, "--input", "1,1,1,1,1; 2,2,2,2,2")
    assert data["input"] == [[1.0] * 5, [2.0] * 5]
    assert_close(data["outputs"], CHAPTER_OUTPUTS[:2])  # the chapter's first two steps


def test_json_gradient_settings(capsys):
    data = run_json(capsys, "--random", "10", "--input-size", "2", "--truncate", "3", "--clip", "0.01")
    grads = data["gradients"]
    assert (grads["truncation"], grads["clip"]) == (3, 0.01)
    norms = grads["dL_dh_norms"]["layer 0 forward"]
    assert norms[:7] == [0.0] * 7 and all(n > 0 for n in norms[7:])
    assert grads["grad_norm_before_clip"] > 0.01
    assert grads["grad_norm_after_clip"] == pytest.approx(0.01, rel=1e-4)


def test_json_is_strict_json_when_values_overflow(capsys):
    assert (
        main(
            [
                "step",
                "--json",
                "--nonlinearity",
                "relu",
                "--w-hh-scale",
                "100",
                "--random",
                "200",
                "--input-size",
                "4",
                "--hidden-size",
                "16",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))


# --------------------------------------------------------------------------- errors

BAD_ARGS = {
    "hidden size 0": ["--hidden-size", "0"],
    "input size too big": ["--input-size", "257", "--random", "3"],
    "nine layers": ["--layers", "9"],
    "seed not a number": ["--seed", "abc"],
    "negative seed": ["--seed", "-1"],
    "not a number in the input": ["--input", "1,2,x,4,5"],
    "wrong width": ["--input", "1,1,1,1,1; 2,2"],
    "NaN in the input": ["--input", "1,1,nan,1,1"],
    "chapter input with input size 4": ["--input-size", "4"],
    "input and random": ["--input", "1,1,1,1,1", "--random", "3"],
    "random length 0": ["--random", "0"],
    "negative W_hh scale": ["--w-hh-scale", "-1"],
    "truncation 0": ["--truncate", "0"],
    "clip 0": ["--clip", "0"],
    "newline in a value": ["--seed", "1\n2"],
}


@pytest.mark.parametrize("args", BAD_ARGS.values(), ids=BAD_ARGS.keys())
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_bad_input_exits_2_with_one_line(capsys, args, as_json):
    assert main(["step", *args, *(["--json"] if as_json else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rnn-tui: ")
    assert len(lines[0]) > len("rnn-tui: ") + 10
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    "args, mentions",
    [
        (["--cell", "cnn"], "'cnn'"),
        (["--nonlinearity", "sigmoid"], "'sigmoid'"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--layers"], "--layers"),
    ],
)
def test_argument_errors_are_one_line_too(capsys, args, mentions):
    assert main(["step", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rnn-tui: ") and mentions in lines[0]


def test_bad_input_from_a_real_process():
    completed = subprocess.run(
        [sys.executable, "-m", "tui.cli", "step", "--hidden-size", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("rnn-tui: ") and "hidden size" in lines[0]
    assert "Traceback" not in completed.stderr


# --------------------------------------------------------------------------- the text report


def test_text_report_of_the_chapter(capsys):
    assert main(["step"]) == 0
    text = capsys.readouterr().out
    assert text.endswith("\n")
    assert "\x1b[" not in text  # no colour codes when stdout is not a terminal
    assert StepperConfig().describe() in text
    assert "torch.manual_seed(1); nn.RNN(5, 2" in text
    for name in (
        "W_xh",
        "W_hh",
        "b_xh",
        "b_hh",
        "x_t·W_xhᵀ + b_xh",
        "h_{t-1}·W_hhᵀ + b_hh",
        "z_t (pre-activation)",
        "h_t = tanh(z_t)",
        "torch h_t",
    ):
        assert name in text, name
    # The chapter's t0 output, at step-table precision and at the book's full precision.
    assert "[-0.3520, 0.5253]" in text
    # The book prints -0.3519801; depending on the CPU's matrix kernels torch 2.13 lands there or one
    # float32 ulp away (-0.35198015, 0.90466356 for the book's 0.9046636): printed as torch computed it.
    assert "[-0.351980" in text and ", 0.52525216]" in text
    assert "[-0.8649416, 0.90466356]" in text or "[-0.8649416, 0.9046636]" in text
    assert "max |Δ| vs torch: 0" in text
    # The erratum, side by side, with its one-line explanation.
    assert "[-0.21046415, 0.567887" in text  # 0.5678879 or one ulp below, as above
    assert ERRATUM_EXPLANATION in text
    # Gradients through time.
    assert "‖∂L/∂h_t‖" in text
    assert "full BPTT" in text and "no clipping" in text
    assert "1.4142" in text  # ∂L/∂h_2 = (1, 1)


def test_text_report_of_the_input_and_parameters():
    result = run_stepper(StepperConfig())
    text = render_text(result, width=100)
    W_xh = result.trace.layer(0).params.W_xh.tolist()
    assert f"{W_xh[0][0]:.4f}" in text and f"{W_xh[1][4]:.4f}" in text
    b_hh = result.trace.layer(0).params.b_hh.tolist()
    assert f"{b_hh[0]:.4f}" in text
    assert "rows in gate blocks: h hidden" in text
    assert "t=2" in text and "3.0000" in text  # the input table


@pytest.mark.parametrize(
    "cell, labels",
    [
        ("lstm", ["i0", "f1", "g0", "o1", "c_t = f⊙c_{t-1} + i⊙g", "c_{t-1}", "input gate", "forget gate"]),
        ("gru", ["r0", "z1", "n0", "reset gate", "update gate", "new gate"]),
    ],
)
def test_text_report_labels_gate_blocks(capsys, cell, labels):
    assert main(["step", "--cell", cell]) == 0
    text = capsys.readouterr().out
    for label in labels:
        assert label in text, label
    assert "erratum" not in text


def test_text_report_of_layers_directions_and_gradient_settings(capsys):
    assert main(["step", "--layers", "2", "--bidirectional", "--truncate", "2", "--clip", "0.01"]) == 0
    text = capsys.readouterr().out
    for label in ("layer 0 forward", "layer 0 reverse", "layer 1 forward", "layer 1 reverse"):
        assert f"W_xh · {label}" in text
        assert f"{label} · step by step" in text
    assert "x_t (layer 0 output)" in text
    assert "truncated BPTT, k = 2" in text
    assert "clip_grad_norm_ at 0.01" in text and "before clipping" in text and "(clipped)" in text


def test_text_report_shows_vanishing_gradients_compactly():
    result = run_stepper(config_from_strings(random_length=60, input_size=4, hidden_size=16, seed=0))
    text = render_text(result, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    tiny = result.flow.norms[(0, 0)][0]
    assert f"{tiny:.2e}" in text  # scientific notation for the vanished gradient
    # ∂L/∂h_59 = ones(16): 4, in the column's scientific style, never fixed beside scientific numbers.
    assert "4.00e+00" in text and "4.0000" not in text


def test_text_report_survives_overflow():
    config = config_from_strings(
        nonlinearity="relu", w_hh_scale=100, random_length=200, input_size=4, hidden_size=16, seed=0
    )
    text = render_text(run_stepper(config))
    assert "nan" in text or "inf" in text
    assert "max |Δ| vs torch: 0" in text


def test_text_report_elides_wide_matrices():
    result = run_stepper(config_from_strings(random_length=2, input_size=12, hidden_size=40))
    text = render_text(result, width=100)
    assert "… +5" in text  # W_xh: 7 of 12 columns shown
    assert "… +33" in text  # W_hh: 7 of 40 columns shown
    assert "… and 8 more rows" in text  # 32 of 40 rows shown
    assert all(len(line) <= 100 for line in text.splitlines())
