"""Shared fixtures. Real-data tests run only when RNN_TUI_TEST_DATA names the data directory."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis fails an example that runs past 200 ms: a timing assertion, and these machines are
# noisy (two test workers on two cores). Examples are checked for what they compute, never for speed.
settings.register_profile("rnn-tui", deadline=None)
settings.load_profile("rnn-tui")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory (as CI passes ../shared/data); skips the test when not given."""
    value = os.environ.get("RNN_TUI_TEST_DATA")
    if not value:
        pytest.skip("real-data test: set RNN_TUI_TEST_DATA to the data directory")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"RNN_TUI_TEST_DATA={value} is not a directory")
    return path


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's runs, cache and config directories, and off the internet."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RNN_TUI_RUNS", str(base / "runs"))
    monkeypatch.setenv("RNN_TUI_CACHE", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))  # the Generate pane's prompt history
    monkeypatch.setenv("RNN_TUI_GUTENBERG_URL", "http://127.0.0.1:9")  # nothing listens there


JOB_MODULES = ("engine.training.worker", "engine.training.queue")


def _processes_under(base: str) -> list[int]:
    """Training jobs and queue schedulers (by their command lines) whose run or root lies under `base`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(module in argv for module in JOB_MODULES) and any(arg.startswith(base) for arg in argv):
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test(tmp_path_factory):
    """A test that fails halfway can leave its job training (tests start jobs of 100,000 steps to have one
    running): end every job and scheduler still running under this worker's temporary directory once the test
    is over, so that one failure does not slow every test after it, or outlive the suite."""
    yield
    if not Path("/proc/self/cmdline").exists():
        return
    base = str(tmp_path_factory.getbasetemp().resolve())
    for pid in _processes_under(base):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
