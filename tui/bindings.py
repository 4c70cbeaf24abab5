"""The one list of widgets that own key bindings: the help screen lists their keys, a keymap may remap their ids.

Add a widget with `BINDINGS` here and both follow; a test checks that every binding id of every
owner appears on the help screen and is accepted by `--keymap`.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType
from textual.dom import DOMNode

from tui.generate.pane import GeneratePane
from tui.generate.settings_form import SettingsForm
from tui.generate.stream_view import StreamView
from tui.generate.widgets import ClassifyResult, GenerateBody, PromptInput, ReviewArea
from tui.help import HelpScreen
from tui.quit import QuitScreen
from tui.run_picker import ModelPicker
from tui.stepper.form import StepperForm
from tui.stepper.inspect_forms import ProbePicker, TextForm, UnitForm
from tui.stepper.inspector import Inspector
from tui.stepper.pane import StepperPane
from tui.train.form import TrainForm
from tui.train.pane import TrainPane

#: In the order the help screen lists them (the app's own bindings come last).
BINDING_OWNERS: tuple[type[DOMNode], ...] = (
    StepperPane,
    StepperForm,
    Inspector,
    TextForm,
    UnitForm,
    ProbePicker,
    TrainPane,
    TrainForm,
    GeneratePane,
    PromptInput,
    GenerateBody,
    StreamView,
    ReviewArea,
    ClassifyResult,
    ModelPicker,
    SettingsForm,
    QuitScreen,
    HelpScreen,
)


def owned_bindings(app_class: type[DOMNode]) -> list[Binding]:
    """Every Binding with an id, of every owner and then of the app, each id once, in help order."""
    seen: set[str] = set()
    found: list[Binding] = []
    for owner in (*BINDING_OWNERS, app_class):
        bindings: list[BindingType] = list(owner.BINDINGS)
        for binding in bindings:
            if isinstance(binding, Binding) and binding.id and binding.id not in seen:
                seen.add(binding.id)
                found.append(binding)
    return found


def binding_ids(app_class: type[DOMNode]) -> set[str]:
    """Every binding id a keymap may remap."""
    return {binding.id for binding in owned_bindings(app_class) if binding.id}
