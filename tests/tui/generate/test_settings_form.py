"""The settings form reads a stop string as the command line does: \\n is a newline in both."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from textual.widgets import Input

from engine.generation.settings import escape_stop, unescape_stop
from tests.engine.generation.generation_helpers import make_charlm_run
from tests.tui.conftest import SIZE, type_into
from tests.tui.generate.test_generate_pane import open_pane
from tui.app import RnnTuiApp
from tui.generate.settings_form import SettingsForm


@given(st.text(alphabet=st.sampled_from(["a", "n", "t", "\\", "\n", "\t", " "]), max_size=12))
def test_a_stop_string_survives_being_shown_and_typed_back(stop):
    assert unescape_stop(escape_stop(stop)) == stop


def test_the_escapes_are_the_command_lines():
    assert unescape_stop(r"\n") == "\n" and unescape_stop(r"\t") == "\t" and unescape_stop(r"\\n") == "\\n"
    assert unescape_stop(r"\q") == r"\q"  # anything else stays as typed


async def test_backslash_n_in_the_form_means_a_newline(tmp_path):
    make_charlm_run(tmp_path, train_steps=5)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        p = await open_pane(pilot)
        app.query_one("#gen-out").focus()
        await pilot.press("e")
        assert isinstance(app.screen, SettingsForm)
        await type_into(pilot, "#set-stop", r"\n")
        await pilot.press("ctrl+s")
        assert not isinstance(app.screen, SettingsForm)
        assert p.settings.stop == "\n"  # it was a backslash and an n
        await pilot.press("e")
        assert app.screen.query_one("#set-stop", Input).value == r"\n"  # shown as it is typed
