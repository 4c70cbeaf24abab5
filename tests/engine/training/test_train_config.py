"""The torch-free training config: presets, parsing what users type, one-sentence errors, the form description."""

from __future__ import annotations

from dataclasses import fields

import pytest
from training_helpers import assert_one_sentence

from engine.training.config import FORM_FIELDS, TrainConfig, TrainConfigError, parse_train_config, with_changes
from engine.training.presets import PRESETS


def test_the_book_presets_are_the_chapters_recipes():
    charlm = parse_train_config("charlm", "book")
    assert (charlm.cell, charlm.embed_size, charlm.hidden_size, charlm.layers) == ("lstm", 256, 512, 1)
    assert (charlm.batch_size, charlm.seq_length, charlm.regime, charlm.lr, charlm.steps) == (
        64,
        40,
        "windows",
        5e-3,
        10_000,
    )
    assert charlm.clip is None and charlm.amp == "off" and charlm.lr_schedule == "none"
    assert charlm.data == "gutenberg:1268"
    sentiment = parse_train_config("sentiment", "book")
    assert (sentiment.embed_size, sentiment.hidden_size, sentiment.fc_size, sentiment.pooling) == (20, 64, 64, "last")
    assert (sentiment.batch_size, sentiment.lr, sentiment.epochs, sentiment.steps) == (32, 1e-3, 10, None)
    assert not sentiment.bidirectional and not sentiment.bucket and sentiment.max_length is None
    assert sentiment.valid_fraction == 0.2 and sentiment.data == "imdb"
    bidirectional = parse_train_config("sentiment", "book-bidirectional")
    assert bidirectional.bidirectional and bidirectional.lr == 2e-3


@pytest.mark.parametrize("job", ["charlm", "sentiment"])
def test_every_preset_parses_and_round_trips(job):
    for preset in PRESETS[job]:
        config = parse_train_config(job, preset)
        assert TrainConfig.from_dict(config.to_dict()) == config
        assert config.describe().startswith(job)


def test_strings_from_a_form_become_typed_values():
    config = parse_train_config(
        "sentiment",
        None,
        hidden_size=" 128 ",
        lr="2e-3",
        bidirectional="yes",
        clip="",
        max_length="none",
        steps="1,000",
    )
    assert (config.hidden_size, config.lr, config.bidirectional, config.clip, config.max_length) == (
        128,
        2e-3,
        True,
        None,
        None,
    )
    assert (config.steps, config.epochs) == (1000, None)  # steps replaces the preset's epochs
    assert parse_train_config("charlm", epochs=2).steps is None


@pytest.mark.parametrize(
    ("job", "overrides", "fragment"),
    [
        ("charlm", {"hidden_size": "0"}, "hidden size must be at least 1"),
        ("charlm", {"embed_size": -3}, "embedding size"),
        ("charlm", {"layers": "100"}, "layers must be at least 1 and at most 16"),
        ("charlm", {"lr": "0"}, "learning rate must be above 0"),
        ("charlm", {"lr": "-1e-3"}, "learning rate"),
        ("charlm", {"lr": "nan"}, "finite"),
        ("charlm", {"dropout": "1"}, "below 1"),
        ("charlm", {"batch_size": "0"}, "batch size"),
        ("charlm", {"seq_length": "0"}, "sequence length"),
        ("charlm", {"clip": "0"}, "gradient clip must be above 0"),
        ("charlm", {"sample_temperature": "1e-46"}, "sample temperature must be at least 0.001"),
        ("charlm", {"cell": "transformer"}, "Unknown cell 'transformer'; choose one of rnn, lstm, gru."),
        ("charlm", {"device": "tpu"}, "Unknown device"),
        ("charlm", {"amp": "fp8"}, "Unknown mixed-precision mode"),
        ("charlm", {"steps": "10", "epochs": "2"}, "either steps or epochs"),
        ("charlm", {"steps": "ten"}, "whole number"),
        ("charlm", {"bidirectional": True}, "cannot be bidirectional"),
        ("charlm", {"data": " "}, "data source is blank"),
        ("charlm", {"warmup_steps": 50, "steps": 50}, "warmup"),
        ("charlm", {"weight_decay": "-0.1"}, "weight decay must be at least 0"),
        ("charlm", {"weight_decay": "inf"}, "finite"),
        ("sentiment", {"bidirectional": "maybe"}, "yes or no"),
        ("sentiment", {"valid_fraction": "0.9"}, "validation fraction"),
        ("sentiment", {"pooling": "attention"}, "Unknown pooling"),
        ("sentiment", {"nonsense": 1}, "Unknown training setting 'nonsense'"),
    ],
)
def test_impossible_values_give_one_sentence(job, overrides, fragment):
    with pytest.raises(TrainConfigError) as error:
        parse_train_config(job, **overrides)
    assert fragment in str(error.value)
    assert_one_sentence(str(error.value))


@pytest.mark.parametrize("job", ["charlm", "sentiment"])
def test_a_config_from_before_weight_decay_keeps_plain_adam(job):
    # The default presets now decay; a run saved before the setting existed trained without it.
    assert parse_train_config(job).weight_decay == 0.1
    stored = parse_train_config(job).to_dict()
    del stored["weight_decay"]
    assert TrainConfig.from_dict(stored).weight_decay == 0.0
    assert TrainConfig.from_dict({**stored, "weight_decay": 0.1}).weight_decay == 0.1


def test_unknown_job_and_preset_are_refused():
    with pytest.raises(TrainConfigError, match="Unknown job"):
        parse_train_config("translation")
    with pytest.raises(TrainConfigError, match="choose one of book"):
        parse_train_config("charlm", "fastest")
    with pytest.raises(TrainConfigError, match="unknown settings"):
        TrainConfig.from_dict({"job": "charlm", "colour": "blue"})


def test_a_resumed_run_can_be_made_longer_or_moved():
    config = parse_train_config("sentiment", "book")
    longer = with_changes(config, steps="500", epochs=None)
    assert (longer.steps, longer.epochs) == (500, None)
    assert with_changes(longer, epochs=12).epochs == 12 and with_changes(longer, epochs=12).steps is None
    assert with_changes(config, device="cpu").device == "cpu"
    assert with_changes(config, steps=None) is config
    with pytest.raises(TrainConfigError):
        with_changes(config, steps=0)


@pytest.mark.parametrize("job", ["charlm", "sentiment"])
def test_the_form_fields_describe_real_settings(job):
    names = {f.name: f for f in fields(TrainConfig)}
    config = parse_train_config(job)
    for field in FORM_FIELDS[job]:
        assert field.name in names
        assert field.kind in ("choice", "int", "float", "bool", "text")
        if field.kind == "choice":
            assert getattr(config, field.name) in field.choices
        value = getattr(config, field.name)
        assert value is not None or field.optional
    assert [f.name for f in FORM_FIELDS[job]].count("steps") == 1
