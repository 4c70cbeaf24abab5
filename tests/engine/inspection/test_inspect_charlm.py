"""engine.inspection.charlm against torch: every step's h, c and gates, the next-character distribution and the loss."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

from corpora.vocab import CharVocab
from engine.inspection.charlm import trace_text
from engine.inspection.inputs import MAX_TEXT, InspectInputError
from engine.models import CharLM
from engine.stepper.trace import trace_module
from tests.engine.inspection.inspection_helpers import TEXT, in_memory, torch_layers
from tests.messages import assert_one_sentence

TOLERANCE = 1e-6
STEPPER_TERMS = {  # engine.stepper's names of the gates engine.inspection keeps
    "lstm": {"i": "i_t = σ(·)", "f": "f_t = σ(·)", "g": "g_t = tanh(·)", "o": "o_t = σ(·)"},
    "gru": {"r": "r_t = σ(·)", "z": "z_t = σ(·)", "n": "n_t = tanh(·)"},
    "rnn": {"h": "z_t (pre-activation)"},
}


def check_against_torch(loaded, trace) -> None:
    """h and c at every step of every layer against torch's own layers; gates against the Stepper; predictions and loss."""
    model = loaded.model
    with torch.no_grad():
        x = model.embedding(trace.ids)
        reference = torch_layers(model.rnn, x)
        stepper = trace_module(model.rnn, x[None])
    for layer, (torch_h, torch_c) in enumerate(reference):
        activity = trace.activity(layer)
        assert activity.h.shape == (len(trace.text), model.rnn.hidden_size)
        assert (activity.h - torch_h).abs().max() <= TOLERANCE
        assert (activity.torch_h - torch_h).abs().max() <= TOLERANCE
        assert activity.max_diff <= TOLERANCE
        if torch_c is not None:
            assert (activity.c - torch_c).abs().max() <= TOLERANCE
        terms = stepper.layer(layer).steps
        for name, term in STEPPER_TERMS[trace.cell].items():
            expected = torch.stack([step.terms[term][0] for step in terms])
            assert (activity.gates[name] - expected).abs().max() <= TOLERANCE, name
    with torch.no_grad():
        logits, _ = model(trace.ids[None])
    logits = logits[0]
    assert (trace.probs - torch.softmax(logits, dim=1)).abs().max() <= TOLERANCE
    per_char = nn.CrossEntropyLoss(reduction="none")(logits[:-1], trace.ids[1:])
    assert (trace.nats - per_char).abs().max() <= 1e-5
    mean = float(nn.CrossEntropyLoss()(logits[:-1], trace.ids[1:]))
    assert trace.mean_nats == pytest.approx(mean, rel=1e-6)
    assert trace.mean_bits == pytest.approx(mean / math.log(2), rel=1e-6)
    assert trace.total_bits == pytest.approx(trace.mean_bits * (len(trace.text) - 1), rel=1e-9)
    assert torch.allclose(trace.surprise, -torch.log2(trace.true_prob), atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_every_step_of_every_layer_equals_torch(charlm_of, cell, layers):
    loaded = charlm_of(cell, layers)
    trace = trace_text(loaded, TEXT)
    assert trace.text == TEXT and trace.notice is None and trace.layer_count == layers
    assert set(trace.activity(0).gates) == set(STEPPER_TERMS[cell])
    assert (trace.activity(0).c is not None) == (cell == "lstm")
    check_against_torch(loaded, trace)


def test_a_relu_rnn_equals_torch():
    vocab = CharVocab(TEXT)
    torch.manual_seed(3)
    model = CharLM(len(vocab), 6, 9, cell="rnn", layers=2)
    model.rnn = nn.RNN(6, 9, num_layers=2, nonlinearity="relu", batch_first=True)
    loaded = in_memory(model, vocab, cell="rnn", layers=2, embed_size=6, hidden_size=9)
    trace = trace_text(loaded, TEXT)
    check_against_torch(loaded, trace)
    assert (trace.activity(1).h >= 0).all()


def test_predictions_rank_and_top_next(charlm_of):
    trace = trace_text(charlm_of("lstm", 1), TEXT)
    for t in range(len(TEXT) - 1):
        row = trace.probs[t]
        true = trace.chars.index(TEXT[t + 1])
        assert float(trace.true_prob[t]) == float(row[true])
        assert int(trace.rank[t]) == 1 + int((row > row[true]).sum())
    guesses = trace.top_next(4, k=5)
    assert len(guesses) == 5 and [g.prob for g in guesses] == sorted((g.prob for g in guesses), reverse=True)
    assert guesses[0].char == trace.chars[int(trace.probs[4].argmax())]
    assert sum(g.prob for g in trace.top_next(4, k=len(trace.chars))) == pytest.approx(1.0, abs=1e-5)


def test_unit_queries_index_the_trace(charlm_of):
    trace = trace_text(charlm_of("lstm", 2), TEXT)
    activity = trace.activity(1)
    assert torch.equal(trace.values(1, 3), activity.h[:, 3])
    assert torch.equal(trace.values(1, 3, kind="c"), activity.c[:, 3])
    assert torch.equal(trace.values(1, 3, kind="f"), activity.gates["f"][:, 3])
    units = trace.top_units(1, 10, n=4)
    assert units == sorted(range(12), key=lambda u: (-abs(float(activity.h[10, u])), u))[:4]
    moved = trace.top_units(1, 10, n=3, by="delta")
    change = (activity.h[10] - activity.h[9]).abs()
    assert moved == sorted(range(12), key=lambda u: (-float(change[u]), u))[:3]
    assert trace.top_units(1, 0, n=2, by="delta") == trace.top_units(1, 0, n=2, by="h")  # h before the first step is 0
    assert trace.surprise.shape == (len(TEXT) - 1,)
    for bad in (
        lambda: trace.values(2, 0),
        lambda: trace.values(0, 12),
        lambda: trace.values(0, 0, kind="r"),
        lambda: trace.top_units(0, len(TEXT)),
    ):
        with pytest.raises(InspectInputError) as error:
            bad()
        assert_one_sentence(str(error.value))


def test_characters_the_model_never_saw_are_left_out_with_a_notice(charlm_of):
    trace = trace_text(charlm_of("gru", 1), "The éisland§ was")
    assert trace.text == "The island was" and trace.missing == ("é", "§")
    assert_one_sentence(trace.notice)
    assert "left out of the text" in trace.notice
    assert trace.activity(0).h.shape[0] == len("The island was")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "no text"), ("é§", "None of the text's characters"), ("a" * (MAX_TEXT + 1), "10,001 characters")],
)
def test_unusable_texts_are_one_sentence(charlm_of, text, fragment):
    with pytest.raises(InspectInputError) as error:
        trace_text(charlm_of("lstm", 1), text)
    assert fragment in str(error.value)
    assert_one_sentence(str(error.value))


