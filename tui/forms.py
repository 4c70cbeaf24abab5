"""What the app's modal forms share: Enter or the primary button applies, Esc or Cancel closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from textual.binding import Binding
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

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


class Toggle(Checkbox, inherit_bindings=False):
    """A checkbox whose state reads without colour and whose label is never cut.

    On is `▐X▌`, off is `▐ ▌` (Textual's own draws an X either way and tells them apart by colour
    only); without a label of its own it says `yes` or `no`. Space toggles it; Enter applies the
    form, as it does from every other field.
    """

    BINDINGS = [
        Binding("space", "toggle_button", "Toggle", show=False),
        Binding("enter", "apply_form", "Apply", show=False),
    ]

    def action_apply_form(self) -> None:
        if isinstance(self.screen, FormScreen):
            self.screen.action_apply()

    def __init__(self, label: str = "", value: bool = False, **kwargs) -> None:
        self._own_label = label
        super().__init__(label or ("yes" if value else "no"), value, **kwargs)
        self._show_state()

    def watch_value(self) -> None:
        super().watch_value()
        self._show_state()

    def _show_state(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        if not self._own_label:
            self.label = "yes" if self.value else "no"
        self.refresh(layout=True)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        # The button, then the label with one space either side, as it is drawn.
        return self._button.cell_length + 2 + self.label.cell_length
