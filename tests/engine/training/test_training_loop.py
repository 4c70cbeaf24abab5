"""Both loops in this process on tiny data: learning, files, metrics, control, halts and input errors."""

from __future__ import annotations

import itertools
import math
import threading

import pytest
import torch
from training_helpers import assert_one_sentence, charlm_config, metrics, sentiment_config, wait_for, wait_for_state

from engine.devices import resolve_device
from engine.models import build_model
from engine.training import worker
from engine.training.charlm import CharLMTrainer
from engine.training.checkpoint import load_checkpoint
from engine.training.config import TrainConfigError, parse_train_config
from engine.training.errors import TrainingHalted
from engine.training.jobs import create_run
from engine.training.runs import RunDir
from engine.training.sentiment import SentimentTrainer
from engine.training.session import run_training
from engine.training.trainer import lr_factor, resolve_amp

CHARLM_KEYS = {
    "step",
    "epoch",
    "time",
    "eval_time",
    "lr",
    "train_loss",
    "grad_norm",
    "grad_norm_max",
    "throughput",
    "train_bpc",
    "train_ppl",
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("regime", ["windows", "tbptt"])
def test_the_character_model_learns_and_leaves_its_files(runs_root, text_file, regime):
    run = create_run(runs_root, charlm_config(text_file, regime=regime, steps=60))
    assert run_training(run, charlm_config(text_file, regime=regime, steps=60)) == "done"
    records = metrics(run)
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]
    assert all(set(r) >= CHARLM_KEYS for r in records)
    evaluated = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluated] == [20, 40, 60]
    first, last = records[0], records[-1]
    assert last["train_loss"] < first["train_loss"] - 0.5
    assert evaluated[-1]["val_loss"] < evaluated[0]["val_loss"]
    assert math.isclose(last["val_bpc"], last["val_loss"] / math.log(2))
    assert math.isclose(last["val_ppl"], math.exp(last["val_loss"]))
    status = run.status()
    assert (status.state, status.step, status.total, status.device) == ("done", 60, 60, "cpu")
    assert status.best_metric == "val_loss" and status.best_value == min(r["val_loss"] for r in evaluated)
    assert status.throughput > 0 and status.throughput_unit == "tokens/s"
    assert {p.name for p in run.checkpoints.iterdir()} == {"last.pt", "best.pt"}
    sample = run.latest_sample()
    # "The island" less the "T" this text never uses, then 30 drawn characters
    assert (
        sample["step"] == 60 and sample["text"].startswith("he island") and len(sample["text"]) == len("he island") + 30
    )
    last_pt = load_checkpoint(run.checkpoints / "last.pt")
    assert last_pt["step"] == 60 and last_pt["history"] == records
    assert (last_pt["loop"]["carry"] is None) == (regime == "windows")
    assert "resumed" not in run.log_tail() and "".join(run.log_tail()) == ""  # in-process: output went to pytest


def test_the_same_seed_gives_the_same_losses_and_another_seed_does_not(runs_root, text_file):
    def losses(seed: int) -> list[float]:
        config = charlm_config(text_file, steps=20, seed=seed, sample_every=0)
        run = create_run(runs_root, config)
        run_training(run, config)
        return [r["train_loss"] for r in metrics(run)]

    assert losses(4) == losses(4) != losses(5)


def test_weight_decay_trains_with_adamw_and_pulls_the_weights_in(runs_root, text_file):
    def trained(weight_decay: float) -> dict:
        config = charlm_config(text_file, steps=20, sample_every=0, weight_decay=weight_decay)
        run = create_run(runs_root, config)
        assert run_training(run, config) == "done"
        return load_checkpoint(run.checkpoints / "last.pt")

    plain, decayed = trained(0.0), trained(5.0)
    groups = [c["optimizer"]["param_groups"][0] for c in (plain, decayed)]
    assert [g["weight_decay"] for g in groups] == [0.0, 5.0]
    assert [g.get("decoupled_weight_decay", False) for g in groups] == [False, True]  # Adam, then AdamW

    def norm(checkpoint: dict) -> float:
        return sum(float(w.float().norm()) ** 2 for w in checkpoint["model"].values()) ** 0.5

    assert norm(decayed) < 0.9 * norm(plain)


def test_the_sentiment_model_learns_and_is_tested_once_with_the_best_weights(runs_root, review_folder):
    config = sentiment_config(review_folder, epochs=5, bucket=True, pooling="max")
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    records = metrics(run)
    per_epoch = [r for r in records if "val_acc" in r]
    assert [r["epoch"] for r in per_epoch] == [1.0, 2.0, 3.0, 4.0, 5.0]  # eval_every 0: each epoch
    assert records[0]["train_loss"] > per_epoch[-1]["train_loss"]
    assert per_epoch[-1]["val_acc"] >= 0.8
    final = records[-1]
    assert final["final"] and final["test_model"] == "best" and 0.0 <= final["test_acc"] <= 1.0
    assert final["best_step"] == max(per_epoch, key=lambda r: (r["val_acc"], -r["step"]))["step"]
    assert not any("test_acc" in r for r in records[:-1])  # the test set is never looked at before the end
    status = run.status()
    assert status.best_metric == "val_acc" and status.throughput_unit == "reviews/s"
    vocab = load_checkpoint(run.checkpoints / "best.pt")["vocab"]
    assert vocab["kind"] == "word" and vocab["tokens"][:2] == ["<pad>", "<unk>"]


