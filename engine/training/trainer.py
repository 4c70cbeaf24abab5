"""The training loop both jobs share: Adam, LR schedule, clipping, mixed precision, control, metrics and checkpoints.

`run_training(run)` trains the run described by `run.config()` in this process, from its last
checkpoint when there is one, and returns the final state ("done" or "stopped"). A job-specific
`Trainer` subclass (engine.training.charlm, engine.training.sentiment) supplies the data, the loss of one
step, validation and anything extra; this module owns everything else:

- one optimizer step per batch: autocast forward, backward, the gradient norm before clipping,
  a NaN / exploding-loss check (char-rnn's rule: abort when the loss passes 3× the first loss),
  then Adam;
- a metrics record every `log_every` steps (and at each validation), status.json at most twice a
  second, last.pt every `checkpoint_every` steps and at the end, best.pt on each better validation;
- pause, resume and stop requests from control.json, checked between steps.

In a distributed run (engine.training.distributed) every rank runs this loop on its share of each global
batch, with the model under DistributedDataParallel: the ranks agree on control requests and on the
global loss once per step, score validation in shards, and only rank 0 writes the run directory.
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import torch
from torch import nn

from engine.models import build_model
from engine.training.checkpoint import BEST, LAST, rng_state, save_checkpoint, set_rng_state
from engine.training.config import TrainConfig
from engine.training.control import RunControl, Speedometer
from engine.training.distributed import Group
from engine.training.errors import JobInputError, TrainingHalted
from engine.training.runs import RunDir, RunStatus, process_start, write_run_file

EXPLOSION_FACTOR = 3.0


# ---------------------------------------------------------------------------------- machine


def cpu_bf16_pays() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX tiles or AVX512-BF16), where bf16 autocast trains faster than fp32.

    Measured on an AMD EPYC with AVX512-BF16 and no AMX: the `default` character model trains at 41.6k
    tokens/s in bf16 against 31.1k in fp32, with the same loss after 150 steps (1.609 vs 1.610). Without
    either instruction set bf16 is emulated and slower, so "auto" keeps fp32 there.
    """
    cpu = torch.cpu
    probes = (getattr(cpu, "_is_amx_tile_supported", None), getattr(cpu, "_is_avx512_bf16_supported", None))
    return any(bool(probe and probe()) for probe in probes)


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: "auto" picks bf16 on CUDA GPUs that support it and on CPUs with native bf16 (AMX, AVX512-BF16)."""
    if mode == "off":
        return None
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if mode == "bf16" and not supported:
            raise JobInputError("This GPU does not support bf16; use --amp off.")
        return torch.bfloat16 if supported else None
    if device.type == "cpu":
        return torch.bfloat16 if mode == "bf16" or cpu_bf16_pays() else None
    return torch.bfloat16 if mode == "bf16" else None


def lr_factor(config: TrainConfig, step: int, total: int) -> float:
    """The learning-rate multiplier at `step` of `total`: linear warmup, then constant, cosine or linear decay to 0.1."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == "none" or total <= config.warmup_steps:
        return 1.0
    progress = min((step - config.warmup_steps) / max(total - config.warmup_steps, 1), 1.0)
    floor = 0.1
    if config.lr_schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0 - (1 - floor) * progress


def grad_norm(parameters: list[nn.Parameter], clip: float | None) -> float:
    """The total gradient norm before clipping; with `clip`, gradients are then scaled to at most that norm."""
    if clip is not None:
        return float(nn.utils.clip_grad_norm_(parameters, clip))
    return float(nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None]))


# ----------------------------------------------------------------------------------- loop


@dataclass
class StepOutput:
    """What a job's `step_loss` gives back: the loss to minimise, how many items it covered, and job statistics.

    `share` is the fraction of the global batch behind `loss` (a mean over this rank's items): 1 in a
    single process, 1/W on each of W ranks with equal shares.
    """

    loss: torch.Tensor
    items: int
    stats: dict[str, float] = field(default_factory=dict)
    share: float = 1.0


