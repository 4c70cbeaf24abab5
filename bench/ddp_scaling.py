"""Data-parallel scaling on this machine: the character model's throughput with 1 process and with N.

Each side is rnn-tui's own job (`engine.training.jobs`, as `rnn-tui train` starts one) on the `default`
charlm preset, the same global batch (the preset's: 32 windows of 40), for a fixed wall time: one process with every
core's thread, then `--nproc-per-node N` through torchrun (gloo on the CPU, DDP), the cores shared
out (`threads` ÷ N each). Validation, samples and checkpoints are pushed past the end, so the
figures are training steps only:
  - median tokens/s: the job's own global throughput (all ranks' tokens over rank 0's step time),
    the median of its metrics records after the first: the pace while it is not starved;
  - overall tokens/s: global tokens from the first record to the last over the trainer's elapsed
    time between them (control, logging and any time other work took the CPU included).
The sides run one after the other, in turn for `--rounds` rounds (so a change in the machine's
load does not favour one); the load average is printed before and after each, and the cores the
side's processes kept busy.

Usage: python bench/ddp_scaling.py [--data DIR] [--seconds 60] [--rounds 1] [--nproc 1,2] [--preset default] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from harness import DEFAULT_DATA, load_line, print_header, run_job, write_json

from engine.training.config import parse_train_config

TEXT_FILE = "mysterious_island_1268-0.txt"
NEVER = 100_000_000  # steps: validation, samples and checkpoints stay out of the measured window


def measure(nproc: int, args: argparse.Namespace, runs_dir: Path) -> dict:
    overrides = {
        "data": str(args.data / TEXT_FILE),
        "steps": NEVER,
        "eval_every": NEVER,
        "sample_every": 0,
        "checkpoint_every": NEVER,
        "log_every": args.log_every,
        "nproc_per_node": nproc,
    }
    before = load_line("before")
    process = run_job("charlm", args.preset, overrides, runs_dir=runs_dir, max_seconds=args.seconds)
    after = load_line("after")
    records = [r.data for r in process.records if r.data.get("throughput")]
    rates = [r["throughput"] for r in records[1:]] or [r["throughput"] for r in records]
    steps = records[-1]["step"] if records else 0
    config = parse_train_config("charlm", args.preset)
    overall = None
    if len(records) > 1:
        first, last = records[0], records[-1]
        overall = (
            (last["step"] - first["step"]) * config.batch_size * config.seq_length / (last["time"] - first["time"])
        )
    return {
        "processes": nproc,
        "threads_per_process": max(1, (os.cpu_count() or 1) // nproc),
        "state": process.state,
        "steps": steps,
        "tokens_per_s": statistics.median(rates) if rates else None,
        "overall_tokens_per_s": overall,
        "wall_s": round(process.wall_s, 1),
        "cores_busy": round(process.cpu_s / process.wall_s, 2) if process.wall_s else None,
        "load": [before, after],
        "command": process.command,
        "stopped": process.stopped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder holding {TEXT_FILE} (default: %(default)s)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of each side (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="times each side runs, in turn (default: %(default)s)")
    parser.add_argument(
        "--nproc", default="1,2", help="process counts to compare, one side each (default: %(default)s)"
    )
    parser.add_argument("--preset", default="default")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--json", default=None, metavar="FILE")
    args = parser.parse_args()
    if not (args.data / TEXT_FILE).is_file():
        raise SystemExit(f"{args.data / TEXT_FILE} is missing; pass --data DIR.")
    print_header(f"charlm `{args.preset}` preset, global batch unchanged: 1 process vs several (torchrun, gloo, DDP)")
    sides = []
    with tempfile.TemporaryDirectory(prefix="rnn-tui-ddp-") as scratch:
        counts = [int(n) for n in args.nproc.split(",")]
        for nproc in counts * args.rounds:
            side = measure(nproc, args, Path(scratch))
            sides.append(side)
            print(f"  {side['command'][0]}", flush=True)
            print(f"    {side['load'][0]}\n    {side['load'][1]}", flush=True)
    print()
    print(
        f"{'processes':>9}  {'threads each':>12}  {'median tokens/s':>15}  {'overall tokens/s':>16}  {'steps':>6}  {'cores busy':>10}  state"
    )
    for side in sides:
        print(
            f"{side['processes']:>9}  {side['threads_per_process']:>12}  {side['tokens_per_s'] or 0:>15,.0f}  "
            f"{side['overall_tokens_per_s'] or 0:>16,.0f}  {side['steps']:>6,}  {side['cores_busy'] or 0:>10.2f}  {side['stopped']}"
        )
    for nproc in counts[1:]:
        for key, name in (("tokens_per_s", "median"), ("overall_tokens_per_s", "overall")):
            ours = [side[key] for side in sides if side["processes"] == nproc and side[key]]
            base = [side[key] for side in sides if side["processes"] == counts[0] and side[key]]
            if ours and base:
                ratio = statistics.mean(ours) / statistics.mean(base)
                print(f"{nproc} processes vs {counts[0]}, {name}: {ratio:.2f}×")
    write_json(args.json, {"sides": sides})


if __name__ == "__main__":
    main()
