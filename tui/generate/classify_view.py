"""How the Generate pane draws a classification: the label and P(positive) with a bar, the review
with each word coloured by how much it pushed the model, the strongest words each way, and notes
(unknown words, a review longer than the model reads)."""

from __future__ import annotations

from rich.text import Text

from engine.generation.classify import Classification, WordScore
from tui.generate.readouts import bar

SHOWN_WORDS = 5  # the strongest words listed each way
STRONG, CLEAR, FAINT = 0.5, 0.3, 0.15  # a word's share of the strongest contribution: bold, plain, dim, unmarked


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
    ranked = sorted(result.words, key=lambda w: w.contribution)
    pushes_up = [w for w in reversed(ranked) if w.contribution > 0][:SHOWN_WORDS]
    pushes_down = [w for w in ranked if w.contribution < 0][:SHOWN_WORDS]
    out.append("pushed towards positive: ", style="dim")
    out.append(_listed(pushes_up), style="green")
    out.append("\npushed towards negative: ", style="dim")
    out.append(_listed(pushes_down), style="red")
    out.append("\n" + "\n".join(notes(result)), style="dim")
    return out


def coloured_review(review: str, words: tuple[WordScore, ...]) -> Text:
    """`review` with each word green (towards positive) or red, brighter the more it pushed."""
    scale = max((abs(w.contribution) for w in words), default=0.0) or 1.0
    coloured = Text(review)
    for word in words:
        if not word.span or word.contribution == 0:
            continue
        strength = min(abs(word.contribution) / scale, 1.0)
        style = ("green" if word.contribution > 0 else "red") + (" bold" if strength > STRONG else "")
        if strength > FAINT:
            coloured.stylize(style if strength > CLEAR else f"dim {style}", *word.span)
    return coloured


def notes(result: Classification) -> list[str]:
    """What the score means, which words the model did not know, and what it did not read."""
    found = [f"{result.method}: the change in the logit when a word is left out"]
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


def _listed(words: list[WordScore]) -> str:
    return ", ".join(f"{w.token} {w.contribution:+.2f}" for w in words) or "nothing"
