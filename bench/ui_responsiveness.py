"""Responsiveness with jobs training at full speed: key-press-to-effect latency in the app, and the
jobs' throughput with the app attached against the same jobs headless.

For each job count (`--jobs 1,2`: one job, then two at once), that many charlm jobs (rnn-tui's
`default` preset, long enough not to finish) are started the way the Train pane starts one
(`engine.training.jobs.start_job`: its own process, lower priority, torch threads chosen for the
jobs already running). Then, in turns:

  headless  nothing else runs; the jobs train alone;
  watching  `rnn-tui` runs in a pseudo-terminal (80×24 by default) on the Train pane, showing the
            jobs live (runs table, progress, plot, sample: redrawn at most 4 times a second);
  pressing  the same app while a simulated user presses `m` (next plot) every 0.3–0.7 s, which
            redraws the plot each time (much busier than a user watching).

Latency is from writing the key to the pseudo-terminal to the first output in which the new plot
is drawn (its title or legend, ANSI codes stripped). Throughput is the jobs' own count: training
steps divided by the trainer's elapsed time (validations, samples and checkpoints included), from
the first to the last progress report (metrics records and status.json) read inside each turn,
summed over the jobs.

Targets (issue 12, item 4): p95 latency ≤ 100 ms with one job, ≤ 150 ms with two; throughput with the
app attached (watching) ≥ 90% of headless. The throughput while pressing keys is reported too. Each
round takes three turns. The machine's load average is printed with every figure: other work on it
makes them noisy.

To measure another checkout (a baseline), run this script from that checkout's folder with PYTHONPATH
pointing at it (`cd ../main && PYTHONPATH=$PWD python ../wt/bench/ui_responsiveness.py`): the app and
the jobs then run that checkout's code (`python -m` puts the working folder first on the jobs' path).

Usage: python bench/ui_responsiveness.py [--data DIR] [--jobs 1,2] [--seconds S] [--rounds N] [--size 80x24] [--quick]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import DEFAULT_DATA, children_cpu_s, load_line, print_header, rnn_tui_command

from engine.training.runs import pid_alive

TEXT_FILE = "mysterious_island_1268-0.txt"
F3 = b"\x1bOR"
# What each plot of a charlm run shows once drawn, in the order `m` cycles through them
# (tui/train/run_view.py PLOTS): the legend for the loss plot (its title "loss" is not unique on screen).
LATENCY_TARGET_MS = {1: 100, 2: 150}  # p95 key press → effect, by the number of jobs training
PLOT_MARKERS = ["train_loss", "bits per character", "gradient norm", "learning rate"]
_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1bO.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder holding {TEXT_FILE} (default: %(default)s)"
    )
    parser.add_argument(
        "--jobs", default="1,2", help="job counts to measure, one after the other (default: %(default)s)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each turn (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="headless/attached pairs (default: %(default)s)")
    parser.add_argument("--size", default="80x24", help="terminal columns x rows (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one round of 8-second turns")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 8.0, 1
    try:
        args.columns, args.rows = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        parser.error("--size must look like 80x24")
    try:
        args.job_counts = [int(part) for part in args.jobs.split(",")]
    except ValueError:
        parser.error("--jobs must look like 1,2")
    if not args.job_counts or min(args.job_counts) < 1:
        parser.error("--jobs must list counts of 1 or more")
    return args


# ------------------------------------------------------------------------------------ the job


class Job:
    """A charlm run in a scratch runs root, started as the Train pane starts one; its records as they land."""

    def __init__(self, root: Path, text_path: Path) -> None:
        from engine.training.config import parse_train_config
        from engine.training.jobs import create_run, start_job

        self.config = parse_train_config("charlm", "default", data=str(text_path), steps=1_000_000)
        self.run = create_run(root, self.config)
        started = start_job(self.run)
        self.pid: int = getattr(started, "pid", started)  # a Job; an int from checkouts before issue 13 (baselines)
        self.records: list[tuple[float, dict]] = []  # (arrival on our clock, metrics record)
        self.progress: list[
            tuple[float, int, float]
        ] = []  # (arrival, step, trainer elapsed s) from records and status.json
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            records, self._offset = self.run.read_metrics(self._offset)
            status = self.run.status()
            now = time.perf_counter()
            self.records.extend((now, record) for record in records)
            points = [(record["step"], record["time"]) for record in records if "time" in record]
            if status.state == "running" and "elapsed" in status.extra:
                points.append((status.step, float(status.extra["elapsed"])))
            for step, elapsed in sorted(points, key=lambda point: point[1]):
                if not self.progress or elapsed > self.progress[-1][2]:
                    self.progress.append((now, step, elapsed))
            self._stop.wait(0.1)

    def threads(self) -> str:
        """The torch threads the job started with, from its log (`… · N threads`), or "?" when it does not say."""
        try:
            found = re.findall(r"· (\d+) threads", self.run.log_path.read_text(errors="replace"))
        except OSError:
            return "?"
        return found[-1] if found else "?"

    def wait_for_records(self, count: int, timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if len(self.records) >= count:
                return True
            status = self.run.status()
            if status.state in ("failed", "done", "stopped"):
                raise SystemExit(
                    f"ui_responsiveness: the job {status.state} before training ({status.error or 'see its log'})."
                )
            time.sleep(0.2)
        return False

    def tokens_per_s(self, start: float, end: float) -> float | None:
        """Tokens/s from the job's own step counts and clock (records and status.json) read within [start, end]."""
        inside = [(step, elapsed) for arrived, step, elapsed in self.progress if start <= arrived <= end]
        if len(inside) < 2:
            return None
        (first_step, first_time), (last_step, last_time) = inside[0], inside[-1]
        seconds = last_time - first_time
        tokens = (last_step - first_step) * self.config.batch_size * self.config.seq_length
        return tokens / seconds if seconds > 0 else None

    def stop(self) -> None:
        self._stop.set()
        self.run.request("stop")
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline and pid_alive(self.pid):  # start_job's thread reaps it
            time.sleep(0.2)
        if pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------ the app


