"""Plain text for the character model: a local file, a Gutenberg book, or the Python docs fallback."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from corpora import gutenberg
from corpora.errors import CorpusError, SourceUnavailable

DEFAULT_SOURCE = f"gutenberg:{gutenberg.DEFAULT_BOOK_ID}"
FALLBACK_SOURCE = "python-docs"
# The chapter's training chunk: 40 input characters plus the target shifted by one.
BOOK_WINDOW = 41


@dataclass(frozen=True)
class TextSource:
    """Where a text came from and how it was cut; JSON-friendly through `as_dict()`."""

    spec: str  # what the user asked for
    origin: str  # "file" | "gutenberg" | "python-docs"
    title: str
    path: str | None
    bytes: int
    sha256: str | None  # of the raw bytes
    cut: str  # "book" | "markers" | "none" (see gutenberg.strip_boilerplate)
    book_id: int | None = None
    url: str | None = None  # set when this call downloaded the book
    cached: bool | None = None  # Gutenberg only: the book came from the cache
    fallback_for: str | None = None  # the source that could not be loaded, when this is the fallback
    notice: str | None = None  # why the fallback is shown

    def as_dict(self) -> dict:
        return asdict(self)


def load_text(
    source: str | Path = DEFAULT_SOURCE,
    *,
    fallback: bool = False,
    min_characters: int = BOOK_WINDOW,
    url_base: str | None = None,
    on_progress: gutenberg.ProgressCallback | None = None,
) -> tuple[str, TextSource]:
    """Load `source` (a path, `gutenberg:ID` or `python-docs`) as one str, decoded and cut.

    With `fallback=True`, an unreachable Gutenberg book gives the Python documentation instead,
    labelled as such in `TextSource.fallback_for` and `.notice`. Texts shorter than
    `min_characters` are refused, since they cannot make one training window.
    """
    spec = str(source)
    try:
        text, info = _load(spec, url_base=url_base, on_progress=on_progress)
    except SourceUnavailable as error:
        if not fallback:
            raise
        text, info = python_docs()
        info = TextSource(**{**info.as_dict(), "fallback_for": spec, "notice": str(error)})
    if len(text) < min_characters:
        raise CorpusError(
            f"{spec} has {len(text):,} characters after decoding, fewer than one training window of "
            f"{min_characters}; use a longer text."
        )
    return text, info


def _load(spec: str, *, url_base: str | None, on_progress: gutenberg.ProgressCallback | None) -> tuple[str, TextSource]:
    if spec == FALLBACK_SOURCE:
        return python_docs()
    if spec.startswith("gutenberg:"):
        book_id = gutenberg.parse_book_id(spec.removeprefix("gutenberg:"))
        book = gutenberg.fetch_book(book_id, url_base=url_base, on_progress=on_progress)
        raw = book.path.read_bytes()
        full = decode_text(raw, spec)
        text, cut = gutenberg.strip_boilerplate(full, book_id)
        return text, TextSource(
            spec=spec,
            origin="gutenberg",
            title=gutenberg.header_title(full) or f"Project Gutenberg #{book_id}",
            path=str(book.path),
            bytes=len(raw),
            sha256=book.sha256,
            cut=cut,
            book_id=book_id,
            url=book.url,
            cached=book.cached,
        )
    path = Path(spec).expanduser()
    raw = read_file(path)
    full = decode_text(raw, spec)
    text, cut = gutenberg.strip_boilerplate(full)
    return text, TextSource(
        spec=spec,
        origin="file",
        title=(gutenberg.header_title(full) if cut != "none" else None) or path.name,
        path=str(path.resolve()),
        bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        cut=cut,
        book_id=gutenberg.header_book_id(full) if cut != "none" else None,
    )


#: The largest text file read: far more than any book (Gutenberg's largest are ~20 MB), far less than memory.
MAX_TEXT_BYTES = 1 << 30


def read_file(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular text file; CorpusError for a missing path, a folder, a device, a FIFO,
    a file over `max_bytes` (MAX_TEXT_BYTES) or an unreadable file.

    The file is opened without blocking and checked to be a regular file before anything is read,
    so a FIFO or /dev/zero is refused at once instead of hanging or filling memory.
    """
    limit = MAX_TEXT_BYTES if max_bytes is None else max_bytes
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CorpusError(
            f"{path} does not exist; check the path, or use {DEFAULT_SOURCE} or {FALLBACK_SOURCE}."
        ) from None
    except IsADirectoryError:
        raise CorpusError(f"{path} is a folder; pass a text file for the character model.") from None
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise CorpusError(f"{path} cannot be read ({reason}); check its permissions.") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise CorpusError(f"{path} is a folder; pass a text file for the character model.")
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError(
                f"{path} is not a regular file (a device, pipe or socket), so it is not read; pass a text file."
            )
        if info.st_size > limit:
            raise CorpusError(
                f"{path} is {info.st_size:,} bytes, more than the {limit:,} a text may have; pass a smaller file."
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise CorpusError(f"{path} cannot be read ({error.strerror or error}); check its permissions.") from None
    finally:
        os.close(fd)
    if len(raw) > limit:  # it grew while being read
        raise CorpusError(f"{path} holds more than the {limit:,} bytes a text may have; pass a smaller file.")
    return raw


def decode_text(raw: bytes, name: str) -> str:
    """Decode UTF-8, strip a BOM, and turn CRLF and lone CR into LF as Python's text mode does."""
    if not raw:
        raise CorpusError(f"{name} is empty; pass a file with text in it.")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise CorpusError(
            f"{name} looks like a binary file (it holds a NUL byte at offset {nul:,}); pass a UTF-8 text file."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{name} is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start:,}); "
            f"convert it to UTF-8 first (for example with iconv -f latin1 -t utf-8)."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def python_docs() -> tuple[str, TextSource]:
    """The fallback text: the Python documentation topics that ship with every CPython (`pydoc_data`)."""
    try:
        from pydoc_data import topics
    except ImportError:
        raise SourceUnavailable(
            "This Python has no pydoc_data documentation to fall back on; pass a text file instead."
        ) from None
    text = "\n\n".join(topics.topics[name].strip("\n") for name in sorted(topics.topics)) + "\n"
    path = Path(topics.__file__)
    version = ".".join(map(str, sys.version_info[:3]))
    return text, TextSource(
        spec=FALLBACK_SOURCE,
        origin="python-docs",
        title=f"Python {version} documentation (pydoc topics, the fallback text)",
        path=str(path),
        bytes=len(text.encode()),
        sha256=None,
        cut="none",
    )
