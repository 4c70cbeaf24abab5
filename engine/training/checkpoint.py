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

    checksum          "sha256": the file is sealed (below)

The learning rate is a pure function of (config, step), so there is no scheduler object to keep.
Loading uses `torch.load(weights_only=True)`: only tensors and plain containers are unpickled.

The file is the `torch.save` zip followed by a seal, one line `\nrnn-tui-sha256:<64 hex digits>\n`
holding the SHA-256 of every byte before it (torch.load ignores bytes after the zip, so the file is
still a plain torch file). Loading checks the seal before unpickling anything, so a flipped bit
anywhere is refused. A file whose seal is gone but whose contents say `checksum: sha256` was cut or
damaged; checkpoints written before seals existed (no `checksum` key) still load, unverified.
"""

from __future__ import annotations

import hashlib
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
SEAL = b"\nrnn-tui-sha256:"
_SEAL_SIZE = len(SEAL) + 64 + 1  # the marker, the hex digest, a newline


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
    """Write `checkpoint` (CPU-portable, sealed) to `path` atomically: temporary file, fsync, rename.

    The disk must first have room for it and DISK_RESERVE more (RunWriteError, one sentence, otherwise),
    so that a full disk stops the run before the write, with room left for the status saying why.
    """
    write_run_file(Path(path), encode_checkpoint(checkpoint), reserve=DISK_RESERVE)


def encode_checkpoint(checkpoint: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint file: `torch.save` of the dict (CPU tensors), then its SHA-256 seal."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "checksum": "sha256", **to_cpu(checkpoint)}, buffer)
    body = buffer.getvalue()
    return body + SEAL + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n"


def _unseal(raw: bytes) -> tuple[bytes, bool | None]:
    """The bytes before the seal, and whether the seal matches them (None when there is no seal)."""
    tail = raw[-_SEAL_SIZE:]
    if len(raw) < _SEAL_SIZE or not tail.startswith(SEAL) or not tail.endswith(b"\n"):
        return raw, None
    body = raw[:-_SEAL_SIZE]
    return body, hashlib.sha256(body).hexdigest().encode("ascii") == tail[len(SEAL) : -1]


def _ends_after_its_zip(raw: bytes) -> bool:
    """Whether bytes follow the zip's end record: only a seal may, so a damaged seal line is caught here.

    A checkpoint written before seals ends with its zip (torch.save); one written since ends with its
    seal line. Without this, a flipped byte in the seal line would make the file read as an old, unsealed
    checkpoint and load unverified.
    """
    end = raw.rfind(b"PK\x05\x06")  # the end of central directory record: 22 bytes, then its comment
    if end < 0 or end + 22 > len(raw):
        return False
    comment = int.from_bytes(raw[end + 20 : end + 22], "little")
    return end + 22 + comment < len(raw)


def load_checkpoint(path: Path, content: bytes | None = None) -> dict[str, Any]:
    """The checkpoint at `path`, with tensors on the CPU; CheckpointError (one sentence) for anything else.

    `content` is the file's bytes when they were read elsewhere (rank 0 sends them to the other ranks
    of a distributed run); they are checked exactly as the file would be. Whatever the bytes are,
    nothing but a dict of the expected shape or a CheckpointError comes out.
    """
    path = Path(path)
    if content is None:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"There is no checkpoint at {path}.") from None
        except IsADirectoryError:
            raise CheckpointError(f"{path} is a folder, not a checkpoint; pass a .pt file.") from None
        except (OSError, MemoryError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            raise CheckpointError(f"{path} cannot be read ({reason}).") from None
    body, sealed = _unseal(content)
    if sealed is None and _ends_after_its_zip(content):
        raise CheckpointError(
            f"{path} has bytes after its data that are not the checksum rnn-tui writes, so it is damaged; "
            "use another checkpoint."
        )
    if sealed is False:
        raise CheckpointError(
            f"{path} fails its checksum: its bytes changed after rnn-tui wrote it (a damaged disk or copy); "
            "use another checkpoint."
        )
    try:
        data = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "global" in str(error).lower():  # the file names a class or function to call
            raise CheckpointError(
                f"{path} holds objects other than tensors and plain data, so it was not loaded; use a checkpoint rnn-tui wrote."
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint (not a torch file); it may be truncated or corrupt."
        ) from None
    except Exception as error:  # the unpickler raises anything (IndexError, KeyError, ...) on damaged bytes
        explained = isinstance(error, (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile))
        reason = _first_line(error) if explained else "not a torch file"
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({reason}); it may be truncated or corrupt."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnn-tui checkpoint; pass one from a run's checkpoints folder.")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {data.get('version')!r}, but this rnn-tui reads version {VERSION}."
        )
    if sealed is None and data.get("checksum") is not None:
        raise CheckpointError(
            f"{path} has lost the checksum rnn-tui wrote at its end, so it is truncated or damaged; use another checkpoint."
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}, so it cannot be used; it may come from a broken run."
        )
    wrong = [key for key, kind in _SHAPES.items() if not isinstance(data.get(key), kind)]
    if "model" not in wrong and not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in data["model"].items()
    ):
        wrong.append("model")
    if wrong or isinstance(data["step"], bool) or data["step"] < 0:
        raise CheckpointError(
            f"{path} has a malformed {', '.join(wrong) or 'step'}, so it cannot be used; it may come from a broken run."
        )
    return data


_SHAPES: dict[str, type | tuple[type, ...]] = {"job": str, "config": dict, "step": int, "model": dict, "vocab": dict}


def _first_line(error: BaseException) -> str:
    """The first sentence of the error's first line (torch's zip errors run to several), without its full stop."""
    text = str(error).strip() or type(error).__name__
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.splitlines()[0])[0]
    return first.rstrip(".")[:160]
