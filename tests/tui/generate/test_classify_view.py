"""The Generate pane's classification text says how far word scores reach when a long review was capped."""

from __future__ import annotations

from engine.generation.classify import Classification, WordScore
from tui.generate.classify_view import classification_text, notes


def result(unscored: int, truncated: int = 0) -> Classification:
    words = (WordScore("great", (0, 5), True, 0.8), WordScore("film", (6, 10), True, -0.1))
    return Classification(0.7, 0.85, words, "occlusion", truncated, unscored)


def test_a_capped_review_says_how_many_tokens_have_scores():
    shown = classification_text("great film and then some", result(unscored=3)).plain
    assert "word scores cover the first 2 of 5 tokens" in shown
    assert "pushed towards positive: great +0.80" in shown


def test_a_review_scored_whole_has_no_such_note():
    assert not any("word scores cover" in line for line in notes(result(unscored=0, truncated=2)))
