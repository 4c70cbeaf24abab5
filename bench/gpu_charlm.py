"""Character model on one GPU, issue 16's target: validation loss ≤ 1.20 within 2 minutes of training.

One prepared script for whenever a GPU is at hand. Each recipe ("variant") trains as an rnn-tui job
(`engine.training.jobs`: its own process and run directory, the way `rnn-tui train` starts one) on
`--device` for `--budget` seconds of training time (validation excluded), one after the other, never
two at once. The first variant is the book's recipe (`--preset book`: E256 H512 LSTM, batch 64 of
40-character windows, Adam 5e-3) on the same GPU; the others are candidates for a GPU preset, scaled
for the device (bigger batch and model, bf16 autocast, cuDNN's fused LSTM).

For each variant it prints, at every validation, the step, the training seconds and the validation
loss, then a table: training seconds to each of 1.40, 1.333 (the book's best on the CPU), 1.25 and
1.20, the best validation loss, tokens/s, and the model FLOP utilisation: achieved model FLOP/s
(3 × the forward multiply-adds × 2 per token: the forward pass and the two products of the backward
pass) over the GPU's dense bf16 peak (`--peak-tflops`, or a table of known GPUs).

Validation is the chapter's: the last 10% of the text as 41-character windows every 40, the state
reset for each (rnn-tui's trainer scores exactly these, whatever the training regime).

Usage:
  python bench/gpu_charlm.py [--data DIR] [--budget 120] [--device cuda] [--peak-tflops T]
                             [--variant 'NAME=--preset default --hidden-size 1024 …' …] [--json FILE]
  python bench/gpu_charlm.py --device cpu --quick      # smoke-tests the script on a CPU
With no --variant, the built-in candidates below run. Needs torch with CUDA (exits 2 without it
unless --device cpu).
"""

from __future__ import annotations

import argparse
import math
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import DEFAULT_DATA, Record, load_line, parse_overrides, print_header, run_job, write_json
from side_by_side import training_s

TEXT_FILE = "mysterious_island_1268-0.txt"
TARGETS = (1.40, 1.333, 1.25, 1.20)
QUICK_STEPS = 20

# Candidates for a GPU preset: not tuned yet on a GPU (no GPU was at hand when this was written), so
# the script runs several and the table says which pays. Each is `rnn-tui train` options on a preset.
CANDIDATES: dict[str, str] = {
    "book": "--preset book",
    "wide": (
        "--preset default --embed-size 256 --hidden-size 1024 --layers 1 --batch-size 256 --seq-length 100 "
        "--lr 3e-3 --lr-schedule cosine --warmup-steps 100 --clip 1 --dropout 0.2 --amp bf16 --steps 4000"
    ),
    "deep": (
        "--preset default --embed-size 256 --hidden-size 1024 --layers 2 --batch-size 256 --seq-length 100 "
        "--lr 2e-3 --lr-schedule cosine --warmup-steps 100 --clip 1 --dropout 0.25 --amp bf16 --steps 3000"
    ),
    "deep-tbptt": (
        "--preset default --embed-size 256 --hidden-size 1024 --layers 2 --batch-size 128 --seq-length 200 "
        "--regime tbptt --lr 2e-3 --lr-schedule cosine --warmup-steps 100 --clip 1 --dropout 0.25 --amp bf16 "
        "--steps 3000"
    ),
}

# Dense bf16 tensor-core peaks (TFLOP/s, without sparsity), by a fragment of torch.cuda.get_device_name().
PEAK_BF16_TFLOPS: dict[str, float] = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass
class Result:
    name: str
    options: str
    reached: dict[float, tuple[int, float]] = field(default_factory=dict)  # target → (step, training s)
    best: float | None = None
    best_step: int | None = None
    tokens_per_s: float | None = None
    flops_per_token: float | None = None
    state: str = ""
    notes: list[str] = field(default_factory=list)


def flops_per_token(config: dict[str, Any], vocab: int) -> float:
    """Model FLOPs to train on one character: 3 × forward (forward + the backward's two products), 2 per multiply-add."""
    gates = GATES.get(config["cell"], 4)
    hidden, size = config["hidden_size"], config["embed_size"]
    forward = 0
    for _ in range(config["layers"]):
        forward += gates * hidden * (size + hidden)
        size = hidden
    forward += hidden * vocab
    return 3 * 2 * forward


def peak_tflops(args: argparse.Namespace, device_name: str) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in device_name), None)


