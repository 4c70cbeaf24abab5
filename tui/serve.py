"""`rnn-tui serve`: the whole app in a browser tab, through textual-serve (Textual's own web server).

Each browser tab runs its own copy of the app (`python -m tui.cli ...` under Textual's web driver) and sees
the same runs directory; training jobs run in their own processes as always, so closing a tab or stopping the
server with Ctrl+C leaves them training, as quitting the app does.

The address and port are checked before the server starts (a bad one is one sentence, exit status 2), and
anyone who can reach the port controls training jobs, so it listens on 127.0.0.1 unless --host says otherwise.
Two guards textual-serve lacks: the page's links follow the address the browser used (an SSH port forward to
another local port works), and the app's websocket refuses pages from other sites, and on a loopback address
any Host but this machine's names (a web page in another tab cannot drive the app, even by DNS rebinding).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
INSTALL = "pip install 'rnn-tui[serve]'"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class ServeError(Exception):
    """A server that cannot start; the message is one sentence (exit status 2)."""


def add_serve_parser(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve the app in a web browser (needs pip install 'rnn-tui[serve]')",
        description="Serve the whole app to web browsers through textual-serve: open the printed address, and each "
        "tab runs the app. Ctrl+C stops the server; training jobs keep running.",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 means every interface, "
        "and anyone who reaches the port controls training jobs)",
    )
    serve.add_argument("--port", default=str(DEFAULT_PORT), help=f"the port to listen on (default {DEFAULT_PORT})")
    serve.add_argument(
        "--runs-dir",
        dest="serve_runs_dir",
        default=None,
        metavar="DIR",
        help="where the app finds runs (default: $RNN_TUI_RUNS or ~/.local/share/rnn-tui/runs)",
    )


def parse_port(text: str) -> int:
    """The port in `text`, read as every number a flag takes (engine.numbers); ServeError outside 1–65535."""
    from engine.numbers import NumberError, parse_whole

    try:
        port = parse_whole(text, "port")
    except NumberError as error:
        raise ServeError(str(error)) from None
    if not 1 <= port <= 65535:
        raise ServeError(f"The port must be from 1 to 65535, not {port:,}.")
    return port


def check_address(host: str, port: int) -> bool:
    """Check that the server can listen on `host`:`port` here; returns whether every address of `host` is loopback.

    ServeError with one sentence when `host` does not resolve, is not an address of this machine, or the
    port is taken or needs privileges. Each address is bound the way the server binds it, then released.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise ServeError(
            f"{host!r} is not an address or a name this machine can resolve; try --host 127.0.0.1."
        ) from None
    loopback = True
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
            try:
                probe.bind(address)
            except OSError as error:
                raise ServeError(_bind_problem(error, host, port)) from None
        loopback = loopback and ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
    return loopback


def _bind_problem(error: OSError, host: str, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"Port {port} on {host} is in use (by another server?); pick a free one with --port."
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use 127.0.0.1 (the default), 0.0.0.0 for every interface, or one of its own addresses."
    if error.errno == errno.EACCES:
        return f"Port {port} needs administrator rights on this machine; pick one from 1024 to 65535 with --port."
    return f"Cannot listen on {host} port {port} ({error.strerror or error})."


def app_command(app_args: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser tab: this Python, this package's CLI."""
    return shlex.join([sys.executable, "-m", "tui.cli", *app_args])


def url_host(host: str) -> str:
    """`host` as it appears in a URL (IPv6 addresses in brackets; every interface shown as this machine)."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1" if host != "::" else "[::1]"
    return f"[{host}]" if ":" in host else host


def is_local_host(netloc: str) -> bool:
    """Whether a Host header names this machine by a loopback name (for a server on a loopback address)."""
    name = urlsplit(f"//{netloc}").hostname or ""
    return name in LOCAL_NAMES or name.endswith(".localhost")


def make_server(command: str, host: str, port: int, loopback: bool) -> Any:
    """textual-serve's Server with rnn-tui's banner and the two guards described at the top."""
    import asyncio

    from aiohttp import web
    from textual_serve.server import Server

    sessions: set[asyncio.Task[Any]] = set()

    class AppServer(Server):
        async def on_shutdown(self, app: web.Application) -> None:
            # Ctrl+C: end each tab's session now (textual-serve then tells its app to quit) rather than when the
            # browser's heartbeat times out; the apps' training jobs run in their own processes and carry on.
            for task in sessions:
                task.cancel()
            if sessions:
                await asyncio.wait(sessions, timeout=10)

        async def on_startup(self, app: web.Application) -> None:
            url = f"http://{url_host(host)}:{port}"
            self.console.print(f"rnn-tui is served on [b]{url}[/b]: open it in a web browser.", highlight=False)
            self.console.print("Ctrl+C stops the server; training jobs keep running.", highlight=False)

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            if loopback and not is_local_host(request.host):
                raise web.HTTPForbidden(text="rnn-tui answers on this machine's own names only.")
            self.public_url = f"{request.scheme}://{request.host}"  # the links follow the address the browser used
            response: web.StreamResponse = await super().handle_index(request)
            return response

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            origin = request.headers.get("Origin")
            if (loopback and not is_local_host(request.host)) or (
                origin is not None and urlsplit(origin).netloc != request.host
            ):
                raise web.HTTPForbidden(text="The app answers its own page only.")
            task = asyncio.current_task()
            assert task is not None  # aiohttp runs each request in a task
            sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                sessions.discard(task)

    return AppServer(command, host=host, port=port, title="rnn-tui")


def run_serve(args: argparse.Namespace) -> int:
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise ServeError(f"Serving in a browser needs textual-serve; install it with {INSTALL}.") from None
    port = parse_port(args.port)
    loopback = check_address(args.host, port)
    app_args = []
    for flag, value in (
        ("--keymap", args.keymap),
        ("--runs-dir", args.app_runs_dir),
        ("--run", args.app_run),
    ):
        if value is not None:
            app_args += [flag, value]
    if not loopback:
        print(
            f"rnn-tui: warning: listening on {args.host}: anyone who can reach port {port} controls your training "
            "jobs and reads what the app shows, with no password; use an SSH port forward to 127.0.0.1 instead "
            "where you can.",
            file=sys.stderr,
        )
    server = make_server(app_command(app_args), args.host, port, loopback)
    try:
        server.serve()
    except OSError as error:  # lost the port between the check and the start
        raise ServeError(_bind_problem(error, args.host, port)) from None
    return 0