def test_a_one_character_text_has_nothing_to_predict(charlm_of):
    trace = trace_text(charlm_of("lstm", 1), "T")
    assert trace.predictions == 0 and trace.mean_bits is None and trace.mean_nats is None
    assert len(trace.top_next(0, 3)) == 3


def test_a_sentiment_model_is_refused(sentiment_of):
    with pytest.raises(InspectInputError) as error:
        trace_text(sentiment_of("max", True), "great")
    assert_one_sentence(str(error.value))


def test_the_second_trace_of_the_same_checkpoint_and_text_is_the_cached_one(charlm_of):
    loaded = charlm_of("lstm", 1)
    first = trace_text(loaded, TEXT)
    assert trace_text(loaded, TEXT) is first
    assert trace_text(loaded, TEXT + " ") is not first
    assert trace_text(loaded, TEXT, use_cache=False) is not first
    assert trace_text(loaded, TEXT) is first  # still cached
    stamp = loaded.checkpoint.stat()
    os.utime(loaded.checkpoint, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # retrained: best.pt rewritten
    try:
        assert trace_text(loaded, TEXT) is not first
    finally:
        os.utime(loaded.checkpoint, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))


def test_a_model_without_a_checkpoint_file_is_never_cached():
    vocab = CharVocab(TEXT)
    loaded = in_memory(CharLM(len(vocab), 4, 5), vocab, embed_size=4, hidden_size=5)
    assert trace_text(loaded, TEXT) is not trace_text(loaded, TEXT)


def test_the_cache_is_bounded_by_entries_and_by_bytes(charlm_of):
    from engine.inspection.cache import TraceCache

    trace = trace_text(charlm_of("lstm", 1), TEXT)
    size = trace.nbytes()
    activity = trace.activity(0)
    assert size >= 7 * activity.h.numel() * 4  # h, c, torch's h and the four gates, each [T, H] float32
    cache = TraceCache(entries=2, max_bytes=10 * size)
    for key in "abc":
        cache.put(key, trace)
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is trace
    cache = TraceCache(entries=8, max_bytes=size + 1)
    cache.put("a", trace)
    cache.put("b", trace)
    assert cache.get("a") is None and cache.get("b") is trace  # the newest stays, whatever its size
