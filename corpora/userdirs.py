"""The per-user folders of rnn-tui, found once, through platformdirs (the bottom of the house: every wing reads it).

- runs: `$RNN_TUI_RUNS`, else the user data folder's `runs` (Linux: `$XDG_DATA_HOME/rnn-tui/runs`,
  by default `~/.local/share/rnn-tui/runs`);
- cache (downloads, tokenized corpora): `$RNN_TUI_CACHE`, else the user cache folder (`~/.cache/rnn-tui`);
- data (the Generate pane's prompt history): the user data folder (`~/.local/share/rnn-tui`);
- config (keymap.json): the user config folder (`~/.config/rnn-tui`).

On macOS and Windows platformdirs gives each platform's own places. Before platformdirs, rnn-tui
used the XDG folders everywhere; where such an older folder exists and the platform's does not
yet, it stays in use, so runs and keymaps made before are still found. Nothing is created here.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "rnn-tui"
RUNS_ENV = "RNN_TUI_RUNS"
CACHE_ENV = "RNN_TUI_CACHE"


def _override(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else None


def _platform_or_earlier(platform: Path, xdg_variable: str, default: str) -> Path:
    """`platform`, unless only the XDG folder earlier versions used exists (same as `platform` on Linux)."""
    earlier = Path(os.environ.get(xdg_variable) or Path.home() / default).expanduser() / APP
    return earlier if earlier != platform and earlier.is_dir() and not platform.exists() else platform


def data_dir() -> Path:
    """Where rnn-tui keeps what it makes for the user (prompt history; runs unless moved)."""
    return _platform_or_earlier(platformdirs.user_data_path(APP), "XDG_DATA_HOME", ".local/share")


def runs_dir() -> Path:
    """The default runs root: `$RNN_TUI_RUNS`, else the data folder's `runs`."""
    return _override(RUNS_ENV) or data_dir() / "runs"


def cache_dir() -> Path:
    """Downloads and derived data that can be made again: `$RNN_TUI_CACHE`, else the user cache folder."""
    return _override(CACHE_ENV) or platformdirs.user_cache_path(APP)


def config_dir() -> Path:
    """The user's settings (keymap.json)."""
    return _platform_or_earlier(platformdirs.user_config_path(APP), "XDG_CONFIG_HOME", ".config")
