"""The NCCL path of distributed training on one GPU: one rank under torchrun and DDP, beside the plain job.

Trains the charlm `default` preset on `cuda` twice, for the same number of steps, in a scratch runs
directory:
  - plain: the ordinary single-process job (`engine.training.session.run_training` in this process);
  - ddp:   the distributed job with one rank (`engine.training.launcher.launch`, the code a job process
           runs for `--nproc-per-node N`): torchrun starts the rank, which joins an NCCL process
           group on cuda:0, wraps the model in DistributedDataParallel and agrees with itself on
           control and loss each step.
Prints each side's tokens/s (the jobs' own figure), the DDP run's backend and rank devices as
status.json records them, and how far apart the two runs' parameters ended (they see the same
batches; GPU kernels need not be bitwise deterministic, so this is reported, not asserted). Prints
one JSON object and writes it to --out. Without CUDA it says so and exits 0; `--device cpu` runs the
same check on gloo (a smoke test of this script).

Usage: python bench/ddp_gpu_check.py [--text NOVEL.txt] [--steps 300] [--device cuda|cpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from engine.training.checkpoint import load_checkpoint  # noqa: E402
from engine.training.config import parse_train_config  # noqa: E402
from engine.training.jobs import create_run  # noqa: E402
from engine.training.runs import RunDir  # noqa: E402

DEFAULT_TEXT = REPO.parent / "shared" / "data" / "mysterious_island_1268-0.txt"


def side(run: RunDir, wall: float) -> dict:
    status = run.status()
    records, _ = run.read_metrics()
    rates = [r["throughput"] for r in records if r.get("throughput")]
    return {
        "state": status.state,
        "error": status.error,
        "steps": status.step,
        "wall_s": round(wall, 2),
        "tokens_per_s": status.throughput,
        "tokens_per_s_median": sorted(rates)[len(rates) // 2] if rates else None,
        "device": status.device,
        "amp": status.extra.get("amp"),
        "backend": status.extra.get("backend"),
        "rank_devices": status.extra.get("rank_devices"),
        "run": str(run.path),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument(
        "--device", default="cuda", choices=["cuda", "cpu"], help="cpu only to smoke-test this script (gloo)"
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.device == "cuda" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(
            f"No CUDA GPU with NCCL here (torch {torch.__version__}, {build}): this script checks the NCCL path; nothing to do."
        )
        return 0
    if not args.text.is_file():
        raise SystemExit(f"{args.text} is missing; pass --text NOVEL.txt.")
    from engine.training.launcher import launch
    from engine.training.session import run_training
    from engine.training.worker import record_failure

    root = Path(tempfile.mkdtemp(prefix="rnn-tui-ddp-gpu-"))
    settings = {
        "data": str(args.text),
        "device": args.device,
        "steps": args.steps,
        "eval_every": args.steps,
        "checkpoint_every": args.steps,
        "sample_every": 0,
        "log_every": 10,
        "dist_timeout": 120,
    }
    report: dict = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "nccl": ".".join(map(str, torch.cuda.nccl.version())) if args.device == "cuda" else None,
    }

    config = parse_train_config("charlm", "default", **settings)
    plain = create_run(root, config)
    start = time.perf_counter()
    run_training(plain, config)
    report["plain"] = side(plain, time.perf_counter() - start)
    print(json.dumps({"plain": report["plain"]}), flush=True)

    config = parse_train_config("charlm", "default", **settings, nproc_per_node=1)
    ddp = create_run(root, config)
    start = time.perf_counter()
    code = launch(
        ddp, config, record_failure
    )  # torchrun → python -m engine.training.worker RUN --rank → NCCL group of one
    report["ddp"] = {**side(ddp, time.perf_counter() - start), "exit_status": code}
    print(json.dumps({"ddp": report["ddp"]}), flush=True)

    if report["plain"]["state"] == report["ddp"]["state"] == "done":
        a, b = (load_checkpoint(run.checkpoints / "last.pt")["model"] for run in (plain, ddp))
        report["max_param_diff"] = max(float((a[key] - b[key]).abs().max()) for key in a)
    expected_backend = "nccl" if args.device == "cuda" else "gloo"
    report["ok"] = report["ddp"]["state"] == "done" and report["ddp"]["backend"] == expected_backend
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    plain_rate, ddp_rate = report["plain"]["tokens_per_s"], report["ddp"]["tokens_per_s"]
    if plain_rate and ddp_rate:
        print(
            f"tokens/s: plain {plain_rate:,.0f} · DDP on 1 rank ({expected_backend}) {ddp_rate:,.0f} ({ddp_rate / plain_rate:.2f}×)"
        )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
