"""The run queue: FIFO order, the parallel limit, no double start when schedulers race, reordering, cancelling,
and a queue that outlives kill -9 of whoever was serving it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from training_helpers import assert_one_sentence, charlm_config, wait_for, wait_for_state

from engine.training import queue
from engine.training.jobs import create_run
from engine.training.runs import RunDir, RunError, RunStatus, list_runs

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_gpus(monkeypatch):
    """A CPU machine unless a test says otherwise: one job at a time by default."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def sleepers():
    """Processes that stand in for running jobs: alive until a test ends them (all ended at teardown)."""
    started: dict[str, subprocess.Popen] = {}
    yield started
    for process in started.values():
        process.kill()
        process.wait()


class FakeStarter:
    """Starts nothing but a sleeping process per run, and remembers the order runs were started in."""

    def __init__(self, sleepers: dict[str, subprocess.Popen]) -> None:
        self.sleepers = sleepers
        self.order: list[str] = []
        self.devices: list[str | None] = []

    def __call__(self, run: RunDir, devices: str | None) -> int:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.sleepers[run.name] = process
        self.order.append(run.name)
        self.devices.append(devices)
        return process.pid

    def finish(self, name: str) -> None:
        process = self.sleepers.pop(name)
        process.kill()
        process.wait()


def queue_runs(root: Path, text_file: Path, count: int, sweep: str | None = None) -> list[str]:
    configs = [(charlm_config(text_file, seed=index + 1), f"run-{index}") for index in range(count)]
    return [run.name for run in queue.enqueue(root, configs, sweep=sweep)]


def test_queued_runs_are_run_directories_in_line(runs_root, text_file):
    names = queue_runs(runs_root, text_file, 3, sweep="lr-sweep")
    assert [run.name for run in list_runs(runs_root)] == sorted(names, reverse=True)  # the queue dir is no run
    assert all(RunDir(runs_root / name).status().state == "queued" for name in names)
    assert queue.positions(runs_root) == {"run-0": 1, "run-1": 2, "run-2": 3}
    assert {entry.sweep for entry in queue.entries(runs_root)} == {"lr-sweep"}
    assert [run.name for run in queue.enqueue(runs_root, [(charlm_config(text_file), "later")])] == ["later"]
    assert queue.positions(runs_root)["later"] == 4


def test_runs_start_first_in_first_out_one_at_a_time(runs_root, text_file, sleepers):
    names = queue_runs(runs_root, text_file, 4)
    start = FakeStarter(sleepers)
    assert queue.tick(runs_root, start=start) == ["run-0"]
    assert queue.tick(runs_root, start=start) == []  # run-0 holds the one slot, though it has not marked itself
    start.finish("run-0")
    assert queue.tick(runs_root, start=start) == ["run-1"]
    start.finish("run-1")
    assert queue.tick(runs_root, start=start) == ["run-2"]
    start.finish("run-2")
    assert queue.tick(runs_root, start=start) == ["run-3"]
    assert start.order == names and queue.entries(runs_root) == []


def test_max_parallel_is_kept_and_remembered_for_the_root(runs_root, text_file, sleepers):
    queue_runs(runs_root, text_file, 5)
    start = FakeStarter(sleepers)
    queue.set_max_parallel(runs_root, 2)
    assert queue.max_parallel(runs_root) == 2
    assert queue.tick(runs_root, start=start) == ["run-0", "run-1"]
    assert queue.tick(runs_root, start=start) == []
    queue.set_max_parallel(runs_root, 3)
    assert queue.tick(runs_root, start=start) == ["run-2"]
    start.finish("run-0")
    start.finish("run-2")
    assert queue.tick(runs_root, start=start) == ["run-3", "run-4"]


def test_a_run_started_outside_the_queue_takes_a_slot(runs_root, text_file, sleepers):
    queue_runs(runs_root, text_file, 1)
    outside = create_run(runs_root, charlm_config(text_file), "by-hand")
    outside.write_status(RunStatus(state="running", pid=os.getpid()))
    start = FakeStarter(sleepers)
    assert queue.tick(runs_root, start=start) == []
    outside.write_status(RunStatus(state="done"))
    assert queue.tick(runs_root, start=start) == ["run-0"]


