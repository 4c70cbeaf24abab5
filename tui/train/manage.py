"""The Train pane's small forms for one run: edit its name, tags and notes (e); confirm its deletion (d).

What they return is applied by the pane through engine.training.runmeta (meta.json) and
engine.training.runs.delete_run; the forms only check what was typed, one sentence per mistake.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from engine.training.runmeta import MetaError, RunMeta, check_display_name, check_notes, parse_tags
from tui.forms import FormScreen


class EditRunForm(FormScreen[dict[str, Any]]):
    """Display name, tags and notes of one run; returns the fields for runmeta.update_meta."""

    errors = (MetaError,)
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="edit.cancel"),
        Binding("ctrl+s", "apply", "save", id="edit.apply"),
    ]

    def __init__(self, run_id: str, meta: RunMeta) -> None:
        super().__init__()
        self.run_id = run_id
        self.meta = meta

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-run", classes="run-dialog"):
            yield Static(Text.assemble(("Run ", "bold"), (self.run_id, "bold"), " (its id stays)"))
            yield Label("Display name (empty: shown by its id)")
            yield Input(self.meta.display_name or "", id="edit-name", placeholder=self.run_id)
            yield Label("Tags (commas or spaces; letters, digits, - _ . : + / = @ #)")
            yield Input(" ".join(self.meta.tags), id="edit-tags", placeholder="baseline lr:3e-3")
            yield Label("Notes")
            yield TextArea(self.meta.notes, id="edit-notes", soft_wrap=True, show_line_numbers=False)
            yield Static(id="form-error")
            with Horizontal(classes="run-dialog-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", compact=True)
                yield Button("Cancel (Esc)", compact=True)

    def on_mount(self) -> None:
        self.query_one("#edit-name", Input).focus()

    def build(self) -> dict[str, Any]:
        return {
            "display_name": check_display_name(self.query_one("#edit-name", Input).value),
            "tags": parse_tags(self.query_one("#edit-tags", Input).value),
            "notes": check_notes(self.query_one("#edit-notes", TextArea).text),
        }


class DeleteRunScreen(ModalScreen[bool]):
    """Asks before a run's directory goes: True to delete, False to keep it."""

    BINDINGS = [
        Binding("y", "choose(True)", "delete", id="delete.yes"),
        Binding("n,escape", "choose(False)", "keep", id="delete.no"),
    ]

    def __init__(self, label: str, run_id: str, what: str) -> None:
        super().__init__()
        self.label, self.run_id, self.what = label, run_id, what

    def compose(self) -> ComposeResult:
        shown = self.label if self.label == self.run_id else f"{self.label} ({self.run_id})"
        with Vertical(id="delete-run", classes="run-dialog"):
            yield Static(
                Text.assemble(
                    ("Delete ", "bold"),
                    (shown, "bold"),
                    ("?", "bold"),
                    f"\n{self.what}\nIts directory goes with everything in it: checkpoints, metrics, samples, log. "
                    "This cannot be undone (archive it with a to only hide it).",
                )
            )
            with Horizontal(classes="run-dialog-buttons"):
                yield Button("Delete (y)", id="yes", variant="error", compact=True)
                yield Button("Keep (n)", id="no", variant="primary", compact=True)

    def action_choose(self, choice: bool) -> None:
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")
