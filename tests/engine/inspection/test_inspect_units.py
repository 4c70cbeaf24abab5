"""engine.inspection.units: a planted "inside quotes" unit is found, scores are Pearson correlations, probes and spans."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from corpora.vocab import CharVocab
from engine.inspection.charlm import trace_text
from engine.inspection.inputs import InspectInputError, parse_span
from engine.inspection.units import PROBES, SCORE_DEFINITION, find_units, probe_named, rank_units, span_signal
from engine.models import CharLM
from engine.numbers import shown
from tests.engine.inspection.inspection_helpers import in_memory
from tests.messages import assert_one_sentence

QUOTED = "He said “go to the sea” and we went. She said “no” to him. Then “fine” he said, and “we stay here.” The end."
PLANTED = 4
HIDDEN = 10


def planted_model() -> tuple[CharLM, CharVocab]:
    """A random one-layer LSTM whose unit PLANTED is set by hand to be +tanh(1) inside “…” and −tanh(1) after a ”.

    One-hot embeddings; the unit ignores h: its input gate opens on either quote, its forget gate
    closes on either quote, its candidate is +1 on “ and −1 on ”, its output gate is always open.
    """
    vocab = CharVocab(QUOTED)
    size = len(vocab)
    torch.manual_seed(5)
    model = CharLM(size, size, HIDDEN)
    opening, closing = vocab.chars.index("“"), vocab.chars.index("”")
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(size))
        w_ih, w_hh = model.rnn.weight_ih_l0, model.rnn.weight_hh_l0
        b_ih, b_hh = model.rnn.bias_ih_l0, model.rnn.bias_hh_l0
        i, f, g, o = (block * HIDDEN + PLANTED for block in range(4))
        for row in (i, f, g, o):
            w_hh[row] = 0.0
            b_ih[row] = b_hh[row] = 0.0
            w_ih[row] = 0.0
        w_ih[i] = -10.0
        w_ih[i, [opening, closing]] = 10.0
        w_ih[f] = 10.0
        w_ih[f, [opening, closing]] = -10.0
        w_ih[g, opening], w_ih[g, closing] = 10.0, -10.0
        w_ih[o] = 10.0
    return model, vocab


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """[opening mark, closing mark) for each quotation, as the quotes probe counts them."""
    opens = [index for index, char in enumerate(text) if char == "“"]
    closes = [index for index, char in enumerate(text) if char == "”"]
    return list(zip(opens, closes, strict=True))


def test_a_planted_quote_unit_ranks_first_for_quoted_spans_and_the_quotes_probe():
    model, vocab = planted_model()
    trace = trace_text(in_memory(model, vocab, embed_size=len(vocab), hidden_size=HIDDEN), QUOTED)
    inside = span_signal(len(QUOTED), quoted_spans(QUOTED))
    assert torch.equal(inside, PROBES["quotes"].signal(QUOTED))
    h = trace.values(0, PLANTED)
    assert (h[inside == 1] > 0.7).all() and (h[inside == 0] < 0.01).all()
    for found in (
        find_units(trace, 0, spans=quoted_spans(QUOTED)),
        find_units(trace, 0, probe="quotes"),
        find_units(trace, 0, probe="quotes", kind="c", top=3),
    ):
        assert found[0].unit == PLANTED and found[0].score > 0.9
        assert all(abs(score.score) < found[0].score for score in found[1:])


def test_scores_are_pearson_correlations_ranked_by_size_with_the_sign_kept():
    torch.manual_seed(0)
    signal = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    values = torch.randn(8, 5)
    values[:, 1] = 3.0 * signal + 1.0  # follows it exactly
    values[:, 3] = -signal  # exactly against it
    values[:, 4] = 7.0  # never changes
    scores = rank_units(values, signal, top=5)
    assert [s.unit for s in scores[:2]] == [1, 3]  # a tie of sizes keeps unit order
    assert scores[0].score == pytest.approx(1.0) and scores[1].score == pytest.approx(-1.0)
    by_unit = {s.unit: s.score for s in scores}
    assert by_unit[4] == 0.0
    for unit in (0, 2):
        expected = torch.corrcoef(torch.stack([values[:, unit], signal]))[0, 1]
        assert by_unit[unit] == pytest.approx(float(expected), abs=1e-6)
    assert len(rank_units(values, signal, top=2)) == 2
    assert "Pearson correlation" in SCORE_DEFINITION


@pytest.mark.parametrize(
    ("values", "signal"),
    [
        (torch.zeros(4, 2), torch.ones(4)),
        (torch.zeros(4, 2), torch.tensor([0.0, 1.0, 0.0])),
        (torch.zeros(1, 2), torch.ones(1)),
    ],
)
def test_a_constant_or_mismatched_signal_is_one_sentence(values, signal):
    with pytest.raises(InspectInputError) as error:
        rank_units(values, signal)
    assert_one_sentence(str(error.value))


def test_the_probes():
    text = 'a "b c" “d” e\nfg. Hi, it\'s x. 9 Y'
    signal = {name: probe.signal(text).tolist() for name, probe in PROBES.items()}
    quotes = [0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0] + [0] * (len(text) - 11)
    assert signal["quotes"] == quotes
    assert signal["line position"][:3] == [1, 2, 3] and signal["line position"][text.index("\n")] == 0
    assert signal["line position"][text.index("\n") + 1] == 1
    stop = [0.0] * len(text)
    for start, end in ((text.index("."), text.index("H")), (text.rindex("."), text.rindex("Y"))):
        stop[start:end] = [1.0] * (end - start)
    assert signal["after full stop"] == stop
    apostrophe = text.index("'")
    assert signal["in word"][apostrophe] == 1 and signal["in word"][text.index("9")] == 0
    assert signal["in word"][text.index("f")] == 1 and signal["in word"][text.index(" ")] == 0
    assert all(probe.description.endswith(".") for probe in PROBES.values())


def test_probe_names_and_choices():
    assert probe_named("Line-Position")[0] == "line position"
    assert probe_named(" after_full_stop ")[0] == "after full stop"
    with pytest.raises(InspectInputError) as error:
        probe_named("zebra")
    assert '"quotes"' in str(error.value)
    assert_one_sentence(str(error.value))


def test_find_units_wants_a_span_or_a_probe(charlm_of):
    trace = trace_text(charlm_of("lstm", 1), "The island. The sea.")
    for kwargs in ({}, {"spans": [(0, 3)], "probe": "quotes"}):
        with pytest.raises(InspectInputError) as error:
            find_units(trace, 0, **kwargs)
        assert_one_sentence(str(error.value))
    for kwargs in ({"spans": [(0, 99)]}, {"spans": [(0, 20)]}, {"probe": "quotes"}, {"probe": "nope"}):
        with pytest.raises(InspectInputError) as error:
            find_units(trace, 0, **kwargs)
        assert_one_sentence(str(error.value))
    assert len(find_units(trace, 0, probe="after full stop", top=4)) == 4


def test_a_review_takes_the_signal_per_token(sentiment_of):
    from engine.inspection.sentiment import trace_review

    text = 'The plot was dull, but "superb acting" and a great end.'
    trace = trace_review(sentiment_of("max", True), text)
    signal = trace.signal_of(PROBES["quotes"].signal(text))
    assert signal.tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    start = text.index("superb")
    assert trace.signal_of(span_signal(len(text), [(start, start + 3)])).tolist()[5] == pytest.approx(0.5)
    found = find_units(trace, 0, probe="quotes", direction=1, top=3)
    assert len(found) == 3


# ------------------------------------------------------------------------------ spans


@given(st.integers(0, 10**6), st.integers(1, 10**6))
@hypothesis_settings(max_examples=200)
def test_a_typed_span_reads_back(start, width):
    assert parse_span(f"{start}:{start + width}") == (start, start + width)
    assert parse_span(f" {start:,} : {start + width:,} ") == (start, start + width)


@given(st.text(max_size=12))
@hypothesis_settings(max_examples=300)
def test_any_typed_span_is_a_span_or_one_sentence(text):
    try:
        start, end = parse_span(text)
    except InspectInputError as error:  # one line: the sentence, with what was typed quoted whole inside it
        message = str(error)
        assert re.fullmatch(
            r'A span is START:END with whole numbers, START before END \(such as 4:12\), not ".*"\.', message
        )
        assert "\n" not in message and shown(text) in message
    else:
        assert 0 <= start < end


@given(st.integers(1, 60), st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), max_size=5))
@hypothesis_settings(max_examples=300)
def test_span_signal_marks_the_union_of_the_spans(length, pairs):
    spans = [(min(a, b), max(a, b)) for a, b in pairs]
    inside = {index for start, end in spans for index in range(start, end)}
    if any(start == end or end > length for start, end in spans):
        with pytest.raises(InspectInputError) as error:
            span_signal(length, spans)
        assert_one_sentence(str(error.value))
        return
    signal = span_signal(length, spans)
    assert signal.shape == (length,)
    assert [index for index in range(length) if signal[index] == 1] == sorted(inside)
    assert set(signal.tolist()) <= {0.0, 1.0}
