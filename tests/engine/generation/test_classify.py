"""engine.generation.classify on a tiny trained sentiment model: probabilities, honest occlusion scores and spans."""

from __future__ import annotations

import math

import pytest
import torch
from generation_helpers import assert_one_sentence, make_sentiment_run
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from corpora.tokenize import tokenize, tokenize_with_spans
from engine.generation.classify import classify, scored_words
from engine.generation.loading import load_model
from engine.generation.settings import GenerateInputError


def logit_of(loaded, tokens: list[str]) -> float:
    ids = torch.tensor([loaded.vocab.encode(tokens)])
    with torch.no_grad():
        return float(loaded.model(ids, torch.tensor([len(tokens)]))[0])


def test_clear_reviews_get_clear_answers_and_the_right_signs(sentiment):
    good = classify(sentiment, "a great superb film")
    assert good.probability > 0.5 and good.label == "positive" and good.method == "occlusion" and good.truncated == 0
    assert [w.token for w in good.words] == ["a", "great", "superb", "film"]
    scores = {w.token: w.contribution for w in good.words}
    assert scores["great"] > 0 and scores["superb"] > 0
    bad = classify(sentiment, "awful dull")
    assert bad.probability < 0.5 and bad.label == "negative"
    assert all(w.contribution < 0 for w in bad.words)
    assert bad.logit == pytest.approx(logit_of(sentiment, ["awful", "dull"]), abs=1e-5)
    assert good.probability == pytest.approx(float(torch.sigmoid(torch.tensor(good.logit))), abs=1e-6)


def test_occlusion_is_recomputed_for_every_token(sentiment):
    text = "The plot was AWFUL, but the actor: great!"
    result = classify(sentiment, text)
    tokens = tokenize(text)
    assert [w.token for w in result.words] == tokens
    full = logit_of(sentiment, tokens)
    for index, word in enumerate(result.words):
        without = logit_of(sentiment, tokens[:index] + tokens[index + 1 :])
        assert word.contribution == pytest.approx(full - without, abs=1e-4)
    scores = {w.token: w.contribution for w in result.words}
    assert scores["awful"] < 0 < scores["great"]


def test_repeated_tokens_are_scored_one_by_one(sentiment):
    text = "great film, great acting, dull plot"
    result = classify(sentiment, text)
    greats = [w for w in result.words if w.token == "great"]
    assert len(greats) == 2 and greats[0].span == (0, 5) and greats[1].span == (12, 17)
    assert all(w.contribution > 0 for w in greats)


def test_spans_point_at_the_words_in_the_original_text(sentiment):
    text = "The plot was <b>AWFUL</b>... but GREAT acting :-) and Zzyzx."
    result = classify(sentiment, text)
    for word in result.words:
        assert word.span is not None
        start, end = word.span
        assert text[start:end].lower().replace("-", "") == word.token
    known = {w.token: w.known for w in result.words}
    assert known["awful"] and known["great"] and known["the"]
    assert not known["acting"] and not known["zzyzx"] and not known[":)"]


def test_without_attributions_there_are_no_words(sentiment):
    result = classify(sentiment, "great", attributions=False)
    assert result.words == () and result.method == "none" and result.probability > 0.5
    single = classify(sentiment, "superb")  # removing the only token: compared with a lone <pad>
    assert len(single.words) == 1 and single.words[0].contribution > 0


def test_empty_or_wordless_text_is_one_sentence(sentiment):
    with pytest.raises(GenerateInputError) as caught:
        classify(sentiment, "   \n ")
    assert str(caught.value) == "There is no text to classify; type or paste a review."
    with pytest.raises(GenerateInputError) as caught:
        classify(sentiment, "... !!! <br />")
    assert_one_sentence(str(caught.value))


def test_a_character_model_cannot_classify(charlm):
    with pytest.raises(GenerateInputError, match="is a charlm run; rnn-tui classify needs a sentiment model"):
        classify(charlm, "great")


def test_tokens_beyond_max_length_are_counted_not_scored(tmp_path):
    run = make_sentiment_run(tmp_path / "runs", max_length=3, train_steps=5)
    loaded = load_model(run, job="sentiment")
    result = classify(loaded, "one two three four five")
    assert [w.token for w in result.words] == ["one", "two", "three"] and result.truncated == 2
    assert result.logit == pytest.approx(logit_of(loaded, ["one", "two", "three"]), abs=1e-5)


def test_long_reviews_are_scored_in_several_passes(sentiment, monkeypatch):
    import engine.generation.classify as module

    text = " ".join(["great", "film", "dull", "plot"] * 8)
    whole = classify(sentiment, text)
    monkeypatch.setattr(module, "BATCH_TOKENS", 200)  # six rows per pass
    split = classify(sentiment, text)
    assert [w.contribution for w in split.words] == pytest.approx([w.contribution for w in whole.words], abs=1e-5)


def test_word_scores_stop_at_the_budget_and_match_the_uncapped_ones(sentiment):
    text = " ".join(["great", "film", "dull", "plot", "a"] * 10)  # 50 tokens
    everything = classify(sentiment, text, budget=math.inf)
    assert len(everything.words) == 50 and everything.unscored == 0
    capped = classify(sentiment, text, budget=49 * 7)  # reads for 7 removals of a 50-token review
    assert len(capped.words) == 7 and capped.unscored == 43 and capped.logit == everything.logit
    assert [w.contribution for w in capped.words] == pytest.approx(
        [w.contribution for w in everything.words[:7]], abs=1e-5
    )
    assert capped.to_json()["unscored"] == 43
    assert len(classify(sentiment, text, budget=1).words) == 1  # at least one word is always scored
    assert scored_words(1_000) == 1_000 and scored_words(4_000) == 250 and scored_words(10**6) == 1
    assert scored_words(5, math.inf) == 5 and scored_words(1, 0) == 1


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZé İß 1_-:;=)(DP<>/b!.\n\t")), max_size=40))
def test_tokenize_with_spans_agrees_with_tokenize(text):
    pieces = tokenize_with_spans(text)
    assert [token for token, _ in pieces] == tokenize(text)
    for _token, span in pieces:
        if span is not None:
            assert 0 <= span[0] < span[1] <= len(text)
