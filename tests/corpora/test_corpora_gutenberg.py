"""Gutenberg downloads against a local HTTP server: caching, checksums, broken downloads, 404s, offline."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from corpora_helpers import BODY, assert_one_sentence, gutenberg_file

from corpora.cache import checksum_path, sha256_file
from corpora.errors import CorpusError, SourceUnavailable
from corpora.gutenberg import BASE_URL_ENV, book_path, fetch_book
from corpora.text import FALLBACK_SOURCE, load_text

BOOK = gutenberg_file(4242, "A Test Book").encode()


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    send: int | None = None  # send only this many bytes of the body, then close


@dataclass
class FakeGutenberg:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGutenberg]:
    """A Project Gutenberg stand-in on 127.0.0.1 in a thread; routes are set by each test."""
    state = FakeGutenberg(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body[: route.send])
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv(BASE_URL_ENV, state.url)
    yield state
    httpd.shutdown()
    httpd.server_close()


def cache_entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir()) if path.parent.exists() else []


def test_download_once_then_reuse_the_verified_cache(server: FakeGutenberg) -> None:
    server.routes["/files/4242/4242-0.txt"] = Route(BOOK)
    progress: list[tuple[int, int | None]] = []
    text, info = load_text("gutenberg:4242", on_progress=lambda got, total: progress.append((got, total)))
    assert text == f"A TEST BOOK\n\n{BODY}"
    assert (info.origin, info.cut, info.cached, info.url) == (
        "gutenberg",
        "markers",
        False,
        f"{server.url}/files/4242/4242-0.txt",
    )
    path = book_path(4242)
    assert path.read_bytes() == BOOK and info.sha256 == sha256_file(path)
    assert checksum_path(path).read_text().split()[0] == info.sha256
    assert progress[-1] == (len(BOOK), len(BOOK))

    again, info_again = load_text("gutenberg:4242")
    assert again == text and info_again.cached and info_again.url is None
    assert server.requests == ["/files/4242/4242-0.txt"]


def test_a_corrupted_cache_is_downloaded_again(server: FakeGutenberg) -> None:
    server.routes["/files/4242/4242-0.txt"] = Route(BOOK)
    fetch_book(4242)
    book_path(4242).write_bytes(BOOK[:-10])
    book = fetch_book(4242)
    assert not book.cached and book.path.read_bytes() == BOOK
    assert len(server.requests) == 2


def test_newer_books_are_found_under_cache_epub(server: FakeGutenberg) -> None:
    server.routes["/cache/epub/4242/pg4242.txt"] = Route(BOOK)
    book = fetch_book(4242)
    assert book.url.endswith("/cache/epub/4242/pg4242.txt")
    assert server.requests == ["/files/4242/4242-0.txt", "/cache/epub/4242/pg4242.txt"]


@pytest.mark.parametrize("route", [Route(BOOK, send=len(BOOK) // 3), Route(BOOK, send=0)], ids=["mid-body", "no-body"])
def test_a_download_that_breaks_off_leaves_nothing_behind(server: FakeGutenberg, route: Route) -> None:
    server.routes["/files/4242/4242-0.txt"] = route
    with pytest.raises(SourceUnavailable) as caught:
        fetch_book(4242)
    assert "broke off" in str(caught.value)
    assert_one_sentence(str(caught.value))
    assert cache_entries(book_path(4242)) == []


def test_a_sidecar_without_its_file_or_a_file_without_its_sidecar_is_not_a_cache(server: FakeGutenberg) -> None:
    server.routes["/files/4242/4242-0.txt"] = Route(BOOK)
    path = book_path(4242)
    path.parent.mkdir(parents=True)
    path.write_bytes(BOOK)  # as if the process died before the checksum was written
    assert not fetch_book(4242).cached
    checksum_path(path).write_text("0" * 64 + "  4242.txt\n")
    assert not fetch_book(4242).cached
    assert fetch_book(4242).cached


def test_an_unknown_id_is_a_clear_error_not_an_offline_one(server: FakeGutenberg) -> None:
    with pytest.raises(CorpusError) as caught:
        load_text("gutenberg:999999", fallback=True)
    assert not isinstance(caught.value, SourceUnavailable)
    assert "no plain-text book with id 999999" in str(caught.value)
    assert_one_sentence(str(caught.value))


def test_server_errors_and_web_pages_are_reported(server: FakeGutenberg) -> None:
    server.routes["/files/4242/4242-0.txt"] = Route(b"busy", status=503)
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        fetch_book(4242)
    server.routes["/files/4242/4242-0.txt"] = Route(b"<html>login</html>", content_type="text/html")
    with pytest.raises(SourceUnavailable, match="web page"):
        fetch_book(4242)
    assert cache_entries(book_path(4242)) == []


def test_offline_says_how_to_pass_a_file_and_can_fall_back_honestly() -> None:
    with pytest.raises(SourceUnavailable) as caught:
        load_text("gutenberg:1268")
    message = str(caught.value)
    assert_one_sentence(message)
    assert "not cached" in message and "local copy of the book as a file path" in message and FALLBACK_SOURCE in message

    text, info = load_text("gutenberg:1268", fallback=True)
    assert info.origin == FALLBACK_SOURCE and info.fallback_for == "gutenberg:1268" and info.notice == message
    assert len(text) > 100_000


def test_an_unwritable_cache_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("RNN_TUI_CACHE", str(blocker))
    with pytest.raises(CorpusError, match="cannot be written; set RNN_TUI_CACHE") as caught:
        fetch_book(4242)
    assert_one_sentence(str(caught.value))


@pytest.mark.parametrize("spec", ["gutenberg:abc", "gutenberg:0", "gutenberg:"])
def test_bad_ids(spec: str) -> None:
    with pytest.raises(CorpusError, match="not a Project Gutenberg book id") as caught:
        load_text(spec)
    assert_one_sentence(str(caught.value))


@pytest.mark.realdata
def test_the_novel_through_the_download_path(
    server: FakeGutenberg, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.cli import main

    server.routes["/files/1268/1268-0.txt"] = Route((data_dir / "mysterious_island_1268-0.txt").read_bytes())
    for cached in (False, True):
        assert main(["corpus", "show", "gutenberg:1268", "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert (info["characters"], info["unique_characters"], info["cut"], info["cached"]) == (
            1_112_350,
            80,
            "book",
            cached,
        )
    assert info["title"] == "The Mysterious Island" and len(server.requests) == 1
