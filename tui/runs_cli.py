"""`rnn-tui runs rename|tag|untag|note|archive|unarchive|delete`: managing runs without the app.

The listing itself (`rnn-tui runs [--job …] [--state …] [--tag …] [--archived|--all] [--json]`) is in
tui/headless.py; these subcommands change a run's user metadata (engine.training.runmeta: meta.json)
or delete its directory (engine.training.runs.delete_run). A RUN is a run's id (its directory's name),
a path to it, or its display name when only one run has it. Bad input is one sentence and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.training.jobs import find_run
from engine.training.runmeta import MetaError, change_tags, parse_tags, read_meta, update_meta
from engine.training.runs import RunDir, RunError, default_runs_root, delete_run, list_runs

ACTIONS = ("rename", "tag", "untag", "note", "archive", "unarchive", "delete")


class ManageError(Exception):
    """Bad input for a run-management subcommand: one line on stderr, exit status 2."""


def add_manage_parsers(runs: argparse.ArgumentParser) -> None:
    """The subcommands under `rnn-tui runs`; without one, `runs` lists."""
    actions = runs.add_subparsers(dest="runs_action", metavar="ACTION", required=False)

    def action(name: str, help_text: str, *, many: bool = False) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        parser.add_argument(
            "--runs-dir",
            default=argparse.SUPPRESS,
            metavar="DIR",
            help=f"where runs live (default: {default_runs_root()})",
        )
        if many:
            parser.add_argument("runs", nargs="+", metavar="RUN", help="run id, path, or display name")
        else:
            parser.add_argument("run", metavar="RUN", help="run id, path, or display name")
        return parser

    action("rename", "give a run a display name (its directory keeps its id)").add_argument(
        "name", metavar="NAME", help='the display name; "" removes it'
    )
    action("tag", "add tags to a run").add_argument("tags", nargs="+", metavar="TAG", help="tags (commas or spaces)")
    action("untag", "remove tags from a run").add_argument("tags", nargs="+", metavar="TAG")
    action("note", "set a run's notes").add_argument("text", metavar="TEXT", help='the notes; "" clears them')
    action("archive", "hide runs from the default listings (shown with --archived)", many=True)
    action("unarchive", "show archived runs again", many=True)
    delete = action("delete", "delete runs and everything in their directories (asks first)", many=True)
    delete.add_argument("--yes", action="store_true", help="do not ask (needed when stdin is not a terminal)")


def resolve_run(root: Path, spec: str) -> RunDir:
    """The run whose id or path is `spec`, else the one run whose display name is `spec`."""
    try:
        return find_run(root, spec)
    except RunError as missing:
        matches = [run for run in list_runs(root) if read_meta(run.path).display_name == spec.strip()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(run.name for run in matches[:4])
            raise ManageError(
                f"{len(matches)} runs are called {json.dumps(spec)} ({ids}); name one by its id."
            ) from None
        raise ManageError(str(missing)) from None


def run_manage(args: argparse.Namespace) -> int:
    root = Path(args.runs_dir or default_runs_root()).expanduser()
    try:
        if args.runs_action == "delete":
            return _delete(root, args.runs, args.yes)
        if args.runs_action in ("archive", "unarchive"):
            for spec in args.runs:
                run = resolve_run(root, spec)
                update_meta(run.path, archived=args.runs_action == "archive")
                print(f"{args.runs_action}d {run.name}")
            return 0
        run = resolve_run(root, args.run)
        if args.runs_action == "rename":
            meta = update_meta(run.path, display_name=args.name)
            print(
                f"{run.name} is now shown as {meta.display_name}"
                if meta.display_name
                else f"{run.name} has no display name"
            )
        elif args.runs_action in ("tag", "untag"):
            tags = parse_tags(" ".join(args.tags))
            meta = change_tags(run.path, add=tags) if args.runs_action == "tag" else change_tags(run.path, remove=tags)
            print(f"{run.name}: tags {', '.join(meta.tags) or '(none)'}")
        elif args.runs_action == "note":
            update_meta(run.path, notes=args.text)
            print(f"{run.name}: notes {'saved' if args.text else 'cleared'}")
    except (MetaError, RunError) as error:
        raise ManageError(str(error)) from None
    return 0


def _delete(root: Path, specs: list[str], yes: bool) -> int:
    runs = [resolve_run(root, spec) for spec in specs]
    if not yes:
        if not sys.stdin.isatty():
            raise ManageError("Deleting asks first; pass --yes to delete without asking (stdin is not a terminal).")
        shown = ", ".join(read_meta(run.path).label(run.name) for run in runs)
        answer = input(f"Delete {len(runs)} run{'s' if len(runs) > 1 else ''} ({shown}) and all their files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    failed = 0
    for run in runs:
        try:
            delete_run(run)
        except RunError as error:
            print(f"rnn-tui: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"deleted {run.name}")
    return 2 if failed else 0
