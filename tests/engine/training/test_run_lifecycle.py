"""A run's life around its job process: liveness by the lock, settings changed under it, races, full disks.

Each test replays a way issue 13 found to leave a run wrong: a zombie or a recycled pid taken for the
job, two resumes at once, a full disk or an unwritable directory mid-training, torn temporary files.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from training_helpers import assert_one_sentence, charlm_config, wait_for

from engine.training import runs as runs_module
from engine.training import worker
from engine.training.checkpoint import load_checkpoint
from engine.training.config import with_changes
from engine.training.jobs import LOCKED_EXIT, create_run, start_job
from engine.training.runs import (
    RunDir,
    RunError,
    RunStatus,
    RunWriteError,
    pid_alive,
    process_start,
    write_run_file,
)
from tests.messages import one_error_line
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]
HOLD_LOCK = "import sys, time; from engine.training.runs import RunDir; h = RunDir(sys.argv[1]).lock(); print(h is not None, flush=True); time.sleep(120)"


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def running_status(pid: int | None, pid_start: int | None = None) -> RunStatus:
    return RunStatus(state="running", step=5, total=10, pid=pid, pid_start=pid_start, updated_at=time.time())


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "120"])
    yield process
    process.kill()
    process.wait()


def test_a_recycled_pid_does_not_keep_a_dead_run_alive(runs_root, text_file, sleeper):
    """A stopped run's status.json naming the pid of an unrelated `sleep` blocked resume for as long as it lived."""
    run = create_run(runs_root, charlm_config(text_file))
    run.lock().close()  # a job ran here once and ended: its lock file is there, and free
    run.write_status(running_status(sleeper.pid))
    assert pid_alive(sleeper.pid)
    assert not run.job_alive()
    status = run.status()
    assert status.state == "failed" and "ended without a word" in status.error

    # Where the lock cannot be tried (no lock file), the pid counts only with its own start time.
    (run.path / ".lock").unlink()
    run.write_status(running_status(sleeper.pid, pid_start=process_start(sleeper.pid)))
    assert run.job_alive() and run.status().state == "running"
    run.write_status(running_status(sleeper.pid, pid_start=(process_start(sleeper.pid) or 0) + 1))
    assert not run.job_alive() and run.status().state == "failed"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are told apart through /proc")
def test_a_zombie_job_is_not_alive(runs_root, text_file):
    """A job that ended but was not yet reaped blocked resume ("already running (pid N)")."""
    process = subprocess.Popen(["true"])  # never waited for until the end: a zombie once it exits
    try:
        wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1].startswith("Z"))
        assert not pid_alive(process.pid)
        run = create_run(runs_root, charlm_config(text_file))
        (run.path / ".lock").unlink(missing_ok=True)  # only the pid (and its start) can tell
        run.write_status(running_status(process.pid, process_start(process.pid)))
        assert run.status().state == "failed"
    finally:
        process.wait()


def test_a_held_lock_is_alive_whatever_the_pid_says(runs_root, text_file, capsys):
    run = create_run(runs_root, charlm_config(text_file))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run.path)], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        run.write_status(running_status(None))  # no pid at all: the lock still tells
        assert run.job_alive() and run.status().state == "running"
        with pytest.raises(RunError, match="is already running"):
            start_job(run, resume=True)
        assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", "99"]) == 2
        assert "already running" in one_error_line(capsys.readouterr().err)
        assert json.loads(run.config_path.read_text())["steps"] == 40  # untouched
    finally:
        holder.kill()
        holder.wait()
    assert not run.job_alive() and run.status().state == "failed"


def test_a_job_that_loses_the_lock_changes_nothing_and_the_cli_says_already_running(
    runs_root, text_file, capsys, monkeypatch
):
    """Two resumes at once: the loser's job is turned away by the lock, before it writes a thing."""
    run = create_run(runs_root, charlm_config(text_file))
    before = run.config_path.read_bytes()
    lock = run.lock()
    assert lock is not None
    try:
        settings = json.dumps(with_changes(charlm_config(text_file), steps=1270).to_dict())
        assert worker.main([str(run.path), "--settings", settings]) == LOCKED_EXIT
        assert run.config_path.read_bytes() == before
        capsys.readouterr()
        # Both commands passed the "already running" check before either job held the lock: the loser's
        # job exits LOCKED_EXIT and its command says so, exit 2, never "failed".
        monkeypatch.setattr(RunDir, "job_alive", lambda self, status=None: False)
        assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", "1270"]) == 2
        assert "is already running" in one_error_line(capsys.readouterr().err)
        assert run.config_path.read_bytes() == before
    finally:
        lock.close()


