"""Data-parallel training on several processes, GPUs or nodes: PyTorch's torchrun launches, DDP all-reduces.

A run whose config asks for more than one process (`nproc_per_node` × `nnodes` > 1) starts like any
other job (`python -m engine.training.worker RUN_DIR`, see engine.training.jobs). That process is the node's
launcher: it calls torchrun's own launcher (`torch.distributed.run`) in process, which starts one
worker per local rank (`python -m engine.training.worker RUN_DIR --rank`) and, when one of them fails, stops
the others (SIGTERM, then SIGKILL) and reports which rank failed and how.

- Rendezvous: one node uses torchrun's c10d rendezvous on a free local port; several nodes use the
  static one (`--nnodes M --node-rank R --master-addr A --master-port P`), so global rank 0 is always
  on node 0, the node that holds the run directory.
- Backend: NCCL when the ranks train on CUDA GPUs (`cuda:LOCAL_RANK`), gloo on CPUs.
- Data: `batch_size` is the global batch. Every rank builds the same global batch from the same
  seeded generator and trains on its own contiguous share (`Group.shard`): a slice of the character
  windows, rows [r·B/W, (r+1)·B/W) of the TBPTT streams (disjoint stream offsets), a slice of the
  (bucketed) review batch. Each rank's loss is the mean over its share, DDP averages the gradients,
  so one step equals a single-process step on the whole batch. Validation and the test set are
  scored in shards and summed.
- Writing: rank 0 alone writes the run directory; the other ranks see it read-only. Rank 0 reads
  control.json, and every step the ranks agree (one small all-reduce) on stop and pause, so they all
  stop at the same step; while paused they keep agreeing every PAUSE_POLL_S, so no collective times out.
- Failures: every collective waits at most `dist_timeout` seconds. A failing rank publishes its
  one-line error in torchrun's c10d store (it reaches node 0 from any node); rank 0, failing in turn,
  writes that error (the first that is not just a lost connection) to status.json. When no rank
  could say why (a rank killed with SIGKILL, or rank 0 itself gone), the node 0 launcher writes what
  torchrun saw. On the other nodes the launcher keeps a run directory of its own for the node's log
  and a status saying whether its ranks ended cleanly; progress, metrics and checkpoints are on node 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from engine.devices import DeviceError, resolve_device
from engine.training.config import TrainConfig
from engine.training.errors import JobInputError, TrainingError

JOB_PID_ENV = "RNN_TUI_JOB_PID"  # the launcher's pid: status.json names it, as it names a single job's process
FAILURE_WAIT_S = 2.0  # how long rank 0, having lost contact, waits for another rank to say why
JOIN_TIMEOUT_S = 600  # how long ranks wait for each other to start (importing torch, on every node)
_COMMUNICATION_MARKERS = (
    "gloo",
    "NCCL",
    "Connection reset",
    "Connection closed",
    "Connection refused",
    "Broken pipe",
    "timed out",
    "Timed out",
)


def job_device(name: str) -> torch.device:
    """The torch device a job asked for; one that is absent is a JobInputError (the run fails with its sentence)."""
    try:
        return resolve_device(name)
    except DeviceError as error:
        raise JobInputError(str(error)) from None


class RankError(TrainingError):
    """A rank that cannot go on with the others (its launcher is gone, or they stopped answering)."""

    kind = "distributed"


@dataclass
class Group:
    """This process's place among the ranks, and the few collectives the trainer needs.

    The default, `Group()`, is a single process: every collective returns its input, so the
    trainer's code is the same with and without torch.distributed.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""
    job_pid: int | None = None  # the launcher's pid, which status.json names (None: this process)
    problem: str | None = None  # why this rank cannot use the device it was given (raised once training starts)
    store: Any = None  # torchrun's c10d store, under our own prefix: failures are published there
    launcher_pid: int | None = None

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the one that writes the run directory."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether this process joined a process group (torchrun; a group of one runs DDP too, as the GPU check does)."""
        return bool(self.backend)

    @property
    def comm_device(self) -> torch.device:
        """Where collective tensors live: the GPU for NCCL, the CPU for gloo."""
        return self.device if self.backend == "nccl" else torch.device("cpu")

    # ------------------------------------------------------------------ data
    def shard(self, count: int) -> slice:
        """This rank's contiguous share of `count` items (equal shares when `count` divides evenly)."""
        return slice(self.rank * count // self.world, (self.rank + 1) * count // self.world)

    def wrap(self, model: nn.Module) -> nn.Module:
        """`model` under DistributedDataParallel when there are several ranks (inputs are moved by the caller)."""
        if not self.distributed:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=None)  # no buffers: nothing synced per forward

    def reseed(self, seed: int, step: int) -> None:
        """Give ranks other than 0 their own dropout stream (rank 0 keeps the single-process one)."""
        if self.rank:
            state = np.random.SeedSequence([seed, step, self.rank]).generate_state(1, np.uint64)[0]
            torch.manual_seed(int(state) % 2**63)

    # ------------------------------------------------------------ collectives
    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the ranks."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def agree(self, code: int) -> int:
        """The largest of the ranks' codes (control requests: stop beats pause beats nothing)."""
        if not self.distributed:
            return code
        tensor = torch.tensor([code], dtype=torch.int64, device=self.comm_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def broadcast_bytes(self, data: bytes | None) -> bytes | None:
        """Rank 0's `data` on every rank (raw bytes: checkpoints are then loaded with weights_only, never unpickled)."""
        if not self.distributed:
            return data
        size = torch.tensor(
            [-1 if data is None else len(data)] if self.main else [0], dtype=torch.int64, device=self.comm_device
        )
        dist.broadcast(size, 0)
        length = int(size.item())
        if length <= 0:
            return None if length < 0 else b""
        buffer = torch.empty(length, dtype=torch.uint8, device=self.comm_device)
        if self.main:
            assert data is not None  # rank 0 sent a length, so it had data
            buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        dist.broadcast(buffer, 0)
        return buffer.cpu().numpy().tobytes()

    def gather_json(self, value: Any) -> list[Any]:
        """Every rank's `value` (plain JSON data), in rank order."""
        if not self.distributed:
            return [value]
        data = json.dumps(value).encode()
        size = torch.tensor([len(data)], dtype=torch.int64, device=self.comm_device)
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        dist.all_gather(sizes, size)
        buffer = torch.zeros(max(int(s.item()) for s in sizes), dtype=torch.uint8, device=self.comm_device)
        buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(self.comm_device)
        buffers = [torch.empty_like(buffer) for _ in range(self.world)]
        dist.all_gather(buffers, buffer)
        return [json.loads(b[: int(s.item())].cpu().numpy().tobytes()) for b, s in zip(buffers, sizes, strict=False)]

    def gather_rows(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        """The ranks' `tensor`s concatenated along `dim` in rank order (the TBPTT state of every stream)."""
        if not self.distributed:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim)

    # ------------------------------------------------------------ lifecycle
    def check_launcher(self) -> None:
        """Stop a rank whose launcher is gone (killed), rather than leave it training alone."""
        if self.launcher_pid and os.getppid() != self.launcher_pid:
            raise RankError(f"The job's launcher (pid {self.launcher_pid}) is gone, so rank {self.rank} stops.")

    def publish_failure(self, message: str, kind: str, communication: bool) -> None:
        """Tell the other ranks (rank 0 above all) why this rank fails; best effort."""
        if self.store is None:
            return
        record = {
            "rank": self.rank,
            "message": message,
            "kind": kind,
            "communication": communication,
            "time": time.time(),
        }
        with contextlib.suppress(Exception):  # the store's host may be gone too: the log still has the error
            self.store.set(f"failed/{self.rank}", json.dumps(record))

    def root_cause(self, message: str, kind: str, communication: bool) -> tuple[str, str]:
        """What rank 0 reports when it fails: its own error, unless it only lost contact and another rank said why."""
        if not communication or self.store is None:
            return message, kind
        others: list[dict[str, Any]] = []
        deadline = time.monotonic() + FAILURE_WAIT_S
        try:
            while True:
                keys = [f"failed/{rank}" for rank in range(1, self.world)]
                others = [json.loads(self.store.get(key)) for key in keys if self.store.check([key])]
                if any(not other["communication"] for other in others) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        except Exception:
            pass
        primary = [other for other in others if not other["communication"]]
        if not primary:
            return message, kind
        first = min(primary, key=lambda other: (other["time"], other["rank"]))
        return f"Rank {first['rank']}: {first['message']}", first["kind"]

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def join(config: TrainConfig) -> Group:
    """Join the other ranks of this torchrun job (RANK, WORLD_SIZE, LOCAL_RANK and the store come from its environment)."""
    rank, world, local_rank = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    wants_cuda = config.device in ("auto", "cuda") and torch.cuda.is_available()
    device, backend, problem = torch.device("cpu"), "gloo", None
    if wants_cuda and local_rank < torch.cuda.device_count():
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)
    elif wants_cuda:
        problem = f"Rank {rank} has no GPU: this node has {torch.cuda.device_count()} and runs more processes; use fewer processes per node."
    elif config.device == "cuda":
        try:
            job_device("cuda")
        except JobInputError as error:
            problem = str(error)
    # Ranks start as fast as their imports allow: meet first with a generous timeout, so that
    # `dist_timeout` bounds the collectives of training, not how long a busy machine takes to import torch.
    store, rank, world = next(
        dist.rendezvous("env://", timeout=timedelta(seconds=max(config.dist_timeout, JOIN_TIMEOUT_S)))
    )
    ours = dist.PrefixStore("rnn-tui/", store)
    if ours.add("joined", 1) == world:
        ours.set("all-joined", "1")
    ours.wait(["all-joined"])
    timeout = timedelta(seconds=config.dist_timeout)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timeout)
    return Group(
        rank=rank,
        world=world,
        local_rank=local_rank,
        device=device,
        backend=backend,
        job_pid=int(os.environ.get(JOB_PID_ENV) or os.getppid()),
        problem=problem,
        store=ours,
        launcher_pid=os.getppid(),
    )


def is_communication_error(error: BaseException) -> bool:
    """Whether `error` only says that the other ranks stopped answering (a consequence, seldom the cause)."""
    if isinstance(error, (RankError, getattr(dist, "DistError", RankError))):
        return True
    return isinstance(error, RuntimeError) and any(marker in str(error) for marker in _COMMUNICATION_MARKERS)


def lost_contact(rank: int, error: BaseException) -> str:
    """One sentence for a rank whose collective failed: the backend's own first line, trimmed."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if text.startswith("[") and "] " in text:  # gloo prefixes its source location
        text = text.split("] ", 1)[1]
    text = text.split(". ")[0].rstrip(".")[:160]
    return f"Rank {rank} lost contact with the other ranks ({text}); another rank failed or stopped answering, see log.txt."
