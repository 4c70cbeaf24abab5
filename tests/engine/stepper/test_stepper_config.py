"""What a user types into the Stepper: validation, one-sentence errors, and the result's plain-data form."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.stepper.run import run_stepper
from engine.stepper.scenario import (
    CHAPTER_SEQUENCE,
    ERRATUM_EXPLANATION,
    MAX_LAYERS,
    MAX_SIZE,
    MAX_STEPS,
    MAX_WORK,
    StepperConfig,
    StepperInputError,
    config_from_strings,
    parse_sequence,
    random_sequence,
    scenario_work,
)


def assert_one_sentence(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message
    assert "\n" not in message and "\r" not in message
    assert message[0].isupper()
    assert message.endswith(".")
    return message


BAD_INPUTS = {
    "not a number in the sequence": (dict(sequence="1,2,x", input_size=3), '"x"'),
    "too few numbers in a step": (dict(sequence="1,2,3; 4,5", input_size=3), "Step 1"),
    "too many numbers in a step": (dict(sequence="1,2,3,4", input_size=3), "input size is 3"),
    "only separators": (dict(sequence=" ; ;\n ", input_size=3), "empty"),
    "NaN in the sequence": (dict(sequence="1,nan,3", input_size=3), "NaN"),
    "infinity in the sequence": (dict(sequence="1,2,3; -inf,0,0", input_size=3), "Step 1"),
    "overflow to infinity": (dict(sequence="1e400", input_size=1), "infinite"),
    "too many steps": (dict(sequence=";".join(["1"] * (MAX_STEPS + 1)), input_size=1), str(MAX_STEPS)),
    "input size 0": (dict(input_size="0"), "input size"),
    "input size too big": (dict(input_size=str(MAX_SIZE + 1), random_length=3), "input size"),
    "hidden size 0": (dict(hidden_size="0"), "hidden size"),
    "hidden size too big": (dict(hidden_size=str(MAX_SIZE + 1)), "hidden size"),
    "hidden size not a number": (dict(hidden_size="two"), '"two"'),
    "zero layers": (dict(num_layers="0"), "layers"),
    "nine layers": (dict(num_layers="9"), "layers"),
    "seed not a number": (dict(seed="abc"), '"abc"'),
    "fractional seed": (dict(seed="1.5"), "whole number"),
    "negative seed": (dict(seed="-1"), "seed"),
    "seed past 2**63-1": (dict(seed=str(2**63)), "seed"),
    "negative W_hh scale": (dict(w_hh_scale="-1"), "W_hh scale"),
    "NaN W_hh scale": (dict(w_hh_scale="nan"), "W_hh scale"),
    "W_hh scale not a number": (dict(w_hh_scale="big"), '"big"'),
    "sequence and random both given": (dict(sequence="1,1,1,1,1", random_length="4"), "not both"),
    "chapter sequence with input size 4": (dict(input_size="4"), "5 features"),
    "random length 0": (dict(random_length="0"), "random sequence length"),
    "random length too long": (dict(random_length=str(MAX_STEPS + 1)), "random sequence length"),
    "unknown cell": (dict(cell="cnn"), '"cnn"'),
    "unknown nonlinearity": (dict(nonlinearity="sigmoid"), '"sigmoid"'),
    "truncation 0": (dict(truncation="0"), "truncation"),
    "clip 0": (dict(clip="0"), "clipping"),
    "clip negative": (dict(clip="-2"), "clipping"),
    "clip not a number": (dict(clip="lots"), '"lots"'),
    "a newline in a typed seed": (dict(seed="1\n2"), '"1 2"'),
}


@pytest.mark.parametrize("kwargs, mentions", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_one_sentence(kwargs, mentions):
    with pytest.raises(StepperInputError) as error:
        config_from_strings(**kwargs)
    assert mentions in assert_one_sentence(error)


def test_the_largest_case_is_bounded_by_its_work_not_by_each_size():
    largest = dict(cell="lstm", input_size=MAX_SIZE, hidden_size=MAX_SIZE, num_layers=MAX_LAYERS, bidirectional=True)
    with pytest.raises(StepperInputError) as error:
        config_from_strings(**largest, random_length=MAX_STEPS)
    assert "8 bidirectional LSTM layers 256 wide is 1,205.9 times the 10,000,000 multiply-adds" in assert_one_sentence(
        error
    )
    config_from_strings(**{**largest, "bidirectional": False}, random_length=2)  # each size at its maximum: 8.4 million
    config_from_strings(cell="rnn", input_size=1, hidden_size=2, random_length=MAX_STEPS)  # a long thin one
    config_from_strings(cell="lstm", input_size=32, hidden_size=32, random_length=MAX_STEPS)  # 8.2 million
    with pytest.raises(StepperInputError):
        config_from_strings(cell="lstm", input_size=32, hidden_size=40, random_length=MAX_STEPS)  # 11.5 million


@settings(max_examples=100, deadline=None)
@given(
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    sizes=st.tuples(st.integers(1, MAX_SIZE), st.integers(1, MAX_SIZE), st.integers(1, MAX_LAYERS)),
    bidirectional=st.booleans(),
    steps=st.integers(1, MAX_STEPS),
)
def test_work_counts_the_modules_multiply_adds(cell, sizes, bidirectional, steps):
    import torch

    input_size, hidden_size, layers = sizes
    module = getattr(torch.nn, cell.upper())(input_size, hidden_size, layers, bidirectional=bidirectional)
    weights = sum(p.numel() for name, p in module.named_parameters() if name.startswith("weight"))
    assert scenario_work(cell, steps, input_size, hidden_size, layers, 2 if bidirectional else 1) == steps * weights
    try:
        config = config_from_strings(
            cell=cell,
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=layers,
            bidirectional=bidirectional,
            random_length=steps,
        )
    except StepperInputError:
        assert steps * weights > MAX_WORK
    else:
        assert steps * weights <= MAX_WORK and config.length == steps


def test_stepper_input_error_is_a_value_error():
    assert issubclass(StepperInputError, ValueError)


@pytest.mark.parametrize("text", ["", "   ", ";", "\n\n"])
def test_parse_sequence_rejects_empty_text(text):
    with pytest.raises(StepperInputError) as error:
        parse_sequence(text, 5)
    assert "empty" in assert_one_sentence(error)


def test_parse_sequence_accepts_commas_spaces_semicolons_and_newlines():
    assert parse_sequence("1,2,3; 4 5 6\n7, 8, 9;", 3) == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0))
    assert parse_sequence("-0.5 1e-3", 2) == ((-0.5, 0.001),)
    assert len(parse_sequence(";".join(["1"] * MAX_STEPS), 1)) == MAX_STEPS


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        [
            "input_size",
            "hidden_size",
            "num_layers",
            "seed",
            "w_hh_scale",
            "sequence",
            "random_length",
            "truncation",
            "clip",
            "cell",
            "nonlinearity",
        ]
    ),
    text=st.text(max_size=30),
)
def test_any_typed_text_is_accepted_or_refused_in_one_sentence(field, text):
    kwargs = {field: text}
    if field == "sequence":
        kwargs["input_size"] = 2
    try:
        config = config_from_strings(**kwargs)
    except StepperInputError as error:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message
    else:
        assert isinstance(config, StepperConfig)
        assert all(math.isfinite(v) for step in config.sequence for v in step)


def test_defaults_are_the_chapter():
    config = config_from_strings()
    assert config == StepperConfig()
    assert config.sequence == CHAPTER_SEQUENCE == ((1.0,) * 5, (2.0,) * 5, (3.0,) * 5)
    assert (config.cell, config.input_size, config.hidden_size, config.num_layers, config.seed) == ("rnn", 5, 2, 1, 1)
    assert config.shows_erratum


def test_the_erratum_is_shown_for_the_scenario_the_book_printed_only():
    from dataclasses import replace

    from engine.stepper.scenario import PRESETS

    chapter = StepperConfig()
    assert replace(chapter, truncation=2, clip=1.0).shows_erratum  # gradient settings change no output
    assert not PRESETS["vanishing"][1].shows_erratum  # a tanh RNN, but 60 random steps the book never printed
    for other in (replace(chapter, seed=2), replace(chapter, hidden_size=3), replace(chapter, num_layers=2)):
        assert not other.shows_erratum
    assert not config_from_strings(sequence="1,1,1,1,1; 2,2,2,2,2").shows_erratum


def test_typed_values_are_converted_and_normalised():
    config = config_from_strings(
        cell=" LSTM ",
        input_size=" 3",
        hidden_size="4 ",
        num_layers="2",
        bidirectional=True,
        seed=str(2**63 - 1),
        sequence="1,2,3; 4,5,6",
        w_hh_scale="2.5",
        truncation="1",
        clip="0.5",
    )
    assert (config.cell, config.input_size, config.hidden_size, config.num_layers) == ("lstm", 3, 4, 2)
    assert config.bidirectional and config.directions == 2
    assert config.seed == 2**63 - 1
    assert config.sequence == ((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    assert (config.w_hh_scale, config.truncation, config.clip) == (2.5, 1, 0.5)
    assert not config.shows_erratum
    # Empty strings mean "not given".
    assert config_from_strings(sequence="", random_length="", truncation="", clip="") == StepperConfig()


def test_random_sequences_are_reproducible_per_seed_and_differ_across_seeds():
    first = config_from_strings(random_length="6", input_size="3", seed="7")
    again = config_from_strings(random_length="6", input_size="3", seed="7")
    other = config_from_strings(random_length="6", input_size="3", seed="8")
    assert first.sequence == again.sequence
    assert first.sequence != other.sequence
    assert len(first.sequence) == 6 and all(len(step) == 3 for step in first.sequence)
    assert first.sequence == random_sequence(6, 3, 7)
    # Rounded to 4 decimals, so typing the shown values back gives the same sequence.
    typed = "; ".join(", ".join(repr(v) for v in step) for step in first.sequence)
    assert parse_sequence(typed, 3) == first.sequence
    values = [v for step in random_sequence(200, 5, 0) for v in step]
    mean = sum(values) / len(values)
    assert abs(mean) < 0.2 and 0.8 < sum(v * v for v in values) / len(values) < 1.2  # standard normal


def test_chapter_result_json_holds_outputs_and_erratum():
    data = run_stepper(StepperConfig()).to_json()
    text = json.dumps(data, allow_nan=False)
    data = json.loads(text)
    assert data["outputs"][0] == pytest.approx([-0.3519801, 0.52525216], abs=1e-6)
    assert data["outputs"][2] == pytest.approx([-0.8649416, 0.90466356], abs=1e-6)
    assert data["max_abs_diff"] <= 1e-6
    assert data["erratum"]["book_outputs"][0] == pytest.approx([-0.21046415, 0.56788784], abs=1e-6)
    assert data["erratum"]["explanation"] == ERRATUM_EXPLANATION
    assert data["input"] == [[1.0] * 5, [2.0] * 5, [3.0] * 5]
    assert [step["t"] for step in data["layers"][0]["steps"]] == [0, 1, 2]
    assert set(data["layers"][0]["params"]) == {"W_xh", "W_hh", "b_xh", "b_hh"}
    assert len(data["gradients"]["dL_dh_norms"]["layer 0 forward"]) == 3


def test_json_survives_overflow():
    config = config_from_strings(
        nonlinearity="relu", w_hh_scale="100", random_length="200", input_size="4", hidden_size="16", seed="0"
    )
    result = run_stepper(config)
    assert not math.isfinite(float(result.trace.output.abs().max()))  # the demo does overflow
    data = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert None in data["outputs"][-1]
    assert data["max_abs_diff"] == 0.0  # both sides overflow identically


def test_with_gradient_settings_recomputes_only_the_gradients():
    result = run_stepper(config_from_strings(random_length="12", input_size="3", hidden_size="4", seed="1"))
    changed = result.with_gradient_settings(truncation=3, clip=0.01)
    assert (changed.config.truncation, changed.config.clip) == (3, 0.01)
    assert (changed.flow.truncation, changed.flow.clip) == (3, 0.01)
    assert changed.trace is result.trace and changed.module is result.module
    norms = changed.flow.norms[(0, 0)]
    assert all(n == 0.0 for n in norms[:9]) and all(n > 0.0 for n in norms[9:])
    assert changed.flow.clipped and changed.flow.clipped_norm == pytest.approx(0.01, rel=1e-4)
    # The original is untouched.
    assert result.config.truncation is None and result.flow.truncation is None
    assert all(n > 0.0 for n in result.flow.norms[(0, 0)])
    data = changed.to_json()["gradients"]
    assert (data["truncation"], data["clip"]) == (3, 0.01)
    assert data["grad_norm_after_clip"] == pytest.approx(0.01, rel=1e-4)
