"""Run management in the Train pane at 80×24, driven by keys: edit (rename, tags, notes), archive, delete,
the hyperparameter table, and the plot's smoothing, scale and x axis."""

from __future__ import annotations

import json
import os

from textual.widgets import DataTable, Static

from engine.training.runmeta import read_meta
from engine.training.runs import RunDir, RunStatus
from tests.tui.conftest import SIZE, type_into, wait_until
from tests.tui.train.test_train_pane import make_run, text_of, train_pane
from tui.app import RnnTuiApp
from tui.train.hparams import HParamsScreen
from tui.train.manage import DeleteRunScreen, EditRunForm


def labels(app) -> list[str]:
    table = app.query_one("#runs", DataTable)
    return [str(table.get_cell(key, "run")).strip() for key in table.rows]


async def open_pane(pilot, count: int) -> None:
    await pilot.press("f3")
    table = pilot.app.query_one("#runs", DataTable)
    await wait_until(pilot, lambda: table.row_count == count)


async def test_e_renames_tags_and_notes_a_run(tmp_path):
    run = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 1)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EditRunForm))
        await type_into(pilot, "#edit-name", "lr baseline")
        await type_into(pilot, "#edit-tags", "base;line")
        await pilot.press("ctrl+s")
        error = str(app.screen.query_one("#form-error", Static).render())
        assert 'holds ";"' in error and isinstance(app.screen, EditRunForm)  # the form stays open, text kept
        await type_into(pilot, "#edit-tags", "baseline, book")
        app.screen.query_one("#edit-notes").text = "the book's recipe\nwith lr 1e-2"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, EditRunForm))
        meta = read_meta(run.path)
        assert (meta.display_name, meta.tags, meta.notes) == (
            "lr baseline",
            ("baseline", "book"),
            "the book's recipe\nwith lr 1e-2",
        )
        assert run.path.name == "20261128-100000-charlm-aaaa"  # the directory keeps its id
        await wait_until(pilot, lambda: labels(app) == ["lr baseline"])
        await wait_until(pilot, lambda: "#baseline #book" in text_of(app, "#run-header"))
        await pilot.press("e")  # the form opens with what is saved; Esc changes nothing
        await wait_until(pilot, lambda: isinstance(app.screen, EditRunForm))
        assert app.screen.query_one("#edit-name").value == "lr baseline"
        await pilot.press("escape")
        assert read_meta(run.path) == meta


async def test_a_archives_and_A_shows_the_archived(tmp_path):
    make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    second = make_run(tmp_path, "20261128-110000-charlm-bbbb", state="done")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 2)
        await pilot.press("a")  # the newest run is selected
        assert read_meta(second.path).archived
        await wait_until(pilot, lambda: labels(app) == ["11-28 10:00 aaaa"])
        assert "Archived 20261128-110000-charlm-bbbb" in text_of(app, "#train-message")
        await pilot.press("A")
        await wait_until(pilot, lambda: labels(app) == ["11-28 11:00 bbbb"])
        await pilot.press("a")  # restores it
        await wait_until(pilot, lambda: not read_meta(second.path).archived)
        await wait_until(pilot, lambda: "No archived runs to show" in text_of(app, "#train-message"))
        await pilot.press("A")
        await wait_until(pilot, lambda: len(labels(app)) == 2)


async def test_d_asks_then_deletes_and_refuses_a_running_run(tmp_path):
    running = make_run(tmp_path, "20261128-120000-charlm-cccc", state="running", pid=os.getpid())
    done = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 2)
        pane = train_pane(app)
        await pilot.press("d")  # the running run is selected
        assert not isinstance(app.screen, DeleteRunScreen)
        assert "is running; stop it (s) before deleting it" in text_of(app, "#train-message")
        await pilot.press("down")
        await wait_until(pilot, lambda: pane.selected == done)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteRunScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, DeleteRunScreen))
        assert done.path.is_dir()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteRunScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not done.path.exists())
        await wait_until(pilot, lambda: labels(app) == ["11-28 12:00 cccc"])
        assert "Deleted" in text_of(app, "#train-message")
        assert running.path.is_dir()


async def test_a_run_deleted_elsewhere_meanwhile_is_one_sentence(tmp_path):
    import shutil

    run = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    make_run(tmp_path, "20261128-090000-charlm-bbbb", state="done")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 2)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DeleteRunScreen))
        shutil.rmtree(run.path)  # another app or `rnn-tui runs delete` got there first
        await pilot.press("y")
        await wait_until(pilot, lambda: "already gone" in text_of(app, "#train-message"))


async def test_a_bad_meta_json_shows_the_run_and_says_why(tmp_path):
    run = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    (run.path / "meta.json").write_text("{broken")
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 1)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EditRunForm))
        assert "meta.json is not valid JSON" in text_of(app, "#train-message")
        await type_into(pilot, "#edit-name", "repaired")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: labels(app) == ["repaired"])
        assert (run.path / "meta.json.bad").read_text() == "{broken"


