"""User key remapping: a JSON object of binding id -> key(s), applied with `App.set_keymap`."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

#: What may precede a key, as in "ctrl+shift+f1".
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
#: A keymap file is a few hundred bytes; anything far larger is not one.
MAX_BYTES = 1_000_000


class KeymapError(Exception):
    """A keymap file that cannot be used; the message is one sentence."""


def load_keymap(path: str | Path, ids: Collection[str] | None = None) -> dict[str, str]:
    """Read `{"stepper.next": "n", "app.help": "f1,h"}`; raises `KeymapError` for anything else.

    Every key must be one Textual can deliver (a character, a named key such as `f1` or `pageup`,
    optionally after modifiers such as `ctrl+`); with `ids`, every binding id must be one of them.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise KeymapError(f"The keymap file {path} is not a regular file.")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise KeymapError(f"The keymap file {path} is larger than {MAX_BYTES:,} bytes, so it is not a keymap.")
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise KeymapError(f"The keymap file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeymapError(f"The keymap file {path} cannot be read ({error.__class__.__name__}).") from None
    except json.JSONDecodeError as error:
        raise KeymapError(f"The keymap file {path} is not valid JSON (line {error.lineno}: {error.msg}).") from None
    except (ValueError, RecursionError):
        raise KeymapError(f"The keymap file {path} is not valid JSON (it is nested too deeply).") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise KeymapError(
            f'The keymap file {path} must be one JSON object of binding ids to keys, like {{"stepper.next": "n"}}.'
        )
    for binding_id, keys in data.items():
        if ids is not None and binding_id not in ids:
            close = sorted(known for known in ids if known.split(".")[0] == binding_id.split(".")[0])[:4]
            hint = f" (ids like {', '.join(close)}; rnn-tui's help screen lists them all)" if close else ""
            raise KeymapError(f"The keymap file {path} names {json.dumps(binding_id)}, which is no binding id{hint}.")
        for key in keys.split(","):
            if not is_key(key.strip()):
                raise KeymapError(
                    f"The keymap file {path} gives {json.dumps(binding_id)} the key {json.dumps(key.strip())}, "
                    "which no keyboard sends (use names like n, f1, ctrl+s, pageup or space)."
                )
    return data


def is_key(key: str) -> bool:
    """Whether Textual can deliver `key`: modifiers joined by + and then a character or a key name."""
    from textual.keys import KEY_ALIASES, KEY_NAME_REPLACEMENTS, Keys, key_to_character

    *modifiers, base = key.split("+")
    if not base or any(modifier not in MODIFIERS for modifier in modifiers) or len(set(modifiers)) < len(modifiers):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    names = {value.value.rpartition("+")[2] for value in Keys} | set(KEY_NAME_REPLACEMENTS.values())
    names |= {alias.rpartition("+")[2] for aliases in KEY_ALIASES.values() for alias in aliases}
    return (base in names and not base.startswith("<")) or key_to_character(base) is not None
