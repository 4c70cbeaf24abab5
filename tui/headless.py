"""`rnn-tui train` and `rnn-tui runs`: training and run lists without the app, for scripts and SSH.

`train` creates a run (or resumes one), starts its job process, and follows the run directory in
the foreground: a Rich progress display, or with `--json` each metrics record as one JSON line.
Ctrl+C asks the job to stop with a final checkpoint and waits; a second Ctrl+C takes the request back
and leaves the job running (or, when the job has already begun to stop, says so and leaves it stopping).
Neither command imports torch: the job process does the training.

With `--nproc-per-node N` (and `--nnodes M --node-rank R --master-addr A --master-port P` on each of
M nodes) the job runs its ranks through torchrun. Node 0 holds the run; on the other nodes the
command follows that node's part (its ranks and their log) until they end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

from rich.cells import cell_len

from engine.cells import CELL_NAMES
from engine.devices import DEVICES
from engine.training.config import (
    AMP_MODES,
    POOLINGS,
    REGIMES,
    SCHEDULES,
    TrainConfig,
    TrainConfigError,
    parse_train_config,
    with_changes,
)
from engine.training.jobs import LOCKED_EXIT, Job, create_run, find_run, run_config, start_job
from engine.training.presets import presets_help
from engine.training.runmeta import MetaError, RunMeta, parse_tags, read_meta
from engine.training.runs import JOBS, STATES, RunDir, RunError, RunStatus, default_runs_root, list_runs
from tui import runs_cli
from tui.numbers import fmt_best, fmt_devices, fmt_duration, fmt_speed

FOLLOW_INTERVAL_S = 0.25
LAST_WORD_S = 90  # how long a job may take to end after its final status (torchrun waits 30 s for a stuck rank)
FINAL_STATES = ("done", "stopped", "failed")
#: Options that map one to one onto TrainConfig fields: (flag, metavar or choices, help).
CONFIG_OPTIONS: tuple[tuple[str, Any, str], ...] = (
    (
        "--data",
        "SOURCE",
        "text file, folder, gutenberg:ID, python-docs (charlm) or imdb, a review file or folder (sentiment)",
    ),
    ("--steps", "N", "optimizer steps to train for"),
    ("--epochs", "N", "passes over the training data (instead of --steps)"),
    ("--checkpoint-every", "N", "steps between checkpoints"),
    ("--seed", "S", "seed for initialisation, batches, dropout and samples"),
    ("--cell", CELL_NAMES, "recurrent cell"),
    ("--embed-size", "N", "embedding size"),
    ("--hidden-size", "N", "hidden size"),
    ("--layers", "N", "stacked recurrent layers"),
    ("--bidirectional", "yes|no", "sentiment: read reviews both ways"),
    ("--pooling", POOLINGS, "sentiment: last hidden state (the book) or max/mean over time"),
    ("--fc-size", "N", "sentiment: width of the MLP before the logit"),
    ("--dropout", "P", "dropout on embeddings, between layers and before the output"),
    ("--lr", "LR", "Adam learning rate"),
    ("--lr-schedule", SCHEDULES, "learning-rate schedule (decays to 0.1× by the end)"),
    ("--warmup-steps", "N", "linear warmup steps"),
    ("--weight-decay", "W", "decoupled weight decay (AdamW); 0 = plain Adam"),
    ("--batch-size", "N", "sequences or reviews per batch"),
    ("--clip", "NORM", "clip the gradient norm to NORM ('off' to disable)"),
    ("--seq-length", "N", "charlm: characters per training chunk (the TBPTT window)"),
    ("--regime", REGIMES, "charlm: the book's random windows or truncated BPTT over streams"),
    ("--max-length", "N", "sentiment: keep each review's first N tokens"),
    ("--min-count", "N", "sentiment: drop rarer tokens from the vocabulary"),
    ("--bucket", "yes|no", "sentiment: batch reviews of similar length"),
    (
        "--valid-fraction",
        "F",
        "share of the training data held out for validation (sentiment: 0 = none, every review trains)",
    ),
    ("--eval-every", "N", "steps between validations (0: every epoch)"),
    ("--log-every", "N", "steps between metrics records"),
    ("--sample-every", "N", "charlm: steps between samples (0: never)"),
    ("--device", DEVICES, "where to train (auto: CUDA, then MPS, then CPU)"),
    ("--amp", AMP_MODES, "mixed precision (auto: bf16 on CUDA and on CPUs with AMX or AVX512-BF16)"),
    (
        "--threads",
        "N",
        "torch threads for the job, shared by its processes (0: the cores shared among the jobs running)",
    ),
    (
        "--nproc-per-node",
        "N",
        "data-parallel processes on this node, launched by torchrun (DDP; --batch-size stays the global batch)",
    ),
    ("--nnodes", "M", "nodes taking part (each runs this command with its own --node-rank)"),
    ("--node-rank", "R", "this node's place, 0 to M-1; node 0 runs rank 0 and holds the run directory"),
    ("--master-addr", "ADDR", "node 0's address as the other nodes reach it"),
    ("--master-port", "PORT", "node 0's rendezvous port (free on node 0; 0: any free port, one node only)"),
    ("--dist-timeout", "S", "seconds a rank waits for the others before the run fails (default 300)"),
)
DISTRIBUTED_OPTIONS = ("nproc_per_node", "nnodes", "node_rank", "master_addr", "master_port", "dist_timeout")
RESUMABLE_OPTIONS = ("steps", "epochs", "device", *DISTRIBUTED_OPTIONS)


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a model in the foreground (the job runs in its own process)",
        description="Create a run, start its job and follow it; --resume RUN continues a stopped or killed run.",
    )
    train.add_argument("job", nargs="?", choices=["sentiment", "charlm"], help="what to train (omit with --resume)")
    train.add_argument(
        "--preset", default=None, metavar="NAME", help=f"starting recipe (default: default). {presets_help()}"
    )
    for flag, kind, text in CONFIG_OPTIONS:
        if isinstance(kind, tuple):
            train.add_argument(flag, default=None, choices=kind, help=text)
        else:
            train.add_argument(flag, default=None, metavar=kind, help=text)
    train.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )
    train.add_argument(
        "--name", default=None, metavar="NAME", help="the run's directory name (default: time, job and a tag)"
    )
    train.add_argument(
        "--resume", default=None, metavar="RUN", help="continue this run (a name under --runs-dir, or a path)"
    )
    train.add_argument(
        "--json", action="store_true", help="print each metrics record as one JSON line instead of a progress display"
    )
    train.add_argument(
        "--queue",
        action="store_true",
        help="queue the run instead of starting it: queued runs start one after another (see rnn-tui queue)",
    )
    add_max_parallel(train)


def add_max_parallel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-parallel",
        default=None,
        metavar="N",
        help="queued runs of the runs directory that may run at once, remembered for it "
        "(default: 1 on CPU, one per GPU with CUDA)",
    )


def add_runs_parser(subparsers: argparse._SubParsersAction) -> None:
    runs = subparsers.add_parser(
        "runs", help="list training runs", description="List the runs under the runs directory, newest first."
    )
    runs.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )
    runs.add_argument("--json", action="store_true", help="print one JSON array")
    runs.add_argument("--job", choices=JOBS, default=None, help="only runs of this job")
    runs.add_argument("--state", choices=STATES, default=None, help="only runs in this state")
    runs.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="only runs with this tag (repeat: with all of them)"
    )
    shown = runs.add_mutually_exclusive_group()
    shown.add_argument("--archived", action="store_true", help="only archived runs (hidden otherwise)")
    shown.add_argument("--all", action="store_true", help="archived runs too")
    runs_cli.add_manage_parsers(runs)


class InputError(Exception):
    """Bad input found while starting a run: the CLI prints it as one line and exits with status 2."""


def run_train(args: argparse.Namespace) -> int:
    root = args.runs_dir or default_runs_root()
    overrides = {
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
        for flag, _, _ in CONFIG_OPTIONS
        if getattr(args, flag[2:].replace("-", "_")) is not None
    }
    if args.queue:
        return _queue_train(root, args, overrides)
    if args.max_parallel is not None:
        raise InputError("--max-parallel applies to queued runs; add --queue (or use rnn-tui queue --max-parallel N).")
    try:
        after = 0
        if args.resume:
            run, config = _resumed(root, args, overrides)
            after = _checkpoint_step(run)
            if config.steps is not None and "steps" in overrides and config.steps <= after:
                raise InputError(
                    f"The run {run.name} has trained {after:,} steps (its last checkpoint), so --steps "
                    f"{config.steps:,} leaves nothing to train; give more than {after:,}."
                )
            job = start_job(run, resume=True, config=config)
            fresh = False
        else:
            if args.job is None:
                raise InputError("Name a job to train (sentiment or charlm), or pass --resume RUN.")
            run = create_run(root, parse_train_config(args.job, args.preset or "default", **overrides), args.name)
            job = start_job(run)
            fresh = True
    except (TrainConfigError, RunError) as error:
        raise InputError(str(error)) from None
    status = _follow(run, job, as_json=args.json, after=after)
    return _outcome(run, status, fresh)


def _checkpoint_step(run: RunDir) -> int:
    """The step of the run's last checkpoint (where a resume starts), 0 without a readable one."""
    from engine.training.checkpoint import LAST, CheckpointError, load_checkpoint

    try:
        return int(load_checkpoint(run.checkpoints / LAST)["step"])
    except CheckpointError:
        return 0


