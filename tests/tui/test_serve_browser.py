"""`rnn-tui serve` in a real browser: headless Chromium opens the page, reads the Stepper, presses keys.

Run when Playwright (pip install 'rnn-tui[browser]') and a Chromium (Debian: apt-get install chromium) are here;
skipped, saying which is missing, otherwise. Playwright drives the system's Chromium: no browser is downloaded.
The browser is driven by tests/tui/browser_session.py in a process of its own, which the test ends if it takes
too long: a browser stuck anywhere fails (or, when Chromium cannot start on this machine, skips) this test
instead of holding the whole suite.

Set RNN_TUI_SERVE_SCREENSHOT=PATH to keep the screenshot (the README's docs/serve.png is one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.serve_helpers import ROOT, served

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright: pip install 'rnn-tui[browser]'")
pytest.importorskip("textual_serve", reason="rnn-tui serve needs textual-serve: pip install 'rnn-tui[serve]'")

SESSION = Path(__file__).with_name("browser_session.py")
SESSION_LIMIT = 180  # seconds: the session's own waits add up to at most 4 × 60 s, on a machine far slower than CI


def chromium() -> str:
    for candidate in (os.environ.get("RNN_TUI_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.skip("the browser test needs Chromium: apt-get install chromium (or set RNN_TUI_CHROMIUM)")


def test_the_app_in_a_browser_shows_the_chapter_and_answers_keys(tmp_path):
    executable = chromium()
    shot = tmp_path / "serve.png"
    transcript = tmp_path / "browser.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with served(tmp_path / "runs") as (_server, port, server_log):
        with transcript.open("w") as out:
            browser = subprocess.Popen(
                [sys.executable, str(SESSION), f"http://127.0.0.1:{port}/", executable, str(shot)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Playwright's driver and Chromium in one group, ended together
            )
        try:
            code: int | None = browser.wait(SESSION_LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
            code = None
    said = transcript.read_text()
    if code == 3 or (code is None and "launched" not in said.splitlines()):
        pytest.skip(f"Chromium could not be started on this machine: {said.strip()[-500:]}")
    if code is None:
        pytest.fail(
            f"the browser session took over {SESSION_LIMIT} s; it said:\n{said}\nthe server said:\n{server_log.read_text()}"
        )
    assert code == 0, f"the browser session failed; it said:\n{said}\nthe server said:\n{server_log.read_text()}"
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("RNN_TUI_SERVE_SCREENSHOT"):
        shutil.copy(shot, Path(target))
