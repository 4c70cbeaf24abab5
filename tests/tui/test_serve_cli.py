"""`rnn-tui serve` without a browser: its checks before starting, its guards, and Ctrl+C leaving jobs running."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.training.jobs import create_run, start_job
from engine.training.runs import pid_alive
from tests.engine.training.training_helpers import charlm_config, write_text
from tests.messages import assert_one_sentence, one_error_line
from tests.tui.serve_helpers import free_port, served
from tui import serve
from tui.cli import main


def fake_server(monkeypatch) -> list[tuple]:
    """Replace the server with a record of how it would have been made."""
    made: list[tuple] = []

    class Recorded:
        def serve(self) -> None:
            pass

    def make_server(*args):
        made.append(args)
        return Recorded()

    monkeypatch.setattr(serve, "make_server", make_server)
    return made


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("0", "The port must be from 1 to 65535, not 0."),
        ("65,536", "The port must be from 1 to 65535, not 65,536."),
        ("-1", "The port must be from 1 to 65535, not -1."),
        ("80a", 'The port must be a whole number, not "80a".'),
    ],
)
def test_a_port_out_of_range_is_one_sentence(capsys, port, message):
    assert main(["serve", "--port", port]) == 2
    assert one_error_line(capsys.readouterr().err) == message


def test_a_port_in_use_is_refused_before_the_server_starts(capsys, monkeypatch):
    made = fake_server(monkeypatch)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == f"Port {port} on 127.0.0.1 is in use (by another server?); pick a free one with --port."
    assert made == []


def test_an_address_of_another_machine_is_refused(capsys, monkeypatch):
    made = fake_server(monkeypatch)
    assert main(["serve", "--host", "192.0.2.7", "--port", "8123"]) == 2  # TEST-NET-1: never this machine's
    message = one_error_line(capsys.readouterr().err)
    assert message.startswith("192.0.2.7 is not an address of this machine; use 127.0.0.1 (the default)")
    assert made == []


def test_without_textual_serve_it_says_how_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve"]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == "Serving in a browser needs textual-serve; install it with pip install 'rnn-tui[serve]'."


def test_a_bad_keymap_stops_it_before_the_server_starts(capsys, monkeypatch, tmp_path):
    made = fake_server(monkeypatch)
    keymap = tmp_path / "keys.json"
    keymap.write_text("[1, 2]")
    assert main(["--keymap", str(keymap), "serve"]) == 2
    one_error_line(capsys.readouterr().err)
    assert made == []


def test_loopback_is_the_default_and_any_other_host_is_warned_about(capsys, monkeypatch, tmp_path):
    pytest.importorskip("textual_serve", reason="rnn-tui serve needs textual-serve: pip install 'rnn-tui[serve]'")
    made = fake_server(monkeypatch)
    runs = tmp_path / "my runs"
    port = free_port()
    assert main(["serve", "--port", str(port), "--runs-dir", str(runs)]) == 0
    assert capsys.readouterr().err == ""
    command, *where = made[-1]
    assert where == ["127.0.0.1", port, True]
    assert command == f"{sys.executable} -m tui.cli --runs-dir '{runs}'"  # one tab, one app, on these runs

    assert main(["serve", "--host", "0.0.0.0", "--port", str(port)]) == 0
    warning = capsys.readouterr().err.strip()
    assert warning.startswith(f"rnn-tui: warning: listening on 0.0.0.0: anyone who can reach port {port} controls")
    assert made[-1][1:] == ("0.0.0.0", port, False)


@given(st.text(max_size=12))
def test_any_port_text_is_a_port_in_range_or_one_sentence(text):
    try:
        port = serve.parse_port(text)
    except serve.ServeError as error:
        assert_one_sentence(str(error))
    else:
        assert 1 <= port <= 65535


def app_processes(runs: Path) -> list[int]:
    """Processes running the app on `runs` (textual-serve starts one per tab)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tui.cli" in command and str(runs).encode() in command and b"serve" not in command:
            found.append(int(entry.name))
    return found


async def open_tab(port: int, origin: str | None = None):
    import aiohttp

    session = aiohttp.ClientSession()
    headers = {"Origin": origin or f"http://127.0.0.1:{port}"}
    socket_ = await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30", headers=headers)
    return session, socket_


async def read_until(socket_, fragment: bytes, timeout: float = 60.0) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while fragment not in received:
        message = await asyncio.wait_for(socket_.receive(), max(deadline - time.monotonic(), 0.1))
        assert isinstance(message.data, bytes), message
        received += message.data
    return received


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_stops_the_server_and_its_apps_and_leaves_training_jobs_running(tmp_path):
    pytest.importorskip("textual_serve", reason="rnn-tui serve needs textual-serve: pip install 'rnn-tui[serve]'")
    pytest.importorskip("aiohttp")
    runs = tmp_path / "runs"
    text = write_text(tmp_path / "island.txt")
    config = charlm_config(text, steps=1_000_000, eval_every=1000, checkpoint_every=1000, sample_every=0)
    run = create_run(runs, config)
    job = start_job(run)
    try:
        with served(runs) as (server, port, log):

            async def tab_then_ctrl_c() -> int | None:
                session, socket_ = await open_tab(port)
                try:
                    await read_until(socket_, b"Stepper")
                    assert len(app_processes(runs)) >= 1
                    server.send_signal(signal.SIGINT)
                    deadline = time.monotonic() + 30
                    # read on, as a browser tab would, until the server closes the tab or ends (or 30 s pass)
                    while not socket_.closed and server.poll() is None and time.monotonic() < deadline:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(socket_.receive(), 0.5)
                    return await asyncio.to_thread(server.wait, 30)
                finally:
                    await session.close()

            assert asyncio.run(tab_then_ctrl_c()) == 0
            assert "Ctrl+C stops the server" in log.read_text()
        assert app_processes(runs) == []
        assert pid_alive(job.pid) and run.status().state in ("running", "queued")
    finally:
        run.request("stop")
        deadline = time.monotonic() + 60
        while pid_alive(job.pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def test_the_app_answers_its_own_page_only(tmp_path):
    pytest.importorskip("textual_serve", reason="rnn-tui serve needs textual-serve: pip install 'rnn-tui[serve]'")
    import aiohttp

    with served(tmp_path / "runs") as (_server, port, _log):

        async def probe() -> tuple[int, int, int, str]:
            async with aiohttp.ClientSession() as session:
                foreign = await session.get(f"http://127.0.0.1:{port}/ws", headers={"Origin": "http://evil.example"})
                rebound = await session.get(f"http://127.0.0.1:{port}/", headers={"Host": f"evil.example:{port}"})
                forwarded = await session.get(f"http://127.0.0.1:{port}/", headers={"Host": "localhost:9999"})
                return foreign.status, rebound.status, forwarded.status, await forwarded.text()

        foreign, rebound, forwarded, page = asyncio.run(probe())
    assert (foreign, rebound, forwarded) == (403, 403, 200)
    assert 'data-session-websocket-url="ws://localhost:9999/ws"' in page  # an SSH forward to another port works