def test_two_resumes_at_once_one_trains_its_own_settings_the_other_says_already_running(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file, sample_every=0, eval_every=10))
    commands = [
        [sys.executable, "-m", "tui.cli", "train", "--resume", run.name, "--runs-dir", str(runs_root), "--steps", steps]
        for steps in ("30", "50")
    ]
    clis = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        for command in commands
    ]
    results = [(cli.wait(timeout=240), cli.communicate()[1]) for cli in clis]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (_, won_err), (_, lost_err) = sorted(results)
    steps = 30 if "/30" in won_err else 50
    assert f"done at step {steps}/{steps}" in won_err
    assert "is already running" in one_error_line(lost_err)
    assert json.loads(run.config_path.read_text())["steps"] == steps == run.status().total


def test_temporary_files_of_the_job_are_removed_by_the_lock_holder(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file))
    torn = [
        run.checkpoints / ".last.pt.abc123.part",
        run.checkpoints / ".best.pt.x.part",
        run.path / ".status.json.q.part",
        run.path / ".metrics.jsonl.z.part",
        run.path / ".control.taken",
    ]
    kept = [run.path / ".control.json.v.part", run.path / "notes.part", run.checkpoints / "mine.pt"]
    for path in torn + kept:
        path.write_bytes(b"x" * 100)
    assert sorted(run.clean_temporary_files()) == sorted(torn)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in torn)


def test_a_stop_request_is_taken_once_by_the_job_or_withdrawn_by_the_viewer(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file))
    run.request("stop")
    assert run.withdraw("stop") and run.pending_command() is None and run.take_command() is None
    run.request("stop")
    assert run.take_command() == "stop"
    assert not run.withdraw("stop")  # the job had it: too late to take back
    run.request("pause")
    assert not run.withdraw("stop") and run.pending_command() == "pause"  # another request stays


def test_a_checkpoint_needs_free_space_first(tmp_path, monkeypatch):
    target = tmp_path / "checkpoints" / "last.pt"
    target.parent.mkdir()
    monkeypatch.setattr(runs_module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 500_000))
    with pytest.raises(RunWriteError) as caught:
        write_run_file(target, b"x" * 100_000, reserve=1 << 20)
    message = str(caught.value)
    assert_one_sentence(message)
    assert "500 kB free" in message and "last.pt needs 1,149 kB" in message and "free some space" in message
    assert not target.exists() and list(target.parent.iterdir()) == []
    write_run_file(target, b"x" * 100_000)  # without a reserve there is no check