def test_each_job_gets_a_gpu_of_its_own(runs_root, text_file, sleepers, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert queue.default_max_parallel() == 2
    queue_runs(runs_root, text_file, 3)
    start = FakeStarter(sleepers)
    assert queue.tick(runs_root, start=start) == ["run-0", "run-1"]
    assert start.devices == ["2", "3"]
    start.finish("run-0")
    assert queue.tick(runs_root, start=start) == ["run-2"]
    assert start.devices[-1] == "2"


def race_threads(root: Path, racers: int, limit: int) -> list[str]:
    """`racers` threads tick `root` at once, five times each; the runs started, in the order they started."""
    started: list[str] = []

    def start(run: RunDir, devices: str | None) -> int:
        started.append(run.name)
        return os.getpid()  # alive for the whole test: a slot stays taken

    barrier = threading.Barrier(racers)

    def race() -> None:
        barrier.wait()
        for _ in range(5):
            queue.tick(root, limit=limit, start=start)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return started


def test_two_schedulers_racing_never_start_a_run_twice(runs_root, text_file):
    """Threads that tick at once, many times over: each run starts once, in order, and never more than the limit."""
    for round_ in range(10):
        root = runs_root / f"round-{round_}"
        names = queue_runs(root, text_file, 6)
        assert race_threads(root, racers=4, limit=4) == names[:4], f"round {round_}"
        assert [entry.run for entry in queue.entries(root)] == names[4:]


RACER = """
import os, sys
from engine.training import queue
root, log = sys.argv[1], sys.argv[2]
def start(run, devices):
    with open(log, "a") as handle:
        handle.write(run.name + "\\n")
    return os.getppid()  # the test process: alive throughout, so each start keeps its slot
for _ in range(20):
    queue.tick(root, limit=3, start=start)
"""


def test_scheduler_processes_racing_never_start_a_run_twice(runs_root, text_file, tmp_path):
    for round_ in range(2):
        root = runs_root / f"round-{round_}"
        names = queue_runs(root, text_file, 5)
        log = tmp_path / f"started-{round_}.txt"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        racers = [subprocess.Popen([sys.executable, "-c", RACER, str(root), str(log)], env=env) for _ in range(3)]
        assert [racer.wait(timeout=60) for racer in racers] == [0, 0, 0]
        assert log.read_text().split() == names[:3]


def test_cancel_removes_the_run_and_keeps_the_order(runs_root, text_file):
    queue_runs(runs_root, text_file, 3)
    queue.cancel(runs_root, "run-1")
    assert not (runs_root / "run-1").exists()
    assert queue.positions(runs_root) == {"run-0": 1, "run-2": 2}
    with pytest.raises(queue.QueueError) as error:
        queue.cancel(runs_root, "run-1")
    assert_one_sentence(str(error.value))


def test_moving_up_and_down(runs_root, text_file):
    queue_runs(runs_root, text_file, 4)
    assert queue.move(runs_root, "run-2", -1) == 2
    assert list(queue.positions(runs_root)) == ["run-0", "run-2", "run-1", "run-3"]
    assert queue.move(runs_root, "run-3", -10) == 1
    assert list(queue.positions(runs_root)) == ["run-3", "run-0", "run-2", "run-1"]
    assert queue.move(runs_root, "run-3", 1) == 2
    assert list(queue.positions(runs_root)) == ["run-0", "run-3", "run-2", "run-1"]
    for name, places in (("run-0", -1), ("run-1", 1)):
        with pytest.raises(queue.QueueError) as error:
            queue.move(runs_root, name, places)
        assert_one_sentence(str(error.value))


def test_a_move_cut_short_by_a_kill_is_mended_by_the_next(runs_root, text_file):
    queue_runs(runs_root, text_file, 3)
    entry = json.loads((runs_root / ".queue/entries/run-2.json").read_text())
    entry["seq"] = 1  # as if killed between the two writes of a swap: run-0 and run-2 share a number
    (runs_root / ".queue/entries/run-2.json").write_text(json.dumps(entry))
    assert list(queue.positions(runs_root)) == ["run-0", "run-2", "run-1"]  # ties go by name: nothing is lost
    assert queue.move(runs_root, "run-1", -1) == 2
    assert list(queue.positions(runs_root)) == ["run-0", "run-1", "run-2"]
    assert len({e.seq for e in queue.entries(runs_root)}) == 3


def test_start_now_ignores_the_limit(runs_root, text_file, sleepers):
    queue_runs(runs_root, text_file, 3)
    start = FakeStarter(sleepers)
    assert queue.tick(runs_root, start=start) == ["run-0"]
    queue.start_now(runs_root, "run-2", start=start)
    assert start.order == ["run-0", "run-2"] and list(queue.positions(runs_root)) == ["run-1"]
    with pytest.raises(queue.QueueError):
        queue.start_now(runs_root, "run-2", start=start)


def test_a_run_that_cannot_start_fails_and_the_queue_goes_on(runs_root, text_file, sleepers):
    queue_runs(runs_root, text_file, 2)
    start = FakeStarter(sleepers)

    def refuse_first(run: RunDir, devices: str | None) -> int:
        if run.name == "run-0":
            raise RunError("The config of run-0 is not usable: nope.")
        return start(run, devices)

    assert queue.tick(runs_root, start=refuse_first) == ["run-1"]
    status = RunDir(runs_root / "run-0").status()
    assert (status.state, status.error) == ("failed", "The config of run-0 is not usable: nope.")


def test_queueing_is_all_or_nothing(runs_root, text_file):
    queue_runs(runs_root, text_file, 1)
    with pytest.raises(RunError):
        queue.enqueue(runs_root, [(charlm_config(text_file), "fresh"), (charlm_config(text_file), "run-0")])
    assert not (runs_root / "fresh").exists() and list(queue.positions(runs_root)) == ["run-0"]


def test_max_parallel_values(runs_root):
    assert queue.check_max_parallel(" 4 ") == 4
    for bad in ("0", "-1", "two", "1.5", "100000"):
        with pytest.raises(queue.QueueError) as error:
            queue.check_max_parallel(bad)
        assert_one_sentence(str(error.value))
    (runs_root / ".queue").mkdir(parents=True)
    (runs_root / ".queue/settings.json").write_text('{"max_parallel": "lots"}')
    assert queue.max_parallel(runs_root) == 1  # a damaged setting falls back to the machine's default


HOLD_LOCK = """
import sys, time
from engine.training import queue
with queue.queue_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_lock_holder_killed_by_sigkill_lets_go(runs_root, text_file, sleepers):
    queue_runs(runs_root, text_file, 1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(runs_root)], env=env, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert queue.tick(runs_root, start=FakeStarter(sleepers)) == ["run-0"]


def test_a_queued_run_survives_kill_9_of_the_scheduler_and_trains_after(runs_root, text_file, sleepers):
    """The scheduler waits for a busy slot; killed, it leaves the run queued; the next one trains it for real."""
    (name,) = [run.name for run in queue.enqueue(runs_root, [(charlm_config(text_file, steps=10), "survivor")])]
    blocker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sleepers["blocker"] = blocker
    busy = create_run(runs_root, charlm_config(text_file), "busy")
    busy.write_status(RunStatus(state="running", pid=blocker.pid))
    scheduler = queue.spawn_scheduler(runs_root)
    assert scheduler is not None
    log = runs_root / ".queue/scheduler.log"
    wait_for(lambda: _holds_scheduler_lock(runs_root), timeout=30)
    os.kill(scheduler, signal.SIGKILL)
    wait_for(lambda: not _holds_scheduler_lock(runs_root), timeout=10)
    run = RunDir(runs_root / name)
    assert run.status().state == "queued" and queue.positions(runs_root) == {name: 1}
    busy.write_status(RunStatus(state="done"))
    assert queue.spawn_scheduler(runs_root) is not None
    status = wait_for_state(run, "done", "failed", timeout=120)
    assert status.state == "done", status.error
    assert "started survivor" in log.read_text()
    wait_for(lambda: not _holds_scheduler_lock(runs_root), timeout=10)  # the queue is empty: it left


def _holds_scheduler_lock(root: Path) -> bool:
    """Whether some process holds the root's scheduler lock (a scheduler serves it).

    Linux lists every lock in /proc/locks, so the question is asked without touching the lock. Taking it
    for a moment to see (the fallback elsewhere) can meet a scheduler starting just then, which leaves
    at once, as it should when the lock is taken.
    """
    import fcntl

    path = root / ".queue/scheduler.lock"
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        table = None
    if table is not None:
        inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        return any(line.split()[1] == "FLOCK" and line.split()[5] == inode for line in table.splitlines())
    with open(path, "ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def test_the_scheduler_serves_a_root_once(runs_root, text_file, sleepers, monkeypatch):
    queue_runs(runs_root, text_file, 1)
    start = FakeStarter(sleepers)
    blocker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sleepers["blocker"] = blocker
    create_run(runs_root, charlm_config(text_file), "busy").write_status(RunStatus(state="running", pid=blocker.pid))
    # Told when the thread's scheduler holds its lock. Probing the lock while the thread starts (as this test
    # once did) can take it for a moment just as the scheduler tries: the scheduler then rightly leaves at once.
    taken = threading.Event()
    take = queue._scheduler_lock

    def told(root):
        held = take(root)
        if held is not None:
            taken.set()
        return held

    monkeypatch.setattr(queue, "_scheduler_lock", told)
    done = threading.Event()
    threading.Thread(target=lambda: (queue.serve(runs_root, interval=0.05, start=start), done.set())).start()
    assert taken.wait(timeout=10) and _holds_scheduler_lock(runs_root)
    assert queue.serve(runs_root, start=start) == 0  # a second scheduler leaves at once (else this would hang)
    RunDir(runs_root / "busy").write_status(RunStatus(state="done"))
    assert done.wait(timeout=10) and start.order == ["run-0"]


def test_a_start_record_holds_a_slot_only_while_its_job_is_on(runs_root, text_file, sleepers):
    """After a reboot a recorded pid may be someone else's: a run never taken over, or ended, frees its slot."""
    queue_runs(runs_root, text_file, 2)
    start = FakeStarter(sleepers)
    assert queue.tick(runs_root, start=start) == ["run-0"]
    record = runs_root / ".queue/launched/run-0.json"
    data = json.loads(record.read_text())
    assert queue.tick(runs_root, start=start) == []  # just started: the job has not marked itself yet
    record.write_text(json.dumps({**data, "at": data["at"] - queue.TAKE_OVER_S - 1}))
    assert queue.tick(runs_root, start=start) == ["run-1"]  # never taken over: not our job
    assert not record.exists()
    RunDir(runs_root / "run-1").write_status(RunStatus(state="done"))
    assert queue.launched(runs_root) == []  # ended: its record goes though its pid lives on
