"""`rnn-tui serve` in a real browser: headless Chromium opens the page, reads the Stepper, presses keys.

Run when Playwright (pip install 'rnn-tui[browser]') and a Chromium (Debian: apt-get install chromium) are here;
skipped, saying which is missing, otherwise. Playwright drives the system's Chromium: no browser is downloaded.
The browser is driven by tests/tui/browser_session.py in a process of its own, which the test ends if it takes
too long, so a browser stuck in a call that has no time limit cannot hold the whole suite. A page that shows the
wrong thing fails the test; a Chromium that cannot start, or stops answering, on this machine skips it, saying so.

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
# Seconds. Every wait of the session's own ends within 60 s, and Playwright's calls within 30 s, except two
# that have no limit (page.evaluate, browser.close): past this, the session can only be stuck in one of those.
SESSION_LIMIT = 330


def chromium() -> str:
    for candidate in (os.environ.get("RNN_TUI_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.skip("the browser test needs Chromium: apt-get install chromium (or set RNN_TUI_CHROMIUM)")


@pytest.mark.timeout(SESSION_LIMIT + 90)
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
    if code == 3:
        pytest.skip(f"Chromium could not be started on this machine: {said.strip()[-500:]}")
    if code is None:  # a browser that stopped answering, not a page that showed the wrong thing (that fails)
        pytest.skip(f"Chromium stopped answering Playwright on this machine (ended after {SESSION_LIMIT} s): {said}")
    assert code == 0, f"the browser session failed; it said:\n{said}\nthe server said:\n{server_log.read_text()}"
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("RNN_TUI_SERVE_SCREENSHOT"):
        shutil.copy(shot, Path(target))