class App:
    """`rnn-tui` in a pseudo-terminal, with its output collected by a reader thread."""

    def __init__(self, root: Path, columns: int, rows: int) -> None:
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows), RNN_TUI_RUNS=str(root))
        self.process = subprocess.Popen(
            rnn_tui_command(),
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            close_fds=True,
            start_new_session=True,
        )
        os.close(follower)
        self.output = bytearray()
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                chunk = b""
            with self.changed:
                if not chunk:
                    self.output += b"\x00EOF"
                    self.changed.notify_all()
                    return
                self.output += chunk
                self.changed.notify_all()

    def press(self, key: bytes) -> int:
        """Write `key`; returns where its effect's output starts."""
        with self.changed:
            offset = len(self.output)
        os.write(self.leader, key)
        return offset

    def wait_for(self, marker: str, offset: int, timeout: float) -> float | None:
        """Seconds until `marker` appears in the text written after `offset`, or None after `timeout`."""
        start = time.perf_counter()
        needle = marker.encode()
        with self.changed:
            while True:
                if needle in _ANSI.sub(b"", bytes(self.output[offset:])):
                    return time.perf_counter() - start
                if self.output.endswith(b"\x00EOF"):
                    return None
                left = timeout - (time.perf_counter() - start)
                if left <= 0:
                    return None
                self.changed.wait(left)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.leader)


@dataclass
class AttachedTurn:
    watching: tuple[float, float]  # the span the app only showed the job
    pressing: tuple[float, float]  # the span a simulated user pressed keys
    app_cpu_s: float  # CPU the app used in all, start-up included
    app_s: float  # how long the app ran


def attached_turn(root: Path, args: argparse.Namespace, latencies: list[float], misses: list[int]) -> AttachedTurn:
    """Run the app on the Train pane: watch the job for a turn, then press `m` for another."""
    cpu_before = children_cpu_s()
    launched = time.perf_counter()
    app = App(root, args.columns, args.rows)
    try:
        if app.wait_for("Stepper", 0, 30) is None:
            raise SystemExit("ui_responsiveness: the app drew no first frame in 30 s.")
        offset = app.press(F3)
        if app.wait_for(PLOT_MARKERS[0], offset, 30) is None:
            raise SystemExit("ui_responsiveness: the Train pane did not show the job's loss plot in 30 s.")
        time.sleep(2.0)  # let the app settle (the Stepper's first trace loads torch in a worker)
        start = time.perf_counter()
        time.sleep(args.seconds)
        watching = (start, time.perf_counter())
        start = time.perf_counter()
        plot = 0
        while time.perf_counter() - start < args.seconds:
            plot += 1
            offset = app.press(b"m")
            latency = app.wait_for(PLOT_MARKERS[plot % len(PLOT_MARKERS)], offset, 3.0)
            if latency is None:
                misses.append(plot)
            else:
                latencies.append(latency)
            time.sleep(random.uniform(0.3, 0.7))
        pressing = (start, time.perf_counter())
    finally:
        app.close()
    # The job is our child too, but it is still running, so only the ended app counts here.
    return AttachedTurn(watching, pressing, children_cpu_s() - cpu_before, time.perf_counter() - launched)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    args = parse_args()
    text_path = args.data / TEXT_FILE
    if not text_path.is_file():
        print(f"ui_responsiveness: {text_path} does not exist; pass --data DIR holding {TEXT_FILE}.", file=sys.stderr)
        return 2
    print_header(
        f"UI responsiveness: key-press-to-effect latency and job throughput, app attached vs headless "
        f"({args.rounds} round(s) of three {args.seconds:g} s turns, {args.columns}x{args.rows}, jobs {args.jobs})"
    )
    import engine

    print(f"code under test: {Path(engine.__file__).resolve().parents[1]}", flush=True)
    summaries = [measure(count, text_path, args) for count in args.job_counts]
    print()
    for line in summaries:
        print(line)
    print(load_line("at the end"))
    return 0


