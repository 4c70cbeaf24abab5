"""One loader per kind of file rnn-tui reads, fuzzed: nothing but that loader's error type ever escapes.

Each loader gets random bytes, truncations and bit flips of a valid file, and (for the JSON files)
valid JSON of every wrong shape. A checkpoint must refuse every bit flip (its SHA-256 seal), and
what a loader returns must be usable: a status whose fields have their types, metric records whose
numbers are numbers, a vocabulary that encodes.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpora.errors import CorpusError
from corpora.text import load_text
from corpora.vocab import CharVocab, WordVocab
from engine.training import checkpoint as checkpoint_module
from engine.training.checkpoint import CheckpointError, encode_checkpoint, load_checkpoint, save_checkpoint
from engine.training.runs import STATES, RunDir, RunError, RunStatus
from tests.messages import assert_one_sentence
from tui.keymap import KeymapError, load_keymap

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def flip(data: bytes, position: int, bit: int) -> bytes:
    index = position % len(data)
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1 :]


def damaged(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation of `valid`, or `valid` with one to five bits flipped."""
    truncations = st.integers(0, len(valid) - 1).map(lambda end: valid[:end])
    flips = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 7)), min_size=1, max_size=5).map(
        lambda changes: _flip_all(valid, changes)
    )
    return st.binary(max_size=2_000) | truncations | flips


