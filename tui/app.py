"""The rnn-tui application: a tabbed shell around the panes, with help and a command palette.

Nothing here imports torch: the first frame appears at once and panes load the engine
in workers.
"""

from __future__ import annotations

from typing import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.help import HelpScreen
from tui.stepper import StepperPane
from tui.stepper_form import StepperForm


def binding_ids() -> set[str]:
    """Every binding id a keymap may remap."""
    owners = (RnnTuiApp, StepperPane, StepperForm, HelpScreen)
    return {b.id for owner in owners for b in owner.BINDINGS if isinstance(b, Binding) and b.id}


class RnnTuiApp(App[None]):
    """A terminal lab for recurrent neural networks."""

    TITLE = "rnn-tui"
    SUB_TITLE = "Stepper: recurrent cells, one time step at a time"
    CSS_PATH = "rnn_tui.tcss"

    BINDINGS = [
        Binding("question_mark,f1", "help", "help", id="app.help", tooltip="Keys and what each view shows"),
        Binding("q", "quit", "quit", id="app.quit", tooltip="Leave rnn-tui", show=False),
    ]

    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.user_keymap = keymap or {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepperPane(id="stepper")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
            unknown = sorted(set(self.user_keymap) - binding_ids())
            if unknown:
                self.notify(f"The keymap names unknown binding ids: {', '.join(unknown)}.", severity="warning", timeout=8)
        self.query_one(StepperPane).focus()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        stepper = self.query_one(StepperPane)
        yield from stepper.commands()
