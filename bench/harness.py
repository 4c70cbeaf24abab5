"""What the side-by-side training benchmarks share: machine facts, running a book recipe and
rnn-tui's own job (through engine.training.jobs, as `rnn-tui train` and the Train pane start one), and the
comparison table.

Not a benchmark itself; `train_charlm.py` and `train_sentiment.py` use it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
TIME_RATIO_TARGET = 1 / 3  # issue 4: ours reaches the target in at most a third of the book's time
BUSY_SHARE = 0.8  # a side whose process kept fewer than this share of the cores busy was starved by other work


# --------------------------------------------------------------------------------- machine facts


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _matmul_gflops(dtype: Any, size: int = 1024, seconds: float = 0.3) -> float:
    import torch

    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        a @ b
        count += 1
    return 2 * size**3 * count / elapsed / 1e9


def machine_facts() -> list[str]:
    """One line each: command, CPU, torch, bf16 (support flags and a measured matmul), load."""
    import torch

    cpu = torch.cpu
    amx = getattr(cpu, "_is_amx_tile_supported", lambda: None)()
    avx512_bf16 = getattr(cpu, "_is_avx512_bf16_supported", lambda: None)()
    fp32, bf16 = _matmul_gflops(torch.float32), _matmul_gflops(torch.bfloat16)
    return [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"machine: {_cpu_name()}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}",
        f"bf16: AMX tiles {'yes' if amx else 'no'}, AVX512-BF16 {'yes' if avx512_bf16 else 'no'}, "
        f"oneDNN bf16 {'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}; "
        f"1024² matmul {fp32:.0f} GFLOP/s fp32 vs {bf16:.0f} GFLOP/s bf16",
        load_line("at start") + " (other work on the machine makes timings noisy)",
    ]


def load_line(when: str) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"load average {when} (1, 5, 15 min): {load} on {os.cpu_count()} cores"


def print_header(title: str) -> None:
    print(title)
    for line in machine_facts():
        print("  " + line)
    print(flush=True)


# ---------------------------------------------------------------------------- rnn-tui's trainer


def rnn_tui_command() -> list[str]:
    """The installed `rnn-tui` next to this Python, else `python -m tui.cli` (the app, for ui_responsiveness)."""
    script = Path(sys.executable).with_name("rnn-tui")
    if script.exists():
        return [str(script)]
    found = shutil.which("rnn-tui")
    return [found] if found else [sys.executable, "-m", "tui.cli"]


@dataclass
class Record:
    """One JSON line of a side's process, with the harness's wall clock when it arrived."""

    wall_s: float  # seconds since the process was launched
    data: dict[str, Any]


@dataclass
class ProcessRun:
    command: list[str]
    records: list[Record] = field(default_factory=list)
    returncode: int | None = None
    wall_s: float = 0.0
    stopped: str = ""
    stderr_tail: list[str] = field(default_factory=list)
    cpu_s: float | None = None  # CPU seconds the process used (user + system, all its threads)
    state: str = ""  # rnn-tui jobs: the run's final state
    run_path: Path | None = None  # rnn-tui jobs: the run directory


BOOK_NICE = 10  # the niceness rnn-tui gives its job processes (engine.training.jobs.DEFAULT_NICE): both sides run alike


def run_book(script: str, args: list[str], *, on_record: Callable[[Record], None] | None = None) -> ProcessRun:
    """Run `bench/SCRIPT ARGS` (a book recipe printing JSON lines) in its own process at the job's niceness."""
    command = [sys.executable, str(REPO / "bench" / script), *args]
    return _stream(command, on_record=on_record, preexec_fn=lambda: os.nice(BOOK_NICE))


def parse_overrides(text: str) -> dict[str, str]:
    """`--lr 0.01 --clip=off` → {"lr": "0.01", "clip": "off"}: `rnn-tui train` options as TrainConfig settings."""
    words = shlex.split(text)
    overrides: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            raise SystemExit(f"--ours-args: expected an option like --lr, not {word!r}.")
        name, equals, value = word[2:].partition("=")
        if not equals:
            if index + 1 >= len(words):
                raise SystemExit(f"--ours-args: {word} needs a value.")
            index += 1
            value = words[index]
        overrides[name.replace("-", "_")] = value
        index += 1
    return overrides


