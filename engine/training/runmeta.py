"""A run's user metadata: RUN_DIR/meta.json, the one file of a run that people (not the job) write.

    {"display_name": "lr 3e-3 baseline", "notes": "…", "tags": ["baseline", "lr"],
     "archived": false, "sweep": "lr-grid"}

Every key is optional; a run without meta.json has the defaults (no display name, no notes, no tags,
not archived, in no sweep). Keys this module does not know are kept as they are, so a newer version's
fields survive an older version's edit.

Reading never raises: a malformed file (not JSON, not an object, a field of the wrong type, a tag with
odd characters) reads as the defaults for what is wrong plus one sentence in `RunMeta.error`.
Writing validates first (MetaError with one sentence), then replaces the file atomically (a temporary
file and os.replace) while holding an advisory lock on RUN_DIR/.meta.lock, so two editors never lose
each other's change. A file too damaged to edit around is kept beside it as meta.json.bad.
No torch and no run-directory logic here: the UI calls this on its event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from corpora.cache import atomic_write

META_FILE = "meta.json"
LOCK_FILE = ".meta.lock"
FIELDS = ("display_name", "notes", "tags", "archived", "sweep")

MAX_DISPLAY_NAME = 120
MAX_NOTES = 20_000
MAX_TAG = 40
MAX_TAGS = 32
#: Besides letters and digits (any script), a tag may hold these; no spaces or commas (they separate tags).
TAG_PUNCTUATION = "-_.:+/=@#"


class MetaError(ValueError):
    """A metadata value (or a meta.json) that cannot be used; the message is one sentence."""


def _empty_extra() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class RunMeta:
    """What meta.json says, with defaults for anything missing or malformed."""

    display_name: str | None = None
    notes: str = ""
    tags: tuple[str, ...] = ()
    archived: bool = False
    sweep: str | None = None
    #: Keys this version does not know, kept as they were.
    extra: Mapping[str, Any] = field(default_factory=_empty_extra, compare=False)
    #: Why (part of) the file was read as defaults, one sentence; None when it was fine or absent.
    error: str | None = field(default=None, compare=False)

    def label(self, run_id: str) -> str:
        """How a run is shown: its display name, else its directory's name."""
        return self.display_name or run_id

    def to_dict(self) -> dict[str, Any]:
        """meta.json's content: the unknown keys, then the known ones (tags as a list)."""
        return {
            **dict(self.extra),
            "display_name": self.display_name,
            "notes": self.notes,
            "tags": list(self.tags),
            "archived": self.archived,
            "sweep": self.sweep,
        }


