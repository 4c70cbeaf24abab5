"""The help screen and the keymap read one list of binding owners: every id is listed and remappable."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode

import tui
from tests.tui.conftest import SIZE, settle
from tui.app import RnnTuiApp
from tui.bindings import BINDING_OWNERS, binding_ids, owned_bindings
from tui.help import HelpScreen


def classes_with_binding_ids() -> set[type]:
    """Every widget, screen or app class in tui/ that declares a Binding with an id itself."""
    found: set[type] = set()
    for info in pkgutil.walk_packages(tui.__path__, "tui."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if not issubclass(value, DOMNode) or not value.__module__.startswith("tui."):
                continue
            own = value.__dict__.get("BINDINGS", [])
            if any(isinstance(binding, Binding) and binding.id for binding in own):
                found.add(value)
    return found


def test_every_class_that_owns_bindings_is_listed_once():
    assert len(set(BINDING_OWNERS)) == len(BINDING_OWNERS)
    assert classes_with_binding_ids() == {*BINDING_OWNERS, RnnTuiApp}


def test_one_binding_id_means_one_key_and_action():
    meaning: dict[str, set[tuple[str, str]]] = {}
    for owner in (*BINDING_OWNERS, RnnTuiApp):
        for binding in owner.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                meaning.setdefault(binding.id, set()).add((binding.key, binding.action))
    assert {binding_id: found for binding_id, found in meaning.items() if len(found) > 1} == {}


async def test_the_help_screen_lists_every_binding_id():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.keys_markdown()
        missing = sorted(i for i in binding_ids(RnnTuiApp) if f"`{i}`" not in text)
        assert not missing
        for binding_id in ("stream.down", "help.close", "form.apply", "quit.stop", "gen.picker_cancel"):
            assert f"`{binding_id}`" in text  # ids the help screen missed before it read tui.bindings


async def test_a_keymap_of_every_id_is_accepted_and_shown_in_help():
    keymap = {binding.id: "ctrl+t" for binding in owned_bindings(RnnTuiApp) if binding.id and binding.id != "app.help"}
    app = RnnTuiApp(keymap=keymap)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.pause(0.2)
        toasts = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert not [text for text in toasts if "unknown binding ids" in text]
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        rows = {
            line.rsplit("`", 2)[-2]: line for line in app.screen.keys_markdown().splitlines() if line.endswith("` |")
        }
        assert all(rows[binding_id].startswith("| `^t` |") for binding_id in keymap)
        assert not rows["app.help"].startswith("| `^t` |")


async def test_an_unknown_id_in_the_keymap_is_named_in_a_notice():
    app = RnnTuiApp(keymap={"stepper.next": "n", "stepper.nxet": "m"})
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.pause(0.2)
        toasts = [str(toast.render()) for toast in app.screen.query("Toast")]
        assert any("unknown binding ids: stepper.nxet" in text for text in toasts), toasts
