"""Sampling a character model one character at a time, and the next-character distribution.

`Sampler` warms the recurrent state on a prompt with one forward pass, then draws one character per
step and carries (h, c) forward, so each character costs the same however long the text grows. A
Sampler's `settings` may be replaced between characters (from another thread too): the next
character uses the new ones. The seed is used once, when the Sampler is created.

Each step runs through engine.models.CharLMStep (the cells' own ATen ops on the model's weights),
several times faster on a CPU than calling the recurrent module with one time step.

Importing this module imports neither torch nor numpy; the functions that need them import them when called.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from engine.generation.loading import LoadedModel
from engine.generation.settings import GenerateInputError, SamplingSettings

if TYPE_CHECKING:
    import torch

    from corpora.vocab import CharVocab


# ------------------------------------------------------------------------------ distributions


def filter_probs(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    """Probabilities [V] (float32) from 1-D logits [V]: temperature (greedy: one-hot at the argmax), then top-k, then top-p.

    Top-k keeps exactly the k likeliest (ties broken by torch.topk); top-p keeps the smallest set of
    the likeliest whose probabilities add up to at least p (never fewer than one). The result is
    renormalised.
    """
    import torch

    logits = logits.detach().float()
    if settings.greedy:
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    size = logits.shape[0]
    temperature, top_k, top_p = settings.temperature, settings.top_k, settings.top_p
    if top_k and top_k < size:
        values, indices = torch.topk(logits, top_k)  # sorted, likeliest first
    elif top_p < 1.0:
        values, indices = torch.sort(logits, descending=True)
    else:
        return torch.softmax(logits if temperature == 1.0 else (logits - logits.max()) / temperature, dim=0)
    if temperature != 1.0:
        values = (values - values[0]) / temperature  # the largest first: no overflow at tiny temperatures
    kept = torch.softmax(values, dim=0)
    if top_p < 1.0:
        cumulative = torch.cumsum(kept, dim=0)
        # The first position whose cumulative mass reaches p ends the nucleus (a prefix: `kept` is sorted).
        count = min(int(torch.searchsorted(cumulative, top_p)) + 1, kept.shape[0])
        kept, indices = kept[:count] / cumulative[count - 1], indices[:count]
    return torch.zeros_like(logits).scatter_(0, indices, kept)


@dataclass(frozen=True)
class Candidate:
    char: str
    prob: float  # after temperature and filtering
    raw: float  # softmax of the logits at temperature 1, unfiltered


# ------------------------------------------------------------------------------ prompts


@dataclass(frozen=True)
class PromptReport:
    text: str  # the prompt actually fed to the model
    missing: tuple[str, ...]  # distinct characters not in the vocabulary, in order of appearance
    message: str | None  # one sentence when something was changed


def _start_char(vocab: CharVocab) -> tuple[str, str]:
    """A sensible first character and how to name it: a newline, else a space, else the first in the vocabulary."""
    if "\n" in vocab:
        return "\n", "a newline"
    if " " in vocab:
        return " ", "a space"
    return vocab.chars[0], f"the character {vocab.chars[0]!r}"


def prepare_prompt(vocab: CharVocab, prompt: str, *, what: str = "prompt") -> PromptReport:
    """The prompt with characters the model does not know left out (and said so, naming it `what`); never empty."""
    known = set(vocab.chars)
    missing = tuple(dict.fromkeys(char for char in prompt if char not in known))
    text = "".join(char for char in prompt if char in known) if missing else prompt
    size = f"the model's vocabulary of {len(vocab):,} characters"
    listed = ", ".join(repr(char) for char in missing[:8]) + (
        f" and {len(missing) - 8:,} more" if len(missing) > 8 else ""
    )
    are = f"The character {listed} is" if len(missing) == 1 else f"The characters {listed} are"
    if text:
        message = None
        if missing:
            message = (
                f"{are} not in {size}, so {'it was' if len(missing) == 1 else 'they were'} left out of the {what}."
            )
        return PromptReport(text, missing, message)
    start, named = _start_char(vocab)
    if missing:
        message = f"{are} not in {size}, so the {what} was left empty and generation starts from {named}."
    else:
        message = f"The {what} is empty, so generation starts from {named}."
    return PromptReport(start, missing, message)


# ------------------------------------------------------------------------------ sampling


class Sampler:
    """Warm the state on the prompt (one forward pass over it), then one character per step, carrying (h, c): O(1) per character."""

    def __init__(self, loaded: LoadedModel, prompt: str = "", settings: SamplingSettings | None = None) -> None:
        import torch

        from engine.models import CharLMStep, OneThread

        if loaded.job != "charlm":
            raise GenerateInputError(
                f"{loaded.name} is a {loaded.job} run; generating text needs a character model (charlm)."
            )
        self.loaded = loaded
        self.settings: SamplingSettings = settings if settings is not None else SamplingSettings()
        vocab = cast("CharVocab", loaded.vocab)  # a charlm run's, checked above
        self.prompt: PromptReport = prepare_prompt(vocab, prompt)
        self.produced = 0
        self._chars: list[str] = []
        self._joined = ""
        self._stopped = False
        self._vocab_chars = vocab.chars
        self._cpu = loaded.device.type == "cpu"
        self._generator = torch.Generator(device=loaded.device).manual_seed(self.settings.seed)
        model = loaded.model
        if loaded._fast is None and CharLMStep.supports(model):
            loaded._fast = CharLMStep(model)
        self._fast: Any = loaded._fast  # a CharLMStep, or None for a model it does not fit
        with OneThread(self._cpu), torch.inference_mode():
            ids = torch.as_tensor(vocab.encode(self.prompt.text), device=loaded.device)
            logits, state = model(ids[None, :])
            self._logits = logits[0, -1].float()
            self._state: Any = self._fast.initial(state) if self._fast is not None else state

    # ------------------------------------------------------------------ state
    @property
    def logits(self) -> torch.Tensor:
        """The logits [V] for the next character at the current position (float32, on the model's device)."""
        return self._logits

    @property
    def uses_fast_step(self) -> bool:
        """Whether each character runs through engine.models.CharLMStep (else the model's own forward)."""
        return self._fast is not None

    @property
    def text(self) -> str:
        """The generated text so far (not including the prompt); joined lazily, so drawing stays O(1) per character."""
        joined, count = self._joined, len(self._chars)
        if len(joined) < count:  # a local copy: two threads asking at once both get it right
            joined += "".join(self._chars[len(joined) : count])
            self._joined = joined
        return joined

    @property
    def done(self) -> bool:
        return self._stopped or self.produced >= self.settings.length

    @property
    def stop_reason(self) -> str | None:
        if self._stopped:
            return "stop"
        if self.produced >= self.settings.length:
            return "length"
        return None

    # ------------------------------------------------------------------ drawing
    def next_char(self) -> str:
        """Draw one character and advance the state past it; "" when done (length reached or stop string generated)."""
        settings = self.settings  # read once: another thread may replace it meanwhile
        if self._stopped or self.produced >= settings.length:
            return ""
        import torch

        from engine.models import OneThread

        with OneThread(self._cpu), torch.inference_mode():
            logits = self._logits
            if settings.greedy:
                index = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits, dim=0) if settings.plain else filter_probs(logits, settings)
                index = int(torch.multinomial(probs, 1, generator=self._generator))
            if self._fast is not None:
                self._logits = self._fast.step(index, self._state)
            else:
                step_logits, self._state = self.loaded.model(
                    torch.tensor([[index]], device=self.loaded.device), self._state
                )
                self._logits = step_logits[0, -1].float()
        char = self._vocab_chars[index]
        self._chars.append(char)
        self.produced += 1
        stop = settings.stop
        if stop and char == stop[-1] and len(stop) <= self.produced and "".join(self._chars[-len(stop) :]) == stop:
            self._stopped = True
        return char

    def __iter__(self) -> Iterator[str]:
        """Characters until done."""
        while True:
            char = self.next_char()
            if not char:
                return
            yield char

    def candidates(
        self, top: int = 10, settings: SamplingSettings | None = None, *, include_filtered: bool = False
    ) -> list[Candidate]:
        """The distribution of the next character at the current position, likeliest first.

        Uses `settings` (default: the Sampler's); only characters left with a probability above 0
        after filtering, sorted by that probability and then by the raw one. With
        `include_filtered`, the characters filtering removed follow in raw order (prob 0), up to `top`
        in all. No forward pass: the logits of the current position are kept.
        """
        import torch

        settings = settings if settings is not None else self.settings
        with torch.inference_mode():
            logits = self._logits
            probs = filter_probs(logits, settings).cpu().tolist()
            raw = torch.softmax(logits.float(), dim=0).cpu().tolist()
        chars = self._vocab_chars
        kept = sorted((i for i, p in enumerate(probs) if p > 0), key=lambda i: (-probs[i], -raw[i], i))
        if include_filtered:
            kept += sorted((i for i, p in enumerate(probs) if p <= 0), key=lambda i: (-raw[i], i))
        return [Candidate(chars[i], probs[i], raw[i]) for i in kept[: max(top, 0)]]


def generate(loaded: LoadedModel, prompt: str, settings: SamplingSettings) -> str:
    """The generated text (without the prompt) in one call."""
    return "".join(Sampler(loaded, prompt, settings))
