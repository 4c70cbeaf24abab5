"""What a job costs: CPU between two looks, memory and threads over the job's process tree, GPU figures from NVML."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from engine.training import usage

# A job stand-in: 40 MB held, two extra threads, a child process, and one thread that spins.
JOB = """
import subprocess, sys, threading, time
held = bytearray(40 * 1024 * 1024)
for index in range(len(held) // 4096):
    held[index * 4096] = 1  # touch every page so it is resident
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def job():
    process = subprocess.Popen([sys.executable, "-c", JOB], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    child = int(process.stdout.readline())
    yield process, child
    subprocess.run(["kill", "-9", str(child)], check=False)
    process.kill()
    process.wait()


def test_a_job_is_measured_over_its_process_tree(job):
    process, _ = job
    meter = usage.UsageMeter()
    first = meter.measure(process.pid)
    assert first is not None and first.cpu_percent is None  # one look cannot say how busy it was
    assert first.processes == 2 and first.threads >= 4  # main + spin + sleep threads, and the child's
    assert first.rss_bytes >= 40 * 1024 * 1024
    assert first.gpu_bytes is None or isinstance(first.gpu_bytes, int)
    time.sleep(0.5)
    second = meter.measure(process.pid)
    assert second is not None and second.cpu_percent is not None and second.cpu_percent > 0
    assert "cpu" in second.describe() and "2 processes" in second.describe()


def test_an_ended_job_measures_as_none(job):
    process, _ = job
    meter = usage.UsageMeter()
    assert meter.measure(process.pid) is not None
    process.kill()
    process.wait()
    assert meter.measure(process.pid) is None
    meter.forget(set())
    assert meter._processes == {}


class FakeNvml:
    """Two GPUs: the job's rank runs on GPU 1 (2 GiB, 75% busy); another user's process on GPU 0."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        if handle == 0:
            return [SimpleNamespace(pid=1, usedGpuMemory=5 << 30)]
        return [SimpleNamespace(pid=self.pid, usedGpuMemory=2 << 30)]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=[10, 75][handle])


def test_gpu_figures_come_from_nvml_for_the_jobs_own_processes(job, monkeypatch):
    process, child = job
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(child))
    measured = usage.UsageMeter().measure(process.pid)
    assert measured is not None and (measured.gpu_bytes, measured.gpu_percent) == (2 << 30, 75.0)
    assert measured.describe().endswith("gpu 2.0 GB 75%")


def test_byte_counts_read_like_top():
    assert usage.fmt_bytes(512) == "512 B"
    assert usage.fmt_bytes(412 * 1024 * 1024) == "412 MB"
    assert usage.fmt_bytes(int(1.25 * 1024**3)) == "1.2 GB"
    assert usage.fmt_bytes(412 * 1024 * 1024, short=True) == "412M"
    shown = usage.Usage(cpu_percent=97.4, rss_bytes=300 << 20, threads=1, processes=1)
    assert (shown.describe(), shown.short()) == ("cpu 97% · mem 300 MB · 1 thread", "97% 300M")
