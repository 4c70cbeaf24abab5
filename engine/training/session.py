"""Running one training job in this process: the registry of jobs, and `run_training`.

The trainer (engine.training.trainer) owns the loop and knows no job; each job (charlm, sentiment)
subclasses it. This module is where the two meet: `TRAINERS` maps a config's job to its Trainer,
so adding a job is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.training.charlm import CharLMTrainer
from engine.training.checkpoint import LAST, load_checkpoint
from engine.training.config import TrainConfig
from engine.training.distributed import Group, job_device
from engine.training.errors import JobInputError
from engine.training.runs import RunDir
from engine.training.sentiment import SentimentTrainer
from engine.training.tb_events import BoardRunDir
from engine.training.trainer import Trainer, resolve_amp

TRAINERS: dict[str, type[Trainer]] = {"charlm": CharLMTrainer, "sentiment": SentimentTrainer}


def run_training(
    run: RunDir,
    config: TrainConfig,
    *,
    stop_requested: Callable[[], bool] = lambda: False,
    group: Group | None = None,
    between_steps: Callable[[], object] | None = None,
) -> str:
    """Train `run` in this process (from its last.pt when it has one); returns "done" or "stopped".

    `group` is this rank's place in a distributed run (engine.training.distributed.join); rank 0 reads the
    checkpoint and sends its bytes to the others. Errors propagate (the worker turns them into a
    failed status); the final status is written here. `between_steps` is called between steps (the
    job's thread share, engine.training.threads).
    """
    if group is None:
        group = Group(device=job_device(config.device))
    elif group.problem:
        raise JobInputError(group.problem)
    device = group.device
    amp = resolve_amp(config.amp, device)
    last = run.checkpoints / LAST
    content = group.broadcast_bytes(last.read_bytes() if group.main and last.exists() else None)
    checkpoint = load_checkpoint(last, content) if content is not None else None
    if group.main and type(run) is RunDir:  # rank 0 mirrors its records to TensorBoard (when it is installed)
        run = BoardRunDir(run.path)
    trainer_class = TRAINERS[config.job]
    trainer = trainer_class(run, config, device, amp, group)
    trainer.stop_requested = stop_requested
    if between_steps is not None:
        trainer.control.between_steps = between_steps
    trainer.setup(checkpoint)
    try:
        return _train(trainer, run, config, group, checkpoint is not None)
    finally:
        if isinstance(run, BoardRunDir):
            run.close_board()


def _train(trainer: Trainer, run: RunDir, config: TrainConfig, group: Group, resumed: bool) -> str:
    device, amp = trainer.device, trainer.amp
    if isinstance(run, BoardRunDir):
        run.open_board(trainer.elapsed)  # after setup: a resume has cut metrics.jsonl back to its checkpoint
    if group.main:
        if resumed:
            print(f"resumed from step {trainer.step:,} of {trainer.total:,}", flush=True)
        ranks = f" · {group.backend}" if group.distributed else ""
        print(
            f"{config.describe()} · device {device} · amp {'bf16' if amp else 'off'} · {torch.get_num_threads()} threads{ranks}",
            flush=True,
        )
    state = trainer.train()
    trainer.finish_status(state)
    return state
