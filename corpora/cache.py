"""Checksummed, atomic file writes, and the cache folder (found by corpora.userdirs) they usually go to."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    """Where the sha256 of `path` is kept: `<name>.sha256` beside it."""
    return path.with_name(path.name + ".sha256")


def atomic_write(path: Path, chunks: Iterable[bytes]) -> str:
    """Write `chunks` to a temporary file beside `path`, fsync, rename over `path`; return the sha256.

    If iterating `chunks` raises, the temporary file is removed and `path` is left as it was, so a
    reader never sees a partial file under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return digest.hexdigest()


def store_verified(path: Path, chunks: Iterable[bytes]) -> str:
    """Atomically write `path` and then its `.sha256` sidecar; the pair is complete only when both exist and agree."""
    checksum_path(path).unlink(missing_ok=True)
    sha = atomic_write(path, chunks)
    atomic_write(checksum_path(path), [f"{sha}  {path.name}\n".encode()])
    return sha


def verified(path: Path) -> str | None:
    """The sha256 of `path` when it and its sidecar exist and agree; None when missing, partial or corrupt."""
    sidecar = checksum_path(path)
    if not path.is_file() or not sidecar.is_file():
        return None
    try:
        expected = sidecar.read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    actual = sha256_file(path)
    return actual if actual == expected else None


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