@dataclass
class Window:
    """Training statistics accumulated between two metrics records."""

    steps: int = 0
    loss: float = 0.0
    norm: float = 0.0
    norm_max: float = 0.0
    items: int = 0
    seconds: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)

    def add(self, loss: float, norm: float, out: StepOutput, seconds: float) -> None:
        self.steps += 1
        self.loss += loss
        self.norm += norm
        self.norm_max = max(self.norm_max, norm)
        self.items += out.items
        self.seconds += seconds
        for key, value in out.stats.items():
            self.stats[key] = self.stats.get(key, 0.0) + value


class Trainer(abc.ABC):
    """The shared loop; subclasses fill in the job (see the `# job hooks` below)."""

    unit = "items"  # what throughput counts: "tokens" or "reviews"

    def __init__(
        self,
        run: RunDir,
        config: TrainConfig,
        device: torch.device,
        amp: torch.dtype | None,
        group: Group | None = None,
    ) -> None:
        if group is None:
            group = Group(device=device)
        self.group = group
        self.run = run
        self.config = config
        self.device = device
        self.amp = amp
        self.step = 0
        self.total = 0
        self.batches_per_epoch = 1
        self.elapsed = 0.0  # training wall seconds before this session
        self.eval_time = 0.0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.initial_loss: float | None = None
        self.vocab_data: dict[str, Any] = {}
        self.vocab_size = 0
        self.stop_requested: Callable[[], bool] = lambda: False
        self.control = RunControl(run, group, self._progress, lambda: self.stop_requested())
        self.speed = Speedometer()  # status.json's throughput: the last few windows together

    # ------------------------------------------------------------------ job hooks
    @abc.abstractmethod
    def load_data(self, vocab_data: dict[str, Any] | None) -> None:
        """Load and batch the data; set vocab_data, vocab_size and batches_per_epoch (vocab_data given on resume)."""

    @abc.abstractmethod
    def step_loss(self, step: int) -> StepOutput:
        """The forward pass of training step `step` through `self.net` on this rank's share of the batch (inside autocast)."""

    @abc.abstractmethod
    def evaluate(self) -> Mapping[str, float | None]:
        """Validation metrics, including the one named by config.best_metric (each rank scores a shard; the sums are shared)."""

    def train_metrics(self, window: Window) -> Mapping[str, float | None]:
        """Job-specific training metrics of a window (bits per character, accuracy)."""
        return {}

    def after_step(self, final: bool) -> None:  # noqa: B027 (an optional hook: most jobs do nothing here)
        """Anything done between steps after the bookkeeping (samples)."""

    def finish(self) -> dict[str, Any]:
        """Metrics recorded once when the run completes (the held-out test set)."""
        return {}

    def loop_state(self) -> dict[str, Any]:
        """Extra state to resume exactly (the carried TBPTT state)."""
        return {}

    def load_loop_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (an optional hook)
        """Restore what `loop_state` saved."""

    # ------------------------------------------------------------------ setup
    def setup(self, checkpoint: dict[str, Any] | None) -> None:
        """Data, model and optimizer; restored from `checkpoint` when resuming."""
        self.load_data(checkpoint["vocab"] if checkpoint else None)
        self.total = self.config.steps or (self.config.epochs or 1) * self.batches_per_epoch  # the config gives one
        torch.manual_seed(self.config.seed)
        self.model = build_model(self.config, self.vocab_size).to(self.device)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        decay = self.config.weight_decay
        self.optimizer = (
            torch.optim.AdamW(self.parameters, lr=self.config.lr, weight_decay=decay)
            if decay
            else torch.optim.Adam(self.parameters, lr=self.config.lr)
        )
        if checkpoint:
            self.restore(checkpoint)
        if self.group.main:  # what a killed session logged after its checkpoint (or before the first one) goes
            rewrite_logs(self.run, self.history, self.step)
        self.group.reseed(self.config.seed, self.step)
        self.net = self.group.wrap(self.model)  # what training steps call: the model, under DDP when distributed

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        if checkpoint.get("optimizer") is not None:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.step = int(checkpoint["step"])
        self.elapsed = float(checkpoint.get("elapsed", 0.0))
        self.history = list(checkpoint.get("history", []))
        self.best = checkpoint.get("best")
        loop = checkpoint.get("loop", {})
        self.initial_loss = loop.get("initial_loss")
        self.eval_time = float(loop.get("eval_time", 0.0))
        self.load_loop_state(loop)
        if "rng" in checkpoint:
            set_rng_state(checkpoint["rng"])

    # ------------------------------------------------------------------ the loop
    def train(self) -> str:
        """Train until the total step count or a stop request; returns "done" or "stopped"."""
        config = self.config
        ranks = self.group.gather_json({"device": str(self.device), "pid": os.getpid(), "host": socket.gethostname()})
        status = RunStatus(
            state="running",
            step=self.step,
            total=self.total,
            device=self.device.type,
            pid=self.group.job_pid or os.getpid(),
            pid_start=process_start(self.group.job_pid or os.getpid()),
            started_at=time.time(),
            throughput_unit=f"{self.unit}/s",
            best_metric=config.best_metric,
            best_value=self.best["value"] if self.best else None,
            extra={"amp": "bf16" if self.amp else "off", "epoch": self.step / self.batches_per_epoch},
        )
        if self.group.distributed:
            status.extra.update(
                world_size=self.group.world,
                backend=self.group.backend,
                rank_devices=[rank["device"] for rank in ranks],
                rank_pids=[rank["pid"] for rank in ranks],
                rank_hosts=[rank["host"] for rank in ranks],
            )
        self.control.begin(status, self.step)
        window = Window()
        while self.step < self.total:
            if self.control.poll() == "stop":
                self.save_last()
                return "stopped"
            started = time.perf_counter()
            out, loss, norm = self._optimizer_step()
            window.add(loss, norm, out, time.perf_counter() - started)
            final = self.step == self.total
            evaluate = final or self.step % (config.eval_every or self.batches_per_epoch) == 0
            if evaluate or final or self.step % config.log_every == 0:
                self._record(window, evaluate)
                window = Window()
            self.after_step(final)  # before the checkpoint, so that a resume from it finds this step's sample
            if final or self.step % config.checkpoint_every == 0:
                self.save_last()
            self.control.publish()
        if not (self.history and self.history[-1].get("final")):
            final_metrics = self.finish()
            if final_metrics:
                self.history.append(
                    {"step": self.step, "time": round(self.elapsed_now(), 3), "final": True, **final_metrics}
                )
                if self.group.main:
                    self.run.append_metric(self.history[-1])
                self.save_last()
        return "done"

    def _optimizer_step(self) -> tuple[StepOutput, float, float]:
        config = self.config
        lr = config.lr * lr_factor(config, self.step, self.total)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        with self.autocast():
            out = self.step_loss(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages the ranks' gradients; scaling each rank's mean by share × W makes that the global batch's mean.
        scale = out.share * self.group.world
        (out.loss if scale == 1.0 else out.loss * scale).backward()
        norm = grad_norm(self.parameters, config.clip)  # of the all-reduced gradients: the same on every rank
        loss = float(out.loss.detach())
        if self.group.distributed:  # the global loss and counts, so every rank checks and records the same
            keys = sorted(out.stats)
            totals = self.group.sum([loss * out.share, out.items, *(out.stats[key] for key in keys)])
            loss = totals[0]
            out = StepOutput(out.loss, round(totals[1]), dict(zip(keys, totals[2:], strict=False)))
        self.initial_loss = check_health(loss, norm, self.initial_loss, self.step + 1)
        self.optimizer.step()
        self.step += 1
        return out, loss, norm

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def elapsed_now(self) -> float:
        """Training wall seconds so far, across sessions, without pauses."""
        return self.elapsed + self.control.active_seconds()

    def _progress(self) -> tuple[int, float, float]:
        """(step, epoch, elapsed seconds), for status.json."""
        return self.step, self.step / self.batches_per_epoch, self.elapsed_now()

    def _record(self, window: Window, evaluate: bool) -> None:
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": round(self.step / self.batches_per_epoch, 4),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": window.loss / window.steps,
            "grad_norm": window.norm / window.steps,
            "grad_norm_max": window.norm_max,
            "throughput": window.items / window.seconds if window.seconds else None,
            **self.train_metrics(window),
        }
        if evaluate:
            started = time.perf_counter()
            record.update(self.evaluate())
            self.eval_time += time.perf_counter() - started
            self._update_best(record)
        record["time"] = round(self.elapsed_now(), 3)
        record["eval_time"] = round(self.eval_time, 3)
        self.history.append(record)
        self.control.status.throughput = self.speed.add(window.items, window.seconds)
        if self.group.main:
            self.run.append_metric(record)
            print(_progress_line(record, self.total), flush=True)

    def _update_best(self, record: dict[str, Any]) -> None:
        name = self.config.best_metric
        value = record.get(name)
        if value is None:
            return
        better = self.best is None or (
            value > self.best["value"] if self.config.higher_is_better else value < self.best["value"]
        )
        if better:
            self.best = {"metric": name, "value": value, "step": self.step}
            self.control.status.best_value = value
            self.control.status.extra["best_step"] = self.step
            self._save(BEST, self.checkpoint(with_optimizer=False))

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, *, with_optimizer: bool = True) -> dict[str, Any]:
        return {
            "job": self.config.job,
            "config": self.config.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed_now(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if with_optimizer else None,
            "rng": rng_state(),
            "vocab": self.vocab_data,
            "history": self.history,
            "best": self.best,
            "loop": {"initial_loss": self.initial_loss, "eval_time": self.eval_time, **self.loop_state()},
        }

    def save_last(self) -> None:
        self._save(LAST, self.checkpoint())
        self.control.status.extra["checkpoint_step"] = self.step

    def _save(self, name: str, checkpoint: dict[str, Any]) -> None:
        """Rank 0 writes; every rank builds the checkpoint, since gathering the loop state takes them all."""
        if self.group.main:
            save_checkpoint(self.run.checkpoints / name, checkpoint)

    def finish_status(self, state: str) -> None:
        self.control.finish(state)


def rewrite_logs(run: RunDir, history: list[dict[str, Any]], step: int) -> None:
    """Cut metrics.jsonl and samples.jsonl back to the checkpoint at `step` (0: no checkpoint, start clean).

    A killed session logged records after its last checkpoint (or before its first), then lost those
    steps; the resumed session trains them again, so their old records go (metrics are rewritten from
    the checkpoint's own history).
    """
    if history or run.metrics_path.exists():
        write_run_file(run.metrics_path, "".join(_json_line(record) for record in history).encode())
    if run.samples_path.exists():
        kept = []
        for line in run.samples_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line + "\n")
        write_run_file(run.samples_path, "".join(kept).encode())


