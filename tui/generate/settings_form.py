"""The Generate pane's settings form (`e`): exact sampling settings typed in, and the side-by-side temperature."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from engine.generation.settings import (
    GenerateInputError,
    SamplingSettings,
    escape_stop,
    parse_settings,
    unescape_stop,
)
from tui.forms import FormScreen


class SettingsForm(FormScreen[tuple[SamplingSettings, float]]):
    """Exact sampling settings, validated by engine.generation.settings (one sentence for a bad value)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="gen.settings_cancel"),
        Binding("ctrl+s", "apply", "Apply", id="gen.settings_apply"),
    ]
    errors = (GenerateInputError,)

    def __init__(self, settings: SamplingSettings, temperature2: float) -> None:
        super().__init__()
        self.settings, self.temperature2 = settings, temperature2

    def compose(self) -> ComposeResult:
        s = self.settings
        fields = (
            ("Temperature", "temperature", f"{s.temperature:g}", "0 = greedy; the book's scale_factor is 1/T"),
            ("Top-k", "top_k", str(s.top_k), "0 = off"),
            ("Top-p", "top_p", f"{s.top_p:g}", "in (0, 1]; 1 = off"),
            ("Length", "length", str(s.length), "characters to generate"),
            ("Seed", "seed", str(s.seed), "same seed, same text"),
            ("Stop at", "stop", escape_stop(s.stop), r"stop after this text (\n: a newline; blank: never)"),
            ("2nd temperature", "temperature2", f"{self.temperature2:g}", "the right side of d (side by side)"),
        )
        with Vertical(id="form"):
            yield Static("[b]Sampling settings[/]  [dim]Enter or ctrl+s applies, Esc cancels[/]")
            with Grid(id="form-grid"):
                for label, key, value, hint in fields:
                    yield Label(label)
                    yield Input(value, placeholder=hint, compact=True, id=f"set-{key}")
            yield Static(id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Apply", variant="primary", compact=True)
                yield Button("Cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#set-temperature", Input).focus()

    def build(self) -> tuple[SamplingSettings, float]:
        value = {
            key: self.query_one(f"#set-{key}", Input).value
            for key in ("temperature", "top_k", "top_p", "length", "seed", "stop")
        }
        value["stop"] = unescape_stop(value["stop"])  # \n means a newline here as on the command line
        settings = parse_settings(**value)
        second = parse_settings(temperature=self.query_one("#set-temperature2", Input).value).temperature
        return settings, second
