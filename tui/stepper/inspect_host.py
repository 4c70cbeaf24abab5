"""What the Stepper pane does to host the inspector: pick a run, show the inspector in place of the toy layer, and
come back to the toy layer on Esc (a base class of StepperPane, so the pane itself stays about the toy layer)."""

from __future__ import annotations

from pathlib import Path

from textual.widget import Widget

from engine.generation.loading import model_runs
from engine.training.runs import RunDir, default_runs_root
from tui.run_picker import ModelPicker
from tui.stepper.inspector import Inspector


class InspectHost(Widget):
    """The inspector's place in the pane: the class -inspecting hides the toy layer's widgets (rnn_tui.tcss)."""

    runs_root: Path | None = None

    @property
    def inspecting(self) -> bool:
        return self.has_class("-inspecting")

    def action_open_run(self) -> None:
        """Pick a trained run (any job) to step through a text in the inspector."""
        root = self.runs_root or default_runs_root()
        runs = model_runs(root)
        if not runs:
            self.notify(
                f"No run under {root} has a checkpoint yet; train one in the Train pane (F3).", severity="warning"
            )
            return
        current = getattr(self.query_one(Inspector).loaded, "run", None)

        def picked(run: RunDir | None) -> None:
            if run is not None:
                self.inspect(run)

        self.app.push_screen(ModelPicker(runs, None, current), picked)

    def inspect(self, spec: RunDir | str) -> None:
        """Show the inspector in place of the toy layer and open `spec` (a run, a run name or a checkpoint) in it."""
        self.query_one("#stepper-message").display = False
        self.add_class("-inspecting")
        inspector = self.query_one(Inspector)
        inspector.open(spec)
        inspector.focus()
        self.refresh_bindings()

    def on_inspector_closed(self, event: Inspector.Closed) -> None:
        event.stop()
        self.remove_class("-inspecting")
        self.focus()
        self.refresh_bindings()
