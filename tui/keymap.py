"""User key remapping: a JSON object of binding id -> key(s), applied with `App.set_keymap`."""

from __future__ import annotations

import json
from pathlib import Path


class KeymapError(Exception):
    """A keymap file that cannot be used; the message is one sentence."""


def load_keymap(path: str | Path) -> dict[str, str]:
    """Read `{"stepper.next": "n", "app.help": "f1,h"}`; raises `KeymapError` for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeymapError(f"The keymap file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeymapError(f"The keymap file {path} cannot be read ({error.__class__.__name__}).") from None
    except json.JSONDecodeError as error:
        raise KeymapError(f"The keymap file {path} is not valid JSON (line {error.lineno}: {error.msg}).") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise KeymapError(
            f'The keymap file {path} must be one JSON object of binding ids to keys, like {{"stepper.next": "n"}}.'
        )
    return data
