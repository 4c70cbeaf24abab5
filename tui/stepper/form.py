"""The Stepper's configuration form: a modal that returns a validated `StepperConfig` or nothing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from engine.stepper.scenario import CHAPTER_SEQUENCE, StepperConfig, StepperInputError, config_from_strings
from tui.forms import FormScreen, Toggle


def sequence_text(sequence: tuple[tuple[float, ...], ...]) -> str:
    """`1, 1, 1; 2, 2, 2` with integers shown without a decimal point."""
    return "; ".join(", ".join(f"{v:g}" for v in step) for step in sequence)


class StepperForm(FormScreen[StepperConfig]):
    """Cell type, sizes, layers, direction, nonlinearity, seed and input sequence."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without changes"),
        Binding("ctrl+s", "apply", "Apply", id="form.apply", tooltip="Apply these settings"),
    ]

    errors = (StepperInputError,)

    def __init__(self, config: StepperConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        c = self.config
        typed = "" if c.random_length else sequence_text(c.sequence)
        with Vertical(id="form"):
            yield Static("[b]Stepper configuration[/]  [dim]Enter or ctrl+s applies, Esc cancels[/]", id="form-title")
            with Grid(id="form-grid"):
                yield Label("Cell")
                yield Select(
                    [("RNN", "rnn"), ("LSTM", "lstm"), ("GRU", "gru")],
                    value=c.cell,
                    allow_blank=False,
                    compact=True,
                    id="cell",
                )
                yield Label("Nonlinearity", id="nonlinearity-label")
                yield Select(
                    [("tanh", "tanh"), ("relu", "relu")],
                    value=c.nonlinearity,
                    allow_blank=False,
                    compact=True,
                    id="nonlinearity",
                )
                yield Label("Input size")
                yield Input(str(c.input_size), compact=True, id="input_size")
                yield Label("Hidden size")
                yield Input(str(c.hidden_size), compact=True, id="hidden_size")
                yield Label("Layers")
                yield Input(str(c.num_layers), compact=True, id="num_layers")
                yield Label("Direction")
                yield Toggle("bidirectional", c.bidirectional, compact=True, id="bidirectional")
                yield Label("Seed")
                yield Input(str(c.seed), compact=True, id="seed")
                yield Label("Input (t; t; …)")
                yield Input(typed, placeholder=sequence_text(CHAPTER_SEQUENCE), compact=True, id="sequence")
                yield Label("…or random steps")
                yield Input(
                    str(c.random_length or ""),
                    placeholder="T (blank: use the typed input)",
                    compact=True,
                    id="random_length",
                )
                yield Label("W_hh scale")
                yield Input(f"{c.w_hh_scale:g}", compact=True, id="w_hh_scale")
            yield Static(id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cell", Select).focus()
        self._show_nonlinearity()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "cell":
            self._show_nonlinearity()

    def _show_nonlinearity(self) -> None:
        """Only an RNN has a choice of nonlinearity: LSTM and GRU gates are fixed (σ and tanh)."""
        is_rnn = self.query_one("#cell", Select).value == "rnn"
        for widget_id in ("#nonlinearity-label", "#nonlinearity"):
            self.query_one(widget_id).display = is_rnn

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value

    def build(self) -> StepperConfig:
        return config_from_strings(
            cell=str(self.query_one("#cell", Select).value),
            nonlinearity=str(self.query_one("#nonlinearity", Select).value),
            input_size=self._value("input_size"),
            hidden_size=self._value("hidden_size"),
            num_layers=self._value("num_layers"),
            bidirectional=self.query_one("#bidirectional", Toggle).value,
            seed=self._value("seed"),
            # A random length, when given, replaces the typed sequence.
            sequence=None if self._value("random_length").strip() else self._value("sequence"),
            random_length=self._value("random_length"),
            w_hh_scale=self._value("w_hh_scale"),
            truncation=None if self.config.truncation is None else str(self.config.truncation),
            clip=self.config.clip,
        )
