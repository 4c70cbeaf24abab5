"""How the Generate pane draws a classification: the label and P(positive) with a bar, the review
with each word coloured by how much it pushed the model, the strongest words each way, and notes
(unknown words, a review longer than the model reads)."""

from __future__ import annotations

from rich.text import Text

from engine.generation.classify import Classification, WordScore
from tui.generate.readouts import bar

SHOWN_WORDS = 5  # the strongest words listed each way
# How far a word moved the logit (its occlusion score, in logit units: the same scale for every review):
# at least STRONG is bold, at least CLEAR plain, at least NEUTRAL dim; below NEUTRAL it is left uncoloured
# and listed neither way (±0.00 as shown is no push at all).
STRONG, CLEAR, NEUTRAL = 1.0, 0.25, 0.05


def classification_text(review: str, result: Classification) -> Text:
    """The whole result for `review` as the model scored it."""
    probability = result.probability
    colour = "green" if result.label == "positive" else "red"
    out = Text.assemble(
        (f"{result.label} ", f"bold {colour}"),
        (f"P(positive) = {probability:.3f}", "bold"),
        "  ",
        (bar(probability, 20).ljust(20), colour),
        (f"  logit {result.logit:+.2f}\n", "dim"),
    )
    out.append("\n")
    out.append(coloured_review(review, result.words))
    out.append("\n\n")
    pushes_up, pushes_down = strongest_words(result.words)
    out.append("pushed towards positive: ", style="dim")
    out.append(_listed(pushes_up), style="green")
    out.append("\npushed towards negative: ", style="dim")
    out.append(_listed(pushes_down), style="red")
    out.append("\n" + "\n".join(notes(result)), style="dim")
    return out


def word_style(contribution: float) -> str | None:
    """The colour of a word that moved the logit by `contribution`: None (uncoloured) for next to nothing."""
    size = abs(contribution)
    if size < NEUTRAL:
        return None
    colour = "green" if contribution > 0 else "red"
    return f"bold {colour}" if size >= STRONG else colour if size >= CLEAR else f"dim {colour}"


def coloured_review(review: str, words: tuple[WordScore, ...]) -> Text:
    """`review` with each word green (towards positive) or red, brighter the more it pushed (an absolute scale)."""
    coloured = Text(review)
    for word in words:
        style = word_style(word.contribution)
        if word.span and style:
            coloured.stylize(style, *word.span)
    return coloured


def strongest_words(words: tuple[WordScore, ...]) -> tuple[list[tuple[str, int, float]], list[tuple[str, int, float]]]:
    """The words that pushed most towards positive, and towards negative: (token, times, summed contribution).

    A word that occurs several times is one entry with its contributions summed, so it is listed on one
    side only; words whose sum is next to nothing (below NEUTRAL) are on neither.
    """
    totals: dict[str, list[float]] = {}
    for word in words:
        totals.setdefault(word.token, []).append(word.contribution)
    summed = [(token, len(values), sum(values)) for token, values in totals.items()]
    ranked = sorted((entry for entry in summed if abs(entry[2]) >= NEUTRAL), key=lambda entry: entry[2])
    up = [entry for entry in reversed(ranked) if entry[2] > 0][:SHOWN_WORDS]
    down = [entry for entry in ranked if entry[2] < 0][:SHOWN_WORDS]
    return up, down


def notes(result: Classification) -> list[str]:
    """What the score means, which words the model did not know, and what it did not read."""
    found = [
        f"{result.method}: the change in the logit when a word is left out; "
        f"uncoloured under ±{NEUTRAL:g}, dim under ±{CLEAR:g}, bold from ±{STRONG:g}"
    ]
    unknown = sorted({w.token for w in result.words if not w.known})
    if unknown:
        found.append(
            f"{len(unknown)} word{'s' if len(unknown) > 1 else ''} not in the vocabulary read as <unk>: {', '.join(unknown[:8])}"
        )
    if result.unscored:
        found.append(result.unscored_note())
    if result.truncated:
        found.append(f"the review is longer than the model reads: its last {result.truncated:,} tokens were not scored")
    return found


def _listed(words: list[tuple[str, int, float]]) -> str:
    return (
        ", ".join(f"{token}{f' ×{times}' if times > 1 else ''} {total:+.2f}" for token, times, total in words)
        or "nothing"
    )