def run_variant(name: str, options: str, args: argparse.Namespace, text: Path) -> Result:
    words = shlex.split(options)
    preset = "default"
    if "--preset" in words:
        at = words.index("--preset")
        preset = words[at + 1]
        del words[at : at + 2]
    overrides: dict[str, Any] = {
        "data": str(text),
        "device": args.device,
        "eval_every": args.eval_every,
        "sample_every": 0,
        **parse_overrides(shlex.join(words)),
    }
    if args.quick:
        overrides.update(steps=QUICK_STEPS, eval_every=QUICK_STEPS // 2, checkpoint_every=QUICK_STEPS)
        # a warmup as long as the smoke run itself is refused: keep a short one, so the option still runs
        overrides["warmup_steps"] = min(int(overrides.get("warmup_steps", 0)), QUICK_STEPS // 4)
    result = Result(name, options)
    runs_dir = Path(tempfile.mkdtemp(prefix=f"rnn-tui-gpu-{name}-"))

    def show(record: Record) -> None:
        data = record.data
        if "val_loss" in data:
            print(f"[{name}] step {data['step']:>6,}  val {data['val_loss']:.4f}  training {training_s(data):7.1f} s")

    job = run_job(
        "charlm",
        preset,
        overrides,
        runs_dir=runs_dir,
        max_seconds=None,
        stop_when=lambda data: training_s(data) >= args.budget,
        on_record=show,
    )
    result.state = job.state
    evals = [r.data for r in job.records if "val_loss" in r.data]
    for target in TARGETS:
        hit = next((e for e in evals if e["val_loss"] <= target), None)
        if hit:
            result.reached[target] = (hit["step"], training_s(hit))
    if evals:
        best = min(evals, key=lambda e: e["val_loss"])
        result.best, result.best_step = best["val_loss"], best["step"]
    if job.run_path and evals:
        from engine.training.runs import RunDir

        run = RunDir(job.run_path)
        config = run.config()
        last = evals[-1]
        seconds = training_s(last)
        if seconds > 0:
            result.tokens_per_s = last["step"] * config["batch_size"] * config["seq_length"] / seconds
        vocab = _vocab_size(run.path)
        if vocab:
            result.flops_per_token = flops_per_token(config, vocab)
        result.notes.append(
            f"amp {config['amp']}, batch {config['batch_size']}×{config['seq_length']}, regime {config['regime']}"
        )
    if job.state == "failed" or not evals:
        result.notes.append(f"run {job.state}: " + " | ".join(job.stderr_tail[-3:]))
    shutil.rmtree(runs_dir, ignore_errors=True)
    return result


def _vocab_size(run_path: Path) -> int | None:
    from engine.training.checkpoint import load_checkpoint

    try:
        checkpoint = load_checkpoint(run_path / "checkpoints" / "last.pt")
    except Exception as error:  # a check script reports, it does not hide
        print(f"  (no checkpoint to read the vocabulary from: {error})")
        return None
    return len(checkpoint["vocab"]["chars"])


def print_table(results: list[Result], peak: float | None) -> None:
    heads = [f"to {t:g}" for t in TARGETS]
    print("\n" + " | ".join(["variant", *heads, "best val", "tokens/s", "MFU"]))
    for r in results:
        cells = [r.name]
        for target in TARGETS:
            hit = r.reached.get(target)
            cells.append(f"{hit[1]:.1f} s (step {hit[0]:,})" if hit else "not reached")
        cells.append(f"{r.best:.4f} @ {r.best_step:,}" if r.best is not None and r.best_step is not None else "—")
        cells.append(f"{r.tokens_per_s:,.0f}" if r.tokens_per_s else "—")
        if r.tokens_per_s and r.flops_per_token and peak:
            cells.append(f"{r.tokens_per_s * r.flops_per_token / (peak * 1e12):.1%}")
        else:
            cells.append("—")
        print(" | ".join(cells))
    for r in results:
        print(f"  {r.name}: {r.options}; " + "; ".join(r.notes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder holding {TEXT_FILE}")
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per variant (default: 120)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu only to smoke-test the script")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between validations")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for the MFU")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME='rnn-tui train options' (repeatable; replaces the built-ins)",
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_STEPS} steps a variant")
    parser.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_charlm: CUDA is not available here; this script measures the GPU target.", file=sys.stderr)
        return 2
    text = args.data / TEXT_FILE
    if not text.is_file():
        print(f"gpu_charlm: {text} does not exist; pass --data DIR holding {TEXT_FILE}.", file=sys.stderr)
        return 2
    variants = dict(CANDIDATES)
    if args.variant:
        variants = {}
        for item in args.variant:
            name, equals, options = item.partition("=")
            if not equals or not name:
                print(f"gpu_charlm: --variant wants NAME='options', not {item!r}.", file=sys.stderr)
                return 2
            variants[name] = options
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    peak = peak_tflops(args, device_name)
    print_header(f"Character model on one GPU: time to val loss ≤ 1.20 within {args.budget:g} s of training")
    print(f"device: {device_name}; dense bf16 peak {f'{peak:g} TFLOP/s' if peak else 'unknown (pass --peak-tflops)'}")
    results = [run_variant(name, options, args, text) for name, options in variants.items()]
    print_table(results, peak)
    print(load_line("at the end"))
    write_json(
        args.json_out,
        {
            "device": device_name,
            "peak_tflops": peak,
            "budget_s": args.budget,
            "results": [
                {
                    "name": r.name,
                    "options": r.options,
                    "reached": {str(t): {"step": s, "training_s": sec} for t, (s, sec) in r.reached.items()},
                    "best": r.best,
                    "tokens_per_s": r.tokens_per_s,
                    "mfu": (r.tokens_per_s * r.flops_per_token / (peak * 1e12))
                    if r.tokens_per_s and r.flops_per_token and peak
                    else None,
                    "state": r.state,
                }
                for r in results
            ],
        },
    )
    return 0 if all(math.isfinite(r.best or math.inf) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
