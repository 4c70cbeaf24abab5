"""TensorBoard event files: read back through TensorBoard's own reader, they hold exactly metrics.jsonl's values."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from training_helpers import charlm_config, metrics, sentiment_config

from engine.training.jobs import create_run
from engine.training.runs import RunDir, RunError
from engine.training.session import run_training
from engine.training.tb_events import TensorBoardMissing, export_run, sample_markdown
from tests.messages import assert_one_sentence, one_error_line
from tui.cli import main

pytest.importorskip("tensorboard", reason="TensorBoard is an optional extra: pip install 'rnn-tui[tensorboard]'")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

#: The tags the issue asks for, and the metrics.jsonl key each must hold (written out here, not taken from the code).
CHARLM_TAGS = {
    "loss/train": "train_loss",
    "loss/val": "val_loss",
    "bits_per_char/train": "train_bpc",
    "bits_per_char/val": "val_bpc",
    "perplexity/train": "train_ppl",
    "perplexity/val": "val_ppl",
    "grad_norm/mean": "grad_norm",
    "grad_norm/max": "grad_norm_max",
    "learning_rate": "lr",
    "throughput/tokens_per_s": "throughput",
    "progress/epoch": "epoch",
    "progress/train_seconds": "time",
    "progress/eval_seconds": "eval_time",
}
SENTIMENT_TAGS = {
    **{tag: key for tag, key in CHARLM_TAGS.items() if not tag.startswith(("bits", "perplexity", "throughput"))},
    "accuracy/train": "train_acc",
    "accuracy/val": "val_acc",
    "accuracy/test": "test_acc",
    "loss/test": "test_loss",
    "throughput/reviews_per_s": "throughput",
    "progress/best_step": "best_step",
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def board(folder: Path) -> EventAccumulator:
    """Everything in the folder's event files; orphaned steps are kept, so a step written twice shows twice."""
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=False)
    accumulator.Reload()
    return accumulator


def assert_board_holds_the_metrics(folder: Path, run: RunDir, tags: dict[str, str]) -> EventAccumulator:
    accumulator = board(folder)
    records = metrics(run)
    assert set(accumulator.Tags()["scalars"]) == set(tags)
    for tag, key in tags.items():
        expected = [(r["step"], float(np.float32(r[key]))) for r in records if r.get(key) is not None]
        assert [(event.step, event.value) for event in accumulator.Scalars(tag)] == expected, tag
    # hparams: the run's settings, as TensorBoard's HParams plugin reads them
    (content,) = accumulator.PluginTagToContent("hparams").values()
    session = HParamsPluginData.FromString(content).session_start_info
    config = run.config()
    assert session.hparams["job"].string_value == config["job"]
    assert session.hparams["lr"].number_value == config["lr"]
    assert session.hparams["hidden_size"].number_value == config["hidden_size"]
    assert session.hparams["data"].string_value == config["data"]
    assert session.hparams["bidirectional"].string_value == str(config["bidirectional"]).lower()  # not 1.0 or 0.0
    return accumulator


def samples_on_board(accumulator: EventAccumulator) -> list[tuple[int, str]]:
    return [
        (event.step, event.tensor_proto.string_val[0].decode()) for event in accumulator.Tensors("samples/text_summary")
    ]


def samples(run: RunDir) -> list[tuple[int, str]]:
    return [(s["step"], sample_markdown(s["text"])) for s in map(json.loads, run.samples_path.read_text().splitlines())]


def test_a_character_run_writes_its_scalars_settings_and_samples(runs_root, text_file):
    config = charlm_config(text_file)
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    accumulator = assert_board_holds_the_metrics(run.path / "tb", run, CHARLM_TAGS)
    assert [step for step, _ in samples_on_board(accumulator)] == [20, 40]
    assert samples_on_board(accumulator) == samples(run)
    losses = accumulator.Scalars("loss/train")
    times = [r["time"] for r in metrics(run)]  # TensorBoard's relative time is the training time
    # metrics.jsonl keeps times to the millisecond, TensorBoard to the float: equal within a few milliseconds
    relative = [e.wall_time - losses[0].wall_time for e in losses]
    assert relative == pytest.approx([t - times[0] for t in times], abs=5e-3)


def test_a_sentiment_run_writes_its_accuracy_and_its_test_figures(runs_root, review_folder):
    config = sentiment_config(review_folder, epochs=2)
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    accumulator = assert_board_holds_the_metrics(run.path / "tb", run, SENTIMENT_TAGS)
    assert "samples/text_summary" not in accumulator.Tags()["tensors"]
    assert metrics(run)[-1]["final"] and len(accumulator.Scalars("accuracy/test")) == 1