def _flip_all(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    for position, bit in changes:
        data = flip(data, position, bit)
    return data


# ------------------------------------------------------------------------------------ checkpoints


def small_checkpoint() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return {
        "job": "charlm",
        "config": {"job": "charlm", "steps": 10},
        "step": 4,
        "model": model.state_dict(),
        "optimizer": None,
        "vocab": {"kind": "char", "chars": ["a", "b"]},
        "history": [{"step": 4, "train_loss": 1.5}],
        "best": None,
        "loop": {},
    }


VALID_CHECKPOINT = encode_checkpoint(small_checkpoint())


def test_a_sealed_checkpoint_loads_and_plain_torch_still_reads_it(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, small_checkpoint())
    assert path.read_bytes().endswith(b"\n") and checkpoint_module.SEAL in path.read_bytes()[-100:]
    assert load_checkpoint(path)["step"] == 4
    assert torch.load(path, weights_only=True)["step"] == 4  # the seal sits after the zip, where torch never looks


def test_every_single_bit_flip_is_refused(tmp_path):
    path = tmp_path / "flipped.pt"
    size = len(VALID_CHECKPOINT)
    for position in range(0, size, max(1, size // 400)):  # ~400 positions spread over the whole file
        path.write_bytes(flip(VALID_CHECKPOINT, position, position % 8))
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(path)
        assert_one_sentence(str(caught.value))


def test_a_flipped_payload_is_named_a_checksum_failure_and_a_lost_seal_is_named_too(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(flip(VALID_CHECKPOINT, 100, 3))
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(path)
    path.write_bytes(VALID_CHECKPOINT[: -len(checkpoint_module.SEAL) - 65])  # the zip whole, its seal cut off
    with pytest.raises(CheckpointError, match="lost the checksum"):
        load_checkpoint(path)


def test_a_damaged_seal_line_never_passes_for_an_old_unsealed_checkpoint(tmp_path):
    # Found by the fuzz test below: a flip in the seal line's newline made the file read as written before
    # seals, and a second flip in the "checksum" key inside removed the marker that said otherwise.
    content = bytearray(VALID_CHECKPOINT)
    content[-1] ^= 1
    key = VALID_CHECKPOINT.find(b"checksum")
    assert key > 0
    content[key] ^= 1
    path = tmp_path / "x.pt"
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="not the checksum") as caught:
        load_checkpoint(path)
    assert_one_sentence(str(caught.value))


def test_checkpoints_written_before_seals_still_load(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": checkpoint_module.FORMAT, "version": 1, **small_checkpoint()}, path)
    assert load_checkpoint(path)["step"] == 4


@pytest.mark.parametrize(
    "content", [b"hello world\n", Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:x:0"]
)
def test_the_issues_files_are_one_sentence(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a readable checkpoint") as caught:
        load_checkpoint(path)
    assert_one_sentence(str(caught.value))


@FUZZ
@given(st.data())
def test_damaged_checkpoints_raise_only_checkpoint_error(tmp_path, data):
    content = data.draw(damaged(VALID_CHECKPOINT))
    try:
        loaded = load_checkpoint(tmp_path / "fuzz.pt", content)
    except CheckpointError as error:
        assert_one_sentence(str(error))
    else:
        assert content == VALID_CHECKPOINT[: len(content)] and loaded["step"] == 4  # only an intact file loads


@FUZZ
@given(shape=st.dictionaries(st.sampled_from(["job", "config", "step", "model", "vocab", "x"]), json_values))
def test_sealed_checkpoints_of_wrong_shapes_raise_only_checkpoint_error(tmp_path, shape):
    buffer = io.BytesIO()
    torch.save({"format": checkpoint_module.FORMAT, "version": 1, **shape}, buffer)
    try:
        loaded = load_checkpoint(tmp_path / "shape.pt", buffer.getvalue())
    except CheckpointError as error:
        assert_one_sentence(str(error))
    else:
        assert isinstance(loaded["step"], int) and isinstance(loaded["model"], dict)
        assert isinstance(loaded["config"], dict) and isinstance(loaded["vocab"], dict)


# ----------------------------------------------------------------------------- run directory files


def a_run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.path.mkdir(exist_ok=True)
    return run


VALID_CONFIG = json.dumps({"job": "charlm", "steps": 10, "data": "x.txt"}).encode()
VALID_STATUS = json.dumps(RunStatus(state="done", step=10, total=10, device="cpu").to_dict()).encode()
VALID_METRICS = (
    b"".join(
        json.dumps({"step": step, "train_loss": 1.0 / step, "lr": 0.01, "throughput": None}).encode() + b"\n"
        for step in range(1, 6)
    )
    + json.dumps({"step": 5, "final": True, "test_acc": 0.9}).encode()
    + b"\n"
)


@FUZZ
@given(st.data())
def test_config_raises_only_run_error(tmp_path, data):
    run = a_run(tmp_path)
    content = data.draw(damaged(VALID_CONFIG) | json_values.map(lambda value: json.dumps(value).encode()))
    run.config_path.write_bytes(content)
    try:
        config = run.config()
    except RunError as error:
        assert_one_sentence(str(error))
    else:
        assert isinstance(config, dict)


@FUZZ
@given(st.data())
def test_status_always_reads_as_a_status(tmp_path, data):
    run = a_run(tmp_path)
    shapes = json_values | st.dictionaries(
        st.sampled_from(["state", "step", "total", "pid", "error", "x"]), json_values
    )
    content = data.draw(damaged(VALID_STATUS) | shapes.map(lambda value: json.dumps(value).encode()))
    run.status_path.write_bytes(content)
    status = run.status()
    assert status.state in STATES and isinstance(status.step, int) and isinstance(status.total, int)
    assert status.error is None or isinstance(status.error, str)
    if status.state == "failed" and status.error:
        assert "\n" not in status.error


@FUZZ
@given(st.data())
def test_metrics_give_only_well_formed_records(tmp_path, data):
    run = a_run(tmp_path)
    lines = st.lists(
        json_values.map(lambda value: json.dumps(value).encode())
        | st.dictionaries(st.sampled_from(["step", "train_loss", "final", "val_acc", "test_model"]), json_values).map(
            lambda value: json.dumps(value).encode()
        ),
        max_size=6,
    ).map(lambda items: b"\n".join(items) + b"\n")
    run.metrics_path.write_bytes(data.draw(damaged(VALID_METRICS) | lines))
    run.samples_path.write_bytes(data.draw(damaged(b'{"step": 3, "text": "hi"}\n') | lines))
    records, _ = run.read_metrics()
    final = run.final_metrics()
    for record in [*records, *([final] if final else [])]:
        assert isinstance(record["step"], int) and not isinstance(record["step"], bool) and record["step"] >= 0
        for key, value in record.items():
            if key == "final":
                assert isinstance(value, bool)
            elif key == "test_model":
                assert isinstance(value, str)
            elif value is not None:
                assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                format(value, ".4f")  # what the readers do with it
    sample = run.latest_sample()
    assert sample is None or (isinstance(sample["text"], str) and isinstance(sample["step"], int))


# ------------------------------------------------------------------------- vocabularies and keymaps


VALID_CHARS = json.dumps({"format": "rnn-tui/char-vocab", "version": 1, "chars": ["\n", " ", "a", "b"]}).encode()
VALID_WORDS = json.dumps({"format": "rnn-tui/word-vocab", "version": 1, "tokens": ["<pad>", "<unk>", "film"]}).encode()


def test_the_valid_vocabularies_load(tmp_path):
    (tmp_path / "c.json").write_bytes(VALID_CHARS)
    (tmp_path / "w.json").write_bytes(VALID_WORDS)
    assert CharVocab.load(tmp_path / "c.json").chars == ("\n", " ", "a", "b")
    assert WordVocab.load(tmp_path / "w.json").encode(["film", "zz"]) == [2, 1]


@FUZZ
@given(st.data())
def test_vocabularies_raise_only_corpus_error(tmp_path, data):
    wrong = st.fixed_dictionaries(
        {"format": st.sampled_from(["rnn-tui/char-vocab", "rnn-tui/word-vocab"]), "version": st.just(1)},
        optional={"chars": json_values, "tokens": json_values, "min_count": json_values, "max_size": json_values},
    )
    path = tmp_path / "vocab.json"
    for kind, valid in ((CharVocab, VALID_CHARS), (WordVocab, VALID_WORDS)):
        shapes = (json_values | wrong).map(lambda value: json.dumps(value).encode())
        path.write_bytes(data.draw(damaged(valid) | shapes))
        try:
            vocab = kind.load(path)
        except CorpusError as error:
            assert_one_sentence(str(error))
        else:
            assert len(vocab) >= 1


VALID_KEYMAP = json.dumps({"stepper.next": "n", "app.help": "f1,h"}).encode()
KNOWN_IDS = {"stepper.next", "stepper.prev", "app.help"}


@FUZZ
@given(st.data())
def test_keymaps_raise_only_keymap_error(tmp_path, data):
    path = tmp_path / "keymap.json"
    shapes = json_values | st.dictionaries(st.sampled_from([*sorted(KNOWN_IDS), "nope"]), json_values)
    path.write_bytes(data.draw(damaged(VALID_KEYMAP) | shapes.map(lambda value: json.dumps(value).encode())))
    try:
        keymap = load_keymap(path, KNOWN_IDS)
    except KeymapError as error:
        assert_one_sentence(str(error))
    else:
        assert set(keymap) <= KNOWN_IDS and all(isinstance(keys, str) for keys in keymap.values())


# ---------------------------------------------------------------------------------------- corpora


VALID_TEXT = ("The island was green and the river ran down to the sea. " * 4).encode()


@FUZZ
@given(st.data())
def test_text_corpora_raise_only_corpus_error(tmp_path, data):
    path = tmp_path / "book.txt"
    path.write_bytes(data.draw(damaged(VALID_TEXT)))
    try:
        text, info = load_text(path)
    except CorpusError as error:
        assert_one_sentence(str(error))
    else:
        assert isinstance(text, str) and "\x00" not in text and info.bytes == path.stat().st_size
