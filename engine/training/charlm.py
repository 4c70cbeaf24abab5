"""The character model's job: text → ids → training batches (random windows or TBPTT streams), validation, samples.

Validation scores fixed windows of `eval_window` + 1 characters of the held-out text, starting
every `eval_window` characters, with the state reset for each window: every character of the
validation text after the first is predicted once, from at most `eval_window` characters of
context, whichever regime trained the model. That is the book's setting (40), so numbers compare
across regimes and with the book's recipe.

With several ranks, each trains on its contiguous share of the global batch's rows: a slice of the
random windows, or its own streams (rows) of the TBPTT text, whose carried state it keeps; checkpoints
hold every stream's state, so a run resumes with any number of ranks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from corpora.batching import CharWindows, StreamBatches, split_text
from corpora.errors import CorpusError
from corpora.text import load_text
from corpora.vocab import CharVocab
from engine.models import CharLM, State, detach_state
from engine.training.trainer import StepOutput, Trainer, Window, batches_from

EVAL_BATCH = 256
LN2 = math.log(2)


class CharLMTrainer(Trainer):
    unit = "tokens"

    def load_data(self, vocab_data: dict[str, Any] | None) -> None:
        config = self.config
        text, _ = load_text(config.data)
        vocab = CharVocab(vocab_data["chars"]) if vocab_data else CharVocab.from_text(text)
        ids = vocab.encode(text)
        longest = max(config.seq_length, config.eval_window) + 1
        if len(ids) * min(config.valid_fraction, 1 - config.valid_fraction) < longest:
            raise CorpusError(
                f"{config.data} has {len(ids):,} characters: too few to hold out {config.valid_fraction:.0%} and still fill "
                f"a sequence of {longest:,} on each side; use a longer text or a shorter sequence length."
            )
        split = split_text(ids, config.valid_fraction, window=longest)
        if config.regime == "windows":
            self.windows = CharWindows(split.train, config.seq_length, config.batch_size, seed=config.seed)
            self.batches_per_epoch = len(self.windows)
        else:
            self.streams = StreamBatches(split.train, config.batch_size, config.seq_length, seed=config.seed)
            self.batches_per_epoch = len(self.streams)
        width = config.eval_window + 1
        valid = torch.from_numpy(split.valid)
        starts = torch.arange(0, len(valid) - width + 1, config.eval_window)
        self.valid_windows = valid[starts[:, None] + torch.arange(width)]
        self.vocab = vocab
        self.vocab_data = {"kind": "char", "chars": list(vocab.chars)}
        self.vocab_size = len(vocab)
        self.prompt = "".join(char for char in config.sample_prompt if char in vocab) or vocab.decode(split.valid[:1])
        self.loss_fn = nn.CrossEntropyLoss()
        self.carry: State | None = None  # the TBPTT state handed from one chunk to the next
        self._position: Any = None

    def step_loss(self, step: int) -> StepOutput:
        if self.config.regime == "windows":
            inputs, targets = self.windows.random_batch(step)
            state = None
        else:
            (inputs, targets), self._position = batches_from(
                self.streams.epoch, step, self.batches_per_epoch, self._position
            )
            state = None if step % self.batches_per_epoch == 0 else self.carry
        rows = self.group.shard(len(inputs))  # this rank's windows, or its streams
        share = (rows.stop - rows.start) / len(inputs)
        inputs, targets = inputs[rows].to(self.device), targets[rows].to(self.device)
        logits, state = self.net(inputs, state)
        if self.config.regime == "tbptt":
            self.carry = detach_state(state)
        loss = self.loss_fn(logits.reshape(-1, self.vocab_size).float(), targets.reshape(-1))
        return StepOutput(loss, inputs.numel(), share=share)

    def train_metrics(self, window: Window) -> Mapping[str, float | None]:
        loss = window.loss / window.steps
        return {"train_bpc": loss / LN2, "train_ppl": _perplexity(loss)}

    @torch.no_grad()
    def evaluate(self) -> Mapping[str, float | None]:
        self.model.eval()
        total = 0.0
        loss_fn = nn.CrossEntropyLoss(reduction="sum")
        windows = self.valid_windows[self.group.shard(len(self.valid_windows))]
        for first in range(0, len(windows), EVAL_BATCH):
            batch = windows[first : first + EVAL_BATCH].to(self.device)
            with self.autocast():
                logits, _ = self.model(batch[:, :-1])
            total += float(loss_fn(logits.reshape(-1, self.vocab_size).float(), batch[:, 1:].reshape(-1)))
        (total,) = self.group.sum([total])
        loss = total / self.valid_windows[:, 1:].numel()
        return {"val_loss": loss, "val_bpc": loss / LN2, "val_ppl": _perplexity(loss)}

    def after_step(self, final: bool) -> None:
        every = self.config.sample_every
        if every and (final or self.step % every == 0) and self.group.main:
            self.run.append_sample(self.step, self.sample())

    def sample(self) -> str:
        """`sample_length` characters after the prompt, drawn with the run's seed (so samples compare across steps)."""
        generator = torch.Generator(self.device).manual_seed(self.config.seed)
        prompt = torch.from_numpy(self.vocab.encode(self.prompt)).to(self.device)
        model = self.model
        assert isinstance(model, CharLM)  # build_model makes one for a charlm config
        drawn = model.sample(
            prompt, self.config.sample_length, temperature=self.config.sample_temperature, generator=generator
        )
        return self.prompt + self.vocab.decode(drawn)

    def loop_state(self) -> dict[str, Any]:
        """The carried state of every stream ([layers, batch, hidden], gathered from the ranks)."""
        carry = self.carry
        if isinstance(carry, tuple):
            carry = (self.group.gather_rows(carry[0], 1), self.group.gather_rows(carry[1], 1))
        elif carry is not None:
            carry = self.group.gather_rows(carry, 1)
        return {"carry": carry}

    def load_loop_state(self, state: dict[str, Any]) -> None:
        carry = state.get("carry")
        if isinstance(carry, (tuple, list)):
            carry = tuple(part[:, self.group.shard(part.shape[1])].to(self.device) for part in carry)
        elif carry is not None:
            carry = carry[:, self.group.shard(carry.shape[1])].to(self.device)
        self.carry = carry


def _perplexity(loss: float) -> float | None:
    return math.exp(loss) if loss < 700 else None
