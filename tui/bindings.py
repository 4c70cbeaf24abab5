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
from tui.train.hparams import HParamsScreen
from tui.train.manage import DeleteRunScreen, EditRunForm
from tui.train.pane import TrainPane

#: The help screen's sections, each with the widgets whose keys it lists, in order (the app's own
#: keys and the help screen's come first, under "Everywhere"). The same key means different things
#: in different sections (k, m, c…): the headings say where each applies.
BINDING_SECTIONS: tuple[tuple[str, tuple[type[DOMNode], ...]], ...] = (
    ("Everywhere", (HelpScreen,)),
    ("Stepper (F2)", (StepperPane,)),
    ("Stepper: the configuration form (c)", (StepperForm,)),
    ("Stepper: inspecting a trained run (o)", (Inspector, TextForm, UnitForm, ProbePicker)),
    ("Train (F3)", (TrainPane,)),
    ("Train: the new-run form (n)", (TrainForm,)),
    ("Train: the table of runs and settings (h)", (HParamsScreen,)),
    ("Train: editing (e) and deleting (d) a run", (EditRunForm, DeleteRunScreen)),
    ("Generate (F4)", (GeneratePane, PromptInput, GenerateBody, StreamView)),
    ("Generate: classifying reviews (c)", (ReviewArea, ClassifyResult)),
    ("Generate: the model picker (m) and exact settings (e)", (ModelPicker, SettingsForm)),
    ("Quitting while jobs run", (QuitScreen,)),
)

#: Every widget that owns key bindings, in help order (the app's own bindings are added to them).
BINDING_OWNERS: tuple[type[DOMNode], ...] = tuple(owner for _, owners in BINDING_SECTIONS for owner in owners)


def owned_sections(app_class: type[DOMNode]) -> list[tuple[str, list[Binding]]]:
    """The help screen's sections with every Binding that has an id, each id once (the app's under "Everywhere")."""
    seen: set[str] = set()
    sections: list[tuple[str, list[Binding]]] = []
    for index, (title, owners) in enumerate(BINDING_SECTIONS):
        found: list[Binding] = []
        for owner in ((app_class,) if index == 0 else ()) + owners:
            bindings: list[BindingType] = list(owner.BINDINGS)
            for binding in bindings:
                if isinstance(binding, Binding) and binding.id and binding.id not in seen:
                    seen.add(binding.id)
                    found.append(binding)
        sections.append((title, found))
    return sections


def owned_bindings(app_class: type[DOMNode]) -> list[Binding]:
    """Every Binding with an id, of the app and every owner, each id once, in help order."""
    return [binding for _, bindings in owned_sections(app_class) for binding in bindings]


def binding_ids(app_class: type[DOMNode]) -> set[str]:
    """Every binding id a keymap may remap."""
    return {binding.id for binding in owned_bindings(app_class) if binding.id}