def _queue_train(root: Any, args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """`rnn-tui train … --queue`: queue a new run, make sure a scheduler serves the root, and return at once."""
    from engine.training import queue

    if args.resume:
        raise InputError("--queue is for new runs; resume a run with rnn-tui train --resume RUN.")
    if args.job is None:
        raise InputError("Name a job to queue (sentiment or charlm).")
    try:
        limit = queue.check_max_parallel(args.max_parallel) if args.max_parallel is not None else None
        config = parse_train_config(args.job, args.preset or "default", **overrides)
        (run,) = queue.enqueue(root, [(config, args.name)])
        if limit is not None:
            queue.set_max_parallel(root, limit)
    except (TrainConfigError, RunError, queue.QueueError) as error:
        raise InputError(str(error)) from None
    queue.spawn_scheduler(root)
    place = queue.positions(root).get(run.name)
    if args.json:
        json.dump({"name": run.name, "path": str(run.path), "position": place}, sys.stdout)
        sys.stdout.write("\n")
    else:
        where = f"place {place} in the queue" if place else "started"
        print(f"queued {run.name} ({where}; at most {queue.max_parallel(root)} at once)\n{run.path}", file=sys.stderr)
    return 0


def _resumed(root: Any, args: argparse.Namespace, overrides: dict[str, Any]) -> tuple[RunDir, TrainConfig]:
    """The run to resume and its config with the changes a resume may make (length and device)."""
    run = find_run(root, args.resume)
    config = run_config(run)
    if args.job and args.job != config.job:
        raise InputError(f"The run {run.name} trains {config.job}, not {args.job}.")
    fixed = sorted(set(overrides) - set(RESUMABLE_OPTIONS)) + (["preset"] if args.preset else [])
    if fixed:
        names = ", ".join("--" + name.replace("_", "-") for name in fixed)
        raise InputError(
            f"A resumed run keeps its settings; only --steps, --epochs, --device and the distributed layout may change, not {names}."
        )
    return run, with_changes(config, **overrides)


def _follow(run: RunDir, job: Job, *, as_json: bool, after: int = 0) -> RunStatus:
    """Show the run's progress until its job ends; Ctrl+C asks it to stop (twice: take the request back).

    Records of steps up to `after` (the checkpoint a resume starts from) were shown when they were
    made, so they are not shown again.
    """
    follower = _JsonFollower(run, after) if as_json else _ProgressFollower(run, after)
    interrupted = False
    final_since = None
    with follower:
        while True:
            try:
                alive = job.exit_status() is None
                status = run.status()
                if status.pid != job.pid:  # the job has not taken over status.json yet
                    if alive:
                        time.sleep(FOLLOW_INTERVAL_S)
                        continue
                    status = run.status()
                    if status.pid != job.pid:
                        return _never_started(run, job)
                follower.update(status)
                if status.state in FINAL_STATES:
                    # Wait for the process to end: a distributed job's launcher may still name the rank that failed.
                    final_since = final_since or time.monotonic()
                    if alive and time.monotonic() - final_since < LAST_WORD_S:
                        time.sleep(FOLLOW_INTERVAL_S)
                        continue
                    follower.update(status)  # records written just before the final status
                    return status
                time.sleep(FOLLOW_INTERVAL_S)
            except KeyboardInterrupt:
                if interrupted:
                    if run.withdraw("stop"):
                        print(f"\nleft running (the stop request was taken back): {run.path}", file=sys.stderr)
                    else:
                        print(
                            f"\nthe job had already begun to stop; it ends after its final checkpoint: {run.path}",
                            file=sys.stderr,
                        )
                    raise
                interrupted = True
                try:
                    run.request("stop")
                except RunError as error:
                    print(f"\ncannot ask the job to stop: {error}", file=sys.stderr)
                    raise KeyboardInterrupt from None
                print("\nstopping after a final checkpoint (Ctrl+C again to leave the job running)", file=sys.stderr)


def _never_started(run: RunDir, job: Job) -> RunStatus:
    """The status to report for a job process that ended before it took over status.json.

    LOCKED_EXIT: another job took the run at the same moment (two resumes at once); the run is fine,
    so this is the same one-line "already running" as when the other job had started earlier.
    """
    if job.exit_status() == LOCKED_EXIT:
        status = run.status()
        pid = f" (pid {status.pid})" if status.pid else ""
        raise InputError(f"The run {run.name} is already running{pid}; this command left it alone.")
    status = run.status()
    status.state = "failed"
    logged = run.last_logged_error()
    status.error = (
        f"The job process ended before it started: {logged}"
        if logged
        else f"The job process ended before it started; see {run.log_path}."
    )
    return status


def _outcome(run: RunDir, status: RunStatus, fresh: bool) -> int:
    node = status.extra.get("node_rank")
    if node and status.state != "failed":
        print(
            f"node {node} of {status.extra.get('nnodes')}: its ranks ended ({status.state}); the run is on node 0\n{run.path}",
            file=sys.stderr,
        )
        return 0
    if status.state == "failed":
        error = status.error or "the job failed without a message"
        if status.extra.get("error_kind") == "input":
            if fresh and not any(run.checkpoints.glob("*.pt")):
                shutil.rmtree(run.path, ignore_errors=True)  # it never trained: leave no failed run behind
            raise InputError(error)
        print(f"rnn-tui: run {run.name} failed: {error} (log: {run.log_path})", file=sys.stderr)
        return 1
    summary = f"{status.state} at step {status.step:,}/{status.total:,}"
    if status.best_value is not None:
        summary += f" · best {status.best_metric} {status.best_value:.4f}"
    records, _ = run.read_metrics()
    final = next((r for r in reversed(records) if r.get("final")), None)
    if final and "test_acc" in final:
        summary += f" · test_acc {final['test_acc']:.4f}"
    print(f"{summary}\n{run.path}", file=sys.stderr)
    if status.state == "stopped":
        print(f"resume with: rnn-tui train --resume {run.name}" + _runs_dir_hint(run), file=sys.stderr)
    return 0


def _runs_dir_hint(run: RunDir) -> str:
    return "" if run.path.parent == default_runs_root() else f" --runs-dir {run.path.parent}"


class _JsonFollower:
    """Each new metrics record as one JSON line on stdout."""

    def __init__(self, run: RunDir, after: int = 0) -> None:
        self.run = run
        self.offset = 0
        self.after = after

    def __enter__(self) -> _JsonFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()

    def update(self, status: RunStatus) -> None:
        records, self.offset = _new_records(self.run, self.offset, self.after)
        for record in records:
            sys.stdout.write(json.dumps(record) + "\n")
        if records:
            sys.stdout.flush()


class _ProgressFollower:
    """A Rich progress bar with loss, validation metric, throughput, ETA and device; validations scroll above it."""

    def __init__(self, run: RunDir, after: int = 0) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.run = run
        self.offset = 0
        self.after = after
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            refresh_per_second=4,
            transient=True,  # the summary line replaces it
        )
        self.task = self.progress.add_task(run.name, total=None, metrics="starting…")
        self.last: dict[str, Any] = {}

    def __enter__(self) -> _ProgressFollower:
        if self.console.is_terminal:  # a bar is for people: to a file or pipe, only the validation lines go
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def update(self, status: RunStatus) -> None:
        records, self.offset = _new_records(self.run, self.offset, self.after)
        for record in records:
            self.last.update(record)
            if any(key.startswith(("val_", "test_")) for key in record):
                self.console.print(_record_line(record))
        parts = [status.state if status.state != "running" else ""]
        if "train_loss" in self.last:
            parts.append(f"loss {self.last['train_loss']:.4f}")
        for key in ("val_loss", "val_acc"):
            if key in self.last:
                parts.append(f"{key} {self.last[key]:.4f}")
        if status.throughput:
            parts.append(f"{status.throughput:,.0f} {status.throughput_unit}")
        if status.eta_s is not None:
            parts.append(f"ETA {fmt_duration(status.eta_s)}")
        device = fmt_devices(status.device, status.extra.get("rank_devices")) + (
            " bf16" if status.extra.get("amp") == "bf16" else ""
        )
        if device:
            parts.append(device)
        phase = status.extra.get("phase")
        if phase:
            parts.append("loading data…" if phase == "loading" else phase)  # a node other than 0 says where the run is
        self.progress.update(
            self.task, completed=status.step, total=status.total or None, metrics=" · ".join(p for p in parts if p)
        )


