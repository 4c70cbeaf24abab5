"""The run picker the Generate and Stepper panes share: runs with a checkpoint, newest first, with their shape and best score."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine.training.runs import RunDir, RunError


class ModelPicker(ModalScreen[RunDir | None]):
    """The runs with a checkpoint (of one job, or of any with job None), newest first; Enter picks, Esc keeps the current model."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel", id="gen.picker_cancel")]

    def __init__(self, runs: list[RunDir], job: str | None, current: RunDir | None) -> None:
        super().__init__()
        self.runs, self.job, self.current = runs, job, current

    def compose(self) -> ComposeResult:
        what = {"charlm": "character models", "sentiment": "sentiment models"}.get(self.job or "", "trained runs")
        with Vertical(id="picker"):
            yield Static(f"[b]Pick one of {len(self.runs)} {what}[/]  [dim]Enter picks, Esc cancels[/]")
            yield OptionList(
                *[Option(self._label(run), id=str(index)) for index, run in enumerate(self.runs)], id="picker-list"
            )

    def _label(self, run: RunDir) -> Text:
        try:
            config = run.config()
            status = run.status()
        except RunError:
            return Text(run.name)
        shape = (
            f"{str(config.get('cell', '?')).upper()} E{config.get('embed_size', '?')} H{config.get('hidden_size', '?')}"
        )
        if self.job is None:
            shape = f"{config.get('job', '?')} {shape}"
        best = (
            f"{status.best_metric} {status.best_value:.3f}"
            if isinstance(status.best_value, (int, float))
            else "no validation yet"
        )
        mark = "● " if run == self.current else "  "
        return Text.assemble(
            mark, (run.name, "bold"), f"  {shape} · {status.state} · step {status.step:,} · ", (best, "cyan")
        )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.runs:
            options.highlighted = self.runs.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.runs[int(event.option.id or 0)])
