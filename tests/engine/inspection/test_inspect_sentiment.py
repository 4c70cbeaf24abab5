"""engine.inspection.sentiment: P(positive) as the review is read equals classify on every prefix; layers equal torch."""

from __future__ import annotations

import pytest
import torch

from corpora.tokenize import tokenize
from corpora.vocab import WordVocab
from engine.generation.classify import classify
from engine.inspection.inputs import InspectInputError
from engine.inspection.sentiment import trace_review
from engine.models import SentimentClassifier
from tests.engine.generation.generation_helpers import synthetic_reviews
from tests.engine.inspection.inspection_helpers import in_memory, torch_layers
from tests.messages import assert_one_sentence

REVIEW = "The plot was DULL at first, but the acting: superb! And Zzyzx the ending was great <br /> :)"
TOLERANCE = 1e-6
SHAPES = [("last", False), ("max", False), ("mean", False), ("last", True), ("max", True), ("mean", True)]


def prefixes(trace) -> list[str]:
    return [" ".join(token.text for token in trace.tokens[: t + 1]) for t in range(len(trace.tokens))]


def check_layers(model, trace) -> None:
    """Every layer and direction against torch's own layer (the backward one on the reversed review)."""
    with torch.no_grad():
        x = model.embedding(torch.tensor([token.id for token in trace.tokens]))
    for layer, forward in enumerate(model.forward_layers):
        (ahead, c_ahead), *_ = torch_layers(forward, x)
        activity = trace.activity(layer, 0)
        assert (activity.h - ahead).abs().max() <= TOLERANCE and activity.max_diff <= TOLERANCE
        if c_ahead is not None:
            assert (activity.c - c_ahead).abs().max() <= TOLERANCE
        if not model.backward_layers:
            x = ahead
            continue
        (behind, c_behind), *_ = torch_layers(model.backward_layers[layer], x.flip(0))
        back = trace.activity(layer, 1)
        assert (back.h - behind.flip(0)).abs().max() <= TOLERANCE and back.max_diff <= TOLERANCE
        if c_behind is not None:
            assert (back.c - c_behind.flip(0)).abs().max() <= TOLERANCE
        x = torch.cat([ahead, behind.flip(0)], dim=1)


@pytest.mark.parametrize(("pooling", "bidirectional"), SHAPES)
def test_running_probability_equals_classify_on_every_prefix(sentiment_of, pooling, bidirectional):
    loaded = sentiment_of(pooling, bidirectional)
    trace = trace_review(loaded, REVIEW)
    assert [token.text for token in trace.tokens] == tokenize(REVIEW)
    assert trace.probability == pytest.approx(classify(loaded, REVIEW).probability, abs=TOLERANCE)
    assert trace.directions == (2 if bidirectional else 1) and trace.pooling == pooling
    for t, prefix in enumerate(prefixes(trace)):
        assert float(trace.running[t]) == pytest.approx(
            classify(loaded, prefix, attributions=False).probability, abs=TOLERANCE
        )
    check_layers(loaded.model, trace)


def test_tokens_match_classify(sentiment_of):
    loaded = sentiment_of("max", True)
    trace = trace_review(loaded, REVIEW)
    words = classify(loaded, REVIEW).words
    assert [(t.text, t.span, t.known) for t in trace.tokens] == [(w.token, w.span, w.known) for w in words]
    assert not trace.tokens[tokenize(REVIEW).index("zzyzx")].known
    assert trace.label == ("positive" if trace.probability >= 0.5 else "negative")


def test_movers_are_the_largest_steps_the_first_against_one_half(sentiment_of):
    trace = trace_review(sentiment_of("last", False), REVIEW)
    running = trace.running.tolist()
    steps = [running[0] - 0.5] + [running[t] - running[t - 1] for t in range(1, len(running))]
    movers = trace.movers(4)
    assert [m.index for m in movers] == sorted(range(len(steps)), key=lambda t: (-abs(steps[t]), t))[:4]
    assert movers[0].change == pytest.approx(steps[movers[0].index])
    first = trace.movers(len(steps))
    assert next(m for m in first if m.index == 0).before == 0.5


def test_a_review_longer_than_max_length_is_cut_as_classify_cuts_it(sentiment_of):
    loaded = sentiment_of("max", True, 5)
    trace = trace_review(loaded, REVIEW)
    assert len(trace.tokens) == 5 and trace.truncated == len(tokenize(REVIEW)) - 5
    result = classify(loaded, REVIEW)
    assert result.truncated == trace.truncated
    assert trace.probability == pytest.approx(result.probability, abs=TOLERANCE)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_two_bidirectional_layers_equal_torch_and_the_model(cell):
    reviews = synthetic_reviews(40)
    vocab = WordVocab.build([tokenize(text) for text, _ in reviews])
    torch.manual_seed(2)
    model = SentimentClassifier(len(vocab), 6, 7, cell=cell, layers=2, bidirectional=True, pooling="mean", fc_size=5)
    loaded = in_memory(
        model, vocab, cell=cell, layers=2, bidirectional=True, pooling="mean", embed_size=6, hidden_size=7, fc_size=5
    )
    text = reviews[3][0] + " and the film was great"
    trace = trace_review(loaded, text)
    assert trace.layer_count == 2 and len(trace.layers) == 4
    check_layers(model, trace)
    for t, prefix in enumerate(prefixes(trace)):
        assert float(trace.running[t]) == pytest.approx(
            classify(loaded, prefix, attributions=False).probability, abs=TOLERANCE
        )


def test_unit_queries_know_the_backward_direction(sentiment_of):
    trace = trace_review(sentiment_of("max", True), REVIEW)
    back = trace.activity(0, 1)
    assert torch.equal(trace.values(0, 2, kind="i", direction=1), back.gates["i"][:, 2])
    change = (back.h[3] - back.h[4]).abs()  # backward: the step read before token 3 is token 4
    assert (
        trace.top_units(0, 3, 2, by="delta", direction=1) == sorted(range(16), key=lambda u: (-float(change[u]), u))[:2]
    )
    with pytest.raises(InspectInputError):
        trace_review(sentiment_of("last", False), REVIEW).activity(0, 1)


@pytest.mark.parametrize(("text", "fragment"), [("", "no review"), ("<br /> !!", "no words"), ("x" * 10_001, "10,001")])
def test_unusable_reviews_are_one_sentence(sentiment_of, text, fragment):
    with pytest.raises(InspectInputError) as error:
        trace_review(sentiment_of("max", True), text)
    assert fragment in str(error.value)
    assert_one_sentence(str(error.value))


def test_a_character_model_is_refused_and_traces_are_cached(sentiment_of, charlm_of):
    with pytest.raises(InspectInputError) as error:
        trace_review(charlm_of("lstm", 1), REVIEW)
    assert_one_sentence(str(error.value))
    loaded = sentiment_of("max", True)
    assert trace_review(loaded, REVIEW) is trace_review(loaded, REVIEW)


def test_prefix_batches_in_small_chunks_give_the_same_answers(sentiment_of, monkeypatch):
    import engine.inspection.sentiment as sentiment

    loaded = sentiment_of("last", True)
    whole = trace_review(loaded, REVIEW, use_cache=False).running
    monkeypatch.setattr(sentiment, "BATCH_TOKENS", 7)  # rows of up to 7 positions: many chunks, one row each at the end
    assert torch.allclose(trace_review(loaded, REVIEW, use_cache=False).running, whole, atol=1e-7, rtol=0)