def measure(count: int, text_path: Path, args: argparse.Namespace) -> str:
    """Run the turns with `count` jobs training; print each round, then the figures; the summary line."""
    target = LATENCY_TARGET_MS.get(count, LATENCY_TARGET_MS[max(LATENCY_TARGET_MS)])
    print(f"\n== {count} job{'s' if count > 1 else ''} training ({load_line('now')})", flush=True)
    random.seed(1)
    root = Path(tempfile.mkdtemp(prefix="rnn-tui-bench-ui-"))
    jobs: list[Job] = []
    latencies: list[float] = []
    misses: list[int] = []
    rates: dict[str, list[float]] = {"headless": [], "watching": [], "pressing": []}
    try:
        for _ in range(count):
            jobs.append(Job(root, text_path))
        for job in jobs:
            if not job.wait_for_records(2, 240):
                raise SystemExit("ui_responsiveness: a job wrote no metrics in 240 s; see its log.txt.")
        for job in jobs:
            print(f"job: {job.config.describe()} · pid {job.pid} · torch threads {job.threads()}", flush=True)
        for round_number in range(1, args.rounds + 1):
            start = time.perf_counter()
            time.sleep(args.seconds)
            spans = {"headless": (start, time.perf_counter())}
            before = len(latencies)
            turn = attached_turn(root, args, latencies, misses)
            time.sleep(0.5)  # progress written just before the app closed
            spans.update(watching=turn.watching, pressing=turn.pressing)
            shown = []
            for name, (start, end) in spans.items():
                per_job = [job.tokens_per_s(start, end) for job in jobs]
                rate = sum(r for r in per_job if r) if all(per_job) else None
                shown.append(f"{name} {_rate(rate)}")
                if rate:
                    rates[name].append(rate)
            pressed = latencies[before:]
            p95 = f" (p95 {percentile(pressed, 95) * 1000:.0f} ms)" if pressed else ""
            print(
                f"round {round_number}: {'; '.join(shown)}; {len(pressed)} key presses{p95}; the app used "
                f"{turn.app_cpu_s:.1f} s of CPU in {turn.app_s:.0f} s ({turn.app_cpu_s / turn.app_s:.0%} of a core, "
                f"start-up included); {load_line('now')}",
                flush=True,
            )
    finally:
        for job in jobs:
            job.stop()
        shutil.rmtree(root, ignore_errors=True)

    label = f"{count} job{'s' if count > 1 else ''}"
    parts = [label]
    if latencies:
        p50, p95 = percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000
        parts.append(
            f"key press → effect (m): n={len(latencies)}, p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms; {len(misses)} without an effect within 3 s; "
            f"target p95 ≤ {target} ms {'MET' if p95 <= target and not misses else 'NOT MET'}"
        )
    else:
        parts.append("key press → effect: no measurement")
    if rates["headless"] and rates["watching"]:
        headless = statistics.mean(rates["headless"])
        line = f"throughput (all jobs): headless {headless:,.0f} tokens/s"
        for name in ("watching", "pressing"):
            if rates[name]:
                value = statistics.mean(rates[name])
                line += f", {name} {value:,.0f} ({value / headless:.1%})"
        share = statistics.mean(rates["watching"]) / headless
        parts.append(f"{line}; target watching ≥ 90%: {'MET' if share >= 0.9 else 'NOT MET'}")
    else:
        parts.append("throughput: not enough progress reports in the turns; use longer --seconds")
    summary = " | ".join(parts)
    print(summary, flush=True)
    return summary


def _rate(rate: float | None) -> str:
    return f"{rate:,.0f} tokens/s" if rate else "no records"


if __name__ == "__main__":
    sys.exit(main())
