"""A distributed job's launcher: the job process of a node, running torchrun's own launcher in process.

`launch(run, config, fail)` starts one rank per local process (`python -m engine.training.worker
RUN --rank`) through `torch.distributed.run`, watches for a stop request, and, when torchrun
reports how the ranks ended, settles the run's status: done, stopped, or failed with the first
rank's reason (see engine.training.distributed for the ranks' side).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from engine.training.config import TrainConfig
from engine.training.distributed import JOB_PID_ENV, job_device
from engine.training.errors import JobInputError
from engine.training.runs import RunDir, RunStatus

MONITOR_INTERVAL_S = 0.2  # how often torchrun's agent looks at its workers


@dataclass(frozen=True)
class RankExit:
    """How one of this node's ranks ended, as torchrun's agent saw it."""

    rank: int
    pid: int
    exitcode: int  # negative: killed by that signal
    time: float = 0.0

    @property
    def signal_name(self) -> str | None:
        if self.exitcode >= 0:
            return None
        try:
            return signal.Signals(-self.exitcode).name
        except ValueError:
            return f"signal {-self.exitcode}"


def settle(status: RunStatus, exits: list[RankExit], signalled: str | None) -> tuple[str, str] | None:
    """The failure the node 0 launcher writes once the ranks have ended, or None to keep rank 0's last word.

    Rank 0 writes done, stopped, or failed with the best error it knows. A rank killed by a signal
    explains "lost contact" better than rank 0 could; and when rank 0 ended without a final state
    (killed itself), what torchrun saw is all there is.
    """
    if status.state in ("done", "stopped"):
        return None
    if status.state == "failed":
        killed = _first_killed(exits)
        return (_killed(killed), "distributed") if killed and status.extra.get("error_kind") == "distributed" else None
    return node_failure(exits, signalled)


def node_failure(exits: list[RankExit], signalled: str | None) -> tuple[str, str]:
    """Why this node's ranks ended badly, from torchrun's record of them (kills first: the others follow from them)."""
    killed = _first_killed(exits)
    if killed:
        return _killed(killed), "distributed"
    failed = [e for e in exits if e.exitcode > 0]
    if failed:
        first = min(failed, key=lambda e: (e.time, e.rank))
        return (
            f"Rank {first.rank} (pid {first.pid}) exited with status {first.exitcode}; its error is in log.txt.",
            "distributed",
        )
    if signalled:
        return (
            f"The job was stopped by {signalled} before its ranks saved a final checkpoint; resume continues from the last one.",
            "distributed",
        )
    return "The ranks ended without a final status; see log.txt.", "distributed"


def _first_killed(exits: list[RankExit]) -> RankExit | None:
    """The first rank killed by a signal other than the SIGTERM with which torchrun tears a failed group down."""
    killed = [e for e in exits if e.exitcode < 0 and e.signal_name != "SIGTERM"]
    return min(killed, key=lambda e: (e.time, e.rank)) if killed else None


def _killed(exit: RankExit) -> str:
    return (
        f"Rank {exit.rank} (pid {exit.pid}) was killed by {exit.signal_name}; the other ranks were stopped, "
        "and resume continues from the last checkpoint."
    )


def torchrun_args(run: RunDir, config: TrainConfig) -> list[str]:
    """The torchrun command line (after `torchrun`) that starts this node's ranks of `run`."""
    args = ["--nproc-per-node", str(config.nproc_per_node), "--nnodes", str(config.nnodes), "--max-restarts", "0"]
    args += ["--monitor-interval", str(MONITOR_INTERVAL_S)]
    if config.nnodes > 1 or config.master_port:
        # static: fixed membership in node-rank order, so global rank 0 is on node 0, beside the run directory
        args += ["--rdzv-backend", "static", "--node-rank", str(config.node_rank)]
        args += ["--master-addr", config.master_addr, "--master-port", str(config.master_port)]
    else:
        args += ["--standalone"]  # c10d on a free local port: runs on one machine never collide
    return [*args, "--module", "engine.training.worker", str(run.path.resolve()), "--rank"]