def test_without_validation_every_review_trains_and_the_final_weights_are_tested(runs_root, review_folder):
    """valid_fraction 0 (the quality-all preset): a recipe chosen on validation, refitted on all 120 reviews."""
    config = sentiment_config(review_folder, epochs=2, batch_size=16, valid_fraction=0.0)
    run = create_run(runs_root, config)
    assert run_training(run, config) == "done"
    records = metrics(run)
    assert max(r["step"] for r in records) == 2 * 8  # 120 reviews in batches of 16: 8 a epoch, none held out
    assert not any("val_acc" in r or "val_loss" in r for r in records)
    assert not (run.checkpoints / "best.pt").exists() and (run.checkpoints / "last.pt").exists()
    final = records[-1]
    assert final["final"] and final["test_model"] == "last" and "best_step" not in final
    # The score is the last weights' own: a trainer that loads last.pt scores the test reviews the same.
    last = load_checkpoint(run.checkpoints / "last.pt")
    trainer = SentimentTrainer(run, config, torch.device("cpu"), None)
    trainer.load_data(last["vocab"])
    model = build_model(config, trainer.vocab_size)
    model.load_state_dict(last["model"])
    assert trainer.score(model, "test")["test_acc"] == final["test_acc"]
    status = run.status()
    assert status.state == "done" and status.best_value is None


def test_a_character_model_needs_its_validation_text():
    with pytest.raises(TrainConfigError, match="validation fraction above 0"):
        parse_train_config("charlm", valid_fraction=0)
    assert parse_train_config("sentiment", valid_fraction="0").valid_fraction == 0.0


def run_in_thread(run: RunDir, config) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target() -> None:
        outcome["state"] = run_training(run, config)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_pause_resume_and_stop_through_the_control_file(runs_root, text_file):
    config = charlm_config(text_file, steps=100_000, sample_every=0, eval_every=1000, checkpoint_every=1000)
    run = create_run(runs_root, config)
    thread, outcome = run_in_thread(run, config)
    wait_for(lambda: run.status().state == "running" and run.status().step > 5)
    run.request("pause")
    paused = wait_for_state(run, "paused")
    assert run.pending_command() is None  # the job took the request
    wait_for(lambda: run.status().step == paused.step, timeout=1)
    run.request("resume")
    wait_for(lambda: run.status().state == "running" and run.status().step > paused.step + 5)
    run.request("stop")
    thread.join(30)
    assert outcome["state"] == "stopped"
    status = run.status()
    assert status.state == "stopped" and status.step > paused.step
    assert load_checkpoint(run.checkpoints / "last.pt")["step"] == status.step  # the final checkpoint


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_a_resumed_run_continues_exactly_where_it_stopped(runs_root, text_file, weight_decay):
    reference_config = charlm_config(text_file, steps=40, regime="tbptt", dropout=0.2, weight_decay=weight_decay)
    reference = create_run(runs_root, reference_config)
    run_training(reference, reference_config)
    config = charlm_config(text_file, steps=40, regime="tbptt", dropout=0.2, weight_decay=weight_decay)
    run = create_run(runs_root, config)
    calls = {"n": 0}

    def stop_after_25_polls() -> bool:
        calls["n"] += 1
        return calls["n"] > 25

    assert run_training(run, config, stop_requested=stop_after_25_polls) == "stopped"
    assert run.status().step == 25
    assert run_training(run, config) == "done"
    expected, resumed = load_checkpoint(reference.checkpoints / "last.pt"), load_checkpoint(run.checkpoints / "last.pt")
    for key, value in expected["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    # Records match too, except step 30's: its window of losses began at the resume (step 25).
    ours, theirs = metrics(run), metrics(reference)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs] == [10, 20, 30, 40]
    assert [r.get("val_loss") for r in ours] == [r.get("val_loss") for r in theirs]
    assert [r["train_loss"] for r in ours if r["step"] != 30] == [r["train_loss"] for r in theirs if r["step"] != 30]


def fail_with(monkeypatch, error_at_step: int, error: BaseException | None = None, loss: float | None = None) -> None:
    """Make CharLMTrainer's step `error_at_step` raise `error` or return `loss`."""
    original = CharLMTrainer.step_loss

    def step_loss(self, step):
        out = original(self, step)
        if step == error_at_step:
            if error is not None:
                raise error
            out.loss = out.loss * 0 + loss
        return out

    monkeypatch.setattr(CharLMTrainer, "step_loss", step_loss)


