"""Checkpoints: written atomically, saved CPU-portable, loaded without running anything from the file.

A checkpoint is one `torch.save`d dict:

    format, version   "rnn-tui/checkpoint", 1
    job, config       the TrainConfig as a dict
    step, elapsed     optimizer steps done, and training wall seconds so far
    model             state_dict (CPU tensors)
    optimizer         Adam's state_dict, or None (best.pt keeps weights only)
    rng               torch CPU/CUDA generator states, numpy's and Python's, as tensors and plain lists
    vocab             {"kind": "char", "chars": [...]} or {"kind": "word", "tokens": [...]}
    history           the metric records so far
    best              {"metric", "value", "step"} of the best validation result so far
    loop              what the loop needs to continue exactly (initial loss, carried TBPTT state, ...)

The learning rate is a pure function of (config, step), so there is no scheduler object to keep.
Loading uses `torch.load(weights_only=True)`: only tensors and plain containers are unpickled.
"""

from __future__ import annotations

import io
import pickle
import random
import re
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from engine.training.runs import DISK_RESERVE, write_run_file

FORMAT = "rnn-tui/checkpoint"
VERSION = 1
LAST = "last.pt"
BEST = "best.pt"
_REQUIRED = ("job", "config", "step", "model", "vocab")


class CheckpointError(Exception):
    """A checkpoint that cannot be used (missing, corrupt, foreign or unsafe); the message is one sentence."""


def to_cpu(value: Any) -> Any:
    """`value` with every tensor moved to the CPU (dicts, lists and tuples walked), so any machine can load it."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(item) for item in value)
    return value


def rng_state() -> dict[str, Any]:
    """Every generator a run draws from, in a form `weights_only` loading accepts."""
    name, keys, position, has_gauss, cached = cast(tuple[str, Any, int, int, float], np.random.get_state())
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, keys.tolist(), position, has_gauss, cached],
        "python": [version, list(internal), gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write `checkpoint` (CPU-portable) to `path` atomically: temporary file, fsync, rename.

    The disk must first have room for it and DISK_RESERVE more (RunWriteError, one sentence, otherwise),
    so that a full disk stops the run before the write, with room left for the status saying why.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **to_cpu(checkpoint)}, buffer)
    write_run_file(Path(path), buffer.getvalue(), reserve=DISK_RESERVE)


def load_checkpoint(path: Path, content: bytes | None = None) -> dict[str, Any]:
    """The checkpoint at `path`, with tensors on the CPU; CheckpointError for anything else.

    `content` is the file's bytes when they were read elsewhere (rank 0 sends them to the other ranks
    of a distributed run); they are checked exactly as the file would be.
    """
    path = Path(path)
    try:
        source = path if content is None else io.BytesIO(content)
        data = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"There is no checkpoint at {path}.") from None
    except pickle.UnpicklingError as error:
        if "global" in str(error).lower():  # the file names a class or function to call
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain data, so it was not loaded; use a checkpoint rnn-tui wrote."
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint (not a torch file); it may be truncated or corrupt."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({_first_line(error)}); it may be truncated or corrupt."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnn-tui checkpoint; pass one from a run's checkpoints folder.")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {data.get('version')!r}, but this rnn-tui reads version {VERSION}."
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}, so it cannot be used; it may come from a broken run."
        )
    return data


def _first_line(error: BaseException) -> str:
    """The first sentence of the error's first line (torch's zip errors run to several), without its full stop."""
    text = str(error).strip() or type(error).__name__
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.splitlines()[0])[0]
    return first.rstrip(".")[:160]
