"""The inspector's small modals: the text to trace (t), a unit to pin (u) and the probe list (p)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from engine.inspection.inputs import MAX_TEXT, InspectInputError, check_text
from engine.numbers import read_whole
from tui.forms import FormScreen


class TextForm(FormScreen[str]):
    """The text to step through: as typed, newlines kept (ctrl+s applies; Enter is a new line)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="inspect.text_cancel", tooltip="Keep the current text"),
        Binding("ctrl+s", "apply", "Apply", id="inspect.text_apply", tooltip="Trace this text"),
    ]

    errors = (InspectInputError,)

    def __init__(self, text: str, what: str) -> None:
        super().__init__()
        self.text, self.what = text, what

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="ins-form"):
            yield Static(
                f"[b]The {self.what} to step through[/]  [dim]ctrl+s traces it, Esc cancels · at most {MAX_TEXT:,} characters[/]",
                id="form-title",
            )
            yield TextArea(self.text, soft_wrap=True, id="ins-text-area")
            yield Static(id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Trace", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def build(self) -> str:
        return check_text(self.query_one(TextArea).text, self.what)


class UnitForm(FormScreen[int]):
    """A unit number, from 0 to the layer's size − 1."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="inspect.unit_cancel", tooltip="Keep the current unit")]

    errors = (InspectInputError,)

    def __init__(self, hidden_size: int, current: int | None) -> None:
        super().__init__()
        self.hidden_size, self.current = hidden_size, current

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="ins-form-small"):
            yield Static(
                f"[b]Unit to show[/] (0 to {self.hidden_size - 1})  [dim]Enter shows it, Esc cancels[/]",
                id="form-title",
            )
            yield Input("" if self.current is None else str(self.current), compact=True, id="ins-unit-input")
            yield Static(id="form-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def build(self) -> int:
        typed = self.query_one(Input).value
        unit = read_whole(typed)
        if unit is None or not 0 <= unit < self.hidden_size:
            raise InspectInputError(
                f"A unit is a whole number from 0 to {self.hidden_size - 1}, not {typed.strip()[:20]!r}."
            )
        return unit


class ProbePicker(ModalScreen[str | None]):
    """The built-in probes (engine.inspection.units.PROBES) to rank the units by; Enter picks."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="inspect.probe_cancel", tooltip="Close the list")]

    def __init__(self, probes: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.probes = list(probes)

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("[b]Rank the units by a probe[/]  [dim]Enter picks, Esc cancels[/]")
            yield OptionList(
                *[Option(f"[b]{name}[/]: {description}", id=name) for name, description in self.probes],
                id="picker-list",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
