"""Keymap files and the app's command line: bad input is one line on stderr and exit 2."""

from __future__ import annotations

import json

import pytest

from tui import cli
from tui.keymap import KeymapError, load_keymap


def test_load_keymap_reads_ids_to_keys(tmp_path):
    path = tmp_path / "keymap.json"
    path.write_text(json.dumps({"stepper.next": "n", "app.help": "f1,h"}))
    assert load_keymap(path) == {"stepper.next": "n", "app.help": "f1,h"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ('["stepper.next"]', "must be one JSON object"),
        ('{"stepper.next": 3}', "must be one JSON object"),
        ('{"stepper.next": "  "}', "must be one JSON object"),
    ],
)
def test_bad_keymap_files(tmp_path, content, message):
    path = tmp_path / "keymap.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeymapError, match=message):
        load_keymap(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"stepper.nxt": "n"}', '"stepper.nxt", which is no binding id (ids like stepper.'),
        ('{"stepper.next": "this is not a key!!"}', 'the key "this is not a key!!", which no keyboard sends'),
        ('{"stepper.next": "n,,m"}', 'the key "", which no keyboard sends'),
        ('{"stepper.next": "ctrl+ctrl+n"}', "which no keyboard sends"),
        ('{"stepper.next": "hyperdrive+n"}', "which no keyboard sends"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_unknown_ids_and_impossible_keys_are_refused(tmp_path, capsys, content, message):
    path = tmp_path / "keymap.json"
    path.write_text(content)
    assert cli.main(["--keymap", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("rnn-tui: The keymap file") and err.count("\n") == 1


def test_real_keys_and_every_binding_id_are_accepted(tmp_path):
    from tui.app import RnnTuiApp
    from tui.bindings import binding_ids

    ids = binding_ids(RnnTuiApp)
    path = tmp_path / "keymap.json"
    keys = ["n", "f1,h", "ctrl+s", "pageup", "space", "shift+tab", "question_mark", "ctrl+alt+delete", "A"]
    mapping = {binding_id: keys[index % len(keys)] for index, binding_id in enumerate(sorted(ids))}
    path.write_text(json.dumps(mapping))
    assert load_keymap(path, ids) == mapping


def test_a_keymap_that_is_a_folder_or_huge_is_one_sentence(tmp_path):
    with pytest.raises(KeymapError, match="is not a regular file"):
        load_keymap(tmp_path)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * 1_000_001)
    with pytest.raises(KeymapError, match="larger than 1,000,000 bytes"):
        load_keymap(huge)


def test_bad_keymap_on_the_command_line_exits_2(tmp_path, capsys):
    path = tmp_path / "keymap.json"
    path.write_text("{not json")
    assert cli.main(["--keymap", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-tui: The keymap file") and err.count("\n") == 1


def test_default_keymap_is_used_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "rnn-tui"
    folder.mkdir()
    (folder / "keymap.json").write_text('{"stepper.next": "n"}')
    seen = {}

    class FakeApp:
        BINDINGS: list = []  # the panes' binding ids are still known: tui.bindings lists their owners

        def __init__(self, keymap, runs_root):
            seen["keymap"] = keymap
            seen["runs_root"] = runs_root

        def run(self):
            seen["ran"] = True

    monkeypatch.setattr("tui.app.RnnTuiApp", FakeApp)
    assert cli.main(["--runs-dir", str(tmp_path / "runs")]) == 0
    assert seen == {"keymap": {"stepper.next": "n"}, "runs_root": str(tmp_path / "runs"), "ran": True}


@pytest.mark.parametrize("argv", [["step", "--cell", "cnn"], ["--nope"], ["step", "--json", "extra"]])
def test_argument_errors_are_one_line(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-tui: ") and err.count("\n") == 1 and "--help" in err
