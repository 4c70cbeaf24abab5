"""Project Gutenberg: download a plain-text book once into the user cache, and cut its body out."""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from corpora.cache import store_verified, verified
from corpora.errors import CorpusError, SourceUnavailable
from corpora.userdirs import cache_dir

DEFAULT_BOOK_ID = 1268
BASE_URL_ENV = "RNN_TUI_GUTENBERG_URL"
DEFAULT_BASE_URL = "https://www.gutenberg.org"
# The book's URL first, then the layout Project Gutenberg uses for newer uploads.
URL_PATTERNS = ("files/{id}/{id}-0.txt", "cache/epub/{id}/pg{id}.txt")
# The cut the chapter makes for The Mysterious Island: first start marker up to (not including) the end marker.
BOOK_CUTS: dict[int, tuple[str, str]] = {1268: ("THE MYSTERIOUS ISLAND", "End of the Project Gutenberg")}

ProgressCallback = Callable[[int, int | None], None]

_HEADER_ID = re.compile(r"\[E-?(?:Book|Text) #(\d+)\]", re.IGNORECASE)
_HEADER_TITLE = re.compile(r"^Title:[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_HEADER_SPAN = 10_000
_START = re.compile(
    r"^\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*\n", re.IGNORECASE | re.MULTILINE
)
_END = re.compile(
    r"^(?:\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)|End of (?:the )?Project Gutenberg)",
    re.IGNORECASE | re.MULTILINE,
)
_CHUNK = 1 << 16


@dataclass(frozen=True)
class BookFile:
    """A verified copy of a book's raw bytes in the cache."""

    book_id: int
    path: Path
    sha256: str
    url: str | None  # where it was fetched from in this call; None when it came from the cache

    @property
    def cached(self) -> bool:
        return self.url is None


def parse_book_id(value: str) -> int:
    """The numeric id from `gutenberg:ID` (ID already split off); CorpusError for anything else."""
    if not value.strip().isdigit() or int(value) <= 0:
        raise CorpusError(
            f"'{value}' is not a Project Gutenberg book id; use a number, as in gutenberg:{DEFAULT_BOOK_ID}."
        )
    return int(value)


def book_path(book_id: int) -> Path:
    """Where book `book_id` is cached: `<cache>/gutenberg/<id>.txt`, with `<id>.txt.sha256` beside it."""
    return cache_dir() / "gutenberg" / f"{book_id}.txt"


def base_url() -> str:
    """`$RNN_TUI_GUTENBERG_URL` (a mirror, or a local server in tests), else www.gutenberg.org."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def fetch_book(
    book_id: int,
    *,
    url_base: str | None = None,
    timeout: float = 30.0,
    on_progress: ProgressCallback | None = None,
) -> BookFile:
    """Return the cached copy of a book, downloading it first when it is missing or fails its checksum.

    Raises CorpusError when no URL has the book (HTTP 404) and SourceUnavailable when the server
    cannot be reached or the download breaks off; in both cases nothing is left in the cache.
    """
    path = book_path(book_id)
    sha = verified(path)
    if sha is not None:
        return BookFile(book_id, path, sha, None)
    _ensure_writable(path.parent)
    base = (url_base or base_url()).rstrip("/")
    for pattern in URL_PATTERNS:
        url = f"{base}/{pattern.format(id=book_id)}"
        try:
            response = urllib.request.urlopen(
                urllib.request.Request(url, headers={"User-Agent": "rnn-tui"}), timeout=timeout
            )
        except urllib.error.HTTPError as error:
            if error.code == 404:
                continue
            raise SourceUnavailable(_unavailable(book_id, f"{url} answered HTTP {error.code} {error.reason}")) from None
        except (OSError, http.client.HTTPException) as error:
            raise SourceUnavailable(_unavailable(book_id, f"{base} could not be reached ({_reason(error)})")) from None
        with response:
            content_type = response.headers.get_content_type()
            if content_type == "text/html":
                raise SourceUnavailable(_unavailable(book_id, f"{url} returned a web page instead of the book"))
            try:
                sha = store_verified(path, _body(response, on_progress))
            except (OSError, http.client.HTTPException) as error:
                raise SourceUnavailable(
                    _unavailable(book_id, f"the download from {url} broke off ({_reason(error)})")
                ) from None
        return BookFile(book_id, path, sha, url)
    raise CorpusError(
        f"Project Gutenberg has no plain-text book with id {book_id} at {base}; "
        f"check the number at https://www.gutenberg.org/ebooks/{book_id}."
    )


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise CorpusError(f"The cache folder {folder} cannot be written; set RNN_TUI_CACHE to a writable folder.")


class _Truncated(OSError):
    """The server closed the connection before sending Content-Length bytes."""


def _body(response: http.client.HTTPResponse, on_progress: ProgressCallback | None) -> Iterator[bytes]:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    received = 0
    while chunk := response.read(_CHUNK):
        received += len(chunk)
        if on_progress is not None:
            on_progress(received, total)
        yield chunk
    if total is not None and received != total:
        raise _Truncated(f"{received:,} of {total:,} bytes arrived")
    if received == 0:
        raise _Truncated("the server sent an empty file")


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError):
        return _reason(error.reason) if isinstance(error.reason, BaseException) else str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _unavailable(book_id: int, why: str) -> str:
    return (
        f"Project Gutenberg book {book_id} is not cached and {why}; pass a local copy of the book as a file "
        f"path instead of gutenberg:{book_id}, or use python-docs (the Python documentation that ships with "
        f"the interpreter) to run without network."
    )


def header_book_id(text: str) -> int | None:
    """The `[EBook #N]` number from a Gutenberg header, if the text has one."""
    match = _HEADER_ID.search(text, 0, _HEADER_SPAN)
    return int(match.group(1)) if match else None


def header_title(text: str) -> str | None:
    """The `Title:` line of a Gutenberg header, if the text has one."""
    match = _HEADER_TITLE.search(text, 0, _HEADER_SPAN)
    return match.group(1) if match else None


def strip_boilerplate(text: str, book_id: int | None = None) -> tuple[str, str]:
    """Cut a Gutenberg book down to its body; return `(body, cut)`.

    `cut` is "book" for the chapter's own markers (#1268), "markers" for the standard
    `*** START/END OF THE PROJECT GUTENBERG EBOOK ***` lines, and "none" when the text has neither.
    """
    book_id = book_id if book_id is not None else header_book_id(text)
    if book_id in BOOK_CUTS:
        start_marker, end_marker = BOOK_CUTS[book_id]
        start, end = text.find(start_marker), text.find(end_marker)
        if 0 <= start < end:
            return text[start:end], "book"
    start_match = _START.search(text)
    if start_match is None:
        return text, "none"
    end_match = _END.search(text, start_match.end())
    end = end_match.start() if end_match else len(text)
    return text[start_match.end() : end].strip("\n") + "\n", "markers"
