"""The help screen and the keymap read one list of binding owners: every id is listed and remappable."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

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


def help_sections(markdown: str) -> dict[str, list[str]]:
    """Heading -> the table rows under it."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in markdown.splitlines():
        if line.startswith("### "):
            current = sections.setdefault(line[4:], [])
        elif current is not None and line.startswith("| `"):
            current.append(line)
    return sections


async def test_help_has_one_table_per_pane_and_form():
    app = RnnTuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        sections = help_sections(app.screen.keys_markdown())
        assert list(sections)[:2] == ["Everywhere", "Stepper (F2)"]
        assert {"Train (F3)", "Generate (F4)"} <= set(sections)
        # The same key with two meanings sits in two sections, each under its own pane.
        assert any("`stepper.truncate_less`" in row and row.startswith("| `k` |") for row in sections["Stepper (F2)"])
        assert any("`gen.top_k_down`" in row and row.startswith("| `k` |") for row in sections["Generate (F4)"])
        assert any("`train.plot`" in row for row in sections["Train (F3)"])
        assert any("`app.quit`" in row for row in sections["Everywhere"])
        # Every id once, in one section.
        ids = [row.rsplit("`", 2)[-2] for rows in sections.values() for row in rows if row.endswith("` |")]
        assert len(ids) == len(set(ids)) == len(binding_ids(RnnTuiApp))


def test_every_row_says_what_the_key_does_in_words():
    from tui.bindings import owned_sections
    from tui.help import describe

    actions = {binding.action for binding in owned_bindings(RnnTuiApp)}
    for _, bindings in owned_sections(RnnTuiApp):
        for binding in bindings:
            assert binding.tooltip or binding.description, binding.id
            text = describe(binding)
            assert text not in actions and not re.fullmatch(r"[a-z_]+(\(.*\))?", text), (binding.id, text)
            assert text[0].isupper(), (binding.id, text)
            assert "|" not in text.replace("\\|", ""), text  # a bare | would split the table's row
