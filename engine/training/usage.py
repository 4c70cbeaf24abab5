"""What a running job costs the machine: CPU, resident memory, threads, and GPU memory and load where NVML is present.

A job is its process and every process under it (a distributed job's torchrun agent and ranks), so
the figures are sums over that tree. CPU % is measured between two looks, like top: a `UsageMeter`
keeps the processes it saw, and its first look at a job says nothing about CPU yet. GPU figures come
from NVML (the optional nvidia-ml-py package, `import pynvml`): the memory the job's processes hold
and the utilisation of the GPUs they use (a GPU's load, not one process's share of it).
No torch here: the Train pane measures from its polling thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass(frozen=True)
class Usage:
    """A job's cost at one look; None where it is not known (the first look's CPU, GPU without NVML)."""

    cpu_percent: float | None  # summed over the job's processes: 200 means two cores busy
    rss_bytes: int
    threads: int
    processes: int
    gpu_bytes: int | None = None
    gpu_percent: float | None = None  # the busiest of the GPUs the job uses

    def describe(self) -> str:
        """One line: 'cpu 97% · mem 412 MB · 5 threads · gpu 1.2 GB 88%'."""
        parts = [f"cpu {self.cpu_percent:.0f}%" if self.cpu_percent is not None else "cpu …"]
        parts.append(f"mem {fmt_bytes(self.rss_bytes)}")
        parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        if self.processes > 1:
            parts.append(f"{self.processes} processes")
        if self.gpu_bytes is not None:
            load = f" {self.gpu_percent:.0f}%" if self.gpu_percent is not None else ""
            parts.append(f"gpu {fmt_bytes(self.gpu_bytes)}{load}")
        return " · ".join(parts)

    def short(self) -> str:
        """For a table cell: '97% 412M'."""
        cpu = f"{self.cpu_percent:.0f}%" if self.cpu_percent is not None else "…"
        return f"{cpu} {fmt_bytes(self.rss_bytes, short=True)}"


def fmt_bytes(count: int, short: bool = False) -> str:
    """412 MB, 1.2 GB (412M, 1.2G when `short`)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            number = f"{value:.0f}" if value >= 100 or unit == "B" else f"{value:.1f}"
            return f"{number}{unit[0]}" if short and unit != "B" else f"{number} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover - the loop always returns


class UsageMeter:
    """Measures jobs by their main pid; keeps each process between looks so CPU % covers the time since the last."""

    def __init__(self) -> None:
        self._processes: dict[int, psutil.Process] = {}
        self._nvml: Any = None
        self._nvml_tried = False

    def measure(self, pid: int) -> Usage | None:
        """The cost of the job whose main process is `pid` now; None when that process is gone."""
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            self._processes.pop(pid, None)
            return None
        cpu: float | None = 0.0
        rss = threads = 0
        seen = []
        for process in tree:
            known = self._processes.get(process.pid)
            if known is None or known.create_time() != _create_time(process):
                known = self._processes[process.pid] = process
                first = True
            else:
                first = False
            try:
                with known.oneshot():
                    percent = known.cpu_percent(None)
                    rss += known.memory_info().rss
                    threads += known.num_threads()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seen.append(process.pid)
            if first and process.pid == pid:
                cpu = None  # no interval yet: the next look says
            elif cpu is not None and not first:
                cpu += percent
        gpu_bytes, gpu_percent = self._gpu(set(seen))
        return Usage(cpu, rss, threads, len(seen), gpu_bytes, gpu_percent)

    def forget(self, keep: set[int]) -> None:
        """Drop the processes of jobs other than `keep` (their main pids) and of processes that ended."""
        alive = set()
        for pid in keep:
            with contextlib.suppress(psutil.Error):
                alive |= {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
        self._processes = {pid: process for pid, process in self._processes.items() if pid in alive}

    def _gpu(self, pids: set[int]) -> tuple[int | None, float | None]:
        nvml = self._load_nvml()
        if nvml is None:
            return None, None
        used = 0
        load: float | None = None
        found = False
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                mine = [p for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle) if p.pid in pids]
                if mine:
                    found = True
                    used += sum(p.usedGpuMemory or 0 for p in mine)
                    busy = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                    load = busy if load is None else max(load, busy)
        except Exception:  # NVML errors (a GPU fell off the bus, permissions): no GPU figures this time
            return None, None
        return (used, load) if found else (None, None)

    def _load_nvml(self) -> Any:
        """pynvml, initialised once; None without the package or a driver."""
        if not self._nvml_tried:
            self._nvml_tried = True
            try:
                import pynvml  # optional: nvidia-ml-py (the gpu extra)

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception:
                self._nvml = None
        return self._nvml


def _create_time(process: psutil.Process) -> float:
    try:
        return process.create_time()
    except psutil.Error:
        return -1.0
