"""Helpers for driving the app through Textual's Pilot."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from textual.worker import WorkerFailed

from tui.app import RnnTuiApp
from tui.stepper.pane import StepperPane

SIZE = (80, 24)


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            # An AssertionError, not pytest.fail: inside a snapshot test's run_before, Textual's auto-pilot ends
            # the app only on an Exception, and pytest.fail's is a BaseException: the app would run on forever.
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def settle(pilot) -> None:
    """Wait for the Stepper's first scenario and its workers (failed ones included), then their messages."""
    await wait_until(pilot, lambda: pilot.app.query_one(StepperPane).result is not None)
    with contextlib.suppress(WorkerFailed):  # the app reports it; tests check what the user sees
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def stepper(app: RnnTuiApp) -> StepperPane:
    return app.query_one(StepperPane)


async def type_into(pilot, selector: str, text: str) -> None:
    """Replace an Input's text the way a user would: focus, clear, type."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await pilot.pause()
    await pilot.press("end", *["backspace"] * len(widget.value))
    if text:
        await pilot.press(
            *[{" ": "space", ",": "comma", ";": "semicolon", ".": "full_stop", "-": "minus"}.get(ch, ch) for ch in text]
        )
    await asyncio.sleep(0)