def check_node(config: TrainConfig) -> torch.device:
    """The device this node's ranks train on; JobInputError when the node cannot run that many of them."""
    device = job_device(config.device)  # "cuda" without CUDA fails here, in one sentence
    if device.type == "mps":
        device = torch.device("cpu")  # auto on a Mac: MPS has no distributed backend
    if device.type == "cuda" and torch.cuda.device_count() < config.nproc_per_node:
        count = torch.cuda.device_count()
        raise JobInputError(
            f"{config.nproc_per_node} processes per node were asked for on CUDA, but this node has {count} GPU"
            f"{'s' if count != 1 else ''}; use --nproc-per-node {count} or fewer, or --device cpu."
        )
    return device


def launch(run: RunDir, config: TrainConfig, fail: Any) -> int:
    """Run this node's ranks of `run` under torchrun and leave the outcome in status.json; returns the exit status.

    `fail(run, message, kind)` writes a failed status (engine.training.worker's). On node 0, rank 0 writes
    status.json while it trains; this function only settles what rank 0 could not say. On another
    node, it writes that node's own status.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    main_node = config.node_rank == 0
    try:
        device = check_node(config)
    except JobInputError as error:
        fail(run, str(error), error.kind)
        return 1
    status = run.status()
    status.device = device.type
    status.extra.update(world_size=config.world_size, nnodes=config.nnodes, node_rank=config.node_rank)
    if not main_node:
        status.extra["phase"] = (
            f"node {config.node_rank} of {config.nnodes}: progress is on node 0 ({config.master_addr})"
        )
    run.write_status(status)
    _watch_stop(run, config.node_rank)
    os.environ[JOB_PID_ENV] = str(os.getpid())
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until torchrun's agent takes the signals over
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    print(f"torchrun {' '.join(torchrun_args(run, config))}", flush=True)
    exits: list[RankExit] = []
    signalled = None
    try:
        torchrun.run(torchrun.get_args_parser().parse_args(torchrun_args(run, config)))
    except ChildFailedError as error:
        exits = [RankExit(rank, f.pid, f.exitcode, f.timestamp) for rank, f in error.failures.items()]
    except SignalException as error:
        signalled = signal.Signals(error.sigval).name
    except Exception as error:  # the rendezvous itself failed (a node never came, a port in use)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        fail(run, f"torchrun could not start the ranks ({type(error).__name__}: {first}).", "distributed")
        return 1
    if main_node:
        settled = settle(run.status(), exits, signalled)
        if settled:
            fail(run, *settled)
        return 0 if run.status().state in ("done", "stopped") else 1
    if exits:
        fail(run, *node_failure(exits, signalled))
        return 1
    status = run.status()
    status.state, status.updated_at = ("stopped" if signalled else "done"), time.time()
    status.extra.pop("phase", None)
    run.write_status(status)
    return 0


def _watch_stop(run: RunDir, node_rank: int) -> None:
    """A stop request that no rank 0 reads (yet) becomes SIGTERM to this launcher.

    On nodes other than 0, Ctrl+C in `rnn-tui train` or `s` in the Train pane ask here; torchrun's
    agent passes the signal to this node's ranks, and they ask all the others to stop with them.
    On node 0 this lasts only until rank 0 takes over status.json (and control.json), so a run
    whose other nodes never come can still be stopped while torchrun waits for them.
    """

    def watch() -> None:
        while True:
            time.sleep(0.5)
            status = run.status()
            if node_rank == 0 and status.extra.get("phase") != "loading":
                return
            if run.pending_command() == "stop" and run.take_command() == "stop":  # a pause waits for rank 0
                status.state, status.updated_at = "stopped", time.time()
                status.extra.pop("phase", None)
                run.write_status(status)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="stop-watch", daemon=True).start()