# ------------------------------------------------------------------ checking single values
def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _check_text(value: Any, what: str, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise MetaError(f"{what} must be text, not {type(value).__name__}.")
    allowed = "\n\t" if multiline else ""
    bad = next((char for char in value if (ord(char) < 32 or ord(char) == 127) and char not in allowed), None)
    if bad is not None:
        raise MetaError(f"{what} cannot hold control characters such as {bad!r}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MetaError(f"{what} holds characters that are not valid text (undecodable bytes).") from None
    if len(value) > limit:
        raise MetaError(f"{what} is at most {limit:,} characters; this one has {len(value):,}.")
    return value


def check_display_name(value: Any) -> str | None:
    """A display name, stripped; empty or None means "none" (the run is shown by its id)."""
    if value is None:
        return None
    text = _check_text(value, "A display name", MAX_DISPLAY_NAME).strip()
    return text or None


def check_notes(value: Any) -> str:
    """Notes: free text over several lines, at most MAX_NOTES characters."""
    return _check_text(value, "Notes", MAX_NOTES, multiline=True)


def check_sweep(value: Any) -> str | None:
    if value is None:
        return None
    text = _check_text(value, "A sweep name", MAX_DISPLAY_NAME).strip()
    return text or None


def check_archived(value: Any) -> bool:
    if not isinstance(value, bool):
        raise MetaError(f"Archived must be true or false, not {_shown(value)}.")
    return value


def check_tag(value: Any) -> str:
    """One tag, stripped: 1 to MAX_TAG letters, digits and TAG_PUNCTUATION; MetaError naming what is wrong."""
    if not isinstance(value, str):
        raise MetaError(f"A tag must be text, not {type(value).__name__}.")
    tag = value.strip()
    if not tag:
        raise MetaError("A tag cannot be empty.")
    odd = [char for char in tag if not (char.isalnum() or char in TAG_PUNCTUATION)]
    if odd:
        raise MetaError(
            f"A tag is letters, digits and {' '.join(TAG_PUNCTUATION)} only; {_shown(tag)} holds {_shown(odd[0])}."
        )
    if len(tag) > MAX_TAG:
        raise MetaError(f"A tag is at most {MAX_TAG} characters; {_shown(tag)} has {len(tag)}.")
    return tag


def check_tags(value: Any) -> tuple[str, ...]:
    """A list of tags, each checked, duplicates dropped (first kept), at most MAX_TAGS."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise MetaError(f"Tags must be a list of tags, not {_shown(value)}.")
    tags = tuple(dict.fromkeys(check_tag(item) for item in value))
    if len(tags) > MAX_TAGS:
        raise MetaError(f"A run has at most {MAX_TAGS} tags; this would give it {len(tags)}.")
    return tags


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags typed as one line, separated by commas and/or spaces: "baseline, lr small" -> 3 tags."""
    return check_tags([part for part in text.replace(",", " ").split() if part])


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "display_name": check_display_name,
    "notes": check_notes,
    "tags": check_tags,
    "archived": check_archived,
    "sweep": check_sweep,
}


# ------------------------------------------------------------------ reading
def meta_from_data(data: Any, source: str = META_FILE) -> RunMeta:
    """The metadata `data` (meta.json's parsed content) describes; never raises.

    A field that fails its check is read as its default and the first such failure is the error.
    """
    if not isinstance(data, dict):
        return RunMeta(
            error=f"{source} is damaged (it holds {type(data).__name__}, not an object); defaults are shown."
        )
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, check in _CHECKS.items():
        if name not in data:
            continue
        try:
            values[name] = check(data[name])
        except MetaError as problem:
            problems.append(f"its {name} is ignored: {problem}")
    extra = {key: value for key, value in data.items() if key not in _CHECKS}
    summary = None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        summary = f"{source} is damaged: {problems[0].rstrip('.')}{more}."
    return RunMeta(**values, extra=MappingProxyType(extra), error=summary)


def meta_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / META_FILE


def read_meta(run_dir: str | Path) -> RunMeta:
    """RUN_DIR/meta.json as RunMeta; defaults when it is absent; defaults plus `error` when malformed."""
    path = meta_path(run_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return RunMeta()
    except OSError as error:
        return RunMeta(error=f"{META_FILE} cannot be read ({error.strerror or error}); defaults are shown.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return RunMeta(
            error=f"{META_FILE} is not valid JSON; defaults are shown (an edit keeps it as {META_FILE}.bad)."
        )
    return meta_from_data(data)


# ------------------------------------------------------------------ writing
@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold the run's metadata lock (an flock on RUN_DIR/.meta.lock) for a read-modify-write."""
    if not run_dir.is_dir():
        raise MetaError(f"The run {run_dir.name} no longer exists.")
    try:
        handle = open(run_dir / LOCK_FILE, "a+b")  # noqa: SIM115 - held for the block's duration
    except OSError as error:
        raise MetaError(f"Cannot change the run {run_dir.name} ({error.strerror or error}).") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_meta(run_dir: str | Path, meta: RunMeta) -> None:
    """Replace meta.json atomically with `meta` (the caller holds the lock or accepts a lost race)."""
    data = json.dumps(meta.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        atomic_write(meta_path(run_dir), [data.encode("utf-8")])
    except OSError as error:
        raise MetaError(f"Cannot write {META_FILE} of {Path(run_dir).name} ({error.strerror or error}).") from None


def modify_meta(run_dir: str | Path, change: Callable[[RunMeta], RunMeta]) -> RunMeta:
    """Read, change and write meta.json under the lock; the new metadata (MetaError when it cannot be written).

    A damaged file (not JSON, not an object, a bad field) is kept as meta.json.bad before it is replaced.
    """
    run_dir = Path(run_dir)
    with _locked(run_dir):
        current = read_meta(run_dir)
        if current.error and meta_path(run_dir).is_file():
            with contextlib.suppress(OSError):
                os.replace(meta_path(run_dir), run_dir / f"{META_FILE}.bad")
        new = replace(change(replace(current, error=None)), error=None)
        write_meta(run_dir, new)
        return new


def _checked_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(_CHECKS))
    if unknown:
        raise MetaError(f"Unknown metadata field {unknown[0]!r}; use one of {', '.join(FIELDS)}.")
    return {name: _CHECKS[name](value) for name, value in changes.items()}


def update_meta(run_dir: str | Path, **changes: Any) -> RunMeta:
    """Set the given fields (display_name, notes, tags, archived, sweep) and keep the rest; the new metadata.

    Every value is checked before anything is written: MetaError with one sentence otherwise.
    """
    checked = _checked_changes(changes)
    return modify_meta(run_dir, lambda meta: replace(meta, **checked))


def change_tags(run_dir: str | Path, add: Iterable[str] = (), remove: Iterable[str] = ()) -> RunMeta:
    """Add and remove tags in one locked edit (adding one already there, or removing one absent, is no change)."""
    added = check_tags(list(add))
    removed = {tag.strip() for tag in remove}

    def edit(meta: RunMeta) -> RunMeta:
        return replace(meta, tags=check_tags([tag for tag in (*meta.tags, *added) if tag not in removed]))

    return modify_meta(run_dir, edit)


def meta_mtime(run_dir: str | Path) -> float | None:
    """meta.json's modification time (to re-read only what changed), None when absent."""
    try:
        return os.stat(meta_path(run_dir)).st_mtime
    except OSError:
        return None
