"""Jobs in their own processes: a kill -9 loses at most the steps since the last checkpoint, and resume is exact."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from training_helpers import charlm_config, metrics, wait_for, wait_for_state

from engine.training import worker
from engine.training.checkpoint import load_checkpoint
from engine.training.jobs import create_run, find_run, start_job
from engine.training.runs import RunError, pid_alive


def test_a_killed_job_resumes_from_its_checkpoint_and_ends_as_if_never_killed(runs_root, text_file):
    settings = dict(
        steps=600, checkpoint_every=50, eval_every=200, log_every=25, sample_every=0, regime="tbptt", dropout=0.1
    )
    reference = create_run(runs_root, charlm_config(text_file, **settings))
    reference_pid = start_job(reference).pid
    run = create_run(runs_root, charlm_config(text_file, **settings))
    pid = start_job(run, nice=5).pid
    wait_for(lambda: run.status().pid == pid)  # the job took over its status
    # Kill mid-run, past a checkpoint, wherever the job happens to be (it may be writing one).
    wait_for(lambda: run.status().extra.get("checkpoint_step", 0) >= 100 and run.status().step > 120)
    os.kill(pid, signal.SIGKILL)
    # A killed multi-threaded process is a zombie (pid_alive: no) a moment before its last thread has
    # gone and the OS has dropped its lock (job_alive: still yes); the run reads failed from then on.
    wait_for(lambda: not pid_alive(pid) and not run.job_alive())
    killed = run.status()
    assert killed.state == "failed" and "ended without a word" in killed.error
    saved = load_checkpoint(run.checkpoints / "last.pt")
    assert saved["step"] % 50 == 0 and saved["step"] >= 100
    assert killed.step - saved["step"] < 120  # at most the steps since the checkpoint are lost

    resumed_pid = start_job(run, resume=True).pid
    wait_for(lambda: run.status().pid == resumed_pid)
    done = wait_for_state(run, "done", "failed")
    assert done.state == "done", done.error
    assert f"resumed from step {saved['step']}" in "\n".join(run.log_tail(50))
    assert wait_for_state(reference, "done", "failed").state == "done"
    wait_for(lambda: not pid_alive(reference_pid))  # it exits just after writing "done"
    expected, resumed = load_checkpoint(reference.checkpoints / "last.pt"), load_checkpoint(run.checkpoints / "last.pt")
    for key, value in expected["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    for key, value in expected["optimizer"]["state"][0].items():
        assert torch.equal(resumed["optimizer"]["state"][0][key], value)
    steps = [r["step"] for r in metrics(run)]
    assert steps == sorted(set(steps)) == [r["step"] for r in metrics(reference)]  # no record twice


def test_a_job_is_never_trained_by_two_processes(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file, steps=100_000, sample_every=0))
    pid = start_job(run).pid
    wait_for_state(run, "running")
    with pytest.raises(RunError, match="is already running"):
        start_job(run, resume=True)
    assert worker.main([str(run.path)]) == 3  # the lock is held by the job process
    run.request("stop")
    assert wait_for_state(run, "stopped", "failed").state == "stopped"
    wait_for(lambda: not pid_alive(pid) and not run.job_alive())
    with pytest.raises(RunError, match="is stopped; resume it instead"):
        start_job(run)
    assert find_run(runs_root, run.name) == run and find_run(runs_root, str(run.path)) == run
    with pytest.raises(RunError, match="There is no run 'nope'"):
        find_run(runs_root, "nope")
