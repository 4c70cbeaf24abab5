"""The CUDA path of both training jobs, with and without bf16, and tokens/s: one script for a lent GPU.

Runs rnn-tui's real trainer (`engine.training.session.run_training`, the code a job process runs) in this
process on `cuda`, for a bounded number of steps per case:
  - charlm default preset, fp32 and bf16 autocast: tokens/s, train and validation loss;
  - sentiment default preset, bf16, one epoch: reviews/s, validation and test accuracy;
then loads the GPU-written checkpoint on the CPU and samples from it (GPU-trained
checkpoints must sample on a laptop). Prints one JSON object and writes it to --out.

Usage: python bench/gpu_check.py --text NOVEL.txt --reviews IMDB_DIR [--steps 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.training.checkpoint import load_checkpoint
from engine.training.config import parse_train_config
from engine.training.jobs import create_run
from engine.training.session import run_training


def train_case(root: Path, job: str, device: str, **overrides) -> dict:
    config = parse_train_config(job, "default", device=device, **overrides)
    run = create_run(root, config)
    start = time.perf_counter()
    state = run_training(run, config)
    wall = time.perf_counter() - start
    status = run.status()
    records, _ = run.read_metrics()
    last_eval = next((r for r in reversed(records) if any(k.startswith("val_") for k in r)), {})
    return {
        "job": job,
        "amp": config.amp,
        "state": state,
        "steps": status.step,
        "wall_s": round(wall, 2),
        "throughput": status.throughput,
        "throughput_unit": status.throughput_unit,
        "device": status.device,
        "best": {status.best_metric: status.best_value},
        "last_eval": {k: v for k, v in last_eval.items() if k.startswith(("val_", "test_", "train_"))},
        "run": str(run.path),
    }


def sample_on_cpu(run_path: str) -> dict:
    """Load a GPU-written checkpoint on the CPU and draw a short sample from it."""
    from corpora.vocab import CharVocab
    from engine.models import build_model
    from engine.training.config import TrainConfig

    checkpoint = load_checkpoint(Path(run_path) / "checkpoints" / "last.pt")
    config = TrainConfig.from_dict(checkpoint["config"])
    vocab = CharVocab(checkpoint["vocab"]["chars"])
    model = build_model(config, len(vocab))
    model.load_state_dict(checkpoint["model"])
    devices = {str(t.device) for t in model.state_dict().values()}
    prompt_text = "".join(c for c in "The island" if c in vocab) or vocab.decode([0])
    prompt = torch.from_numpy(vocab.encode(prompt_text)).long()
    ids = model.sample(prompt, 120, temperature=0.5, generator=torch.Generator().manual_seed(1))
    return {"loaded_on": sorted(devices), "sample": prompt_text + vocab.decode(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", required=True)
    parser.add_argument("--reviews", required=True)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default=None)
    parser.add_argument("--device", default="cuda", help="cpu only to smoke-test this script")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("CUDA is not available here: this script checks the GPU path.")
    report: dict = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "bf16_supported": torch.cuda.is_bf16_supported() if args.device == "cuda" else None,
        "cases": [],
    }
    root = Path(tempfile.mkdtemp(prefix="rnn-tui-gpu-"))
    cadence = {"eval_every": args.steps // 2, "checkpoint_every": args.steps, "sample_every": args.steps}
    for amp in ("off", "bf16"):
        case = train_case(root, "charlm", args.device, data=args.text, amp=amp, steps=args.steps, **cadence)
        report["cases"].append(case)
        print(json.dumps(case), flush=True)
    try:
        report["cpu_sample"] = sample_on_cpu(report["cases"][-1]["run"])
    except Exception as error:  # report, don't hide: this is a check script
        report["cpu_sample"] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(report["cpu_sample"]), flush=True)
    try:
        case = train_case(root, "sentiment", args.device, data=args.reviews, amp="bf16", epochs=1)
    except Exception as error:
        case = {"job": "sentiment", "error": f"{type(error).__name__}: {error}"}
    report["cases"].append(case)
    print(json.dumps(case), flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
