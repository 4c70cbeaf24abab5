"""engine.generation.messages: every message survives encode and decode, the wire format is the one the pane
and the model process have always spoken, and anything else is a MessageError of one sentence."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from engine.generation.classify import Classification, WordScore
from engine.generation.messages import (
    REPLIES,
    REQUESTS,
    AskCandidates,
    Begin,
    Cancel,
    Candidates,
    Chunk,
    Classified,
    Classify,
    Done,
    Error,
    Generate,
    Load,
    Loaded,
    LoadError,
    MessageError,
    UpdateSettings,
    decode_reply,
    decode_request,
    encode,
)
from engine.generation.sampler import Candidate
from engine.generation.settings import SamplingSettings
from tests.messages import assert_one_sentence

WARM = SamplingSettings(temperature=0.8, top_k=5, top_p=0.9, length=300, seed=7, stop="\n\n")
NEXT = (Candidate("e", 0.5, 0.25), Candidate(" ", 0.3, 0.2), Candidate("\n", 0.2, 0.01))
RESULT = Classification(
    probability=0.75,
    logit=1.0986,
    words=(WordScore("great", (2, 7), True, 0.5), WordScore("zzz", None, False, -0.125)),
    method="occlusion",
    truncated=3,
    unscored=4,
)

EXAMPLES = [
    Load("charlm", "/runs/charlm-tiny"),
    Generate(3, "the island", (SamplingSettings(), WARM)),
    UpdateSettings((WARM,)),
    AskCandidates(SamplingSettings(temperature=0)),
    Cancel(),
    Classify(4, "a great film"),
    Loaded("sentiment", "/runs/s", "s", "LSTM E16 H16", "/runs/s/checkpoints/best.pt", 120),
    LoadError("charlm", "/runs/c", "The checkpoint of c could not be read."),
    Begin(3, ("the island", "the island"), None),
    Begin(3, ("the  island",), "The prompt has characters the model never saw: 'Q'."),
    Chunk(3, ("e sea", "xq"), 5, NEXT),
    Done(3, ("", ""), "cancelled", 5, ()),
    Done(3, ("n",), "stop", 9, NEXT),
    Candidates(NEXT),
    Classified(4, RESULT),
    Error(None, "The request is not valid JSON."),
    Error(4, "No sentiment model is loaded."),
]


def decode(line: str | bytes, request: bool):
    return decode_request(line) if request else decode_reply(line)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_encode_and_decode(message):
    line = encode(message)
    assert "\n" not in line and json.loads(line)["op"] == message.op
    assert decode(line, type(message) in REQUESTS) == message


def test_the_examples_cover_every_kind_of_message():
    assert {type(m) for m in EXAMPLES} == set(REQUESTS) | set(REPLIES)
    assert len({kind.op for kind in REQUESTS}) == len(REQUESTS) and len({kind.op for kind in REPLIES}) == len(REPLIES)


def test_the_wire_format_is_the_one_the_pane_and_the_process_speak():
    settings = {"temperature": 0.8, "top_k": 5, "top_p": 0.9, "length": 300, "seed": 7, "stop": "\n\n"}
    assert json.loads(encode(Generate(3, "the", (WARM,)))) == {
        "op": "generate",
        "token": 3,
        "prompt": "the",
        "settings": [settings],
    }
    assert json.loads(encode(Cancel())) == {"op": "cancel"}
    assert json.loads(encode(UpdateSettings((WARM,)))) == {"op": "settings", "settings": [settings]}
    chunk = {"op": "chunk", "token": 3, "texts": ["ab"], "produced": 2, "candidates": [["e", 0.5, 0.25]]}
    assert decode_reply(json.dumps(chunk)) == Chunk(3, ("ab",), 2, (Candidate("e", 0.5, 0.25),))
    assert json.loads(encode(Classified(4, RESULT))) == {"op": "classified", "token": 4, "result": RESULT.to_json()}
    # A settings object may leave settings out (they take their defaults); extra fields are ignored.
    assert decode_request('{"op": "candidates", "settings": {"top_k": 3}, "extra": 1}') == AskCandidates(
        SamplingSettings(top_k=3)
    )


GENERATE = '{"op": "generate", "token": 9, "prompt": "the", "settings": %s}'


@pytest.mark.parametrize(
    "line, is_request, words, token",
    [
        ("not json", True, ["request is not valid JSON", '"not json"'], None),
        ('{"op": "load"', True, ["request is not valid JSON"], None),
        ("[1, 2]", True, ["must be a JSON object, not an array"], None),
        ('"load"', False, ["reply must be a JSON object, not a string"], None),
        ('{"job": "charlm", "token": 2}', True, ['needs an "op"', "load, generate, settings"], 2),
        (
            '{"op": "fly", "token": 7}',
            True,
            ['Unknown request "fly"', "load, generate, settings, candidates, cancel and classify"],
            7,
        ),
        ('{"op": "generate", "token": 1}', False, ['Unknown reply "generate"', "loaded, load_error, begin"], 1),
        ('{"op": "load", "job": "charlm"}', True, ['The "load" request lacks "run"', "text"], None),
        ('{"op": "load", "job": "gpt", "run": "x"}', True, ['"job" must be "charlm" or "sentiment", not "gpt"'], None),
        ('{"op": "classify", "token": "4", "text": "a"}', True, ['"token" must be a whole number, not "4"'], None),
        ('{"op": "classify", "token": true, "text": "a"}', True, ['"token" must be a whole number, not true'], None),
        ('{"op": "classify", "token": 4, "text": null}', True, ['"text" must be text, not null'], 4),
        (GENERATE % "[]", True, ['"settings" must be a list of one or more'], 9),
        (GENERATE % '[{"temperature": -1}]', True, ['"settings" are not usable: the temperature must be'], 9),
        (GENERATE % '[{"warmth": 2}]', True, ['"settings" have no setting "warmth"', "temperature, top_k"], 9),
        (GENERATE % '[{"length": "long"}]', True, ["the length must be a whole number", "'long'"], 9),
        (
            '{"op": "chunk", "token": 1, "texts": ["a"], "produced": 1, "candidates": [["a", "x", 0.1]]}',
            False,
            ['"candidates" must be a list of [character, probability, raw probability]'],
            1,
        ),
        (
            '{"op": "done", "token": 1, "texts": [], "reason": "bored", "produced": 0, "candidates": []}',
            False,
            ['"reason"'],
            1,
        ),
        (
            '{"op": "classified", "token": 2, "result": {"probability": 0.5}}',
            False,
            ['"result" must be a classification'],
            2,
        ),
    ],
)
def test_anything_else_is_one_sentence_naming_the_problem(line, is_request, words, token):
    with pytest.raises(MessageError) as caught:
        decode(line, is_request)
    message = str(caught.value)
    assert_one_sentence(message)
    for word in words:
        assert word in message, message
    assert caught.value.token == token


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = sorted({name for message in EXAMPLES for name in json.loads(encode(message))} | {"temperature", "seed"})


def _refused_or_decoded(line: str | bytes, request: bool) -> None:
    try:
        decode(line, request)
    except MessageError as error:
        assert str(error) and "\n" not in str(error)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text() | st.binary(), st.booleans())
def test_decoding_any_text_gives_a_message_or_a_message_error(line, request):
    _refused_or_decoded(line, request)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLES), st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=3), st.booleans())
def test_decoding_a_message_with_fields_changed_gives_a_message_or_a_message_error(message, changes, drop):
    data = json.loads(encode(message))
    data.update(changes)
    if drop and changes:
        del data[next(iter(changes))]
    _refused_or_decoded(json.dumps(data), type(message) in REQUESTS)
