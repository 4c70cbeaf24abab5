"""Tiny models for the inspection tests: trained runs (through the generation tests' helpers) and models built in memory.

A model built in memory is wrapped in a LoadedModel whose checkpoint is not a file, so its traces
are never cached; torch's own layers are rebuilt here independently of engine.inspection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from corpora.vocab import CharVocab, WordVocab
from engine.generation.loading import LoadedModel
from engine.stepper.trace import native_kernels
from engine.training.config import parse_train_config

TEXT = "The island was green; the sailor said “no” and the engineer: “we build a kiln.”\nThe dog ran."


def in_memory(model: nn.Module, vocab: CharVocab | WordVocab, **settings: Any) -> LoadedModel:
    """A LoadedModel around `model` (eval mode, no gradients) with no checkpoint file behind it."""
    job = "charlm" if isinstance(vocab, CharVocab) else "sentiment"
    config = parse_train_config(job, "default", data="in-memory", **settings)
    model = model.eval().requires_grad_(False)
    return LoadedModel(job, "in-memory", Path("in-memory.pt"), None, 0, config, None, model, vocab, torch.device("cpu"))


def one_layer_copy(module: nn.RNNBase, layer: int, input_size: int) -> nn.RNNBase:
    """A fresh single-layer torch module holding layer `layer`'s weights of `module`."""
    kwargs: dict[str, Any] = dict(batch_first=True)
    if isinstance(module, nn.RNN):
        kwargs["nonlinearity"] = module.nonlinearity
    copy = type(module)(input_size, module.hidden_size, 1, **kwargs)
    with torch.no_grad():
        for name, param in copy.named_parameters():
            param.copy_(getattr(module, name.replace("_l0", f"_l{layer}")))
    return copy.eval()


@torch.no_grad()
def torch_layers(module: nn.RNNBase, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Per layer of `module` over x [T, I]: torch's output [T, H] and, for an LSTM, c_t [T, H] read as c_n of every prefix.

    On torch's native CPU kernels, as the Stepper compares (oneDNN's fused LSTM rounds c differently,
    by a few 1e-7 a step, which a long text through a trained model adds up to more than 1e-6).
    """
    found = []
    with native_kernels():
        for layer in range(module.num_layers):
            copy = one_layer_copy(module, layer, x.shape[1])
            output, _ = copy(x[None])
            cells = None
            if isinstance(copy, nn.LSTM):
                cells = torch.stack([copy(x[None, : t + 1])[1][1][0, 0] for t in range(x.shape[0])])
            found.append((output[0], cells))
            x = output[0]
    return found