@pytest.mark.parametrize(
    ("loss", "fragment"),
    [(float("nan"), "became nan at step 8"), (1e4, "exploded to 1e+04 at step 8, over 3× the first loss")],
)
def test_a_nan_or_exploding_loss_halts_the_run_keeping_the_last_checkpoint(
    runs_root, text_file, monkeypatch, loss, fragment
):
    config = charlm_config(text_file, checkpoint_every=5)
    run = create_run(runs_root, config)
    fail_with(monkeypatch, 7, loss=loss)
    assert worker.train_run(run, lambda: False) == 1
    status = run.status()
    assert status.state == "failed" and status.extra["error_kind"] == "halted"
    assert fragment in status.error
    assert_one_sentence(status.error)
    assert load_checkpoint(run.checkpoints / "last.pt")["step"] == 5
    monkeypatch.undo()
    with pytest.raises(TrainingHalted):
        fail_with(monkeypatch, 0, loss=float("inf"))
        run_training(create_run(runs_root, config), config)


def test_out_of_memory_and_crashes_fail_with_one_line(runs_root, text_file, monkeypatch):
    config = charlm_config(text_file)
    oom = create_run(runs_root, config)
    fail_with(monkeypatch, 3, error=torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    worker.train_run(oom, lambda: False)
    assert oom.status().extra["error_kind"] == "oom"
    assert (
        oom.status().error
        == "The job ran out of memory on this machine; use a smaller batch size, sequence length or model."
    )
    crash = create_run(runs_root, config)
    monkeypatch.undo()
    fail_with(monkeypatch, 3, error=KeyError("surprise"))
    worker.train_run(crash, lambda: False)
    assert crash.status().extra["error_kind"] == "crash"
    assert crash.status().error.startswith("The job crashed with KeyError: 'surprise'")
    assert_one_sentence(crash.status().error)


def test_a_validation_fraction_too_small_to_hold_out_a_review_says_what_to_give(runs_root, review_folder):
    run = create_run(runs_root, sentiment_config(review_folder, valid_fraction=0.001))  # 120 reviews: none held out
    worker.train_run(run, lambda: False)
    status = run.status()
    assert status.state == "failed" and status.extra["error_kind"] == "input"
    assert "hold out a fraction of 0.001 for validation" in status.error and "or 0 to train on every" in status.error
    assert_one_sentence(status.error)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"data": "missing.txt"}, "does not exist"),
        ({"seq_length": 5000}, "too few to hold out 10% and still fill a sequence of 5,001"),
        ({"device": "cuda"}, "CUDA was asked for"),
        ({"device": "mps"}, "MPS was asked for"),
    ],
)
def test_input_the_job_cannot_use_fails_with_one_sentence(runs_root, text_file, overrides, fragment):
    if overrides.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if overrides.get("device") == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    overrides = dict(overrides)
    data = text_file.parent / overrides.pop("data") if "data" in overrides else text_file
    run = create_run(runs_root, charlm_config(data, **overrides))
    worker.train_run(run, lambda: False)
    status = run.status()
    assert status.state == "failed" and status.extra["error_kind"] == "input"
    assert fragment in status.error
    assert_one_sentence(status.error)


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [(False, False, None), (True, False, torch.bfloat16), (False, True, torch.bfloat16)],
)
def test_auto_mixed_precision_follows_the_cpus_native_bf16(monkeypatch, amx, avx512_bf16, expected):
    # AVX512-BF16 without AMX (AMD EPYC) trains the default model ~1.3x faster in bf16: "auto" must take it.
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert resolve_amp("auto", torch.device("cpu")) == expected
    assert resolve_amp("off", torch.device("cpu")) is None


def test_devices_mixed_precision_and_the_schedule():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_amp("off", torch.device("cpu")) is None
    assert resolve_amp("bf16", torch.device("cpu")) == torch.bfloat16
    config = parse_train_config("charlm", lr_schedule="cosine", warmup_steps=10, steps=110)
    factors = [lr_factor(config, step, 110) for step in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0 and factors[10] == 1.0
    assert factors[60] == pytest.approx(0.55) and factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    constant = parse_train_config("charlm", steps=10, lr_schedule="none")
    assert {lr_factor(constant, step, 10) for step in range(10)} == {1.0}


def test_the_status_speed_is_the_last_windows_together():
    """One window's rate swings (1,758 -> 46.3k -> 8,256 tokens/s were seen); the status shows the recent ones pooled."""
    from engine.training.control import Speedometer

    speed = Speedometer(windows=3)
    assert speed.add(100, 0.0) is None  # no time measured yet
    assert speed.add(1_000, 1.0) == 1_000
    assert speed.add(10_000, 0.25) == pytest.approx(11_000 / 1.25)  # a short window does not dominate
    speed.add(2_000, 1.0)
    assert speed.add(3_000, 1.0) == pytest.approx(15_000 / 2.25)  # the oldest window has left
