"""Saving the Generate pane's output (`w`): a text file per side and a JSON of how it was made, in the run's
`generations` folder, named by the time and the seed (e.g. 20260101-120000-seed1.txt, -right.txt, .json)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from engine.generation.settings import SamplingSettings


def save_generation(
    run_path: Path,
    *,
    model: str,
    checkpoint: str,
    step: int,
    prompt: str,
    settings: SamplingSettings,
    text: str,
    right: tuple[float, str] | None = None,
) -> Path:
    """Write `text` (and `right`: the side-by-side temperature and text) with its settings and the checkpoint
    that made it (the run, the checkpoint file and its training step); the path of the text.

    OSError when the folder or a file cannot be written.
    """
    folder = run_path / "generations"
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{settings.seed}.txt"
    meta = {
        "model": model,
        "run": str(run_path),
        "checkpoint": checkpoint,
        "step": step,
        "prompt": prompt,
        "settings": asdict(settings),
        "temperature2": right[0] if right is not None else None,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if right is not None:
        path.with_name(path.stem + "-right.txt").write_text(right[1], encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path