def cli_equivalent(job: str, preset: str, overrides: dict[str, Any], runs_dir: Path) -> str:
    """The `rnn-tui train` command line that starts the same job (naming settings it has no option for)."""
    try:
        from tui.headless import CONFIG_OPTIONS

        flags = {flag for flag, _, _ in CONFIG_OPTIONS}
    except ImportError:
        flags = None
    words = ["rnn-tui", "train", job, "--preset", preset]
    missing = []
    for name, value in overrides.items():
        flag = "--" + name.replace("_", "-")
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        if flags is not None and flag not in flags:
            missing.append(f"{name}={text}")
        else:
            words += [flag, text]
    line = shlex.join([*words, "--runs-dir", str(runs_dir), "--json"])
    return line + (f"  (plus {', '.join(missing)}: no `rnn-tui train` option)" if missing else "")


def run_job(
    job: str,
    preset: str,
    overrides: dict[str, Any],
    *,
    runs_dir: Path,
    max_seconds: float | None,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
    on_record: Callable[[Record], None] | None = None,
    grace_s: float = 60.0,
) -> ProcessRun:
    """Train with rnn-tui's own job machinery and collect its metrics records as they land.

    The job starts as `rnn-tui train` and the Train pane start one (`engine.training.jobs.start_job`: its
    own process, niceness 10) in a run directory under `runs_dir`, and is followed there. Once
    `stop_when` says so for a record, or after `max_seconds` of wall time, it is asked to stop the
    way the Train pane asks (control.json: it stops after its current step with a final
    checkpoint); a job still running `grace_s` later gets SIGTERM, then SIGKILL.
    """
    from engine.training.config import TrainConfigError, parse_train_config
    from engine.training.jobs import create_run, start_job

    try:
        config = parse_train_config(job, preset, **overrides)
    except TrainConfigError as error:
        raise SystemExit(f"rnn-tui rejects the settings: {error}") from None
    process = ProcessRun([cli_equivalent(job, preset, overrides, runs_dir)])
    cpu_before = children_cpu_s()
    start = time.perf_counter()
    run = create_run(runs_dir, config)
    job = start_job(run)
    pid = job.pid
    offset = 0
    asked_at: float | None = None
    signals_sent = 0

    def ask(reason: str) -> None:
        nonlocal asked_at
        if asked_at is None:
            process.stopped, asked_at = reason, time.perf_counter()
            run.request("stop")

    try:
        while True:
            status = run.status()
            records, offset = run.read_metrics(offset)
            now = time.perf_counter()
            for data in records:
                record = Record(now - start, data)
                process.records.append(record)
                if on_record:
                    on_record(record)
                if stop_when and stop_when(data):
                    ask("target reached")
            if status.state in ("done", "stopped", "failed") and not _alive(pid):
                if not records:
                    break
                continue  # one more read: records written just before the final status
            if max_seconds is not None and now - start >= max_seconds:
                ask(f"time cap {max_seconds:g} s")
            if asked_at is not None and now - asked_at > grace_s * (signals_sent + 1) and signals_sent < 2:
                _signal(pid, (signal.SIGTERM, signal.SIGKILL)[signals_sent])
                signals_sent += 1
            time.sleep(0.1)
    except KeyboardInterrupt:
        ask("interrupted")
        deadline = time.perf_counter() + grace_s
        while _alive(pid) and time.perf_counter() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
        raise
    process.wall_s = time.perf_counter() - start
    with contextlib.suppress(subprocess.TimeoutExpired):
        job.process.wait(30)  # reaped (a zombie already counts as ended above), so its CPU time is counted
    process.cpu_s = children_cpu_s() - cpu_before
    status = run.status()
    process.state = status.state
    if status.state == "failed":
        process.stopped = f"failed: {status.error}"
        process.stderr_tail = run.log_tail(5)
    elif not process.stopped:
        process.stopped = status.state
    process.run_path = run.path
    return process


