"""The driver the side-by-side training benchmarks share: their common options, the book side and
our side run and reported alike, and the ending (table, verdicts, load, JSON).

Not a benchmark itself; `train_charlm.py` and `train_sentiment.py` use it, on top of `harness.py`.
Each script keeps what is its own: its data, its options, its progress lines and how its metrics
fill a side.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    DEFAULT_DATA,
    TIME_RATIO_TARGET,
    ProcessRun,
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

AddOptions = Callable[[argparse.ArgumentParser], None]
ProgressLine = Callable[[dict[str, Any], float], str | None]  # a record's data and wall seconds → a line to print


@dataclass(frozen=True)
class Goal:
    """What both sides of one benchmark are measured by."""

    metric: str  # e.g. "val loss"
    target_label: str  # e.g. "≤ 1.40"
    unit: str  # throughput unit, e.g. "tokens/s"


def side_by_side_parser(
    doc: str,
    *,
    data_holds: str,
    quick_help: str,
    ours_example: str,
    book_options: AddOptions,
    ours_options: AddOptions | None = None,
) -> argparse.ArgumentParser:
    """The options every side-by-side script has, with its own added after --quick (`book_options`) and after --ours-args."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"folder holding {data_holds} (default: %(default)s)"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="wall-time cap per side (default: none)")
    parser.add_argument("--only", choices=["book", "ours"], help="run one side only")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    book_options(parser)
    parser.add_argument("--preset", default="default", help="our side: the rnn-tui preset (default: %(default)s)")
    parser.add_argument(
        "--ours-args", default="", help=f'our side: extra `rnn-tui train` options, e.g. "{ours_example}"'
    )
    if ours_options:
        ours_options(parser)
    parser.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    parser.add_argument("--keep-runs", action="store_true", help="keep our side's run directory (printed)")
    return parser


def _printer(tag: str, line: ProgressLine) -> Callable[[Record], None]:
    def show(record: Record) -> None:
        text = line(record.data, record.wall_s)
        if text is not None:
            print(f"[{tag}] {text}", flush=True)

    return show


def book_side(
    script: str,
    options: list[str],
    args: argparse.Namespace,
    goal: Goal,
    *,
    recipe: str,
    throughput_key: str,
    line: ProgressLine,
    fill: Callable[[Side, list[Record]], None],
    wall_includes: str,
) -> Side:
    """Run the book recipe `script` (capped by --max-seconds), printing its progress; `fill` reads its eval records."""
    if args.max_seconds is not None:
        options = [*options, "--max-seconds", str(args.max_seconds)]
    process = run_book(script, options, on_record=_printer("book", line))
    print(f"[book] command: {shlex.join(process.command)}", flush=True)
    end = next((r.data for r in process.records if r.data["event"] == "end"), {})
    side = Side(
        name="book",
        recipe=recipe,
        metric=goal.metric,
        target_label=goal.target_label,
        throughput=end.get(throughput_key),
        unit=goal.unit,
        stopped=end.get("stopped") or process.stopped,
        ran_s=process.wall_s,
        cpu_s=process.cpu_s,
    )
    fill(side, [r for r in process.records if r.data["event"] == "eval"])
    side.notes.append(f"wall time is from launching its process ({wall_includes})")
    if process.returncode != 0:
        side.notes.append(f"exit status {process.returncode}; stderr: " + " | ".join(process.stderr_tail[-3:]))
    return side


def ours_side(
    job_name: str,
    args: argparse.Namespace,
    goal: Goal,
    overrides: dict[str, Any],
    *,
    line: ProgressLine,
    fill: Callable[[Side, ProcessRun], bool],
    wall_includes: str,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[Side, ProcessRun]:
    """Run rnn-tui's `job_name` job on --preset with `overrides` and --ours-args in a scratch runs root.

    `fill` reads the finished job (its run directory still there) and says whether it found
    evaluations; the runs root is removed afterwards unless --keep-runs.
    """
    runs_dir = Path(tempfile.mkdtemp(prefix=f"rnn-tui-bench-{job_name}-"))
    overrides = {**overrides, **parse_overrides(args.ours_args)}
    job = run_job(
        job_name,
        args.preset,
        overrides,
        runs_dir=runs_dir,
        max_seconds=args.max_seconds,
        stop_when=stop_when,
        on_record=_printer("ours", line),
    )
    print(f"[ours] the same job from a shell: {job.command[0]}", flush=True)
    side = Side(
        name=f"ours ({args.preset})",
        recipe=f"--preset {args.preset}" + (f" {args.ours_args}" if args.ours_args else ""),
        metric=goal.metric,
        target_label=goal.target_label,
        unit=goal.unit,
        stopped=job.stopped,
        ran_s=job.wall_s,
        cpu_s=job.cpu_s,
    )
    evaluated = fill(side, job)
    side.notes.append(f"wall time is from creating the run (job process start, {wall_includes})")
    if job.state == "failed" or not evaluated:
        side.notes.append(f"run {job.state}: " + " | ".join(job.stderr_tail[-3:]))
    if args.keep_runs:
        side.notes.append(f"run directory kept: {job.run_path}")
    else:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return side, job


def training_s(data: dict[str, Any]) -> float:
    """An rnn-tui metrics record's training time: its elapsed time less evaluation."""
    return data["time"] - data.get("eval_time", 0.0)


def print_start(title: str, args: argparse.Namespace, reference: str) -> None:
    """The header (title, machine facts) and the book's reference figures."""
    print_header(f"{title} ({'quick smoke run' if args.quick else 'full'})")
    print(reference + "\n", flush=True)


def print_end(args: argparse.Namespace, book: Side | None, ours: Side | None, more_verdicts: Iterable[str] = ()) -> int:
    """The comparison, its verdicts and `more_verdicts`, the load at the end and --json; the exit status."""
    print()
    verdicts = print_comparison(book, ours, getattr(args, "ratio_target", TIME_RATIO_TARGET))
    for verdict in more_verdicts:
        print(verdict)
        verdicts.append(verdict)
    if args.quick:
        print("quick smoke run: these figures check that the script works, not the targets")
    print(load_line("at the end"))
    write_json(args.json_out, {"book": book, "ours": ours, "verdicts": verdicts, "argv": sys.argv})
    return 0
