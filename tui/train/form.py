"""The new-run form: job, preset, and every setting of `engine.training.config.FORM_FIELDS`.

It returns a validated `TrainConfig` and whether to start it now or queue it (a `NewRun`), or None;
validation is torch-free, so it answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from engine.training.config import (
    DEFAULT_PRESET,
    FORM_FIELDS,
    JOBS,
    FormField,
    TrainConfig,
    TrainConfigError,
    parse_train_config,
    preset_names,
)
from engine.training.presets import PRESET_NOTES
from tui.forms import FormScreen, Toggle


@dataclass(frozen=True)
class NewRun:
    """What the form asks for: a run with `config`, started at once or put at the end of the queue."""

    config: TrainConfig
    queue: bool = False


def _shown(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class TrainForm(FormScreen[NewRun]):
    """A new training job: changing the job or the preset refills the fields, but not the data source.

    `data_paths` (job -> the data source last typed for it) is shared with the caller, so the form
    opens with the last data source used for each job, and switching jobs back and forth keeps both.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="train_form.cancel"),
        Binding("ctrl+s", "apply", "Start", id="train_form.apply"),
        Binding(
            "ctrl+t", "queue", "Queue", id="train_form.queue", tooltip="Queue the run: it starts when a slot frees up"
        ),
    ]

    errors = (TrainConfigError,)
    job = reactive("charlm", recompose=True)
    preset = reactive(DEFAULT_PRESET, recompose=True)

    def __init__(self, data_paths: dict[str, str] | None = None) -> None:
        super().__init__()
        self.data_paths = data_paths if data_paths is not None else {}

    def compose(self) -> ComposeResult:
        config = parse_train_config(self.job, self.preset)
        typed = self.data_paths.get(self.job)
        if typed is not None:
            config = replace(config, data=typed)
        with Vertical(id="train-form"):
            yield Static("[b]New training run[/]  [dim]Enter or ctrl+s starts it, ctrl+t queues it, Esc cancels[/]")
            with Horizontal(id="train-form-top"):
                yield Label("Job ")
                yield Select([(job, job) for job in JOBS], value=self.job, allow_blank=False, compact=True, id="job")
                yield Label("Preset ")
                yield Select(
                    [(name, name) for name in preset_names(self.job)],
                    value=self.preset,
                    allow_blank=False,
                    compact=True,
                    id="preset",
                )
            yield Static(PRESET_NOTES[self.job].get(self.preset, ""), id="preset-note")
            # Not a Tab stop of its own: Tab goes from the preset straight to the first field.
            with VerticalScroll(id="train-form-fields", can_focus=False), Grid(id="train-form-grid"):
                for field in FORM_FIELDS[self.job]:
                    yield Label(field.label, classes="train-form-label")
                    yield self._widget(field, getattr(config, field.name))
            yield Static(id="form-error")
            with Horizontal(id="train-form-buttons"):
                yield Button("Start", variant="primary", id="start", compact=True)
                yield Button("Queue", id="queue", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _widget(self, field: FormField, value: object):
        widget_id = f"field-{field.name}"
        if field.kind == "choice":
            return Select([(c, c) for c in field.choices], value=value, allow_blank=False, compact=True, id=widget_id)
        if field.kind == "bool":
            return Toggle(field.help or "", bool(value), compact=True, id=widget_id)
        return Input(_shown(value), placeholder=field.help, compact=True, id=widget_id, tooltip=field.help or None)

    def on_mount(self) -> None:
        self.query_one("#job", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        which = event.select.id
        if (which, event.value) not in (("job", self.job), ("preset", self.preset)) and which in ("job", "preset"):
            self.remember_data()  # the fields are about to be rebuilt
            if which == "job":
                self.preset = DEFAULT_PRESET
                self.job = str(event.value)
            else:
                self.preset = str(event.value)
            # The rebuilt form has a new Select: focus it once it is there, so the next keys go where they went.
            self.call_after_refresh(lambda: self.query_one(f"#{which}", Select).focus())

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "field-data":
            self.data_paths[self.job] = event.value

    def remember_data(self) -> None:
        """Keep the data source typed for this job (the caller's dict outlives the form)."""
        found = self.query("#field-data")
        if found and isinstance(found.first(), Input):
            self.data_paths[self.job] = found.first(Input).value

    def values(self) -> dict[str, object]:
        """What the fields hold now, as the user typed it."""
        values: dict[str, object] = {}
        for field in FORM_FIELDS[self.job]:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Select):
                values[field.name] = str(widget.value)
            elif isinstance(widget, (Input, Checkbox)):
                values[field.name] = widget.value
        return values

    def build(self) -> NewRun:
        return NewRun(parse_train_config(self.job, self.preset, **self.values()), queue=self._queue)

    _queue = False

    def action_queue(self) -> None:
        """Like Start, but the run goes to the end of the queue."""
        self._queue = True
        try:
            self.action_apply()
        finally:
            self._queue = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "queue":
            event.stop()
            self.action_queue()
        else:
            super().on_button_pressed(event)
