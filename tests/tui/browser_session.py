"""The browser half of the serve test, in a process of its own: the test can always end it.

    python tests/tui/browser_session.py URL CHROMIUM SCREENSHOT

Headless Chromium, driven by Playwright, opens the page, reads the Stepper, presses keys. It prints a line as
each stage passes ("launched", then one per screen) so that the test can tell a browser that never started
(exit 3) from an app that never answered (exit 1, with the screen it showed). A hang anywhere, in Chromium or
in Playwright's driver, is the test's to end: it kills this process's group.

xterm.js, which draws the terminal in the page, paints on a canvas; the page here has canvases taken away, so
xterm falls back to its DOM renderer, whose rows hold the screen's text to read.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

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


class NeverShown(Exception):
    pass


def stage(name: str) -> None:
    print(name, flush=True)


def wait_for_screen(page, *fragments: str, timeout: float = 60.0) -> str:
    """The screen's text once it holds every fragment."""
    deadline = time.monotonic() + timeout
    while True:
        screen = page.evaluate(ROWS)
        if all(fragment in screen for fragment in fragments):
            stage(f"shown: {fragments}")
            return screen
        if time.monotonic() > deadline:
            raise NeverShown(f"the page never showed {fragments}; it shows:\n{screen}")
        time.sleep(0.1)


def session(url: str, chromium: str, screenshot: Path) -> int:
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        try:  # a fresh profile: nothing from another run, no first-run dialogs
            browser = playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium, args=CHROMIUM_FLAGS, viewport={"width": 1100, "height": 640}
            )
        except Exception as error:
            stage(f"chromium did not start: {error}")
            return 3
        stage("launched")
        try:
            page = browser.new_page()
            page.add_init_script("HTMLCanvasElement.prototype.getContext = function () { return null; };")
            page.goto(url)
            first = wait_for_screen(page, "Stepper", "-0.3520", "0.5253", "step 1/3 (t=0)")
            page.screenshot(path=str(screenshot))

            page.focus(".xterm-helper-textarea")  # where xterm takes keys, as a click on the terminal would
            page.keyboard.press("ArrowRight")
            second = wait_for_screen(page, "step 2/3 (t=1)", "-0.6842")
            assert second != first, "the screen did not change after →"
            page.keyboard.press("3")
            third = wait_for_screen(page, "∂L/∂h")
            assert third != second and "-0.6842" not in third, f"the gradients view did not come up:\n{third}"
            page.keyboard.press("F3")  # another pane
            wait_for_screen(page, "n new run")
        except (NeverShown, AssertionError) as failure:
            stage(f"failed: {failure}")
            return 1
        finally:
            browser.close()
    stage("done")
    return 0


if __name__ == "__main__":
    sys.exit(session(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
