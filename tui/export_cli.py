"""`rnn-tui export RUN... --tensorboard [DIR]`: TensorBoard event files for runs, from their metrics.jsonl and samples."""

from __future__ import annotations

import argparse
import sys

from engine.training.runs import RunError, default_runs_root


class ExportError(Exception):
    """An export that cannot be done; the message is one sentence (exit status 2)."""


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="write runs in another format (TensorBoard event files)",
        description="Write TensorBoard event files for runs from their metrics.jsonl and samples.jsonl, e.g. "
        "for runs made before rnn-tui wrote them itself. Needs pip install 'rnn-tui[tensorboard]'.",
    )
    export.add_argument("runs", nargs="+", metavar="RUN", help="a run name under --runs-dir, or a run directory")
    export.add_argument(
        "--tensorboard",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="write into DIR/RUN_NAME/ (its old event files are replaced); without DIR, into each run's own tb/ "
        "folder, where tensorboard --logdir RUNS_ROOT finds it",
    )
    export.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )


def run_export(args: argparse.Namespace) -> int:
    if args.tensorboard is None:
        raise ExportError("Say what to export to: --tensorboard [DIR] (the one format so far).")
    from engine.training.jobs import find_run
    from engine.training.tb_events import TensorBoardMissing, export_run, summary_writer_class

    try:
        summary_writer_class()
        runs = [find_run(args.runs_dir or default_runs_root(), spec) for spec in args.runs]
    except (TensorBoardMissing, RunError) as error:
        raise ExportError(str(error)) from None
    destination = args.tensorboard or None
    for run in runs:
        try:
            folder = export_run(run, destination)
        except (TensorBoardMissing, RunError) as error:
            raise ExportError(str(error)) from None
        print(folder)
    logdir = runs[0].path.parent if destination is None else destination
    print(f"view with: tensorboard --logdir {logdir}", file=sys.stderr)
    return 0
