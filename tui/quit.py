"""The question asked when quitting with jobs still training: stop them, or leave them running."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from engine.training.runs import RunDir


class QuitScreen(ModalScreen[str | None]):
    """Returns "stop", "leave" or None (cancel)."""

    BINDINGS = [
        Binding("s", "choose('stop')", "stop jobs and quit", id="quit.stop"),
        Binding("l", "choose('leave')", "leave them running", id="quit.leave"),
        Binding("escape", "choose(None)", "cancel", id="quit.cancel"),
    ]

    def __init__(self, active: list[RunDir]) -> None:
        super().__init__()
        self.active = active

    def compose(self) -> ComposeResult:
        names = "\n".join(f"  {run.name}" for run in self.active[:6])
        more = f"\n  … and {len(self.active) - 6} more" if len(self.active) > 6 else ""
        with Vertical(id="quit-dialog"):
            yield Static(
                f"[b]{len(self.active)} job{'s are' if len(self.active) > 1 else ' is'} still training:[/]\n{names}{more}\n\n"
                "Jobs run in their own processes. Left running, they keep training and show up here next time."
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Stop them (s)", id="stop", variant="error", compact=True)
                yield Button("Leave running (l)", id="leave", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None if event.button.id == "cancel" else event.button.id)
