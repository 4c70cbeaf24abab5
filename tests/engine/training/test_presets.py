"""Every preset says what it is, and trains: a few steps of each on tiny data, its own model and settings."""

from __future__ import annotations

import pytest
from training_helpers import write_text

from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from engine.training.presets import PRESET_NOTES, PRESETS
from engine.training.session import run_training
from tui.cli import main

EVERY_PRESET = [(job, name) for job in PRESETS for name in PRESETS[job]]


def test_every_preset_has_one_line_saying_what_it_is():
    assert {job: set(names) for job, names in PRESET_NOTES.items()} == {
        job: set(names) for job, names in PRESETS.items()
    }
    for job, name in EVERY_PRESET:
        note = PRESET_NOTES[job][name]
        assert note and "\n" not in note and len(note) <= 110, (job, name, note)


@pytest.mark.parametrize("command", [["train", "--help"], ["sweep", "--help"]])
def test_the_preset_option_lists_every_preset_with_its_line(capsys, monkeypatch, command):
    # a line may say "5% faster": argparse must print it, not read it as a format
    monkeypatch.setitem(PRESET_NOTES["charlm"], "default", PRESET_NOTES["charlm"]["default"] + " (5% more)")
    with pytest.raises(SystemExit):
        main(command)
    said = "".join(capsys.readouterr().out.split())  # argparse wraps the help, at spaces and after hyphens
    for job, name in EVERY_PRESET:
        assert "".join(f"{name} ({PRESET_NOTES[job][name]})".split()) in said, (job, name)


@pytest.mark.parametrize(("job", "preset"), EVERY_PRESET)
def test_every_preset_trains_a_few_steps(tmp_path, review_folder, job, preset):
    if job == "charlm":
        data = write_text(tmp_path / "island.txt", characters=20_000)
        shorter = dict(steps=3, warmup_steps=min(PRESETS[job][preset].get("warmup_steps", 0), 1))
        shorter.update(eval_every=3, checkpoint_every=3, sample_every=0)
    else:
        data = review_folder
        shorter = dict(epochs=1, steps=None, eval_every=0, checkpoint_every=100)
    config = parse_train_config(job, preset, data=str(data), threads=1, **shorter)
    run = create_run(tmp_path / "runs", config)
    assert run_training(run, config) == "done"
    status = run.status()
    assert status.state == "done" and status.step >= 2
    saved = run.config()
    for key, value in PRESETS[job][preset].items():  # the run trained the preset's own model and recipe
        if key not in shorter:
            assert saved[key] == value, (key, saved[key], value)
