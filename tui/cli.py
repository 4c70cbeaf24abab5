"""The `rnn-tui` command line: the app by default, headless subcommands for scripts and SSH."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from corpora.userdirs import config_dir
from engine.cells import CELL_NAMES
from tui import export_cli, generate_cli, headless, inspect_cli, queue_cli, serve


class UsageError(Exception):
    """A bad argument: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr rather than usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def default_keymap_path() -> Path:
    """keymap.json in the user config folder (Linux: $XDG_CONFIG_HOME/rnn-tui, by default ~/.config/rnn-tui)."""
    return config_dir() / "keymap.json"


def _add_step_parser(subparsers: argparse._SubParsersAction) -> None:
    step = subparsers.add_parser(
        "step",
        help="print a step-by-step trace of one recurrent layer",
        description="Recompute a torch RNN/LSTM/GRU one time step at a time and print every intermediate.",
    )
    step.add_argument("--cell", choices=CELL_NAMES, default="rnn")
    step.add_argument("--nonlinearity", choices=["tanh", "relu"], default="tanh", help="RNN cells only")
    step.add_argument("--input-size", type=str, default="5", metavar="N")
    step.add_argument("--hidden-size", type=str, default="2", metavar="N")
    step.add_argument("--layers", type=str, default="1", metavar="N")
    step.add_argument("--bidirectional", action="store_true")
    step.add_argument(
        "--seed", type=str, default="1", metavar="S", help="torch.manual_seed(S) before the layer is built"
    )
    step.add_argument(
        "--input",
        type=str,
        default=None,
        metavar="SEQ",
        help='time steps separated by ";", features by ","; default: the chapter\'s "1,1,1,1,1; 2,2,2,2,2; 3,3,3,3,3"',
    )
    step.add_argument(
        "--random", type=str, default=None, metavar="T", help="a seeded random sequence of T steps instead of --input"
    )
    step.add_argument(
        "--w-hh-scale", type=str, default="1", metavar="F", help="multiply W_hh by F (exploding-gradient demos)"
    )
    step.add_argument(
        "--truncate", type=str, default=None, metavar="K", help="truncated BPTT window for the gradient norms"
    )
    step.add_argument(
        "--clip", type=str, default=None, metavar="C", help="clip_grad_norm_ threshold for the gradient norms"
    )
    step.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def _add_corpus_parser(subparsers: argparse._SubParsersAction) -> None:
    corpus = subparsers.add_parser("corpus", help="inspect a data source before training")
    corpus_commands = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    show = corpus_commands.add_parser(
        "show",
        help="describe a text or review corpus",
        description="SOURCE is a file path, a folder, gutenberg:ID or imdb.",
    )
    show.add_argument("source", metavar="SOURCE")
    show.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnn-tui",
        description="A terminal lab for recurrent neural networks. Run without a command to open the app.",
    )
    parser.add_argument(
        "--keymap",
        default=None,
        metavar="FILE",
        help=f"JSON object of binding ids to keys (default: {default_keymap_path()} when it exists)",
    )
    parser.add_argument(
        "--runs-dir",
        dest="app_runs_dir",
        default=None,
        metavar="DIR",
        help="where the Train pane finds runs (default: $RNN_TUI_RUNS or ~/.local/share/rnn-tui/runs)",
    )
    parser.add_argument(
        "--run",
        dest="app_run",
        default=None,
        metavar="RUN",
        help="open the app with this trained run inspected in the Stepper: a run name (see rnn-tui runs), "
        "a run directory or a .pt file",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_step_parser(subparsers)
    _add_corpus_parser(subparsers)
    headless.add_train_parser(subparsers)
    headless.add_runs_parser(subparsers)
    queue_cli.add_queue_parser(subparsers)
    queue_cli.add_sweep_parser(subparsers)
    generate_cli.add_generate_parser(subparsers)
    generate_cli.add_classify_parser(subparsers)
    inspect_cli.add_inspect_parser(subparsers)
    export_cli.add_export_parser(subparsers)
    serve.add_serve_parser(subparsers)
    return parser


def _run_step(args: argparse.Namespace) -> int:
    from engine.stepper.scenario import StepperInputError, config_from_strings

    try:
        config = config_from_strings(
            cell=args.cell,
            nonlinearity=args.nonlinearity,
            input_size=args.input_size,
            hidden_size=args.hidden_size,
            num_layers=args.layers,
            bidirectional=args.bidirectional,
            seed=args.seed,
            sequence=args.input,
            random_length=args.random,
            w_hh_scale=args.w_hh_scale,
            truncation=args.truncate,
            clip=args.clip,
        )
    except StepperInputError as error:
        raise UsageError(str(error)) from None

    from engine.stepper.run import run_stepper

    result = run_stepper(config)
    if args.json:
        json.dump(result.to_json(), sys.stdout)
        sys.stdout.write("\n")
    else:
        from tui.stepper.report import render_text

        sys.stdout.write(render_text(result))
    return 0


def _run_corpus(args: argparse.Namespace) -> int:
    from corpora.errors import CorpusError
    from corpora.report import describe_source, render_text

    try:
        info = describe_source(args.source)
    except CorpusError as error:
        raise UsageError(str(error)) from None
    if args.json:
        json.dump(info, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(info))
    return 0


def _check_app_args(args: argparse.Namespace) -> dict[str, str]:
    """The keymap the app will use, after checking it and --run (UsageError with one sentence)."""
    from tui.app import RnnTuiApp
    from tui.bindings import binding_ids
    from tui.keymap import KeymapError, load_keymap

    path = args.keymap or (default_keymap_path() if default_keymap_path().exists() else None)
    try:
        keymap = load_keymap(path, binding_ids(RnnTuiApp)) if path else {}
    except KeymapError as error:
        raise UsageError(str(error)) from None
    if args.app_run is not None:
        from engine.generation.loading import locate_checkpoint  # finds the checkpoint without torch
        from engine.generation.settings import GenerateInputError

        try:
            locate_checkpoint(args.app_run, args.app_runs_dir)
        except GenerateInputError as error:
            raise UsageError(str(error)) from None
    return keymap


def _run_app(args: argparse.Namespace) -> int:
    from tui.app import RnnTuiApp

    keymap = _check_app_args(args)
    inspected = {"run": args.app_run} if args.app_run is not None else {}
    RnnTuiApp(keymap=keymap, runs_root=args.app_runs_dir, **inspected).run()
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    args.app_runs_dir = args.serve_runs_dir or args.app_runs_dir
    _check_app_args(args)  # before the server starts: every browser tab would fail on them
    return serve.run_serve(args)


def main(argv: Sequence[str] | None = None) -> int:
    handlers = {
        None: _run_app,
        "step": _run_step,
        "corpus": _run_corpus,
        "train": headless.run_train,
        "runs": headless.run_runs,
    }
    handlers |= {"generate": generate_cli.run_generate, "classify": generate_cli.run_classify}
    handlers |= {"inspect": inspect_cli.run_inspect, "export": export_cli.run_export, "serve": _run_serve}
    handlers |= {"queue": queue_cli.run_queue, "sweep": queue_cli.run_sweep}
    try:
        args = build_parser().parse_args(argv)
        return handlers[args.command](args)
    except (UsageError, headless.InputError, export_cli.ExportError, serve.ServeError) as error:
        print(f"rnn-tui: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
