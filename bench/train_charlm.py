"""Character model, time to quality: the book's recipe and rnn-tui's `default` preset, side by side.

Both train on the first 90% of *The Mysterious Island* (the book's cut) and are scored on the
same fixed validation windows of the last 10%: 41 characters starting every 40, the state reset
for each, so every held-out character is predicted once from at most 40 characters of context
(the book's setting; rnn-tui's trainer scores exactly these windows too). Validation runs every
`--eval-every` steps on both sides and its time is kept apart from training time.

  book  bench/book_charlm.py: the model stepped one character at a time in a Python loop, as the
        chapter does.
  ours  rnn-tui's `default` preset, started as `rnn-tui train charlm` and the Train pane start a
        job (engine.jobs: its own process, run directory, checkpoints, samples) and followed
        through its metrics records; asked to stop through its control file once it reaches
        the target.

The table gives time to validation loss ≤ 1.40 (training time, and wall time), tokens/s, the
ratio ours/book, and whether ours meets issue 4's target: at most 1/3 of the book's time.
One side runs after the other, never both at once (they would share the cores), each in its own
process at the niceness rnn-tui gives its jobs (10), so other work on the machine weighs on both
alike. Wall times run from launching a side's process; training times leave out validation.

Usage:
  python bench/train_charlm.py [--data DIR] [--max-seconds S] [--only book|ours] [--quick]
                               [--eval-every N] [--target LOSS] [--max-steps N] [--preset NAME]
                               [--ours-args "--lr 0.01 …"] [--run-to-end] [--json FILE] [--keep-runs]
`--preset book --only ours` trains rnn-tui's own copy of the book's recipe, for a sanity check.
Reference (BOOK_FACTS, this machine type): book 1.40 after ~1,000 steps at 268 s, 8.6k tokens/s.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from engine.runs import RunDir

from harness import (
    DEFAULT_DATA,
    Record,
    Side,
    load_line,
    parse_overrides,
    print_comparison,
    print_header,
    run_book,
    run_job,
    write_json,
)

TEXT_FILE = "mysterious_island_1268-0.txt"
QUICK_STEPS = 30
QUICK_EVAL_EVERY = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder holding {TEXT_FILE} (default: %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=None, help="wall-time cap per side (default: none)")
    parser.add_argument("--only", choices=["book", "ours"], help="run one side only")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_STEPS} steps a side, no target expected")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validations, both sides (default: %(default)s)")
    parser.add_argument("--target", type=float, default=1.40, help="validation loss to reach (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=10_000, help="book side: steps at most (the book's 10,000)")
    parser.add_argument("--preset", default="default", help="our side: the rnn-tui preset (default: %(default)s)")
    parser.add_argument("--ours-args", default="", help='our side: extra `rnn-tui train` options, e.g. "--lr 0.01"')
    parser.add_argument("--run-to-end", action="store_true", help="our side: train the preset's full length past the target")
    parser.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    parser.add_argument("--keep-runs", action="store_true", help="keep our side's run directory (printed)")
    args = parser.parse_args()
    if args.eval_every < 1:
        parser.error("--eval-every must be at least 1")
    return args


def book_side(text_path: Path, args: argparse.Namespace) -> Side:
    options = [
        str(text_path),
        "--max-steps", str(QUICK_STEPS if args.quick else args.max_steps),
        "--eval-every", str(QUICK_EVAL_EVERY if args.quick else args.eval_every),
        "--target", str(args.target),
    ]  # fmt: skip
    if args.max_seconds is not None:
        options += ["--max-seconds", str(args.max_seconds)]

    def show(record: Record) -> None:
        data = record.data
        if data["event"] == "ready":
            print(
                f"[book] {data['characters']:,} characters, {data['vocab']} unique; train {data['train']:,}, validation "
                f"{data['valid']:,} ({data['windows']:,} windows); {data['threads']} torch threads; "
                f"ready {record.wall_s:.1f} s after launch",
                flush=True,
            )
        elif data["event"] == "eval":
            print(
                f"[book] step {data['step']:>5,}  train {data['train_loss']:.4f}  val {data['val_loss']:.4f}  "
                f"training {data['train_s']:7.1f} s  wall {record.wall_s:7.1f} s",
                flush=True,
            )

    process = run_book("book_charlm.py", options, on_record=show)
    print(f"[book] command: {shlex.join(process.command)}", flush=True)
    end = next((r.data for r in process.records if r.data["event"] == "end"), {})
    side = Side(
        name="book",
        recipe="per-char loop, E256 H512, 64×40, Adam 5e-3",
        metric="val loss",
        target_label=f"≤ {args.target:.2f}",
        throughput=end.get("tokens_per_s"),
        unit="tokens/s",
        stopped=end.get("stopped") or process.stopped,
        ran_s=process.wall_s,
        cpu_s=process.cpu_s,
    )
    evals = [r for r in process.records if r.data["event"] == "eval"]
    _fill_charlm(side, [(r.wall_s, r.data["step"], r.data["train_s"], r.data["train_loss"], r.data["val_loss"]) for r in evals], args)
    side.notes.append("wall time is from launching its process (interpreter, torch import, data, validations included)")
    if process.returncode != 0:
        side.notes.append(f"exit status {process.returncode}; stderr: " + " | ".join(process.stderr_tail[-3:]))
    return side


def _fill_charlm(side: Side, evals: list[tuple[float, int, float, float, float]], args: argparse.Namespace) -> None:
    """Time to target, best and final metrics from (wall s, step, training s, train loss, val loss) per validation."""
    hit = next((e for e in evals if e[4] <= args.target), None)
    if hit:
        side.reached_at, side.wall_s, side.train_s = f"step {hit[1]:,}", hit[0], hit[2]
    if evals:
        best = min(evals, key=lambda e: e[4])
        side.best, side.best_at = best[4], f"step {best[1]:,}"
        last = evals[-1]
        side.final = {"step": f"{last[1]:,}", "train loss": f"{last[3]:.4f}", "val loss": f"{last[4]:.4f}"}


def ours_side(text_path: Path, args: argparse.Namespace) -> Side:
    runs_dir = Path(tempfile.mkdtemp(prefix="rnn-tui-bench-charlm-"))
    overrides = {"data": str(text_path), "eval_every": QUICK_EVAL_EVERY if args.quick else args.eval_every}
    if args.quick:
        overrides.update(steps=QUICK_STEPS, sample_every=0)
    overrides.update(parse_overrides(args.ours_args))

    def show(record: Record) -> None:
        data = record.data
        if "val_loss" in data:
            print(
                f"[ours] step {data['step']:>5,}  train {data['train_loss']:.4f}  val {data['val_loss']:.4f}  "
                f"training {data['time'] - data.get('eval_time', 0.0):7.1f} s  wall {record.wall_s:7.1f} s",
                flush=True,
            )

    def reached(data: dict) -> bool:
        return not args.run_to_end and data.get("val_loss", float("inf")) <= args.target

    job = run_job(
        "charlm", args.preset, overrides, runs_dir=runs_dir, max_seconds=args.max_seconds, stop_when=reached, on_record=show
    )
    print(f"[ours] the same job from a shell: {job.command[0]}", flush=True)
    side = Side(
        name=f"ours ({args.preset})",
        recipe=f"--preset {args.preset}" + (f" {args.ours_args}" if args.ours_args else ""),
        metric="val loss",
        target_label=f"≤ {args.target:.2f}",
        unit="tokens/s",
        stopped=job.stopped,
        ran_s=job.wall_s,
        cpu_s=job.cpu_s,
    )
    evals = [r for r in job.records if "val_loss" in r.data]
    _fill_charlm(
        side,
        [(r.wall_s, r.data["step"], r.data["time"] - r.data.get("eval_time", 0.0), r.data["train_loss"], r.data["val_loss"]) for r in evals],
        args,
    )
    if evals and job.run_path:
        # tokens/s over training time (validation excluded), as the book side counts it
        config = RunDir(job.run_path).config()
        last = evals[-1].data
        training = last["time"] - last.get("eval_time", 0.0)
        side.throughput = last["step"] * config["batch_size"] * config["seq_length"] / training if training > 0 else None
        side.notes.append(f"amp {config['amp']}, clip {config['clip']}, regime {config['regime']}, {config['steps']:,} steps planned")
    side.notes.append("wall time is from creating the run (job process start, torch import, data, validations included)")
    if job.state == "failed" or not evals:
        side.notes.append(f"run {job.state}: " + " | ".join(job.stderr_tail[-3:]))
    if args.keep_runs:
        side.notes.append(f"run directory kept: {job.run_path}")
    else:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return side


def main() -> int:
    args = parse_args()
    text_path = args.data / TEXT_FILE
    if not text_path.is_file():
        print(f"train_charlm: {text_path} does not exist; pass --data DIR holding {TEXT_FILE}.", file=sys.stderr)
        return 2
    print_header(f"Character model, time to val loss ≤ {args.target:.2f}: book recipe vs rnn-tui ({'quick smoke run' if args.quick else 'full'})")
    print("reference (BOOK_FACTS, same machine type): book val 1.40 after ~1,000 steps at 268 s, 8.6k tokens/s\n", flush=True)
    book = book_side(text_path, args) if args.only != "ours" else None
    ours = ours_side(text_path, args) if args.only != "book" else None
    print()
    verdicts = print_comparison(book, ours)
    if args.quick:
        print("quick smoke run: these figures check that the script works, not the targets")
    print(load_line("at the end"))
    write_json(args.json_out, {"book": book, "ours": ours, "verdicts": verdicts, "argv": sys.argv})
    return 0


if __name__ == "__main__":
    sys.exit(main())
