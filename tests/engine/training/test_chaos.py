"""kill -9 at random moments, many times over, inside checkpoint writes too: the run is never left wrong.

After each kill: the run reads as failed (not running), last.pt loads, metrics and samples are whole
JSON lines with no step twice; the next start removes the kill's temporary files; and the run, resumed
to its end, holds exactly the parameters of a run never interrupted (same seed).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from chaos_job import FAULTS, run_job
from training_helpers import charlm_config, wait_for

from engine.training.checkpoint import load_checkpoint
from engine.training.jobs import create_run
from engine.training.runs import RunDir

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the planned kills read /proc/self/fd")

SETTINGS = dict(
    steps=60,
    checkpoint_every=10,
    log_every=5,
    eval_every=20,
    sample_every=15,
    regime="tbptt",
    dropout=0.1,
    seed=7,
)
KILLS = 10


@pytest.fixture(scope="module")
def forkserver() -> multiprocessing.context.ForkServerContext:
    """A forkserver that has imported torch and the worker once (Python 3.11's forkserver ignores our sys.path,
    so it finds this checkout and chaos_job through PYTHONPATH while it starts)."""
    from multiprocessing import forkserver as server

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["chaos_job"])
    here = Path(__file__).resolve().parent
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here.parents[2]), str(here), saved]))
    try:
        server.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    return context


def start(context: multiprocessing.context.ForkServerContext, run: RunDir, fault: str | None = None, nth: int = 1):
    process = context.Process(target=run_job, args=(str(run.path), fault, nth))
    process.start()
    return process


def lines_of(path: Path) -> list[dict]:
    """Every line of a JSON-lines file, each a whole object (a torn line fails here)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert not text or text.endswith("\n"), f"{path.name} ends in a torn line"
    records = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records


def leftovers(run: RunDir) -> set[Path]:
    return {path for path in run.path.rglob("*") if path.name.endswith(".part") or path.name == ".control.taken"}


def assert_consistent(run: RunDir) -> None:
    """What must hold whenever no job runs: a readable checkpoint, whole records, no step twice."""
    status = run.status()
    assert status.state in ("failed", "done"), status
    if (run.checkpoints / "last.pt").exists():
        saved = load_checkpoint(run.checkpoints / "last.pt")
        assert saved["step"] % SETTINGS["checkpoint_every"] == 0 or saved["step"] == SETTINGS["steps"]
    for path in (run.metrics_path, run.samples_path):
        steps = [(record["step"], record.get("final", False)) for record in lines_of(path)]
        assert len(steps) == len(set(steps)), f"a step twice in {path.name}: {steps}"
        assert steps == sorted(steps), f"{path.name} out of order: {steps}"


def test_kill_9_anywhere_never_leaves_a_run_wrong(forkserver, runs_root, text_file):
    rng = random.Random(os.environ.get("RNN_TUI_CHAOS_SEED", 13))
    reference = create_run(runs_root, charlm_config(text_file, **SETTINGS))
    process = start(forkserver, reference)
    process.join(120)
    assert process.exitcode == 0 and reference.status().state == "done", reference.log_tail()

    run = create_run(runs_root, charlm_config(text_file, **SETTINGS))
    finished: list[RunDir] = []  # runs that reached their end between kills (a fresh run takes the next kills)
    # The first kill lands inside the first checkpoint write (a run killed before any checkpoint), then
    # one of each kind, then random ones.
    plans: list[tuple[str | None, int]] = [("temp", 1), ("rename", 2), (None, 0), ("after", 1)]
    plans += [(rng.choice((None, *FAULTS)), rng.randint(1, 3)) for _ in range(KILLS - len(plans))]
    left: set[Path] = set()
    kills = cleaned = 0
    for fault, nth in plans:
        process = start(forkserver, run, fault, nth)
        wait_for(lambda process=process, run=run: run.status().pid == process.pid or not process.is_alive(), timeout=60)
        assert not (left & leftovers(run)), "the last kill's temporary files outlived the next start"
        cleaned += bool(left)
        if fault is None:  # from outside, at a random moment: after a random number of new metrics records
            kill_after_records(process, run, rng)
        process.join(60)
        kills += process.exitcode == -signal.SIGKILL
        assert_consistent(run)
        if process.exitcode == -signal.SIGKILL:
            assert run.status().state == "failed" and "ended without a word" in run.status().error
        left = leftovers(run)
        if run.status().state == "done":
            finished.append(run)
            run, left = create_run(runs_root, charlm_config(text_file, **SETTINGS)), set()
    assert kills >= KILLS // 2, "most planned kills should land before a run ends"
    assert cleaned, "some kill should have left a torn temporary file for the next start to remove"

    process = start(forkserver, run)  # resume to the end
    process.join(120)
    assert process.exitcode == 0 and run.status().state == "done", run.log_tail()
    for each in [*finished, run]:
        assert not leftovers(each)
        assert_same_as(reference, each)


def kill_after_records(process, run: RunDir, rng: random.Random) -> None:
    """kill -9 once the job has appended 1-3 more metrics records than it started with (polled every 2 ms).

    Counting records, not seconds, makes the kill land before the end of the run on a fast machine and
    a slow one alike; where between two records it lands is left to chance.
    """

    def records() -> int:  # whole lines only: the job may be appending one
        try:
            return run.metrics_path.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    at_start = records()
    remaining = SETTINGS["steps"] // SETTINGS["log_every"] - at_start
    target = at_start + rng.randint(1, max(1, min(3, remaining - 2)))
    deadline = time.monotonic() + 60
    while process.is_alive() and time.monotonic() < deadline:
        if records() >= target:
            break
        time.sleep(0.002)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)


def assert_same_as(reference: RunDir, run: RunDir) -> None:
    """`run`, resumed to its end after kills, holds exactly the reference's parameters, Adam state, metrics and samples."""
    expected, resumed = load_checkpoint(reference.checkpoints / "last.pt"), load_checkpoint(run.checkpoints / "last.pt")
    assert resumed["step"] == expected["step"] == SETTINGS["steps"]
    for key, value in expected["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    for index, state in expected["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(resumed["optimizer"]["state"][index][key], value), (index, key)
    assert lines_of(run.metrics_path) and [
        {k: v for k, v in r.items() if k not in ("time", "eval_time", "throughput")} for r in lines_of(run.metrics_path)
    ] == [
        {k: v for k, v in r.items() if k not in ("time", "eval_time", "throughput")}
        for r in lines_of(reference.metrics_path)
    ]
    assert [(s["step"], s["text"]) for s in lines_of(run.samples_path)] == [
        (s["step"], s["text"]) for s in lines_of(reference.samples_path)
    ]
