"""`rnn-tui generate` and `rnn-tui classify`: talk to what you trained, from a shell or a script.

`generate` prints the prompt, then streams the generated characters to stdout as they are drawn
(flushed every 10 ms, so they stream through a pipe too). `classify` prints the label and its
probability, with `--words` each word's occlusion score and with `--json` one JSON object.
Messages go to stderr. Bad input exits 2 with one line (`rnn-tui: <sentence>`), Ctrl+C exits
130, and a closed pipe (`| head`) exits 0 quietly.

Nothing here imports torch until a command runs (the `rnn-tui` entry point stays light).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from engine.devices import DEVICES
from engine.generation.loading import default_run, load_model
from engine.generation.settings import MAX_LENGTH, GenerateInputError, unescape_stop
from engine.training.runs import default_runs_root
from tui.headless import InputError

#: Generated characters are flushed to stdout at most this often (the first one at once): a pipe
#: write per character costs the reader a wake-up each, about a third of the speed on 2 cores.
FLUSH_INTERVAL_S = 0.01


def _run_options(parser: argparse.ArgumentParser, job: str) -> None:
    parser.add_argument(
        "--run",
        default=None,
        metavar="RUN",
        help=f"a run name (see rnn-tui runs), a run directory or a .pt file (default: the newest {job} run with a best checkpoint)",
    )
    parser.add_argument(
        "--device", default="cpu", metavar="|".join(DEVICES), help="where the model runs (default: cpu)"
    )
    parser.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )


def add_generate_parser(subparsers: argparse._SubParsersAction) -> None:
    generate = subparsers.add_parser(
        "generate",
        help="continue a prompt with a trained character model",
        description="Print the prompt, then stream characters drawn from a character model (charlm run) after it.",
    )
    _run_options(generate, "charlm")
    generate.add_argument(
        "--prompt", default=None, metavar="TEXT", help="the text to continue (default: the run's sample prompt)"
    )
    generate.add_argument(
        "--temperature",
        default="1",
        metavar="T",
        help="≥ 0; lower is safer, 0 always picks the likeliest (the book's scale_factor is 1/T)",
    )
    generate.add_argument(
        "--top-k", default="0", metavar="K", help="draw only from the K likeliest characters (0: off)"
    )
    generate.add_argument(
        "--top-p",
        default="1",
        metavar="P",
        help="draw only from the likeliest characters that make up P of the probability, 0 < P ≤ 1 (1: off)",
    )
    generate.add_argument(
        "--length", default="500", metavar="N", help=f"characters to generate, 1 to {MAX_LENGTH:,} (default: 500)"
    )
    generate.add_argument(
        "--seed", default="1", metavar="S", help="same seed, settings and prompt: same text (default: 1)"
    )
    generate.add_argument(
        "--stop", default="", metavar="STR", help=r"stop once this has been generated (\n for a newline)"
    )


def add_classify_parser(subparsers: argparse._SubParsersAction) -> None:
    classify = subparsers.add_parser(
        "classify",
        help="ask a trained sentiment model about a review",
        description="Print the sentiment of TEXT (or of stdin when TEXT is omitted or -) and its probability.",
    )
    classify.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the review (default: read stdin)")
    _run_options(classify, "sentiment")
    classify.add_argument(
        "--words", action="store_true", help="also show how much each word moved the prediction (occlusion)"
    )
    classify.add_argument(
        "--json", action="store_true", help="print one JSON object (probability, logit, label; words with --words)"
    )


def _load(args: argparse.Namespace, job: str) -> Any:
    """The model of --run, or of the newest run of `job` (said on stderr)."""
    root = args.runs_dir or default_runs_root()
    spec: Any = args.run
    if spec is None:
        spec = default_run(root, job)
        if spec is None:
            command = "rnn-tui train charlm" if job == "charlm" else "rnn-tui train sentiment"
            kind = "character-model" if job == "charlm" else "sentiment"
            raise GenerateInputError(
                f"There are no {kind} runs with a checkpoint in {root}; train one with {command}, or pass --run."
            )
    loaded = load_model(spec, job=job, device=args.device, runs_root=root)
    if args.run is None:
        print(f"rnn-tui: using {loaded.name}: {loaded.describe()}", file=sys.stderr)
    return loaded


def quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_generate(args: argparse.Namespace) -> int:
    from engine.generation.sampler import Sampler, prepare_prompt
    from engine.generation.settings import parse_settings

    try:
        settings = parse_settings(
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            length=args.length,
            seed=args.seed,
            stop=unescape_stop(args.stop),
        )
        loaded = _load(args, "charlm")
    except GenerateInputError as error:
        raise InputError(str(error)) from None
    prompt = prepare_prompt(loaded.vocab, loaded.config.sample_prompt if args.prompt is None else args.prompt)
    if prompt.message:
        print(f"rnn-tui: {prompt.message}", file=sys.stderr)
    out = sys.stdout
    pending: list[str] = []  # kept here, not in stdout's buffer: PYTHONUNBUFFERED would write each one at once
    try:
        out.write(prompt.text)  # at once; the state is warmed on it next
        out.flush()
        sampler = Sampler(loaded, prompt.text, settings)
        clock, next_flush = time.monotonic, 0.0
        for char in sampler:
            pending.append(char)
            now = clock()
            if now >= next_flush:  # the first character at once, then every 10 ms: smooth, and few pipe writes
                out.write("".join(pending))
                out.flush()
                pending.clear()
                next_flush = now + FLUSH_INTERVAL_S
        text = "".join(pending)
        last = sampler.text[-1:] or prompt.text[-1:]
        out.write(text + ("" if last == "\n" else "\n"))
        out.flush()
    except BrokenPipeError:
        quiet_stdout()
        return 0
    except KeyboardInterrupt:
        if out.isatty():  # show what was drawn and end the line (to a pipe, which may be full, write nothing)
            try:
                out.write("".join(pending) + "\n")
                out.flush()
            except OSError:
                pass
        else:  # nothing left for the pipe: the interpreter's final flush must not block on it
            quiet_stdout()
        raise
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from engine.generation.classify import check_text, classify

    text = args.text
    if text is None or text == "-":
        if sys.stdin is None:
            raise InputError("There is no text to classify; type or paste a review.")
        if sys.stdin.isatty():
            print("rnn-tui: reading the review from stdin (end it with Ctrl+D)", file=sys.stderr)
        text = sys.stdin.read()
    try:
        check_text(text)
        loaded = _load(args, "sentiment")
        result = classify(loaded, text, attributions=args.words)
    except GenerateInputError as error:
        raise InputError(str(error)) from None
    if result.truncated:
        print(
            f"rnn-tui: the model reads the first {loaded.config.max_length:,} tokens; the last {result.truncated:,} were not seen",
            file=sys.stderr,
        )
    if result.unscored:
        print(f"rnn-tui: {result.unscored_note()}", file=sys.stderr)
    try:
        if args.json:
            json.dump({"run": loaded.name, "checkpoint": str(loaded.checkpoint), **result.to_json()}, sys.stdout)
            sys.stdout.write("\n")
        else:
            shown = result.probability if result.label == "positive" else 1.0 - result.probability
            sys.stdout.write(f"{result.label} {shown:.2f}\n")
            if args.words:
                _print_words(result)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
    return 0


def _print_words(result: Any) -> None:
    """Each token with its contribution: one coloured line on a terminal, else "token +0.41" lines."""
    if not sys.stdout.isatty():
        for word in result.words:
            sys.stdout.write(f"{word.token} {word.contribution:+.2f}\n")
        return
    from rich.console import Console
    from rich.text import Text

    largest = max((abs(word.contribution) for word in result.words), default=0.0) or 1.0
    line = Text()
    for index, word in enumerate(result.words):
        share = abs(word.contribution) / largest
        colour = "green" if word.contribution > 0 else "red"
        style = f"bold {colour}" if share >= 0.5 else colour if share >= 0.1 else "dim"
        if not word.known:
            style += " italic"
        line.append(" " if index else "")
        line.append(f"{word.token}({word.contribution:+.2f})", style=style)
    Console(soft_wrap=False).print(line)