def _sweep(root) -> list[RunDir]:
    runs = []
    for index, (lr, hidden, best) in enumerate([(0.01, 256, 1.5), (0.003, 256, 1.2), (0.01, 384, 1.3)]):
        run = RunDir.create(
            root,
            "charlm",
            {"data": "tiny.txt", "lr": lr, "hidden_size": hidden, "seed": 1},
            name=f"20261128-1{index}0000-charlm-s{index}aa",
        )
        for step in range(0, 50, 10):
            run.append_metric(
                {"step": step, "time": step / 10, "train_loss": 3 - step / 50, "val_loss": best + 1 - step / 50}
            )
        run.write_status(
            RunStatus(state="done", step=50, total=50, device="cpu", best_metric="val_loss", best_value=best)
        )
        runs.append(run)
    return runs


async def test_h_table_shows_the_settings_that_differ_sorts_filters_and_diffs(tmp_path):
    runs = _sweep(tmp_path)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 3)
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HParamsScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: screen.figures)
        keys = [column.key.value for column in table.columns.values()]
        assert keys[:3] == ["run", "job", "state"] and set(keys[3:5]) == {"lr", "hidden_size"}
        assert "seed" not in keys and "data" not in keys  # the same in every run: not shown

        def column(key):
            return [str(table.get_cell(row, key)) for row in table.rows]

        assert column("best") == ["1.3", "1.2", "1.5"]  # newest first
        table.cursor_coordinate = table.cursor_coordinate._replace(column=keys.index("best"))
        await pilot.press("s")
        assert column("best") == ["1.2", "1.3", "1.5"]
        await pilot.press("s")
        assert column("best") == ["1.5", "1.3", "1.2"]
        await pilot.press("space", "down", "space")  # mark the first two rows: their diff
        diff = str(screen.query_one("#hparams-diff", Static).render())
        assert "hidden_size 256 → 384" in diff and "lr" not in diff  # both lr 0.01: only what differs
        await pilot.press("f")
        await type_into(pilot, "#hparams-filter", "lr:x")
        await pilot.press("enter")
        assert "Unknown filter 'lr'" in str(screen.query_one("#hparams-diff", Static).render())
        await type_into(pilot, "#hparams-filter", "state:done s1aa")
        await pilot.press("enter")
        assert list(table.rows) and [key.value for key in table.rows] == [runs[1].name]
        await pilot.press("p")  # overlay the two marked runs in the Train pane
        await wait_until(pilot, lambda: not isinstance(app.screen, HParamsScreen))
        pane = train_pane(app)
        await wait_until(pilot, lambda: pane.plotted is not None and len(pane.plotted.runs) == 2)
        assert set(pane.plotted.runs) == {runs[0].path, runs[2].path}


async def test_plot_keys_smooth_scale_and_change_the_x_axis(tmp_path):
    _sweep(tmp_path)
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 3)
        pane = train_pane(app)
        await wait_until(pilot, lambda: pane.plotted is not None)
        await pilot.press("Z", "Z")
        assert pane.plotted.options.smoothing == 0.8
        assert "EMA 0.8" in text_of(app, "#run-legend")
        await pilot.press("z", "z", "z")
        assert pane.plotted.options.smoothing == 0.0
        await pilot.press("y")
        assert pane.plotted.options.log_y and "log y" in text_of(app, "#run-legend")
        await pilot.press("x")
        assert pane.plotted.options.x_axis == "time" and "x: training time" in text_of(app, "#run-legend")
        await pilot.press("x")
        assert pane.plotted.options.x_axis == "seen"  # no batch size in this config: nothing to plot, said so
        assert "no records yet" in text_of(app, "#run-legend")
        await pilot.press("x")
        assert pane.plotted.options.x_axis == "step"


async def test_names_and_settings_that_look_like_markup_are_shown_as_typed(tmp_path):
    """A display name such as "[/x]" was read as Rich markup by the runs table: a MarkupError crashed the pane."""
    from engine.training.runmeta import update_meta

    odd = make_run(tmp_path, "20261128-100000-charlm-aaaa", state="done")
    plain = make_run(tmp_path, "20261128-090000-charlm-bbbb", state="done")
    update_meta(odd.path, display_name="[/x] [b]bold?[/b]")
    config = odd.config()
    odd.config_path.write_text(json.dumps({**config, "note": "[red]not red[/]"}))
    plain.config_path.write_text(json.dumps({**plain.config(), "note": "[/]"}))
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_pane(pilot, 2)
        await wait_until(pilot, lambda: "[/x] [b]bold?[/b]" in labels(app))
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, HParamsScreen))
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: "note" in [column.key.value for column in table.columns.values()])
        notes = sorted(str(table.get_cell(row, "note")) for row in table.rows)
        assert notes == ["[/]", "[red]not red[/]"]
        await pilot.pause()  # drawn: a MarkupError while rendering would end the app with it
        assert app.is_running
