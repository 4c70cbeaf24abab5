"""`rnn-tui queue` and `rnn-tui sweep`: the run queue and grids of runs, without the app.

`queue` lists the queued runs in order and cancels, moves or starts one; `sweep JOB --lr 3e-3,1e-2 …`
checks a grid of settings, queues it as one named sweep and (with `--wait`) prints its runs ranked
by their best validation figure once they are done; `sweep show NAME` prints that table at any time.
The queue lives in the runs directory (engine.training.queue): a scheduler process started here
starts the runs one after another and leaves when the queue is empty; the app's Train pane does the same.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

from engine.training import queue
from engine.training.config import TrainConfigError
from engine.training.presets import presets_help
from engine.training.runs import RunDir, RunError, default_runs_root
from engine.training.sweep import SweepError, SweepRow, default_sweep_name, plan_sweep, queue_sweep, ranked
from tui.headless import CONFIG_OPTIONS, FINAL_STATES, InputError, add_max_parallel
from tui.numbers import fmt_duration

QUEUE_ACTIONS = ("list", "cancel", "up", "down", "start")
WAIT_INTERVAL_S = 1.0


def add_queue_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "queue",
        help="list, reorder, cancel or start queued runs",
        description="Queued runs (rnn-tui train --queue, rnn-tui sweep) start one after another, first in line "
        "first, while fewer than --max-parallel jobs run. ACTION is list (the default), cancel RUN…, "
        "up RUN, down RUN or start RUN (now, whatever the limit).",
    )
    parser.add_argument("action", nargs="?", default="list", choices=QUEUE_ACTIONS, metavar="ACTION")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="queued runs, by name")
    parser.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )
    add_max_parallel(parser)
    parser.add_argument("--json", action="store_true", help="list: print one JSON object")


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="queue a grid of runs and rank them by their best validation figure",
        description="Each option takes a comma list (--lr 3e-3,1e-2 --hidden-size 256,384 --seeds 1,2); the sweep "
        "queues one run per combination under one name. `rnn-tui sweep show NAME` ranks its runs; "
        "`rnn-tui sweep show` lists the sweeps.",
    )
    parser.add_argument("job", choices=["sentiment", "charlm", "show"], help="what to train, or show")
    parser.add_argument("sweep", nargs="?", default=None, metavar="NAME", help="show: the sweep to rank")
    parser.add_argument("--preset", default=None, metavar="NAME", help=f"starting recipe. {presets_help()}")
    for flag, kind, text in CONFIG_OPTIONS:
        options = [flag, "--seeds"] if flag == "--seed" else [flag]
        choices = f" ({'|'.join(kind)})" if isinstance(kind, tuple) else ""
        parser.add_argument(*options, default=None, metavar="A,B,…", help=text + choices)
    parser.add_argument(
        "--name",
        default=None,
        metavar="NAME",
        help="the sweep's name, which starts its runs' names (default: sweep-N, the next free number)",
    )
    parser.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )
    add_max_parallel(parser)
    parser.add_argument("--yes", action="store_true", help="queue a sweep of 100 runs or more")
    parser.add_argument("--wait", action="store_true", help="wait for the runs, then print them ranked")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


# ------------------------------------------------------------------ queue


def run_queue(args: argparse.Namespace) -> int:
    root = args.runs_dir or default_runs_root()
    action, names = args.action, args.runs
    try:
        if args.max_parallel is not None:
            queue.set_max_parallel(root, queue.check_max_parallel(args.max_parallel))
        if action == "list":
            if names:
                raise InputError(
                    "rnn-tui queue list takes no run names; to act on a run, say cancel, up, down or start."
                )
            return _list_queue(root, as_json=args.json)
        if not names:
            raise InputError(f"Name the queued run to {action}; see rnn-tui queue list.")
        if action != "cancel" and len(names) > 1:
            raise InputError(f"rnn-tui queue {action} takes one run, not {len(names)}.")
        for name in names:
            if action == "cancel":
                queue.cancel(root, name)
                print(f"cancelled {name}", file=sys.stderr)
            elif action in ("up", "down"):
                place = queue.move(root, name, -1 if action == "up" else 1)
                print(f"{name} is now place {place} in the queue", file=sys.stderr)
            else:
                queue.start_now(root, name)
                print(f"started {name}", file=sys.stderr)
    except (RunError, queue.QueueError) as error:
        raise InputError(str(error)) from None
    return 0


def _list_queue(root: Any, as_json: bool) -> int:
    entries = queue.entries(root)
    if entries:
        queue.spawn_scheduler(root)  # after a reboot, looking at the queue sets it going again
    running = sorted(queue.busy(root)[0])
    limit = queue.max_parallel(root)
    rows: list[dict[str, Any]] = []
    for place, entry in enumerate(entries, start=1):
        run = RunDir(queue.queue_dir(root).parent / entry.run)
        try:
            job, described = run.job, _describe(run)
        except RunError:
            job, described = "?", ""
        rows.append(
            {
                "position": place,
                "name": entry.run,
                "job": job,
                "sweep": entry.sweep,
                "queued_at": entry.queued_at,
                "config": described,
            }
        )
    if as_json:
        json.dump({"max_parallel": limit, "running": running, "queued": rows}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"{len(running)} running of at most {limit} at once · {len(rows)} queued", file=sys.stderr)
    if not rows:
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("#", "run", "job", "sweep", "waiting", "settings"):
        table.add_column(column, no_wrap=column != "settings")
    now = time.time()
    for row in rows:
        waited = fmt_duration(now - row["queued_at"])
        table.add_row(str(row["position"]), row["name"], row["job"], row["sweep"] or "", waited, row["config"])
    Console(width=max(shutil.get_terminal_size().columns, 100)).print(table)
    return 0


def _describe(run: RunDir) -> str:
    from engine.training.jobs import run_config

    return run_config(run).describe()


# ------------------------------------------------------------------ sweep


def run_sweep(args: argparse.Namespace) -> int:
    root = args.runs_dir or default_runs_root()
    if args.job == "show":
        return _show_sweep(root, args.sweep, as_json=args.json)
    if args.sweep is not None:
        raise InputError(f"Name a sweep with --name {args.sweep}; the word after the job is only for sweep show.")
    options = {
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
        for flag, _, _ in CONFIG_OPTIONS
        if getattr(args, flag[2:].replace("-", "_")) is not None
    }
    name = args.name or default_sweep_name(root)
    try:
        limit = queue.check_max_parallel(args.max_parallel) if args.max_parallel is not None else None
        plan = plan_sweep(args.job, args.preset or "default", options, limit=None if args.yes else 100)
        if not plan.axes:
            raise InputError("A sweep needs at least one option with two or more values, like --lr 3e-3,1e-2.")
        runs = queue_sweep(root, name, plan)
        if limit is not None:
            queue.set_max_parallel(root, limit)
    except (SweepError, TrainConfigError, RunError, queue.QueueError) as error:
        raise InputError(str(error)) from None
    queue.spawn_scheduler(root)
    axes = " × ".join(f"{len(values)} {key.replace('_', ' ')}" for key, values in plan.axes.items())
    print(
        f"queued sweep {name}: {len(runs)} runs ({axes}), at most {queue.max_parallel(root)} at once",
        file=sys.stderr,
    )
    if not args.wait:
        print(f"see its ranking with: rnn-tui sweep show {name}" + _runs_dir_flag(args), file=sys.stderr)
        return 0
    try:
        _wait_for(root, name)
    except KeyboardInterrupt:
        print(f"\nthe sweep goes on; see rnn-tui sweep show {name}" + _runs_dir_flag(args), file=sys.stderr)
        raise
    return _show_sweep(root, name, as_json=args.json)


def _runs_dir_flag(args: argparse.Namespace) -> str:
    return f" --runs-dir {args.runs_dir}" if args.runs_dir else ""


def _wait_for(root: Any, name: str) -> None:
    """Until every run of the sweep has ended, saying how far it is when that changes (the queue is ticked too)."""
    said = ""
    while True:
        queue.tick(root)  # in case no scheduler could be started
        rows = ranked(root, name)
        ended = sum(row.state in FINAL_STATES for row in rows)
        running = sum(row.state in ("running", "paused") for row in rows)
        line = f"{ended}/{len(rows)} ended · {running} running · {len(rows) - ended - running} queued"
        if line != said:
            print(line, file=sys.stderr, flush=True)
            said = line
        if ended == len(rows):
            return
        time.sleep(WAIT_INTERVAL_S)


def _show_sweep(root: Any, name: str | None, as_json: bool) -> int:
    from engine.training.sweep import read_manifest, sweep_names

    if name is None:
        names = sweep_names(root)
        if as_json:
            json.dump(names, sys.stdout)
            sys.stdout.write("\n")
        elif names:
            print("\n".join(names))
        else:
            print(f"no sweeps in {root}", file=sys.stderr)
        return 0
    try:
        manifest = read_manifest(root, name)
        rows = ranked(root, name)
    except SweepError as error:
        raise InputError(str(error)) from None
    axes = [str(key) for key in manifest.get("axes", {})] if isinstance(manifest.get("axes"), dict) else []
    if as_json:
        json.dump([_row_json(place, row) for place, row in enumerate(rows, start=1)], sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(_table_title(name, rows), file=sys.stderr)
    if not rows:
        return 0
    from rich.console import Console
    from rich.table import Table

    metric = next((row.metric for row in rows if row.metric), "best")
    tested = any(row.test_acc is not None for row in rows)
    table = Table(box=None, pad_edge=False)
    for column in ("#", "run", *[axis.replace("_", " ") for axis in axes], "state", metric, *(["test acc"] * tested)):
        table.add_column(column, no_wrap=True, justify="right" if column in (metric, "test acc", "#") else "left")
    for place, row in enumerate(rows, start=1):
        cells = [str(place), row.run, *[row.settings.get(axis, "") for axis in axes], row.state]
        cells.append(f"{row.best:.4f}" if row.best is not None else "")
        if tested:
            cells.append(f"{row.test_acc:.4f}" if row.test_acc is not None else "")
        table.add_row(*cells)
    Console(width=max(shutil.get_terminal_size().columns, 100)).print(table)
    return 0


def _table_title(name: str, rows: list[SweepRow]) -> str:
    ended = sum(row.state in FINAL_STATES for row in rows)
    metric = next((row.metric for row in rows if row.metric), "")
    lower = not metric.endswith("acc")
    order = "lowest first" if lower else "highest first"
    return f"sweep {name}: {ended}/{len(rows)} runs ended · ranked by best validation figure, {order}"


def _row_json(place: int, row: SweepRow) -> dict[str, Any]:
    return {
        "rank": place,
        "name": row.run,
        "settings": row.settings,
        "state": row.state,
        "best_metric": row.metric,
        "best_value": row.best,
        "test_acc": row.test_acc,
    }
