"""What the app's modal forms share: Enter or the primary button applies, Esc or Cancel closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

Result = TypeVar("Result")


class FormScreen(ModalScreen[Result | None], Generic[Result]):
    """A modal form whose `build()` returns a value or raises `errors` with a one-sentence message.

    The message shows in the widget `#form-error`; the form stays open with what was typed.
    """

    errors: tuple[type[Exception], ...] = (ValueError,)
    build: Callable[[], Result]

    def action_apply(self) -> None:
        try:
            value = self.build()
        except self.errors as error:
            self.query_one("#form-error", Static).update(f"[b red]✗[/] {error}")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_apply() if event.button.variant == "primary" else self.action_cancel()
