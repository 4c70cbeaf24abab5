"""A character model over your own text: every layer's gates, c and h at every character, and what it predicted.

`trace_text(loaded, text)` makes one pass: our own recurrence (engine.inspection.recurrence) for
every layer of `model.rnn` beside torch's output for the same layer, then the next-character
distribution after each character, softmax(model.fc(h_top)). Characters the vocabulary lacks are
left out with a notice (engine.generation.sampler.prepare_prompt's), so the time axis is the kept
characters, `CharTrace.text`. The result is cached (engine.inspection.cache): asking again for the
same checkpoint and text returns the same object. Every query of a CharTrace indexes what the pass
kept; nothing is recomputed.

For the book-sized model (E256 H512 LSTM) 1,000 characters take about 0.2 s on two cores
(bench/inspect.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, cast

import torch
from torch import Tensor

from engine.cells import cell_of_mode
from engine.generation.loading import LoadedModel
from engine.generation.sampler import prepare_prompt
from engine.inspection.cache import cached
from engine.inspection.inputs import InspectInputError, check_text
from engine.inspection.recurrence import Activities, beside, compare, run_layer, single_layers, torch_layer
from engine.models import OneThread
from engine.stepper.trace import native_kernels

if TYPE_CHECKING:
    from corpora.vocab import CharVocab

LN2 = math.log(2.0)


class Guess(NamedTuple):
    char: str
    prob: float


@dataclass
class CharTrace(Activities):
    """One pass of a character model over a text. Step t is the state after reading text[t].

    `probs[t]` is the distribution of the next character after reading text[:t+1]; for t < T−1 the
    true next character text[t+1] has `true_prob[t]`, `rank[t]` (1 = the likeliest) and
    `surprise[t]` = −log2 p bits (`nats[t]` = −ln p). The means over those T−1 predictions equal
    nn.CrossEntropyLoss over the text with next-character targets (in nats; bits = nats / ln 2).
    """

    text: str = ""  # the characters fed, after leaving out those the vocabulary lacks
    chars: tuple[str, ...] = ()  # the vocabulary: id -> character
    ids: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long), repr=False)
    notice: str | None = None  # one sentence when characters were left out
    missing: tuple[str, ...] = ()  # those characters, in order of first appearance
    probs: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)  # [T, V]
    true_prob: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)  # [T−1]
    rank: Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long), repr=False)  # [T−1]
    surprise: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)  # [T−1], bits
    nats: Tensor = field(default_factory=lambda: torch.empty(0), repr=False)  # [T−1]

    @property
    def predictions(self) -> int:
        """How many next characters were predicted and scored: T − 1."""
        return int(self.nats.shape[0])

    @property
    def total_nats(self) -> float:
        return float(self.nats.double().sum())

    @property
    def total_bits(self) -> float:
        return self.total_nats / LN2

    @property
    def mean_nats(self) -> float | None:
        """The mean loss per character in nats (None for a one-character text: nothing to predict)."""
        return self.total_nats / self.predictions if self.predictions else None

    @property
    def mean_bits(self) -> float | None:
        """The mean loss in bits per character (None for a one-character text)."""
        mean = self.mean_nats
        return None if mean is None else mean / LN2

    def top_next(self, t: int, k: int = 10) -> list[Guess]:
        """The k likeliest next characters after reading text[:t+1], likeliest first (ties by id)."""
        self.check_step(t)
        row = self.probs[t]
        order = torch.sort(row, descending=True, stable=True).indices[: max(k, 0)]
        return [Guess(self.chars[int(i)], float(row[i])) for i in order]

    def top_next_every_step(self, k: int = 10) -> tuple[Tensor, Tensor]:
        """top_next(t, k) for every step at once: character ids and probabilities, each [T, min(k, V)]."""
        found = torch.sort(self.probs, dim=1, descending=True, stable=True)
        return found.indices[:, : max(k, 0)], found.values[:, : max(k, 0)]

    def signal_of(self, char_signal: Tensor) -> Tensor:
        """A signal over the text's characters is already one over the steps."""
        return char_signal

    def nbytes(self) -> int:
        extra = sum(t.untyped_storage().nbytes() for t in (self.probs, self.true_prob, self.surprise, self.nats))
        return super().nbytes() + extra


def kept_text(vocab: CharVocab, text: str) -> tuple[str, tuple[str, ...], str | None]:
    """(the characters the model knows, those it lacks, a one-sentence notice or None); InspectInputError when none is left."""
    report = prepare_prompt(vocab, text, what="text")
    if report.missing and set(text) <= set(report.missing):
        raise InspectInputError(
            f"None of the text's characters is in the model's vocabulary of {len(vocab):,} characters; type text in its alphabet."
        )
    return report.text, report.missing, report.message


def trace_text(loaded: LoadedModel, text: str, *, use_cache: bool = True) -> CharTrace:
    """Trace a character model (a charlm LoadedModel) over `text` in one pass; cached per checkpoint and text.

    InspectInputError (one sentence) for another kind of model, an empty text, one over MAX_TEXT
    characters or one whose characters the vocabulary all lacks.
    """
    if loaded.job != "charlm":
        raise InspectInputError(
            f"{loaded.name} is a {loaded.job} run; tracing a text needs a character model (charlm)."
        )
    check_text(text)
    vocab = cast("CharVocab", loaded.vocab)
    kept, missing, notice = kept_text(vocab, text)
    return cached(loaded, "charlm", text, lambda: _trace(loaded, vocab, kept, missing, notice), use_cache=use_cache)


def _trace(loaded: LoadedModel, vocab: CharVocab, text: str, missing: tuple[str, ...], notice: str | None) -> CharTrace:
    model = loaded.model
    rnn = model.rnn
    cell = cell_of_mode(rnn.mode).name
    cpu = loaded.device.type == "cpu"
    parallel = not cpu or torch.get_num_threads() > 1
    with OneThread(cpu), torch.inference_mode(), native_kernels():
        ids = torch.as_tensor(vocab.encode(text), device=loaded.device)
        x = model.embedding(ids)
        singles = single_layers(rnn)

        def reference() -> list[tuple[Tensor, Tensor | None]]:
            outputs, inputs = [], x
            for module in singles:
                outputs.append(torch_layer(module, inputs))
                inputs = outputs[-1][0]
            return outputs

        def ours() -> list[tuple[Tensor, Tensor | None, dict[str, Tensor]]]:
            results, inputs = [], x
            for layer in range(rnn.num_layers):
                results.append(run_layer(rnn, layer, inputs))
                inputs = results[-1][0]
            return results

        theirs, mine = beside(reference, ours, parallel=parallel)
        layers = [compare(layer, 0, cell, mine[layer], *theirs[layer]) for layer in range(rnn.num_layers)]
        logits = model.fc(layers[-1].h).float()
        log_probs = torch.log_softmax(logits, dim=1)
        probs = torch.softmax(logits, dim=1)
        targets = ids[1:, None]
        nats = -log_probs[:-1].gather(1, targets)[:, 0]
        true_prob = probs[:-1].gather(1, targets)[:, 0]
        rank = (probs[:-1] > true_prob[:, None]).sum(dim=1) + 1
    return CharTrace(
        cell=cell,
        hidden_size=rnn.hidden_size,
        layer_count=rnn.num_layers,
        directions=1,
        layers=layers,
        text=text,
        chars=tuple(vocab.chars),
        ids=ids,
        notice=notice,
        missing=missing,
        probs=probs,
        true_prob=true_prob,
        rank=rank,
        surprise=nats / LN2,
        nats=nats,
    )