def test_a_resumed_run_shows_each_step_once_even_after_a_killed_session(runs_root, text_file):
    config = charlm_config(text_file, steps=40, checkpoint_every=20, sample_every=10)
    run = create_run(runs_root, config)
    kept = run.path / "step20.pt"
    polls = {"n": 0}

    def stop_at_step_35() -> bool:
        polls["n"] += 1
        if polls["n"] == 22:  # last.pt holds step 20 now
            shutil.copy(run.checkpoints / "last.pt", kept)
        return polls["n"] > 35

    assert run_training(run, config, stop_requested=stop_at_step_35) == "stopped"
    assert [r["step"] for r in metrics(run)] == [10, 20, 30]
    # As if killed at step 35 with its last checkpoint at 20: steps 30's record and sample outlived their checkpoint.
    shutil.move(kept, run.checkpoints / "last.pt")
    assert [e.step for e in board(run.path / "tb").Scalars("loss/train")] == [10, 20, 30]

    assert run_training(run, config) == "done"
    assert [r["step"] for r in metrics(run)] == [10, 20, 30, 40]
    accumulator = assert_board_holds_the_metrics(run.path / "tb", run, CHARLM_TAGS)
    assert [step for step, _ in samples_on_board(accumulator)] == [10, 20, 30, 40]
    assert samples_on_board(accumulator) == samples(run)
    assert len(list((run.path / "tb").iterdir())) == 1  # one fresh event file for the session
    walls = [e.wall_time for e in accumulator.Scalars("loss/train")]
    assert walls == sorted(walls)


def test_without_tensorboard_a_run_trains_as_before_and_export_says_how_to_install(
    runs_root, text_file, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` now raises ImportError
    config = charlm_config(text_file, steps=20)
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    assert [r["step"] for r in metrics(run)] == [10, 20]
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoints",
        "config.json",
        "metrics.jsonl",
        "samples.jsonl",
        "status.json",
    ]
    assert "TensorBoard" not in capsys.readouterr().out
    with pytest.raises(TensorBoardMissing, match=r"pip install 'rnn-tui\[tensorboard\]'"):
        export_run(run)
    assert main(["export", run.name, "--tensorboard", "--runs-dir", str(runs_root)]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == "TensorBoard is not installed; install it with pip install 'rnn-tui[tensorboard]'."

    monkeypatch.undo()  # TensorBoard installed again: the older run exports into its own tb/ folder and into DIR
    assert main(["export", run.name, "--tensorboard", "--runs-dir", str(runs_root)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(run.path / "tb") and f"tensorboard --logdir {runs_root}" in err
    assert_board_holds_the_metrics(run.path / "tb", run, CHARLM_TAGS)
    elsewhere = runs_root.parent / "boards"
    for _ in range(2):  # again: the old event file is replaced, not doubled
        assert main(["export", str(run.path), "--tensorboard", str(elsewhere)]) == 0
    assert len(list((elsewhere / run.name).iterdir())) == 1
    accumulator = assert_board_holds_the_metrics(elsewhere / run.name, run, CHARLM_TAGS)
    assert samples_on_board(accumulator) == samples(run)


def test_writing_tensorboard_files_never_stops_training(runs_root, text_file, capsys):
    config = charlm_config(text_file, steps=20)
    run = create_run(runs_root, config)
    (run.path / "tb").write_text("a file where the folder should be")
    assert run_training(run, config) == "done"
    assert [r["step"] for r in metrics(run)] == [10, 20]
    out = capsys.readouterr().out
    assert out.count("TensorBoard files stopped: FileExistsError") == 1
    assert f"rnn-tui export {run.name} --tensorboard rewrites them later" in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["export", "nowhere", "--tensorboard"], "There is no run 'nowhere'"),
        (["export", "RUN"], "Say what to export to: --tensorboard [DIR]"),
    ],
)
def test_export_refuses_what_it_cannot_do_in_one_sentence(runs_root, text_file, capsys, argv, fragment):
    run = create_run(runs_root, charlm_config(text_file))
    argv = [run.name if arg == "RUN" else arg for arg in argv]
    assert main([*argv, "--runs-dir", str(runs_root)]) == 2
    assert fragment in one_error_line(capsys.readouterr().err)


def test_export_leaves_a_training_run_its_own_folder(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file))
    status = run.status()
    status.state, status.pid = "running", 1  # pid 1 is alive
    run.write_status(status)
    with pytest.raises(RunError) as error:
        export_run(run)
    assert "is running and writes its own tb/ folder already" in str(error.value)
    assert_one_sentence(str(error.value))


def test_a_sample_keeps_its_backticks_inside_a_longer_fence():
    assert sample_markdown("a ```` b") == "`````\na ```` b\n`````"
    assert sample_markdown("plain") == "```\nplain\n```"


@given(st.text(alphabet=st.sampled_from("`a \n"), max_size=30))
def test_any_sample_comes_back_whole_from_its_fence(text):
    fenced = sample_markdown(text)
    fence = fenced.split("\n", 1)[0]
    assert set(fence) == {"`"} and len(fence) >= 3 and fenced == f"{fence}\n{text}\n{fence}"
    assert fence not in text  # nothing inside can close it early


def test_a_run_saved_before_weight_decay_exports_the_plain_adam_it_trained_with(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file))
    stored = run.config()
    del stored["weight_decay"]  # as config.json was written before the setting existed
    run.config_path.write_text(json.dumps(stored))
    accumulator = board(export_run(run))
    (content,) = accumulator.PluginTagToContent("hparams").values()
    session = HParamsPluginData.FromString(content).session_start_info
    assert "weight_decay" in session.hparams  # (a missing key would read as a default HParam, 0.0)
    assert session.hparams["weight_decay"].number_value == 0.0  # not today's default, 0.1
