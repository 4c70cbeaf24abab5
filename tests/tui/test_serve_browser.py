"""`rnn-tui serve` in a real browser: headless Chromium opens the page, reads the Stepper, presses keys.

Run when Playwright (pip install 'rnn-tui[browser]') and a Chromium (Debian: apt-get install chromium) are here;
skipped, saying which is missing, otherwise. Playwright drives the system's Chromium: no browser is downloaded.

xterm.js, which draws the terminal in the page, paints on a canvas; the test takes canvases away from the page,
so xterm falls back to its DOM renderer, whose rows hold the screen's text for the test to read.
Set RNN_TUI_SERVE_SCREENSHOT=PATH to keep the screenshot (the README's docs/serve.png is one).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.tui.serve_helpers import served

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs Playwright: pip install 'rnn-tui[browser]'"
)
pytest.importorskip("textual_serve", reason="rnn-tui serve needs textual-serve: pip install 'rnn-tui[serve]'")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROWS = "() => Array.from(document.querySelectorAll('.xterm-rows > div'), row => row.textContent).join('\\n')"


def chromium() -> str:
    for candidate in (os.environ.get("RNN_TUI_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.skip("the browser test needs Chromium: apt-get install chromium (or set RNN_TUI_CHROMIUM)")


def wait_for_screen(page, *fragments: str, timeout: float = 60.0) -> str:
    """The screen's text once it holds every fragment."""
    deadline = time.monotonic() + timeout
    while True:
        screen = page.evaluate(ROWS)
        if all(fragment in screen for fragment in fragments):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {fragments}; it shows:\n{screen}")
        time.sleep(0.1)


def test_the_app_in_a_browser_shows_the_chapter_and_answers_keys(tmp_path):
    executable = chromium()
    with served(tmp_path / "runs") as (_server, port), playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=executable,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1100, "height": 640},
        )  # a fresh profile: nothing from another run, no first-run dialogs
        try:
            page = browser.new_page()
            page.add_init_script("HTMLCanvasElement.prototype.getContext = function () { return null; };")
            page.goto(f"http://127.0.0.1:{port}/")
            first = wait_for_screen(page, "Stepper", "-0.3520", "0.5253", "step 1/3 (t=0)")
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000

            page.focus(".xterm-helper-textarea")  # where xterm takes keys, as a click on the terminal would
            page.keyboard.press("ArrowRight")
            second = wait_for_screen(page, "step 2/3 (t=1)", "-0.6842")
            assert second != first
            page.keyboard.press("3")
            third = wait_for_screen(page, "∂L/∂h")
            assert third != second and "-0.6842" not in third
            page.keyboard.press("F3")  # another pane
            wait_for_screen(page, "n new run")
        finally:
            browser.close()
        if target := os.environ.get("RNN_TUI_SERVE_SCREENSHOT"):
            shutil.copy(shot, Path(target))