def _fail_writes_once(run: RunDir, monkeypatch, error_number: int) -> None:
    """From the first checkpoint on, every new file and every append in the run directory fails with `error_number`."""
    real_mkstemp, real_open = tempfile.mkstemp, builtins.open

    def full() -> bool:
        return (run.checkpoints / "last.pt").exists()

    def mkstemp(*args, **kwargs):
        if full() and str(kwargs.get("dir", "")).startswith(str(run.path)):
            raise OSError(error_number, os.strerror(error_number))
        return real_mkstemp(*args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if full() and "a" in mode and str(file).startswith(str(run.path)):
            raise OSError(error_number, os.strerror(error_number), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(runs_module, "open", open_, raising=False)


@pytest.mark.parametrize(
    ("error_number", "advice"),
    [(errno.ENOSPC, "free some space"), (errno.EACCES, "writable")],
)
def test_a_run_directory_that_refuses_writes_fails_the_run_saying_why(
    runs_root, text_file, monkeypatch, capsys, error_number, advice
):
    """A full disk (or a directory made read-only) mid-training left status.json "running" and said nothing."""
    run = create_run(runs_root, charlm_config(text_file, steps=200, sample_every=0))
    _fail_writes_once(run, monkeypatch, error_number)
    assert worker.train_run(run, lambda: False) == 1
    monkeypatch.undo()
    status = json.loads(run.status_path.read_text())  # written in place: the atomic write had no room
    assert status["state"] == "failed" and status["error_kind"] == "disk"
    assert os.strerror(error_number) in status["error"] and advice in status["error"]
    assert_one_sentence(status["error"])
    assert load_checkpoint(run.checkpoints / "last.pt")["step"] == 20  # the last checkpoint is intact
    assert not list(run.path.rglob("*.part"))
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs_root), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "failed" and advice in row["error"]


def test_when_even_the_status_cannot_be_written_readers_report_the_logs_last_error(runs_root, text_file):
    """The job's "failed: …" went to log.txt only: the run read as running, then "ended without a word"."""
    run = create_run(runs_root, charlm_config(text_file))
    run.lock().close()
    run.write_status(running_status(999_999_999))
    reason = "Could not write metrics.jsonl in /runs/x (No space left on device); free some space, then resume the run."
    run.log_path.write_text(
        f"--- 2026-01-01 start\nfailed: an old session's error\n--- 2026-01-02 resume\nstep 10/40\nfailed: {reason}\n"
        "Could not write status.json in /runs/x, not even in place; the reason is in log.txt.\n"
    )
    status = run.status()
    assert status.state == "failed" and reason in status.error
    assert_one_sentence(status.error)
    run.log_path.write_text(f"--- start\nfailed: {reason}\n--- resume\nstep 10/40\n")  # killed: no error this session
    assert "ended without a word" in run.status().error
    run.log_path.write_text("--- resume\nTraceback (most recent call last):\n  File x\nOSError: [Errno 28] No space\n")
    assert run.status().error.endswith("its last error: OSError: [Errno 28] No space")


def _user_namespaces() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


FULL_DISK = r"""
set -u
mount -t tmpfs -o size=3m tmpfs "$MNT"
"$PY" -m tui.cli train charlm --data "$TEXT" --runs-dir "$MNT/runs" --name full --steps 100000 \
    --checkpoint-every 20 --log-every 10 --eval-every 20 --sample-every 0 --embed-size 16 --hidden-size 32 \
    --batch-size 8 --seq-length 20 --threads 1 --json > "$OUT/stdout" 2> "$OUT/stderr" &
cli=$!
for _ in $(seq 600); do [ -e "$MNT/runs/full/checkpoints/last.pt" ] && break; sleep 0.1; done
dd if=/dev/zero of="$MNT/filler" bs=64k 2> /dev/null || true
wait $cli
echo $? > "$OUT/code"
cp "$MNT/runs/full/status.json" "$OUT/status.json"
"$PY" -m tui.cli runs --runs-dir "$MNT/runs" --json > "$OUT/runs.json"
"""


@pytest.mark.skipif(not _user_namespaces(), reason="no user namespaces here to mount a small tmpfs without root")
def test_a_real_full_disk_mid_training(tmp_path, text_file):
    """The issue's repro: a 3 MB tmpfs as --runs-dir, filled with dd after the first checkpoint."""
    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir(), out.mkdir()
    env = {**child_env(), "MNT": str(mount), "OUT": str(out), "PY": sys.executable, "TEXT": str(text_file)}
    subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", FULL_DISK],
        cwd=ROOT,
        env=env,
        timeout=300,
        check=True,
    )
    err = (out / "stderr").read_text()
    assert (out / "code").read_text().strip() == "1", err
    lines = [line for line in err.splitlines() if line.startswith("rnn-tui: ")]
    assert len(lines) == 1 and "run full failed:" in lines[0], err
    assert "free some space" in lines[0] or "No space left on device" in lines[0], err
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and status["error_kind"] == "disk", status
    (row,) = json.loads((out / "runs.json").read_text())
    assert row["state"] == "failed" and row["error"] == status["error"]


def test_ctrl_c_twice_takes_the_stop_back_and_the_job_trains_on(runs_root, text_file, tmp_path):
    """The second Ctrl+C said "left running" while the job stopped anyway: now the request is taken back."""
    err_path = tmp_path / "stderr"
    args = ["train", "charlm", "--data", str(text_file), "--runs-dir", str(runs_root), "--name", "twice"]
    args += ["--steps", "100000", "--sample-every", "0", "--threads", "1", "--embed-size", "8", "--hidden-size", "8"]
    with open(err_path, "w") as err:
        cli = subprocess.Popen([sys.executable, "-m", "tui.cli", *args], cwd=ROOT, stderr=err, env=child_env())
    run = RunDir(runs_root / "twice")
    try:
        # While the job loads (imports torch), it reads no requests: the second Ctrl+C comes before it would.
        wait_for(lambda: run.status_path.exists() and run.status().extra.get("phase") == "loading")
        cli.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping after a final checkpoint" in err_path.read_text())
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=60) == 130
        said = err_path.read_text()
        if "left running" in said:
            assert run.pending_command() is None
            wait_for(lambda: run.status().step >= 30)  # it trains on, past the moment it would have stopped
            assert run.status().state == "running"
        else:  # the job took the request first: the command said so, and the job stops
            assert "already begun to stop" in said
            wait_for(lambda: run.status().state == "stopped")
    finally:
        if run.job_alive():
            run.request("stop")
            wait_for(lambda: not run.job_alive())
        cli.kill()
        cli.wait()
