"""A review classifier over your own review: every layer's gates, c and h at every token, and P(positive) as it reads.

`trace_review(loaded, text)` tokenises the review exactly as training and `rnn-tui classify` do
(corpora.tokenize, the checkpoint's vocabulary, config.max_length), then runs our own recurrence
(engine.inspection.recurrence) for each layer and direction of the SentimentClassifier beside
torch's output for it. The backward direction reads the review from its last token; its values are
stored in text order.

`running[t]` is the model's P(positive) for the review's first t+1 tokens: exactly what
`classify` says for that prefix. A bidirectional model's backward direction sees a different text
for every prefix, so those come from the model's own forward over all prefixes at once (a padded
batch with lengths, in chunks of at most BATCH_TOKENS positions; O(T²) work). A unidirectional
model's outputs at token t do not depend on what follows, so its prefixes come from the one pass:
the top layer's output at t (last pooling), its running maximum (max) or running mean (mean),
through the model's own fully connected layers. Traces are cached like a character model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor

from corpora.tokenize import tokenize_with_spans
from corpora.vocab import PAD_ID
from engine.cells import cell_of_mode
from engine.generation.loading import LoadedModel
from engine.inspection.cache import cached
from engine.inspection.inputs import InspectInputError, check_text
from engine.inspection.recurrence import Activities, beside, compare, run_layer, torch_layer
from engine.models import OneThread
from engine.stepper.trace import native_kernels

if TYPE_CHECKING:
    from corpora.vocab import WordVocab

#: At most this many token positions go through the model in one forward pass of the prefix batch.
BATCH_TOKENS = 100_000


@dataclass(frozen=True)
class Token:
    text: str  # as the model reads it (the book's tokenizer: lower-cased, punctuation removed)
    span: tuple[int, int] | None  # where it is in the review (character offsets), when it can be found
    known: bool  # in the vocabulary (False: the model read <unk>)
    id: int


@dataclass(frozen=True)
class Mover:
    """A token and how far reading it moved P(positive)."""

    index: int
    token: Token
    before: float  # P(positive) before this token (0.5 before the first: no opinion yet)
    after: float  # P(positive) with it

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass
class ReviewTrace(Activities):
    """One pass of a review classifier over a review. Step t is token t (`tokens[t]`)."""

    text: str = ""  # the review as given
    tokens: tuple[Token, ...] = ()  # the tokens read, after truncation
    truncated: int = 0  # tokens beyond config.max_length that the model does not read
    pooling: str = "last"
    logits: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)  # [T]: logit of each prefix
    running: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.float64), repr=False)  # [T]

    @property
    def probability(self) -> float:
        """P(positive) for the whole review (as classify says)."""
        return float(self.running[-1])

    @property
    def label(self) -> str:
        return "positive" if self.probability >= 0.5 else "negative"

    def movers(self, n: int = 5) -> list[Mover]:
        """The n tokens that moved P(positive) most, by |running[t] − running[t−1]|, largest first.

        The first token is measured against 0.5, the model having no opinion before it reads
        anything (not against the model's answer for an empty review, which it never sees).
        """
        before = torch.cat([torch.tensor([0.5], dtype=self.running.dtype), self.running[:-1]])
        change = (self.running - before).abs()
        order = torch.sort(change, descending=True, stable=True).indices[: max(n, 0)]
        return [Mover(int(i), self.tokens[int(i)], float(before[i]), float(self.running[i])) for i in order]

    def signal_of(self, char_signal: Tensor) -> Tensor:
        """A signal over the review's characters as one over its tokens: each token takes its mean over the token's span (0 without a span)."""
        values = [
            float(char_signal[token.span[0] : token.span[1]].float().mean()) if token.span else 0.0
            for token in self.tokens
        ]
        return torch.tensor(values)

    def nbytes(self) -> int:
        return super().nbytes() + self.logits.untyped_storage().nbytes() + self.running.untyped_storage().nbytes()


def review_tokens(loaded: LoadedModel, text: str) -> tuple[list[Token], int]:
    """The tokens the model reads (after config.max_length) and how many were cut; InspectInputError when there are none."""
    check_text(text, "review")
    pieces = tokenize_with_spans(text)
    if not pieces:
        raise InspectInputError(
            "The review has no words the model can read (only punctuation or markup); type a review."
        )
    limit = loaded.config.max_length
    seen = pieces[:limit] if limit else pieces
    vocab = cast("WordVocab", loaded.vocab)
    return [Token(token, span, token in vocab, vocab[token]) for token, span in seen], len(pieces) - len(seen)


def trace_review(loaded: LoadedModel, text: str, *, use_cache: bool = True) -> ReviewTrace:
    """Trace a review classifier (a sentiment LoadedModel) over `text` in one pass; cached per checkpoint and text.

    InspectInputError (one sentence) for another kind of model, an empty review, one over
    MAX_TEXT characters or one without a token.
    """
    if loaded.job != "sentiment":
        raise InspectInputError(f"{loaded.name} is a {loaded.job} run; tracing a review needs a sentiment model.")
    tokens, truncated = review_tokens(loaded, text)
    return cached(loaded, "sentiment", text, lambda: _trace(loaded, text, tokens, truncated), use_cache=use_cache)


Outputs = list[tuple[Tensor, Tensor | None, Any]]


def _run(model: Any, x: Tensor, layer_fn: Any) -> tuple[Outputs, Tensor]:
    """Every layer and direction through `layer_fn(module, inputs)`, the backward one on the reversed review; and the top output."""
    results: Outputs = []
    for index, forward in enumerate(model.forward_layers):
        ahead = layer_fn(forward, x)
        results.append(ahead)
        if not model.backward_layers:
            x = ahead[0]
            continue
        behind = _flipped(layer_fn(model.backward_layers[index], x.flip(0)))
        results.append(behind)
        x = torch.cat([ahead[0], behind[0]], dim=1)
    return results, x


def _flipped(result: tuple[Tensor, Tensor | None, Any]) -> tuple[Tensor, Tensor | None, Any]:
    """A backward direction's results, computed on the reversed review, back in text order (torch's c_n stays as is)."""
    h, c, extra = result
    if isinstance(extra, dict):  # ours: c and the gates are per step
        return h.flip(0), (c.flip(0) if c is not None else None), {name: g.flip(0) for name, g in extra.items()}
    return h.flip(0), c, extra


def _trace(loaded: LoadedModel, text: str, tokens: list[Token], truncated: int) -> ReviewTrace:
    model = loaded.model
    first = model.forward_layers[0]
    cell = cell_of_mode(first.mode).name
    cpu = loaded.device.type == "cpu"
    parallel = not cpu or torch.get_num_threads() > 1
    ids = torch.tensor([token.id for token in tokens], device=loaded.device)
    with OneThread(cpu), torch.inference_mode(), native_kernels():
        x = model.embedding(ids)

        def reference() -> tuple[Outputs, Tensor]:
            theirs, top = _run(model, x, lambda module, inputs: (*torch_layer(module, inputs), None))
            return theirs, _running_logits(model, ids, top)

        def ours() -> Outputs:
            return _run(model, x, lambda module, inputs: run_layer(module, 0, inputs))[0]

        (theirs, logits), mine = beside(reference, ours, parallel=parallel)
        directions = model.directions
        layers = [
            compare(index // directions, index % directions, cell, mine[index], theirs[index][0], theirs[index][1])
            for index in range(len(mine))
        ]
    return ReviewTrace(
        cell=cell,
        hidden_size=first.hidden_size,
        layer_count=len(model.forward_layers),
        directions=directions,
        layers=layers,
        text=text,
        tokens=tuple(tokens),
        truncated=truncated,
        pooling=model.pooling,
        logits=logits,
        running=torch.sigmoid(logits.double()),
    )


def _running_logits(model: Any, ids: Tensor, top: Tensor) -> Tensor:
    """The model's logit for every prefix of the review, [T] (float32, on the CPU)."""
    if model.backward_layers:
        return _prefix_logits(model, ids)
    count = torch.arange(1, top.shape[0] + 1, device=top.device)
    if model.pooling == "last":
        features = top
    elif model.pooling == "max":
        features = torch.cummax(top, dim=0).values
    else:
        features = (top.double().cumsum(dim=0) / count[:, None]).to(top.dtype)
    return model.fc2(model.relu(model.fc1(model.dropout(features)))).squeeze(1).float().cpu()


def _prefix_logits(model: Any, ids: Tensor) -> Tensor:
    """model(prefix) for every prefix of `ids`: a padded batch with lengths, BATCH_TOKENS positions at a time."""
    count = ids.shape[0]
    columns = torch.arange(count, device=ids.device)
    logits: list[Tensor] = []
    start = 1
    while start <= count:
        end = start
        while end < count and (end + 1 - start + 1) * (end + 1) <= BATCH_TOKENS:
            end += 1
        lengths = torch.arange(start, end + 1, device=ids.device)
        batch = ids[None, :end].expand(lengths.shape[0], end)
        batch = torch.where(columns[None, :end] < lengths[:, None], batch, torch.full_like(batch, PAD_ID))
        logits.append(model(batch, lengths).float().cpu())
        start = end + 1
    return torch.cat(logits)