def check_health(loss: float, norm: float, initial_loss: float | None, step: int) -> float:
    """The first loss (kept for the explosion check); TrainingHalted for a NaN, an infinity or an explosion at `step`.

    char-rnn's rule: a loss over EXPLOSION_FACTOR × the first loss means the run has diverged.
    """
    advice = "lower the learning rate or set a gradient clip."
    if not math.isfinite(loss):
        raise TrainingHalted(f"The training loss became {loss} at step {step:,}; {advice}")
    if not math.isfinite(norm):
        raise TrainingHalted(f"The gradient norm became {norm} at step {step:,}; {advice}")
    if initial_loss is None:
        return loss
    if loss > EXPLOSION_FACTOR * initial_loss:
        raise TrainingHalted(
            f"The training loss exploded to {loss:.3g} at step {step:,}, over {EXPLOSION_FACTOR:g}× the first loss "
            f"({initial_loss:.3g}); {advice}"
        )
    return initial_loss


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, allow_nan=False) + "\n"


def _progress_line(record: dict[str, Any], total: int) -> str:
    """The log's line per record, char-rnn style."""
    parts = [
        f"step {record['step']:,}/{total:,}",
        f"loss {record['train_loss']:.4f}",
        f"grad {record['grad_norm']:.3g}",
    ]
    parts += [f"{key} {record[key]:.4f}" for key in ("val_loss", "val_acc") if key in record]
    if record.get("throughput"):
        parts.append(f"{record['throughput']:,.0f}/s")
    return " · ".join(parts)


def batches_from(
    make_epoch: Callable[[int], Iterator[Any]], step: int, per_epoch: int, current: Any
) -> tuple[Any, Any]:
    """The batch of `step` from per-epoch iterators, reusing `current` (epoch, index, iterator) when it is in place.

    Returns (batch, new current). A resumed run skips to its place within the epoch.
    """
    epoch, index = divmod(step, per_epoch)
    if current is None or current[0] != epoch or current[1] != index:
        current = (epoch, index, islice(make_epoch(epoch), index, None))
    batch = next(current[2])
    return batch, (epoch, index + 1, current[2])