def children_cpu_s() -> float:
    """CPU seconds used so far by this process's ended and reaped children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stream(
    command: list[str], *, on_record: Callable[[Record], None] | None, preexec_fn: Callable[[], None] | None
) -> ProcessRun:
    """Run `command`, collecting the JSON objects it prints one per line."""
    run = ProcessRun(command)
    cpu_before = children_cpu_s()
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        preexec_fn=preexec_fn,
        start_new_session=True,  # Ctrl+C reaches the harness, which ends the process itself
    )
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
    reader.start()
    try:
        for line in process.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                run.records.append(Record(time.perf_counter() - start, data))
                if on_record:
                    on_record(run.records[-1])
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise
    finally:
        reader.join(timeout=5)
    run.returncode = process.returncode
    run.wall_s = time.perf_counter() - start
    run.cpu_s = children_cpu_s() - cpu_before
    run.stderr_tail = [line.rstrip("\n") for line in stderr_lines[-15:]]
    run.stopped = "finished" if process.returncode == 0 else f"exit status {process.returncode}"
    return run


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _alive(pid: int) -> bool:
    from engine.training.runs import pid_alive

    return pid_alive(pid)


# -------------------------------------------------------------------------------------- results


@dataclass
class Side:
    """One side of the comparison, as the table shows it."""

    name: str
    recipe: str  # one line: what was trained
    metric: str  # e.g. "val loss"
    target_label: str  # e.g. "≤ 1.40"
    reached_at: str | None = None  # e.g. "step 1000" when the target was reached
    train_s: float | None = None  # training time (evaluation excluded) when the target was reached
    wall_s: float | None = None  # wall time when the target was reached
    throughput: float | None = None
    unit: str = ""
    best: float | None = None  # best metric seen
    best_at: str = ""
    final: dict[str, str] = field(default_factory=dict)
    stopped: str = ""
    ran_s: float | None = None  # how long the side ran in all
    cpu_s: float | None = None  # CPU seconds its process used
    notes: list[str] = field(default_factory=list)
    # further targets after the first: (label such as "≤ 1.333", reached at, training s, wall s), None when not reached
    milestones: list[tuple[str, str | None, float | None, float | None]] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return self.reached_at is not None


def _seconds(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:,.1f} s"


def _cpu(side: Side) -> str:
    if side.cpu_s is None or not side.ran_s:
        return "—"
    return f"{side.cpu_s:,.0f} s ({side.cpu_s / side.ran_s:.2f} of {os.cpu_count()})"


def _ratio(ours: float | None, book: float | None) -> str:
    if not ours or not book:
        return "—"
    return f"{ours / book:.3f}"


def _fraction(ratio: float) -> str:
    return f"1/{round(1 / ratio)}" if ratio < 1 and abs(1 / ratio - round(1 / ratio)) < 1e-9 else f"{ratio:g}×"


def print_comparison(book: Side | None, ours: Side | None, ratio_target: float = TIME_RATIO_TARGET) -> list[str]:
    """The side-by-side table and, with both sides, the ratios and the time-to-target verdicts (returned): ours
    must take at most `ratio_target` of the book's time (issue 4: 1/3)."""
    sides = [side for side in (book, ours) if side]
    rows: list[tuple[str, list[str]]] = []

    def time_to_target(side: Side, value: float | None) -> str:
        if side.reached:
            return f"{_seconds(value)} ({side.reached_at})"
        return f"not reached in {_seconds(side.ran_s)}"

    rows.append(("recipe", [side.recipe for side in sides]))
    rows.append(
        (
            f"target {sides[0].metric} {sides[0].target_label}",
            ["reached" if s.reached else "not reached" for s in sides],
        )
    )
    rows.append(("time to target, training", [time_to_target(s, s.train_s) for s in sides]))
    rows.append(("time to target, wall", [time_to_target(s, s.wall_s) for s in sides]))
    labels = list(dict.fromkeys(label for side in sides for label, *_ in side.milestones))
    for label in labels:
        for what, index in (("training", 2), ("wall", 3)):
            cells = []
            for side in sides:
                hit = next((m for m in side.milestones if m[0] == label), None)
                cells.append(
                    f"{_seconds(hit[index])} ({hit[1]})" if hit and hit[1] else f"not reached in {_seconds(side.ran_s)}"
                )
            rows.append((f"time to {label}, {what}", cells))
    rows.append(
        ("throughput (training time)", [f"{s.throughput:,.0f} {s.unit}" if s.throughput else "—" for s in sides])
    )
    rows.append(
        (f"best {sides[0].metric}", [f"{s.best:.4f} ({s.best_at})" if s.best is not None else "—" for s in sides])
    )
    keys = [key for side in sides for key in side.final]
    for key in dict.fromkeys(keys):
        rows.append((f"final {key}", [s.final.get(key, "—") for s in sides]))
    rows.append(("stopped", [s.stopped for s in sides]))
    rows.append(("ran for", [_seconds(s.ran_s) for s in sides]))
    rows.append(("CPU used (cores busy)", [_cpu(s) for s in sides]))
    column = max(len(v) for _, values in rows for v in values) + 2
    print(f"{'':<32}" + "".join(f"{s.name:<{column}}" for s in sides))
    for label, values in rows:
        print(f"{label:<32}" + "".join(f"{v:<{column}}" for v in values))
    for side in sides:
        for note in side.notes:
            print(f"  note ({side.name}): {note}")
    cores = os.cpu_count() or 1
    for side in sides:
        if side.cpu_s is not None and side.ran_s and side.cpu_s / side.ran_s < BUSY_SHARE * cores:
            print(
                f"  WARNING: {side.name} kept only {side.cpu_s / side.ran_s:.2f} of {cores} cores busy on average: other work "
                f"was taking the CPU, so its times are inflated and the comparison is unreliable"
            )

    verdicts: list[str] = []
    if book and ours:
        print()
        print(
            f"ratio ours/book, training time to target: {_ratio(ours.train_s, book.train_s) if ours.reached and book.reached else '—'}"
        )
        print(
            f"ratio ours/book, wall time to target:     {_ratio(ours.wall_s, book.wall_s) if ours.reached and book.reached else '—'}"
        )
        for label in labels:
            mine = next((m for m in ours.milestones if m[0] == label and m[1]), None)
            theirs = next((m for m in book.milestones if m[0] == label and m[1]), None)
            if mine and theirs:
                print(
                    f"ratio ours/book, time to {label}: training {_ratio(mine[2], theirs[2])}, "
                    f"wall {_ratio(mine[3], theirs[3])}"
                )
            else:
                missing = "either side" if not (mine or theirs) else "ours" if not mine else "the book"
                print(f"ratio ours/book, time to {label}: — (not reached by {missing})")
        if book.throughput and ours.throughput:
            print(f"ratio ours/book, throughput:               {ours.throughput / book.throughput:.2f}×")
        limit = f"≤ {_fraction(ratio_target)} of the book's"
        if not ours.reached:
            verdicts.append(
                f"time-to-target ({limit}): NOT MET, ours did not reach the target in {_seconds(ours.ran_s)}"
            )
        elif not book.reached:
            bound = ratio_target * (book.ran_s or 0)
            met = (ours.wall_s or math.inf) <= bound
            verdicts.append(
                f"time-to-target ({limit}): book did not reach the target in {_seconds(book.ran_s)}; ours took "
                f"{_seconds(ours.wall_s)} wall, {'within' if met else 'over'} {_fraction(ratio_target)} of the book's run so far "
                f"({'met' if met else 'undecided'})"
            )
        else:
            for what, o, b in (("training", ours.train_s, book.train_s), ("wall", ours.wall_s, book.wall_s)):
                if o is None or b is None:
                    continue
                verdict = "MET" if o <= ratio_target * b else "NOT MET"
                verdicts.append(
                    f"time-to-target, {what} ({limit}): {verdict} ({_seconds(o)} vs limit {_seconds(ratio_target * b)})"
                )
    for line in verdicts:
        print(line)
    return verdicts


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=lambda o: o.__dict__) + "\n")
        print(f"results written to {path}")
