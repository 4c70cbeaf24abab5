"""Generation speed: the book's sampling loop, rnn-tui's Sampler, `rnn-tui generate` and the Generate pane, side by side.

All of them draw from the same book-sized character model: Embedding(80, 256) → LSTM(256, 512) →
Linear(512, 80) over the novel's 80 characters (random weights: speed does not depend on them),
or the model of a trained run with `--run`.

  book     the chapter's `sample()` written from scratch in its style: warm the state on the
           prompt one character at a time, then for each character `model(x, hidden, cell)` and
           `Categorical(logits=logits * scale_factor).sample()`, the text grown with `+=`. As
           printed, it runs without `torch.no_grad()`.
  sampler  rnn-tui's engine.generation.sampler.Sampler in this process (what the Generate pane runs).
  cli      `rnn-tui generate` in its own process, streaming to a pipe (it flushes every 10 ms);
           this script reads the pipe and times each character as it arrives. Its clock starts
           when the prompt appears on stdout: the model is loaded by then, and the state is
           warmed on the prompt after it. Process start to prompt is reported apart.
  ui       the Generate pane of a headless app (`--size`, default 80x24), settled after start-up:
           from pressing Enter to each chunk of characters reaching the text view (the pane's
           model process sends them at most 30 times a second).
  ui-rewrap the same pane, its view re-wrapping and redrawing the whole text on every chunk
           instead of appending to the last line: the naive way, a baseline for "flat with length".

For each: the first character's latency (prompt warm-up included), chars/s over all N
characters, over the first 1,000 and over the last 1,000, and the median time per character in
the first and last 1,000 (which a busy machine's pauses barely move). The sampler and cli sides
run `--repeat` times and the run with the median overall rate is shown. The verdicts check issue
5's targets for ours: ≥ 2,000 chars/s, first character ≤ 50 ms, and the last 1,000 no more than 10%
slower than the first 1,000 (speed must not fall as the text grows). On a shared machine other work comes and goes over
seconds, so that last check is also made with both ends measured alternately (two Samplers, one
already at position N − 1,000, drawing 100 characters each in turn): only length differs.

Usage:
  python bench/generate.py [--run RUN] [--runs-dir DIR] [--data DIR] [--length N] [--prompt TEXT]
                           [--only book|sampler|cli|ui|ui-rewrap] [--size 80x24] [--repeat N]
                           [--book-repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import codecs
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import DEFAULT_DATA, load_line, print_header, rnn_tui_command, write_json

TEXT_FILE = "mysterious_island_1268-0.txt"
TARGET_RATE = 2_000.0  # chars/s
TARGET_FIRST_S = 0.050
FLAT_TOLERANCE = 0.10
WINDOW = 1_000


@dataclass
class Side:
    name: str
    what: str
    marks: list[float] = field(default_factory=list)  # seconds since the side's start, one per generated character
    startup_s: float | None = None  # cli: process start to the prompt on stdout
    sample: str = ""
    notes: list[str] = field(default_factory=list)

    def rate(self, first: int, last: int) -> float:
        """chars/s for characters first+1..last, timed from the arrival of character `first` (0: the start)."""
        begin = self.marks[first - 1] if first else 0.0
        return (last - first) / max(self.marks[last - 1] - begin, 1e-9)

    def figures(self) -> dict[str, float | None]:
        n = len(self.marks)
        window = min(WINDOW, n)
        return {
            "first_char_ms": self.marks[0] * 1000 if n else None,
            "chars_per_s": self.rate(0, n) if n else None,
            "first_1000_per_s": self.rate(0, window) if n else None,
            "last_1000_per_s": self.rate(n - window, n) if n else None,
            "first_1000_median_us": self.median_step_us(1, window) if n > 1 else None,
            "last_1000_median_us": self.median_step_us(n - window + 1, n) if n > 1 else None,
            "startup_s": self.startup_s,
        }

    def median_step_us(self, first: int, last: int) -> float | None:
        """The median time per character over characters first..last, robust to a busy machine's pauses.

        Characters that arrive together (the cli's 10 ms batches) share their batch's time: each
        batch counts once, with its gap since the previous arrival divided by its characters.
        """
        per_char: list[float] = []
        index = max(first, 1)
        while index < last:
            end = index
            while end + 1 < last and self.marks[end + 1] == self.marks[index]:
                end += 1
            per_char.append((self.marks[index] - self.marks[index - 1]) / (end - index + 1))
            index = end + 1
        if not per_char:
            return None
        per_char.sort()
        return per_char[len(per_char) // 2] * 1e6


def median_side(runs: list[Side]) -> Side:
    """The run whose overall rate is the median of the repeats (so each side's figures come from one run)."""
    ordered = sorted(runs, key=lambda side: side.rate(0, len(side.marks)))
    chosen = ordered[len(ordered) // 2]
    if len(runs) > 1:
        rates = ", ".join(f"{side.rate(0, len(side.marks)):,.0f}" for side in runs)
        chosen.notes.append(f"median of {len(runs)} runs by overall chars/s ({rates})")
    return chosen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", default=None, help="a trained charlm run (name under --runs-dir, or a path) instead of random weights"
    )
    parser.add_argument("--runs-dir", default=None, help="where --run lives (default: rnn-tui's runs root)")
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help=f"the data directory holding {TEXT_FILE} (for the vocabulary)"
    )
    parser.add_argument(
        "--length", type=int, default=10_000, help="characters to generate on each side (default 10,000)"
    )
    parser.add_argument("--prompt", default="The island")
    parser.add_argument(
        "--only",
        choices=["book", "sampler", "cli", "ui", "ui-rewrap"],
        action="append",
        help="run only these sides (repeatable)",
    )
    parser.add_argument("--size", default="80x24", help="terminal size of the ui sides (default 80x24)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the sampler and cli sides; the median run is shown (default 3)"
    )
    parser.add_argument("--book-repeat", type=int, default=1, help="runs of the book side (default 1: it is slow)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    return parser.parse_args()


def novel_chars(data: str) -> tuple[list[str], str]:
    """The novel's sorted(set(text)), or 80 stand-in characters when the data is absent."""
    path = Path(data) / TEXT_FILE
    if path.is_file():
        from corpora.text import load_text

        text, _ = load_text(str(path))
        return sorted(set(text)), f"the vocabulary of {path.name}"
    chars = sorted(set("\n !\"'(),-.0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz*&[]"))[:80]
    return chars, f"{len(chars)} stand-in characters ({path} not found)"


def book_model_run(root: Path, chars: list[str]) -> str:
    """A charlm run holding a book-sized model with random weights (best.pt), as a trained run would."""
    import torch

    from engine.models import build_model
    from engine.training.checkpoint import save_checkpoint
    from engine.training.config import parse_train_config
    from engine.training.jobs import create_run
    from engine.training.runs import RunStatus

    config = parse_train_config("charlm", "book", data="gutenberg:1268", seed=1)
    run = create_run(root, config, "book-sized-random")
    torch.manual_seed(1)
    model = build_model(config, len(chars))
    save_checkpoint(
        run.checkpoints / "best.pt",
        {
            "job": "charlm",
            "config": config.to_dict(),
            "step": 0,
            "elapsed": 0.0,
            "model": model.state_dict(),
            "optimizer": None,
            "vocab": {"kind": "char", "chars": chars},
            "history": [],
            "best": None,
            "loop": {},
        },
    )
    run.write_status(RunStatus(state="done", updated_at=time.time()))
    return run.name


# ----------------------------------------------------------------------------------- the book


def book_sample(
    model, char2int, char_array, starting_str, len_generated_text=500, scale_factor=1.0, marks=None, start=0.0
):
    """The chapter's `sample()`, as printed (plus `marks`: when each character was appended)."""
    import torch
    from torch.distributions.categorical import Categorical

    encoded_input = torch.tensor([char2int[s] for s in starting_str])
    encoded_input = torch.reshape(encoded_input, (1, -1))
    generated_str = starting_str
    model.eval()
    hidden, cell = model.init_hidden(1)
    for c in range(len(starting_str) - 1):
        _, hidden, cell = model(encoded_input[:, c].view(1), hidden, cell)
    last_char = encoded_input[:, -1]
    for _i in range(len_generated_text):
        logits, hidden, cell = model(last_char.view(1), hidden, cell)
        logits = torch.squeeze(logits, 0)
        scaled_logits = logits * scale_factor
        m = Categorical(logits=scaled_logits)
        last_char = m.sample()
        generated_str += str(char_array[last_char])
        if marks is not None:
            marks.append(time.perf_counter() - start)
    return generated_str


def run_book(loaded, prompt: str, length: int) -> Side:
    import numpy as np
    import torch
    from book_charlm import BookCharRNN

    chars = list(loaded.vocab.chars)
    model = BookCharRNN(len(chars), loaded.config.embed_size, loaded.config.hidden_size)
    model.load_state_dict({name: tensor.cpu() for name, tensor in loaded.model.state_dict().items()})
    char2int = {ch: i for i, ch in enumerate(chars)}
    char_array = np.array(chars)
    side = Side("book", "the chapter's sample(): nn.LSTM per character, Categorical, no no_grad")
    torch.manual_seed(1)
    start = time.perf_counter()
    text = book_sample(model, char2int, char_array, prompt, length, 1.0, side.marks, start)
    side.sample = text[len(prompt) :][:60]
    return side


# ----------------------------------------------------------------------------------- ours


def run_sampler(loaded, prompt: str, length: int) -> Side:
    from engine.generation.sampler import Sampler
    from engine.generation.settings import SamplingSettings

    side = Side("sampler", "engine.generation.sampler.Sampler in-process (the Generate pane's engine)")
    marks = side.marks
    clock = time.perf_counter
    start = clock()
    sampler = Sampler(loaded, prompt, SamplingSettings(length=length, seed=1))
    for _ in sampler:
        marks.append(clock() - start)
    side.sample = sampler.text[:60]
    return side


def interleaved_flatness(loaded, prompt: str, length: int, rounds: int = 10) -> tuple[float, float]:
    """Median µs per character at positions 0–1,000 and (length − 1,000)–length, measured alternately.

    Two Samplers: one fresh, one first brought to position length − 1,000 (untimed). Then 100
    characters from one, 100 from the other, in ABBA order, so that both ends see the same
    machine: other work slows both alike, and the ratio shows what length alone does.
    """
    from engine.generation.sampler import Sampler
    from engine.generation.settings import SamplingSettings

    early = Sampler(loaded, prompt, SamplingSettings(length=length, seed=2))
    late = Sampler(loaded, prompt, SamplingSettings(length=length, seed=3))
    window = min(WINDOW, length)
    for _ in range(length - window):
        late.next_char()
    size = window // rounds
    times: dict[int, list[float]] = {0: [], 1: []}
    clock = time.perf_counter
    for round_ in range(rounds):
        for which in (0, 1) if round_ % 2 == 0 else (1, 0):
            sampler = (early, late)[which]
            start = clock()
            for _ in range(size):
                sampler.next_char()
            times[which].append((clock() - start) / size)
    return tuple(sorted(t)[len(t) // 2] * 1e6 for t in (times[0], times[1]))  # type: ignore[return-value]


def run_cli(spec: str, runs_dir: str | None, prompt: str, length: int) -> Side:
    command = [
        *rnn_tui_command(),
        "generate",
        "--run",
        spec,
        "--prompt",
        prompt,
        "--length",
        str(length),
        "--seed",
        "1",
    ]
    if runs_dir:
        command += ["--runs-dir", runs_dir]
    side = Side("cli", "`rnn-tui generate` streaming to a pipe, timed by the reader")
    decoder = codecs.getincrementaldecoder("utf-8")()
    launched = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = 0  # characters decoded so far, the prompt included
    start: float | None = None
    text: list[str] = []
    try:
        while True:
            chunk = os.read(process.stdout.fileno(), 65536)
            now = time.perf_counter()
            if not chunk:
                break
            piece = decoder.decode(chunk)
            for char in piece:
                seen += 1
                if seen == len(prompt):
                    start = now
                    side.startup_s = now - launched
                elif seen > len(prompt) and len(side.marks) < length:
                    side.marks.append(now - start)
                    text.append(char)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise SystemExit(f"rnn-tui generate failed ({process.returncode}): {process.stderr.read().decode().strip()}")
    side.sample = "".join(text[:60])
    side.notes.append(f"command: {' '.join(command)}")
    return side


# ----------------------------------------------------------------------------------- report


def run_ui(runs_dir: str, spec: str, prompt: str, length: int, *, size: tuple[int, int], rewrap: bool = False) -> Side:
    """The Generate pane of a headless app (Textual's test driver, frames composed but not sent to a terminal).

    Each character is timed when its chunk reaches the text view on the event loop (the worker
    posts chunks at most 30 times a second), from the moment Enter is pressed: the prompt's
    warm-up is included. With `rewrap`, the view re-wraps and redraws its whole text on every
    chunk instead of appending (the naive way, for comparison).
    """
    import asyncio

    from engine.training.runs import RunDir
    from tui.app import RnnTuiApp
    from tui.generate.pane import GeneratePane
    from tui.generate.stream_view import StreamView

    name = "ui-rewrap" if rewrap else "ui"
    how = "re-wrapping the whole text on every chunk" if rewrap else "appending to the last line"
    side = Side(name, f"the Generate pane at {size[0]}×{size[1]} (headless app), {how}; timed as chunks reach the view")

    async def drive() -> None:
        app = RnnTuiApp(runs_root=Path(runs_dir))
        async with app.run_test(size=size) as pilot:
            await pilot.press("f4")
            pane = app.query_one(GeneratePane)
            target = RunDir(Path(spec)) if Path(spec).is_dir() else RunDir(Path(runs_dir) / spec)
            deadline = time.monotonic() + 120
            while pane.loaded["charlm"] is None or pane.loaded["charlm"].run != target:
                if pane.loaded["charlm"] is not None and not pane.is_loading("charlm"):
                    pane.load(target, "charlm")
                if time.monotonic() > deadline:
                    raise SystemExit(f"the pane did not load {target.name} in 120 s")
                await pilot.pause(0.05)
            pane.change(length=length)
            # Let the app settle first (the Stepper builds its first scenario in the background at start-up).
            stepper = app.query_one("#stepper-pane")
            while stepper.result is None:
                await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            view = app.query_one("#gen-out", StreamView)
            append, clear, started = view.append, view.clear, [0.0, False]

            def cleared(text: str = "") -> None:
                started[1] = True  # the prompt itself is not a generated character
                clear(text)
                started[1] = False

            def timed(text: str) -> None:
                if rewrap and not started[1]:
                    view._chunks.append(text)
                    view._rewrap(view._wrap_width)
                    view.refresh()
                else:
                    append(text)
                if not started[1] and text:
                    side.marks.extend([time.perf_counter() - started[0]] * len(text))

            view.append, view.clear = timed, cleared  # type: ignore[method-assign]
            prompt_input = app.query_one("#gen-prompt")
            prompt_input.value = prompt
            prompt_input.focus()
            await pilot.pause()
            started[0] = time.perf_counter()
            await pilot.press("enter")
            deadline = time.monotonic() + 600
            while pane.generating or len(side.marks) < length:
                if time.monotonic() > deadline:
                    raise SystemExit("the pane did not finish in 600 s")
                await pilot.pause(0.05)
            side.sample = view.text[len(prompt) : len(prompt) + 60]

    asyncio.run(drive())
    return side


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "ms":
        return f"{value:,.1f} ms"
    if kind == "s":
        return f"{value:,.2f} s"
    if kind == "us":
        return f"{value:,.0f} µs"
    return f"{value:,.0f}"


def report(sides: list[Side], length: int, interleaved: tuple[float, float] | None = None) -> list[str]:
    rows = [
        ("first character", "first_char_ms", "ms"),
        (f"chars/s over all {length:,}", "chars_per_s", "rate"),
        ("chars/s, first 1,000", "first_1000_per_s", "rate"),
        ("chars/s, last 1,000", "last_1000_per_s", "rate"),
        ("median µs/char, first 1,000", "first_1000_median_us", "us"),
        ("median µs/char, last 1,000", "last_1000_median_us", "us"),
        ("process start to prompt", "startup_s", "s"),
    ]
    figures = {side.name: side.figures() for side in sides}
    column = 16
    print(f"{'':<30}" + "".join(f"{side.name:<{column}}" for side in sides))
    for label, key, kind in rows:
        print(f"{label:<30}" + "".join(f"{fmt(figures[side.name][key], kind):<{column}}" for side in sides))
    ratio_line = []
    for side in sides:
        f = figures[side.name]
        ratio_line.append(f"{f['last_1000_per_s'] / f['first_1000_per_s']:.2f}" if f["first_1000_per_s"] else "—")
    print(f"{'last/first 1,000 rate':<30}" + "".join(f"{r:<{column}}" for r in ratio_line))
    book = figures.get("book")
    if book and book["chars_per_s"]:
        print(
            f"{'speed-up over the book':<30}"
            + "".join(f"{figures[s.name]['chars_per_s'] / book['chars_per_s']:.1f}×".ljust(column) for s in sides)
        )
    print()
    for side in sides:
        print(f"  {side.name}: {side.what}")
        for note in side.notes:
            print(f"    {note}")
        print(f"    first characters: {side.sample!r}")
    print()
    verdicts = []
    for side in sides:
        if side.name in ("book", "ui-rewrap"):  # the baselines
            continue
        f = figures[side.name]
        rate, first = f["chars_per_s"], f["first_char_ms"]
        ratio = f["last_1000_per_s"] / f["first_1000_per_s"]
        verdicts.append(
            f"{side.name}: ≥ {TARGET_RATE:,.0f} chars/s: {'MET' if rate >= TARGET_RATE else 'NOT MET'} ({rate:,.0f})"
        )
        verdicts.append(
            f"{side.name}: first character ≤ {TARGET_FIRST_S * 1000:.0f} ms: {'MET' if first <= TARGET_FIRST_S * 1000 else 'NOT MET'} ({first:.1f} ms)"
        )
        flat = ratio >= 1 - FLAT_TOLERANCE  # the target: speed must not fall as the text grows
        slower = "" if ratio >= 1 else ", slower at the end"
        medians = f["first_1000_median_us"], f["last_1000_median_us"]
        median_ratio = f"; median per-character time ratio {medians[0] / medians[1]:.2f}" if all(medians) else ""
        verdicts.append(
            f"{side.name}: last 1,000 no more than {FLAT_TOLERANCE:.0%} slower than the first 1,000: {'MET' if flat else 'NOT MET'} "
            f"(rate ratio {ratio:.2f}{slower}{median_ratio})"
        )
    if interleaved:
        early, late = interleaved
        flat = early / late >= 1 - FLAT_TOLERANCE
        print(
            f"sampler, both ends measured alternately in {WINDOW // 10}-character slices: {early:,.0f} µs/char at 0–{WINDOW:,}, "
            f"{late:,.0f} µs/char at {length - WINDOW:,}–{length:,}"
        )
        verdicts.append(
            f"sampler, interleaved: last 1,000 no more than {FLAT_TOLERANCE:.0%} slower than the first 1,000: {'MET' if flat else 'NOT MET'} "
            f"(rate ratio {early / late:.2f})"
        )
    for line in verdicts:
        print(line)
    return verdicts


def main() -> None:
    args = parse_args()
    only = set(args.only or ["book", "sampler", "cli", "ui", "ui-rewrap"])
    size = tuple(int(part) for part in args.size.lower().split("x"))
    print_header("Generation speed: the book's sampling loop vs rnn-tui's Sampler and `rnn-tui generate`")
    from engine.generation.loading import load_model

    with tempfile.TemporaryDirectory(prefix="rnn-tui-bench-") as scratch:
        if args.run:
            spec, runs_dir = args.run, args.runs_dir
            model_note = f"the model of run {args.run}"
        else:
            chars, where = novel_chars(args.data)
            spec, runs_dir = book_model_run(Path(scratch), chars), scratch
            model_note = f"E256 H512 LSTM, random weights, {where}"
        loaded = load_model(spec, job="charlm", runs_root=runs_dir)
        print(f"model: {loaded.describe()} — {model_note}, vocabulary of {len(loaded.vocab)}")
        print(
            f"prompt {args.prompt!r}, {args.length:,} characters per side, temperature 1, seed 1; sides run one after another"
        )
        print(flush=True)
        sides = []
        if "book" in only:
            sides.append(
                median_side([run_book(loaded, args.prompt, args.length) for _ in range(max(args.book_repeat, 1))])
            )
        if "sampler" in only:
            sides.append(
                median_side([run_sampler(loaded, args.prompt, args.length) for _ in range(max(args.repeat, 1))])
            )
        if "cli" in only:
            cli_spec = spec if args.run else str(Path(scratch) / spec)
            sides.append(
                median_side([run_cli(cli_spec, runs_dir, args.prompt, args.length) for _ in range(max(args.repeat, 1))])
            )
        for rewrap in (False, True):
            if ("ui-rewrap" if rewrap else "ui") in only:
                ui_spec = spec if args.run else str(Path(scratch) / spec)
                from engine.training.runs import default_runs_root

                sides.append(
                    run_ui(
                        runs_dir or str(default_runs_root()),
                        ui_spec,
                        args.prompt,
                        args.length,
                        size=size,
                        rewrap=rewrap,
                    )
                )
        interleaved = (
            interleaved_flatness(loaded, args.prompt, args.length)
            if "sampler" in only and args.length >= 2 * WINDOW
            else None
        )
        verdicts = report(sides, args.length, interleaved)
    print(load_line("at the end"))
    write_json(args.json, {"length": args.length, "sides": {s.name: s.figures() for s in sides}, "verdicts": verdicts})


if __name__ == "__main__":
    sys.exit(main())