def _new_records(run: RunDir, offset: int, after: int) -> tuple[list[dict[str, Any]], int]:
    """Metric records appended since `offset` of steps after `after`, and the next offset.

    A resume rewrites metrics.jsonl to the checkpoint's records: a file shorter than `offset` is read
    again from its start, and the records it keeps (steps up to `after`) are not shown twice.
    """
    try:
        if run.metrics_path.stat().st_size < offset:
            offset = 0
    except OSError:
        offset = 0
    records, offset = run.read_metrics(offset)
    return [record for record in records if record["step"] > after or record.get("final")], offset


def _record_line(record: dict[str, Any]) -> str:
    shown = [f"step {record['step']:,}"]
    for key, value in record.items():
        if key.startswith(("val_", "test_")) and isinstance(value, float):
            shown.append(f"{key} {value:.4f}")
    return " · ".join(shown)


def run_runs(args: argparse.Namespace) -> int:
    if getattr(args, "runs_action", None):
        try:
            return runs_cli.run_manage(args)
        except runs_cli.ManageError as error:
            raise InputError(str(error)) from None
    root = args.runs_dir or default_runs_root()
    try:
        runs = list_runs(root)
    except RunError as error:
        raise InputError(str(error)) from None
    from engine.training.queue import positions
    from engine.training.sweep import membership

    try:
        wanted = parse_tags(" ".join(args.tag))
    except MetaError as error:
        raise InputError(str(error)) from None
    places, sweeps = positions(root), membership(root)
    rows = []
    for run in runs:
        meta = read_meta(run.path)
        if meta.archived != args.archived and not args.all:
            continue
        if wanted and not set(wanted) <= set(meta.tags):
            continue
        row = _run_row(run, meta)
        if (args.job and row["job"] != args.job) or (args.state and row["state"] != args.state):
            continue
        row["queue_position"] = places.get(row["name"]) if row["state"] == "queued" else None
        row["sweep"] = sweeps.get(row["name"]) or row["sweep"]
        rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout)
        sys.stdout.write("\n")
        return 0
    if not rows:
        if runs:
            hidden = "" if args.archived or args.all else " (archived runs show with --archived or --all)"
            print(f"none of the {len(runs):,} runs in {root} match{hidden}", file=sys.stderr)
        else:
            print(f"no runs in {root}", file=sys.stderr)
        return 0
    tested = any(row["test_acc"] is not None for row in rows)  # the column only where a run has the figure
    named = any(row["display_name"] for row in rows)  # and the name and tags only where a run has them
    tagged = any(row["tags"] for row in rows)
    columns = ["run", *(["name"] if named else []), "job", "state", "device", "step", "ETA", "throughput", "best"]
    table = [columns + (["test acc"] if tested else []) + (["tags"] if tagged else [])]
    for row in rows:
        step = f"{row['step']:,}/{row['total']:,}" if row["total"] else f"{row['step']:,}"
        speed = fmt_speed(row["throughput"], row["throughput_unit"])
        best = fmt_best(row["best_metric"], row["best_value"])
        eta = fmt_duration(row["eta_s"])
        state = f"{row['state']} #{row['queue_position']}" if row["queue_position"] else row["state"]
        cells = [row["name"], *([row["display_name"] or ""] if named else [])]
        cells += [row["job"], state, row["device"], step, eta, speed, best]
        if tested:
            cells.append(f"{row['test_acc']:.4f}" if row["test_acc"] is not None else "")
        if tagged:
            cells.append(" ".join(row["tags"]))
        table.append(cells)
    print(_plain_table(table))
    return 0


