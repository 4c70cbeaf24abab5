"""Asking a sentiment model about a text: P(positive), and how much each word moved it (occlusion).

The text is tokenised exactly as in training (the book's tokenizer, corpora.tokenize) and mapped
through the checkpoint's own vocabulary (unknown words become <unk>). A word's contribution is
honest occlusion: logit(whole text) − logit(the text with that one token removed), recomputed by
the model for every token, all removals of a text batched together. Positive means the word pushed
the model towards "positive". Repeated tokens are scored one by one.

Occlusion reads the whole review once per scored word, so scoring every word of an n-token review
costs n² token reads. Words are scored from the start of the review until `ATTRIBUTION_BUDGET`
token reads are spent (every word of a review up to 1,000 tokens; the first 250 of a 4,000-token
one), so the cost stays linear in the review's length; `Classification.unscored` says how many
tokens were left without a score.

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from corpora.tokenize import tokenize, tokenize_with_spans
from engine.generation.loading import LoadedModel
from engine.generation.settings import GenerateInputError

if TYPE_CHECKING:
    from corpora.vocab import WordVocab

#: At most this many token positions go through the model in one forward pass of the occlusion batch.
BATCH_TOKENS = 200_000
#: Occlusion scores words from the review's start until this many token positions have been read.
ATTRIBUTION_BUDGET = 1_000_000


@dataclass(frozen=True)
class WordScore:
    token: str  # the token as the model sees it (book tokenizer: lower-cased, punctuation removed, emoticons)
    span: tuple[int, int] | None  # where it is in the original text (character offsets), when it can be found
    known: bool  # in the vocabulary (False: the model read <unk>)
    contribution: float  # logit(full text) - logit(text with this token removed): > 0 pushed towards positive


@dataclass(frozen=True)
class Classification:
    probability: float  # P(positive)
    logit: float
    words: tuple[WordScore, ...]  # in the model's order (the tokenizer puts emoticons last); () without attributions
    method: str  # "occlusion" ("none" without attributions)
    truncated: int  # tokens beyond config.max_length that the model did not see (0 if none)
    unscored: int = 0  # tokens the model read that got no word score (beyond ATTRIBUTION_BUDGET's reach)

    @property
    def label(self) -> str:
        return "positive" if self.probability >= 0.5 else "negative"

    def unscored_note(self) -> str:
        """Why the review's later words have no score (occlusion reads the whole review once per word)."""
        scored = len(self.words)
        return (
            f"word scores cover the first {scored:,} of {scored + self.unscored:,} tokens "
            "(occlusion reads the whole review once per word, so long reviews are scored only so far)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "probability": self.probability,
            "logit": self.logit,
            "method": self.method,
            "truncated": self.truncated,
            "unscored": self.unscored,
            "words": [
                {
                    "token": w.token,
                    "span": list(w.span) if w.span else None,
                    "known": w.known,
                    "contribution": w.contribution,
                }
                for w in self.words
            ],
        }


def classify(
    loaded: LoadedModel, text: str, *, attributions: bool = True, budget: float | None = None
) -> Classification:
    """P(positive) for `text`, with occlusion scores for its words unless `attributions` is False.

    Only the first `config.max_length` tokens are read when the run was trained with that limit
    (the rest are counted in `truncated` and get no score). Removing the only token of a one-token
    text leaves nothing to read, so that token is compared with a single <pad> (a zero embedding).
    Words are scored from the start until `budget` token positions have been read (None:
    ATTRIBUTION_BUDGET; math.inf scores every word, at n² cost; at least one word is scored); the
    rest are counted in `unscored`.
    """
    if loaded.job != "sentiment":
        raise GenerateInputError(f"{loaded.name} is a {loaded.job} run; rnn-tui classify needs a sentiment model.")
    check_text(text)
    pieces = tokenize_with_spans(text)
    limit = loaded.config.max_length
    seen = pieces[:limit] if limit else pieces
    truncated = len(pieces) - len(seen)
    vocab = cast("WordVocab", loaded.vocab)  # a sentiment run's, checked above
    ids = [vocab[token] for token, _ in seen]

    import torch

    model, device = loaded.model, loaded.device
    with torch.inference_mode():
        full = float(_logits(model, torch.tensor([ids], device=device))[0])
        words: tuple[WordScore, ...] = ()
        unscored = 0
        if attributions:
            count = scored_words(len(ids), budget)
            without = _occluded_logits(model, torch.tensor(ids, device=device), count)
            words = tuple(
                WordScore(token, span, token in vocab, full - without[index])
                for index, (token, span) in enumerate(seen[:count])
            )
            unscored = len(ids) - count
    probability = float(torch.sigmoid(torch.tensor(full, dtype=torch.float64)))
    return Classification(probability, full, words, "occlusion" if attributions else "none", truncated, unscored)


def scored_words(length: int, budget: float | None = None) -> int:
    """How many of a `length`-token review's words occlusion scores within `budget` token reads (at least one).

    None means ATTRIBUTION_BUDGET; removing one word leaves `length - 1` tokens to read.
    """
    budget = ATTRIBUTION_BUDGET if budget is None else budget
    if length <= 1 or budget >= length * (length - 1):
        return length
    return max(1, int(budget // (length - 1)))


def check_text(text: str | None) -> None:
    """GenerateInputError for an empty text or one without a single token (checked before any model is loaded)."""
    if not text or not text.strip():
        raise GenerateInputError("There is no text to classify; type or paste a review.")
    if not tokenize(text):
        raise GenerateInputError(
            "The text has no words the model can read (only punctuation or markup); type a review."
        )


def _logits(model: Any, batch: Any) -> Any:
    """Logits [B] of equally long rows [B, T]."""
    import torch

    lengths = torch.full((batch.shape[0],), batch.shape[1], dtype=torch.long)
    return model(batch, lengths).float().cpu()


def _occluded_logits(model: Any, ids: Any, scored: int) -> list[float]:
    """For each position i < `scored`, the logit of `ids` with token i removed (every row is one token shorter)."""
    import torch

    from corpora.vocab import PAD_ID

    count = ids.shape[0]
    if count == 1:
        return [float(_logits(model, torch.full((1, 1), PAD_ID, dtype=ids.dtype, device=ids.device))[0])]
    columns = torch.arange(count - 1, device=ids.device)
    per_pass = max(1, BATCH_TOKENS // (count - 1))
    results: list[float] = []
    for first in range(0, scored, per_pass):
        dropped = torch.arange(first, min(first + per_pass, scored), device=ids.device)
        positions = columns[None, :] + (columns[None, :] >= dropped[:, None]).long()  # row i skips position i
        results += _logits(model, ids[positions]).tolist()
    return results
