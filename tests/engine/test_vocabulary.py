"""One source for each vocabulary: cells, devices, the seed range, number parsing and per-user folders."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from corpora import userdirs
from engine.cells import CELL_NAMES, CELLS, GATES, UnknownCell, cell, cell_of_mode
from engine.devices import DEVICES, DeviceError, resolve_device
from engine.generation.settings import GenerateInputError, parse_settings
from engine.models import CharLM, CharLMStep, make_rnn
from engine.numbers import MAX_SEED, NumberError, parse_real, parse_whole, shown
from engine.stepper.run import build_layer
from engine.stepper.scenario import StepperConfig, StepperInputError, config_from_strings
from engine.stepper.steps import layer_params
from engine.stepper.trace import cell_type, run_direction
from engine.training.config import FORM_FIELDS, TrainConfigError, parse_train_config
from tests.messages import assert_one_sentence

# ------------------------------------------------------------------------------ cells


@pytest.mark.parametrize("name", CELL_NAMES)
def test_each_cell_names_the_torch_pieces_that_compute_it(name):
    spec = cell(name)
    module = make_rnn(name, 3, 4, 1, bidirectional=False, dropout=0.0)
    assert type(module) is getattr(nn, spec.module) and cell_type(module) == name
    assert module.weight_ih_l0.shape[0] == 4 * len(spec.gates) == 4 * len(GATES[name])
    assert cell_of_mode(module.mode) is spec and callable(getattr(torch, spec.ops[module.mode]))
    assert spec.cell_state == (name == "lstm")


@pytest.mark.parametrize("name", CELL_NAMES)
def test_the_fast_step_uses_the_registry_op_for_every_cell(name):
    torch.manual_seed(0)
    model = CharLM(7, 5, 6, cell=name, layers=2).eval()
    fast = CharLMStep(model)
    ids = torch.tensor([[1, 4, 2, 6]])
    with torch.no_grad():
        logits, _ = model(ids)
        _, state = model(ids[:, :1])
        steps = fast.initial(state)
        for t in range(1, 4):
            assert torch.allclose(fast.step(int(ids[0, t]), steps), logits[0, t], atol=1e-6)


def test_every_list_of_cells_is_the_registry():
    assert tuple(CELLS) == CELL_NAMES == ("rnn", "lstm", "gru")
    form_cells = {field.choices for fields in FORM_FIELDS.values() for field in fields if field.name == "cell"}
    assert form_cells == {CELL_NAMES}
    with pytest.raises(StepperInputError, match="rnn, lstm, gru"):
        config_from_strings(cell="transformer")
    with pytest.raises(TrainConfigError, match="rnn, lstm, gru"):
        parse_train_config("charlm", cell="transformer")


def test_an_unknown_cell_is_an_error_everywhere_never_a_silent_gru():
    with pytest.raises(UnknownCell) as caught:
        cell("lstmm")
    assert_one_sentence(str(caught.value))
    with pytest.raises(UnknownCell):
        build_layer(StepperConfig(cell="lstmm"))  # a config built past validation
    layer = nn.GRU(2, 3)
    params = layer_params(layer, 0, 0)
    with pytest.raises(UnknownCell):
        run_direction("lstmm", "tanh", params, torch.zeros(2, 1, 2), torch.zeros(1, 3), None, False)
    with pytest.raises(UnknownCell):
        make_rnn("lstmm", 2, 3, 1, bidirectional=False, dropout=0.0)
    with pytest.raises(UnknownCell):
        cell_of_mode("TRANSFORMER")


# ------------------------------------------------------------------------------ devices


def test_devices_are_one_list_and_absent_ones_are_one_sentence():
    form_devices = {field.choices for fields in FORM_FIELDS.values() for field in fields if field.name == "device"}
    assert form_devices == {DEVICES}
    assert resolve_device("cpu").type == "cpu" and resolve_device(None).type == "cpu"
    assert resolve_device(" AUTO ").type in ("cpu", "cuda", "mps")
    for bad in ("tpu", "cuda:x"):
        with pytest.raises(DeviceError) as caught:
            resolve_device(bad)
        assert_one_sentence(str(caught.value))
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="sees no CUDA GPU"):
            resolve_device("cuda")


# ------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("text", "whole"),
    [("7", 7), (" 7 ", 7), ("1,000", 1000), ("1_000", 1000), ("2.0", 2), ("1e3", 1000), ("+3", 3), ("-4", -4)],
)
def test_whole_numbers_are_read_alike_everywhere(text, whole):
    assert parse_whole(text, "seed") == whole
    if whole >= 0:
        assert config_from_strings(seed=text).seed == whole
        assert parse_train_config("charlm", seed=text).seed == whole
        assert parse_settings(seed=text).seed == whole


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", 'The seed must be a whole number, not "abc".'),
        ("1.5", 'The seed must be a whole number, not "1.5".'),
        ("1,5", 'The seed must be a whole number, not "1,5".'),
        ("1,00", 'The seed must be a whole number, not "1,00".'),
        ("nan", 'The seed must be a whole number, not "nan".'),
        ("  ", "The seed must be a whole number, not a blank."),
    ],
)
def test_bad_whole_numbers_get_the_same_sentence_from_every_flag_and_form(text, message):
    with pytest.raises(NumberError) as parsed:
        parse_whole(text, "seed")
    with pytest.raises(StepperInputError) as stepper:
        config_from_strings(seed=text)
    with pytest.raises(TrainConfigError) as train:
        parse_train_config("charlm", seed=text)
    with pytest.raises(GenerateInputError) as generate:
        parse_settings(seed=text)
    errors = [parsed.value, stepper.value, train.value, generate.value]
    assert {str(error) for error in errors} == {message}


def test_reals_refuse_what_is_not_a_finite_number():
    assert parse_real("0.5", "dropout") == 0.5 and parse_real("1,000.5", "lr") == 1000.5
    assert parse_real("1e-3", "lr") == 0.001
    for text, words in (
        ("nan", "finite number"),
        ("inf", "finite number"),
        ("1e999", "finite number"),
        ("x", "a number"),
    ):
        with pytest.raises(NumberError, match=words):
            parse_real(text, "learning rate")
    with pytest.raises(TrainConfigError, match="finite"):
        parse_train_config("charlm", lr="nan")


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_any_whole_number_reads_back_plain_or_grouped(number):
    assert parse_whole(str(number), "n") == number
    assert parse_whole(f"{number:,}", "n") == number
    assert parse_whole(f"{number:_}", "n") == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_real_reads_back(number):
    assert parse_real(repr(number), "x") == number


@given(st.text(max_size=30))
def test_parsing_anything_gives_a_number_or_one_sentence(text):
    for parse in (parse_whole, parse_real):
        try:
            value = parse(text, "value")
        except NumberError as error:  # one line: the sentence, and what was typed quoted whole inside it
            assert re.fullmatch(r'The value must be a (finite |whole )?number, not (".*"|a blank)\.', str(error))
            assert "\n" not in str(error) and (not text.strip() or shown(text) in str(error))
        else:
            assert math.isfinite(value)


def test_the_seed_range_is_shared():
    assert parse_train_config("charlm", seed=str(MAX_SEED)).seed == MAX_SEED
    assert config_from_strings(seed=str(MAX_SEED)).seed == MAX_SEED
    assert parse_settings(seed=str(MAX_SEED)).seed == MAX_SEED
    with pytest.raises(TrainConfigError):
        parse_train_config("charlm", seed=str(MAX_SEED + 1))
    with pytest.raises(StepperInputError):
        config_from_strings(seed=str(MAX_SEED + 1))
    with pytest.raises(GenerateInputError):
        parse_settings(seed=str(MAX_SEED + 1))


# ------------------------------------------------------------------------------ per-user folders


def test_per_user_folders_follow_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RNN_TUI_RUNS", str(tmp_path / "r"))
    monkeypatch.setenv("RNN_TUI_CACHE", str(tmp_path / "c"))
    assert userdirs.runs_dir() == tmp_path / "r" and userdirs.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RNN_TUI_RUNS")
    monkeypatch.delenv("RNN_TUI_CACHE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert userdirs.runs_dir() == tmp_path / "data" / "rnn-tui" / "runs"
    assert userdirs.data_dir() == tmp_path / "data" / "rnn-tui"
    assert userdirs.cache_dir() == tmp_path / "cache" / "rnn-tui"
    assert userdirs.config_dir() == tmp_path / "config" / "rnn-tui"


def test_every_per_user_folder_comes_from_userdirs(monkeypatch, tmp_path: Path):
    from engine.training.runs import default_runs_root
    from tui.cli import default_keymap_path
    from tui.generate.widgets import history_path

    monkeypatch.delenv("RNN_TUI_RUNS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert default_runs_root() == userdirs.runs_dir()
    assert default_keymap_path().parent == userdirs.config_dir()
    assert history_path().parent == userdirs.data_dir()


def test_folders_of_earlier_versions_stay_in_use_where_the_platform_puts_them_elsewhere(monkeypatch, tmp_path: Path):
    """On macOS platformdirs says ~/Library/Application Support; runs made before live under ~/.local/share."""
    monkeypatch.delenv("RNN_TUI_RUNS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setattr(userdirs.platformdirs, "user_data_path", lambda app: tmp_path / "Application Support" / app)
    monkeypatch.setattr(userdirs.platformdirs, "user_config_path", lambda app: tmp_path / "Preferences" / app)
    assert userdirs.runs_dir() == tmp_path / "Application Support" / "rnn-tui" / "runs"  # nothing made before
    (tmp_path / "xdg-data" / "rnn-tui" / "runs").mkdir(parents=True)
    (tmp_path / "xdg-config" / "rnn-tui").mkdir(parents=True)
    assert userdirs.runs_dir() == tmp_path / "xdg-data" / "rnn-tui" / "runs"
    assert userdirs.config_dir() == tmp_path / "xdg-config" / "rnn-tui"
    (tmp_path / "Application Support" / "rnn-tui").mkdir(parents=True)  # the platform's folder wins once it exists
    assert userdirs.data_dir() == tmp_path / "Application Support" / "rnn-tui"