def _plain_table(table: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, nothing cut (a pipe or a terminal alike).

    Plain text, not a Rich table: a thousand runs print in milliseconds instead of seconds.
    """
    widths = [max(cell_len(row[index]) for row in table) for index in range(len(table[0]))]
    lines = []
    for row in table:
        padded = [cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _run_row(run: RunDir, meta: RunMeta | None = None) -> dict[str, Any]:
    status = run.status()
    meta = meta or read_meta(run.path)
    final = run.final_metrics() or {}
    try:
        job = run.job
    except RunError:
        job = "?"
    return {
        "name": run.name,
        "path": str(run.path),
        "job": job,
        "state": status.state,
        "device": fmt_devices(status.device, status.extra.get("rank_devices")),
        "world_size": status.extra.get("world_size", 1),
        "rank_devices": status.extra.get("rank_devices", []),
        "step": status.step,
        "total": status.total,
        "eta_s": status.eta_s,
        "throughput": status.throughput,
        "throughput_unit": status.throughput_unit,
        "best_metric": status.best_metric,
        "best_value": status.best_value,
        "test_acc": _figure(final, "test_acc"),
        "test_loss": _figure(final, "test_loss"),
        "error": status.error,
        "display_name": meta.display_name,
        "notes": meta.notes,
        "tags": list(meta.tags),
        "archived": meta.archived,
        "sweep": meta.sweep,
        "meta_error": meta.error,
    }


def _figure(final: dict[str, Any], name: str) -> float | None:
    """A figure of the run's closing record (the held-out test set of a sentiment run), or None."""
    value = final.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
