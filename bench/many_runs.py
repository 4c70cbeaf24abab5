"""A runs root of 1,000 runs (issue 14's scale): `rnn-tui runs`, the Train pane's opening, its polling while
nothing changes, and key latency, for this tree beside a baseline (main's code, by default) in the same run.

The root is made once: RUNS run directories (config.json with its own lr / hidden size / seed, status.json
done or stopped, a log, meta.json on some with a display name and tags) whose metrics.jsonl has RECORDS
records as the trainer writes them (train figures every record, validation every 10th). To keep the
disk small, the runs share 8 metrics files through hard links (each run still reads a file of full
size). The baseline is `git archive REF` of this repository, unpacked in a temporary folder.

For each tree, in its own processes (PYTHONPATH points at the tree):
  runs      `python -m tui.cli runs --runs-dir ROOT` (the table) and `… --json`: median wall time of 3
  open      (Pilot) the app at 80×24 under Textual's Pilot, half a second after it started: F3 until the
            runs table has every run and the plot of the selected run is drawn (the widgets' state).
            Pilot's press returns only once the whole app is idle, and the Stepper's import of torch in
            a thread starves the event loop for over a second: this figure is mostly that import.
  open      (terminal) `rnn-tui` in a pseudo-terminal (80×24), started OPENS times: half a second after
            its first frame, F3; until the screen shows the first run and the plot's legend, p50 / max.
            The Stepper imports torch in the background meanwhile, as it does for every user.
  idle      CPU seconds of the app's process (all threads) over IDLE seconds with nothing changing,
            as % of one core
  keys      KEYS presses of ↓ in the runs table, 0.3–0.5 s apart, in the last of those starts:
            writing the key → the first output showing the next run's name, p50 / p95 / max.
            (Pilot's press waits until the whole process is idle, the poll thread's reads included.)

Targets (issue 14): runs ≤ 1 s; open ≤ 2 s (what the terminal shows); idle ≤ 5% of one core; keys p95 ≤ 100 ms.
The machine is shared: the load average is printed at the start and the end.

Usage: python bench/many_runs.py [--runs 1000] [--records 10000] [--idle 8] [--keys 40] [--opens 3]
                                 [--baseline main] [--root DIR (reuse or keep the root)]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLOT_MARKER = "train_loss"  # in the plot's legend once the selected run's curves are drawn
REPO = Path(__file__).resolve().parents[1]
VARIANTS = 8


def load_line(when: str) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"load average {when} (1, 5, 15 min): {load} on {os.cpu_count()} cores"


# ---------------------------------------------------------------------------- the root
def _metrics(records: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = []
    for index in range(records):
        step = index * 10
        loss = 1.2 + 2.0 * math.exp(-index / (records / 5)) + rng.gauss(0, 0.03)
        record = {
            "step": step,
            "epoch": round(step / 1500, 4),
            "lr": 0.003,
            "train_loss": loss,
            "grad_norm": 0.8 + rng.random(),
            "grad_norm_max": 2.0 + rng.random(),
            "throughput": 40_000 + rng.random() * 2000,
            "train_bpc": loss / math.log(2),
        }
        if index % 10 == 0:
            record.update(val_loss=loss + 0.05, val_bpc=(loss + 0.05) / math.log(2))
        record.update(time=round(index * 0.3, 3), eval_time=round(index * 0.01, 3))
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def make_root(root: Path, runs: int, records: int) -> None:
    """RUNS run directories as the trainer leaves them (see the module's docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    shared = root.parent / f".{root.name}-metrics"
    shared.mkdir(exist_ok=True)
    for variant in range(VARIANTS):
        (shared / f"{variant}.jsonl").write_bytes(_metrics(records, variant))
    now = time.time()
    for index in range(runs):
        name = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now - (runs - index) * 60)) + f"-charlm-{index:04x}"
        run = root / name
        (run / "checkpoints").mkdir(parents=True)
        config = {
            "job": "charlm",
            "data": "mysterious_island.txt",
            "lr": [0.001, 0.003, 0.01][index % 3],
            "hidden_size": [256, 384, 512][index // 3 % 3],
            "seed": index % 5,
            "batch_size": 64,
            "seq_length": 100,
            "steps": records * 10,
        }
        (run / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        best = 1.3 + (index % 17) / 100
        status = {
            "state": "done" if index % 4 else "stopped",
            "step": records * 10,
            "total": records * 10,
            "device": "cpu",
            "pid": None,
            "started_at": now - 3600,
            "updated_at": now - 60,
            "throughput": 41_000.0,
            "throughput_unit": "tok/s",
            "best_metric": "val_loss",
            "best_value": best,
        }
        (run / "status.json").write_text(json.dumps(status, indent=2, sort_keys=True))
        (run / "log.txt").write_text("".join(f"step {s:,} · loss 1.5\n" for s in range(0, 2000, 10)))
        os.link(shared / f"{index % VARIANTS}.jsonl", run / "metrics.jsonl")
        if index % 10 == 0:
            meta = {"display_name": f"sweep lr {config['lr']} h{config['hidden_size']}", "tags": ["sweep", "bench"]}
            (run / "meta.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------- measuring one tree
async def _pane(root: Path, runs: int, idle: float, keys: int, opens: int) -> dict[str, object]:
    from tui.app import RnnTuiApp

    app = RnnTuiApp(runs_root=root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        table = app.query_one("#runs")
        pane = app.query_one("#train-pane")
        started = time.perf_counter()
        await pilot.press("f3")
        while not (table.row_count == runs and getattr(pane, "plotted", None) is not None):
            await pilot.pause(0.01)
            if time.perf_counter() - started > 120:
                raise SystemExit("the pane did not open in 120 s")
        opened = time.perf_counter() - started
        await pilot.pause(1.0)  # let the first polls settle
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(idle)
        idle_pct = 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
    return {"open_s": opened, "idle_pct": idle_pct, **_terminal(root, keys, opens)}


def _terminal(root: Path, keys: int, opens: int, columns: int = 80, rows: int = 24) -> dict[str, list[float]]:
    """What a person at a terminal sees: `rnn-tui` in a pseudo-terminal, started `opens` times.

    open: the app is started; half a second after its first frame (a person reaching for F3), F3; the
          seconds from writing F3 until the screen shows the first run in the table and the plot's
          legend (the selected run's curves are drawn). The Stepper loads torch meanwhile, as it does.
    keys: in the last start, each ↓ is timed from writing it to the first output that shows the next
          run's name (the moved cursor, or the header).

    Pilot cannot time either: after each key it waits until the whole process is idle, which includes the
    poll thread reading the newly selected run's records in the background, which a user does not wait for.
    """
    from startup import FIRST_FRAME
    from ui_responsiveness import App

    from tui.train.disk import RunIndex

    labels = [row.label for row in RunIndex(root).rows() if not row.meta.archived]
    opened: list[float] = []
    latencies: list[float] = []
    for attempt in range(opens):
        app = App(root, columns, rows)
        try:
            if app.wait_for(FIRST_FRAME.decode(), 0, 60) is None:
                raise SystemExit("rnn-tui showed no first frame in 60 s")
            time.sleep(0.5)
            pressed = time.perf_counter()
            offset = app.press(b"\x1bOR")  # F3: the Train pane, the first run selected
            for marker in (labels[0], PLOT_MARKER):
                if app.wait_for(marker, offset, 60) is None:
                    raise SystemExit(f"the Train pane did not show {marker!r} in 60 s")
            opened.append(time.perf_counter() - pressed)
            if attempt < opens - 1:
                continue
            time.sleep(2.0)  # the first polls
            for label in labels[1 : keys + 1]:
                seconds = app.wait_for(label, app.press(b"\x1b[B"), 10)
                if seconds is None:
                    raise SystemExit(f"↓ did not show {label} within 10 s")
                latencies.append(1000 * seconds)
                time.sleep(random.uniform(0.3, 0.5))  # a person reading the run, not a held key
        finally:
            app.close()
    return {"open_terminal_s": opened, "keys_ms": latencies}


def _measure(tree: Path, root: Path, runs: int, idle: float, keys: int, opens: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    figures: dict[str, object] = {}
    for flag, key in (([], "runs_table_s"), (["--json"], "runs_json_s")):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "tui.cli", "runs", "--runs-dir", str(root), *flag],
                env=env,
                cwd=tree,
                capture_output=True,
            )
            times.append(time.perf_counter() - began)
            if done.returncode:
                raise SystemExit(f"rnn-tui runs failed in {tree}: {done.stderr.decode()[-400:]}")
        figures[key] = statistics.median(times)
    command = [sys.executable, __file__, "--measure-pane", str(root), "--runs", str(runs)]
    command += ["--idle", str(idle), "--keys", str(keys), "--opens", str(opens)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the pane measurement failed in {tree}: {done.stderr[-800:]}")
    figures.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return figures


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def _row(name: str, figures: dict[str, object]) -> str:
    keys, opens = figures["keys_ms"], figures["open_terminal_s"]
    assert isinstance(keys, list) and isinstance(opens, list)
    return (
        f"  {name:<12} {figures['runs_table_s']:>7.2f} s {figures['runs_json_s']:>7.2f} s "
        f"{figures['open_s']:>7.2f} s {statistics.median(opens):>6.2f} / {max(opens):.2f} s "
        f"{figures['idle_pct']:>7.1f} % "
        f"{statistics.median(keys):>6.0f} {_percentile(keys, 0.95):>6.0f} {max(keys):>6.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=8.0)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--opens", type=int, default=3, help="starts of the app in a terminal, each opening the pane")
    parser.add_argument("--baseline", default="main", help="git ref of the baseline tree (default: main)")
    parser.add_argument("--root", default=None, help="make (or reuse) the runs root here and keep it")
    parser.add_argument("--measure-pane", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_pane:
        print(json.dumps(asyncio.run(_pane(Path(args.measure_pane), args.runs, args.idle, args.keys, args.opens))))
        return 0

    print(f"Train pane and rnn-tui runs over {args.runs:,} runs of {args.records:,} records each")
    print(f"  command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"  machine: {os.cpu_count()} logical cores; " + load_line("at start"), flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="rnn-tui-many-runs-"))
    try:
        root = Path(args.root) if args.root else scratch / "runs"
        if not (root / ".made").exists():
            began = time.perf_counter()
            make_root(root, args.runs, args.records)
            (root / ".made").write_text("")
            print(f"  made the root in {time.perf_counter() - began:.1f} s: {root}")
        baseline = scratch / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        results = {}
        for name, tree in ((f"{args.baseline} (before)", baseline), ("this tree", REPO)):
            results[name] = _measure(tree, root, args.runs, args.idle, args.keys, args.opens)
            print(f"  measured {name}", flush=True)
        print()
        print(
            f"  {'':<12} {'runs':>9} {'runs --json':>11} {'open':>9} {'open p50 / max':>16} {'idle CPU':>9} "
            f"{'keys p50':>8} {'p95':>6} {'max':>9}"
        )
        print(f"  {'':<12} {'':>9} {'':>11} {'(Pilot)':>9} {'(terminal)':>16}")
        for name, figures in results.items():
            print(_row(name[:12], figures))
        print("  targets       ≤ 1 s                  ≤ 2 s           ≤ 2 s     ≤ 5 %          p95 ≤ 100 ms")
        print(f"  {load_line('at end')}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
