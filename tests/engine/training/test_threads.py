"""A job's share of the machine: torch threads shared out among the jobs running, and a priority that
autogroup scheduling does not undo (engine.training.threads)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import charlm_config, wait_for, wait_for_state

from engine.training.jobs import create_run, start_job
from engine.training.runs import pid_alive
from engine.training.threads import (
    RETUNE_S,
    ThreadShare,
    is_training_job,
    lower_session_priority,
    share_threads,
    training_jobs,
)


def test_job_command_lines_are_told_from_ranks_and_others():
    assert is_training_job(["/venv/bin/python", "-m", "engine.training.worker", "/runs/a", "--nice", "10"])
    assert not is_training_job(["/venv/bin/python", "-m", "engine.training.worker", "/runs/a", "--rank"])
    assert not is_training_job(["/venv/bin/python", "-m", "engine.generation.worker"])
    assert not is_training_job(["less", "engine.training.worker"])
    assert not is_training_job([""])


def test_jobs_are_counted_from_proc(tmp_path):
    def process(pid: str, *argv: str) -> None:
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")

    process("10", "python", "-m", "engine.training.worker", "/runs/a", "--nice", "10")
    process("11", "python", "-m", "engine.training.worker", "/runs/b")
    process("12", "python", "-m", "engine.training.worker", "/runs/b", "--rank")
    process("13", "rnn-tui")
    (tmp_path / "14").mkdir()  # a process that ended while /proc was read: no cmdline
    (tmp_path / "self").mkdir()
    assert training_jobs(tmp_path) == 2
    assert training_jobs(tmp_path / "missing") is None


@pytest.mark.parametrize(("cores", "jobs", "threads"), [(2, 1, 2), (2, 2, 1), (2, 3, 1), (8, 3, 2), (4, 0, 4)])
def test_the_cores_are_shared_out(cores, jobs, threads):
    assert share_threads(cores, jobs) == threads


def test_a_job_retunes_its_threads_as_jobs_come_and_go():
    now = [0.0]
    jobs: list[int | None] = [1]
    set_to: list[int] = []
    share = ThreadShare(set_to.append, cores=2, count=lambda: jobs[0], clock=lambda: now[0])
    assert share.tune() == 2 and set_to == [2]
    jobs[0] = 2  # a second job started
    assert share.tune() == 2 and set_to == [2]  # not looked at again before RETUNE_S
    now[0] += RETUNE_S
    assert share.tune() == 1 and set_to == [2, 1]
    now[0] += RETUNE_S
    assert share.tune() == 1 and set_to == [2, 1]  # unchanged: torch is not asked again
    jobs[0] = None  # /proc unreadable: this job alone
    now[0] += RETUNE_S
    assert share.tune() == 2 and set_to == [2, 1, 2]


def test_the_session_priority_is_lowered_only_by_a_session_leader(tmp_path):
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("/autogroup-1 nice 0\n")
    assert os.getsid(0) != os.getpid()  # pytest does not lead its session
    assert not lower_session_priority(10, autogroup)
    assert autogroup.read_text() == "/autogroup-1 nice 0\n"
    code = "import sys; from pathlib import Path; from engine.training.threads import lower_session_priority as l; "
    code += "print(l(0, Path(sys.argv[1])), l(10, Path(sys.argv[1])))"
    leader = subprocess.run(
        [sys.executable, "-c", code, str(autogroup)], capture_output=True, text=True, start_new_session=True, check=True
    )
    assert leader.stdout.split() == ["False", "True"]
    assert autogroup.read_text() == "10\n"
    assert not lower_session_priority(10, tmp_path / "no-autogroup")


def test_two_jobs_share_the_cores_and_run_at_low_priority(runs_root, text_file):
    first = create_run(runs_root, charlm_config(text_file, steps=100_000, sample_every=0))
    second = create_run(runs_root, charlm_config(text_file, steps=100_000, sample_every=0))
    pids = [start_job(first).pid]
    try:
        wait_for_state(first, "running", timeout=120)
        wait_for(lambda: "threads" in "".join(first.log_tail(20)), timeout=120)
        pids.append(start_job(second).pid)
        wait_for(lambda: "threads" in "".join(second.log_tail(20)), timeout=120)
        threads = int(re.findall(r"· (\d+) threads", "\n".join(second.log_tail(20)))[-1])
        assert threads == max(1, (os.cpu_count() or 1) // 2) or threads < (os.cpu_count() or 1) // 2  # others' jobs
        assert os.getpriority(os.PRIO_PROCESS, pids[1]) == 10
        autogroup = Path(f"/proc/{pids[1]}/autogroup")
        if autogroup.exists():
            assert autogroup.read_text().split()[-1] == "10"
    finally:
        for run in (first, second):
            run.request("stop")
        for pid in pids:
            wait_for(lambda pid=pid: not pid_alive(pid), timeout=120)
