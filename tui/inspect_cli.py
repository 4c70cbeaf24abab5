"""`rnn-tui inspect`: step through your own model on your own text, from a shell or a script.

For a character model: each character with the top units of a layer (h, and for an LSTM c and
the gates i f g o), the likeliest next characters and how likely the true next one was (its
probability, rank and surprise in bits), then the mean bits per character and the max |Δ| between
our recurrence and torch. For a review classifier: each token with P(positive) so far and the top
units, then the final P(positive) (what `rnn-tui classify` says), the tokens that moved it most
and the max |Δ|. `--find START:END` or `--probe NAME` ranks the units that follow a span or a
probe instead; `--json` prints one JSON object (keys in the README). Bad input exits 2 with one
line, `rnn-tui: <sentence>`.

Nothing here imports torch until the command runs (the `rnn-tui` entry point stays light).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.devices import DEVICES
from engine.generation.loading import default_run, load_model
from engine.generation.settings import GenerateInputError
from engine.inspection.inputs import MAX_TEXT, InspectInputError, check_text, parse_span
from engine.numbers import NumberError, parse_whole
from engine.training.runs import default_runs_root
from tui.generate_cli import quiet_stdout
from tui.headless import InputError

DEFAULT_REVIEW = "The plot was dull at first, but the acting is superb and the ending is great."
DEFAULT_TOP = 3  # units per step
SHOWN = 3  # next characters per step, and tokens that moved P(positive) most
DEFAULT_FOUND = 10  # units listed by --find and --probe
MAX_TOP = 1_000


def add_inspect_parser(subparsers: argparse._SubParsersAction) -> None:
    inspect = subparsers.add_parser(
        "inspect",
        help="step through a trained model's units on a text",
        description="Trace a trained character model or review classifier over a text: gates, cell and hidden "
        "states of every unit at every step (recomputed and checked against torch), predictions, and the units "
        "that follow a span or a probe.",
    )
    inspect.add_argument(
        "--run",
        default=None,
        metavar="RUN",
        help="a run name (see rnn-tui runs), a run directory or a .pt file (default: the newest run with a "
        "best checkpoint, a character model if there is one)",
    )
    source = inspect.add_mutually_exclusive_group()
    source.add_argument(
        "--text", default=None, metavar="T", help="the text (default: the run's sample prompt, or a short review)"
    )
    source.add_argument(
        "--file",
        default=None,
        metavar="F",
        help=f"read the text from a UTF-8 file (- for stdin; at most {MAX_TEXT:,} characters)",
    )
    inspect.add_argument("--layer", default=None, metavar="L", help="the layer shown, from 0 (default: the top layer)")
    inspect.add_argument(
        "--top",
        default=None,
        metavar="N",
        help=f"units per step (default {DEFAULT_TOP}; with --find or --probe, units listed, default {DEFAULT_FOUND})",
    )
    inspect.add_argument(
        "--unit", default=None, metavar="U", help="show this one unit at every step instead of the top units"
    )
    inspect.add_argument(
        "--find",
        action="append",
        default=None,
        metavar="START:END",
        help="rank the units that follow these characters of the text (offsets in the text as fed; repeatable)",
    )
    inspect.add_argument(
        "--probe",
        default=None,
        metavar="NAME",
        help='rank the units that follow a built-in probe: "quotes", "line position", "after full stop" or "in word"',
    )
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.add_argument(
        "--device", default="cpu", metavar="|".join(DEVICES), help="where the model runs (default: cpu)"
    )
    inspect.add_argument(
        "--runs-dir", default=None, metavar="DIR", help=f"where runs live (default: {default_runs_root()})"
    )


# ------------------------------------------------------------------------------ input


def _read_file(name: str) -> str:
    """At most MAX_TEXT + 1 characters of the UTF-8 file `name` ("-": stdin); InspectInputError when it cannot be read."""
    try:
        if name == "-":
            if sys.stdin is None:
                raise InspectInputError("There is no text to inspect on stdin; pass --text or --file.")
            if sys.stdin.isatty():
                print("rnn-tui: reading the text from stdin (end it with Ctrl+D)", file=sys.stderr)
            text = sys.stdin.read(MAX_TEXT + 1)
        else:
            with open(Path(name).expanduser(), encoding="utf-8") as handle:
                text = handle.read(MAX_TEXT + 1)
    except UnicodeDecodeError:
        raise InspectInputError(f"The file {name} is not UTF-8 text, so it cannot be inspected.") from None
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise InspectInputError(f"The file {name} cannot be read ({reason}).") from None
    if len(text) > MAX_TEXT:
        raise InspectInputError(
            f"The file {name} has more than {MAX_TEXT:,} characters, the most inspected at once; inspect part of it."
        )
    return text


def _whole(text: str | None, what: str, low: int, high: int | None = None) -> int | None:
    if text is None:
        return None
    value = parse_whole(text, what)
    if value < low or (high is not None and value > high):
        raise InspectInputError(
            f"The {what} must be from {low:,} to {high:,}, not {value:,}."
            if high
            else f"The {what} must be at least {low}, not {value:,}."
        )
    return value


def _load(args: argparse.Namespace) -> Any:
    """The model of --run, or of the newest run with a checkpoint (a character model first), said on stderr."""
    root = args.runs_dir or default_runs_root()
    spec: Any = args.run
    if spec is None:
        spec = default_run(root, "charlm") or default_run(root, "sentiment")
        if spec is None:
            raise GenerateInputError(
                f"There are no runs with a checkpoint in {root}; train one with rnn-tui train charlm (or sentiment), or pass --run."
            )
    loaded = load_model(spec, device=args.device, runs_root=root)
    if args.run is None:
        print(f"rnn-tui: using {loaded.name}: {loaded.describe()}", file=sys.stderr)
    return loaded


def run_inspect(args: argparse.Namespace) -> int:
    from engine.inspection.units import find_units, probe_named

    try:
        top = _whole(args.top, "number of units to show", 1, MAX_TOP)
        layer = _whole(args.layer, "layer", 0)
        unit = _whole(args.unit, "unit", 0)
        spans = [parse_span(span) for span in args.find] if args.find else None
        probe = probe_named(args.probe)[0] if args.probe is not None else None
        if spans and probe:
            raise InspectInputError("Rank units for a span (--find) or for a probe (--probe), not both at once.")
        text = args.text if args.file is None else _read_file(args.file)
        if text is not None:
            check_text(text)
        loaded = _load(args)
        trace = _trace(loaded, text)
        layer = trace.layer_count - 1 if layer is None else layer
        trace.check_layer(layer)
        if unit is not None:
            trace.check_unit(unit)
        found = None
        if spans or probe:
            units = find_units(trace, layer, spans=spans, probe=probe, top=top or DEFAULT_FOUND)
            found = {"spans": spans, "probe": probe, "units": units}
    except (GenerateInputError, InspectInputError, NumberError) as error:
        raise InputError(str(error)) from None
    _notices(loaded, trace)
    report = _Report(loaded, trace, layer, unit, top or DEFAULT_TOP, found)
    try:
        if args.json:
            sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")  # dumps: the C encoder
        else:
            sys.stdout.write("".join(line + "\n" for line in report.lines()))
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
    return 0


def _trace(loaded: Any, text: str | None) -> Any:
    if loaded.job == "charlm":
        from engine.inspection.charlm import trace_text

        return trace_text(loaded, loaded.config.sample_prompt if text is None else text)
    from engine.inspection.sentiment import trace_review

    return trace_review(loaded, DEFAULT_REVIEW if text is None else text)


def _notices(loaded: Any, trace: Any) -> None:
    if getattr(trace, "notice", None):
        print(f"rnn-tui: {trace.notice}", file=sys.stderr)
    if getattr(trace, "truncated", 0):
        print(
            f"rnn-tui: the model reads the first {loaded.config.max_length:,} tokens; the last {trace.truncated:,} were not seen",
            file=sys.stderr,
        )


# ------------------------------------------------------------------------------ output


def _signed(value: float) -> str:
    return f"{value:+.3f}"


class _Report:
    """The text lines and the JSON object of one inspection: the same content in two forms."""

    def __init__(self, loaded: Any, trace: Any, layer: int, unit: int | None, top: int, found: dict | None) -> None:
        self.loaded, self.trace, self.layer, self.unit, self.top, self.found = loaded, trace, layer, unit, top, found
        self.charlm = loaded.job == "charlm"
        self._tables: dict[int, Any] = {}
        self._guesses: tuple[list[list[int]], list[list[float]]] | None = None

    # ---------------------------------------------------------------- shared pieces
    def _table(self, direction: int) -> tuple[list[list[int]], list[list[float]], Any, dict[str, Any]]:
        """The units shown at each step with their h, c and gates, gathered for every step at once (as lists)."""
        if direction not in self._tables:
            import torch

            if self.unit is not None:
                units = torch.full((self.trace.length, 1), self.unit, dtype=torch.long)
            else:
                units = self.trace.top_units_every_step(self.layer, self.top, direction)
            h, c, gates = self.trace.at_units(self.layer, units, direction)
            lists = {name: gate.tolist() for name, gate in gates.items()}
            self._tables[direction] = (units.tolist(), h.tolist(), None if c is None else c.tolist(), lists)
        return self._tables[direction]

    def _next(self, t: int) -> list[tuple[str, float]]:
        """The SHOWN likeliest next characters after step t, with their probabilities (gathered once for every step)."""
        if self._guesses is None:
            ids, probs = self.trace.top_next_every_step(SHOWN)
            self._guesses = (ids.tolist(), probs.tolist())
        ids, probs = self._guesses
        return [(self.trace.chars[i], p) for i, p in zip(ids[t], probs[t], strict=True)]

    def _step_units(self, t: int, direction: int = 0) -> list[dict[str, Any]]:
        """Each unit shown at step t: {"unit", "h", "c" (LSTM only), "gates"}."""
        units, h, c, gates = self._table(direction)
        shown = []
        for j, unit in enumerate(units[t]):
            entry: dict[str, Any] = {"unit": unit, "h": h[t][j]}
            if c is not None:
                entry["c"] = c[t][j]
            entry["gates"] = {name: column[t][j] for name, column in gates.items()}
            shown.append(entry)
        return shown

    def _unit_text(self, values: dict[str, Any]) -> str:
        parts = [f"unit {values['unit']:>4}", f"h {_signed(values['h'])}"]
        if "c" in values:
            parts.append(f"c {_signed(values['c'])}")
        pre = self.trace.cell == "rnn"  # an RNN's one "gate" is its pre-activation
        parts += [f"{'pre' if pre else name} {_signed(value)}" for name, value in values["gates"].items()]
        return "  ".join(parts)

    def _top_units_words(self) -> str:
        return f"unit {self.unit}" if self.unit is not None else f"top {self.top} unit{'s' * (self.top > 1)} by |h|"

    def _found_json(self) -> dict[str, Any] | None:
        if self.found is None:
            return None
        from engine.inspection.units import SCORE_DEFINITION

        return {
            "spans": [list(span) for span in self.found["spans"]] if self.found["spans"] else None,
            "probe": self.found["probe"],
            "definition": SCORE_DEFINITION,
            "units": [{"unit": score.unit, "score": score.score} for score in self.found["units"]],
        }

    def _found_lines(self) -> list[str]:
        from engine.inspection.units import PROBES, SCORE_DEFINITION

        assert self.found is not None
        if self.found["probe"]:
            what = f'the probe "{self.found["probe"]}" ({PROBES[self.found["probe"]].description.rstrip(".")})'
        else:
            what = ", ".join(f"{start}:{end} {self.trace.text[start:end]!r}" for start, end in self.found["spans"])
            what = f"the characters {what}"
        lines = [f"units of layer {self.layer} whose h follows {what}:"]
        lines += [
            f"{rank:>4}. unit {score.unit:>4}  {_signed(score.score)}"
            for rank, score in enumerate(self.found["units"], 1)
        ]
        return [*lines, SCORE_DEFINITION]

    def _header(self) -> dict[str, Any]:
        trace = self.trace
        return {
            "run": self.loaded.name,
            "checkpoint": str(self.loaded.checkpoint),
            "job": self.loaded.job,
            "cell": trace.cell,
            "layers": trace.layer_count,
            "hidden_size": trace.hidden_size,
            "layer": self.layer,
            "text": trace.text,
        }

    def lines(self) -> list[str]:
        return self._char_lines() if self.charlm else self._review_lines()

    def to_json(self) -> dict[str, Any]:
        return self._char_json() if self.charlm else self._review_json()

    # ---------------------------------------------------------------- character models
    def _char_json(self) -> dict[str, Any]:
        trace = self.trace
        steps = []
        for t, char in enumerate(trace.text):
            actual = None
            if t < trace.predictions:
                actual = {
                    "char": trace.text[t + 1],
                    "prob": float(trace.true_prob[t]),
                    "rank": int(trace.rank[t]),
                    "bits": float(trace.surprise[t]),
                }
            steps.append(
                {
                    "t": t,
                    "char": char,
                    "units": self._step_units(t),
                    "next": [{"char": char, "prob": prob} for char, prob in self._next(t)],
                    "actual": actual,
                }
            )
        return {
            **self._header(),
            "notice": trace.notice,
            "left_out": list(trace.missing),
            "steps": steps,
            "mean_bits": trace.mean_bits,
            "mean_nats": trace.mean_nats,
            "max_abs_diff": trace.max_diff,
            "found": self._found_json(),
        }

    def _char_lines(self) -> list[str]:
        trace = self.trace
        lines = [] if self.found is None else self._found_lines()
        if self.found is None:
            shown = self._top_units_words()
            lines.append(
                f"layer {self.layer} of {trace.layer_count} ({trace.cell.upper()}, {trace.hidden_size:,} units): {shown} after each character"
            )
            for t, char in enumerate(trace.text):
                guesses = "  ".join(f"{char!r} {prob:.3f}" for char, prob in self._next(t))
                if t < trace.predictions:
                    actual = (
                        f"next {trace.text[t + 1]!r} p {float(trace.true_prob[t]):.3f} rank {int(trace.rank[t])}"
                        f" {float(trace.surprise[t]):.2f} bits"
                    )
                else:
                    actual = "end of the text"
                lines.append(f"{t:>5} {char!r:<6} {actual} | likeliest {guesses}")
                lines += ["      " + self._unit_text(values) for values in self._step_units(t)]
        if trace.mean_bits is None:
            loss = "one character: nothing to predict"
        else:
            loss = f"mean {trace.mean_bits:.3f} bits per character ({trace.mean_nats:.3f} nats) over {trace.predictions:,} predictions"
        return [*lines, f"{loss} · max |Δ| vs torch {trace.max_diff:.1e}"]

    # ---------------------------------------------------------------- review classifiers
    def _directions(self) -> range:
        return range(self.trace.directions)

    def _review_json(self) -> dict[str, Any]:
        trace = self.trace
        steps = []
        for t, token in enumerate(trace.tokens):
            units = {d: self._step_units(t, d) for d in self._directions()}
            steps.append(
                {
                    "t": t,
                    "token": token.text,
                    "span": list(token.span) if token.span else None,
                    "known": token.known,
                    "p_positive": float(trace.running[t]),
                    "units": units[0],
                    "backward_units": units.get(1),
                }
            )
        movers = [
            {"t": m.index, "token": m.token.text, "before": m.before, "after": m.after, "change": m.change}
            for m in trace.movers(SHOWN)
        ]
        return {
            **self._header(),
            "bidirectional": trace.directions == 2,
            "pooling": trace.pooling,
            "truncated": trace.truncated,
            "steps": steps,
            "probability": trace.probability,
            "label": trace.label,
            "movers": movers,
            "max_abs_diff": trace.max_diff,
            "found": self._found_json(),
        }

    def _review_lines(self) -> list[str]:
        trace = self.trace
        lines = [] if self.found is None else self._found_lines()
        if self.found is None:
            shown = self._top_units_words()
            both = " (forward, then backward)" if trace.directions == 2 else ""
            lines.append(
                f"layer {self.layer} of {trace.layer_count} ({trace.cell.upper()}, {trace.hidden_size:,} units){both}: {shown} at each token"
            )
            for t, token in enumerate(trace.tokens):
                name = token.text + ("" if token.known else "*")
                lines.append(f"{t:>5} {name:<14} P(positive) {float(trace.running[t]):.3f}")
                for d in self._directions():
                    side = ("forward  " if d == 0 else "backward ") if trace.directions == 2 else ""
                    lines += [f"      {side}" + self._unit_text(values) for values in self._step_units(t, d)]
            if not all(token.known for token in trace.tokens):
                lines.append("* not in the vocabulary: the model read <unk>")
        shown = trace.probability if trace.label == "positive" else 1.0 - trace.probability
        movers = ", ".join(f"{m.token.text} {m.change:+.3f}" for m in trace.movers(SHOWN))
        lines.append(
            f"{trace.label} {shown:.2f} (P(positive) {trace.probability:.6f}) · moved it most: {movers}"
            f" · max |Δ| vs torch {trace.max_diff:.1e}"
        )
        return lines
