"""The job process: `python -m engine.training.worker RUN_DIR [--nice N]` (started by engine.training.jobs.start_job).

It trains the run (from its last.pt when it has one) and leaves its outcome in status.json: done,
stopped, or failed with a one-line error and an `error_kind` ("input": a setting or data source
the user can fix; "oom"; "halted": NaN or exploding loss; "checkpoint"; "crash": a bug, traceback
in log.txt; "distributed": a rank was killed or lost contact with the others; "disk": the run
directory could not be written). SIGTERM and SIGINT ask for a stop with a final checkpoint, like the
stop command.

The run's lock (RunDir.lock) is taken first and held for the process's life: it keeps a second
process from training the same run (that one exits with LOCKED_EXIT and changes nothing), tells
viewers whether the job is alive, and guards every change of the run: `--settings JSON` (the new
config of a resume, from start_job) is written to config.json only under it, and the temporary files
of writes a kill interrupted are removed under it.

A run with several processes (config.world_size > 1) makes this process the node's launcher
(engine.training.launcher.launch), which starts the ranks through torchrun as
`python -m engine.training.worker RUN_DIR --rank`; a rank takes no lock (its launcher holds it) and only
rank 0 writes the run directory.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from engine.training.jobs import LOCKED_EXIT
from engine.training.runs import RunDir, RunError, RunWriteError, process_start, write_run_file

DISTRIBUTED_STATUS = ("world_size", "backend", "rank_devices", "rank_pids", "rank_hosts", "nnodes", "node_rank")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--rank", action="store_true", help="one rank of a distributed run, started by torchrun")
    parser.add_argument("--settings", default=None, help="the run's new config (JSON), written under the lock")
    args = parser.parse_args(argv)
    if args.nice:
        with contextlib.suppress(OSError):
            os.nice(args.nice)
        from engine.training.threads import lower_session_priority

        lower_session_priority(args.nice)  # autogroup scheduling would otherwise give the job a full share
    run = RunDir(args.run_dir)
    if args.rank:
        return rank_main(run)
    stop = {"asked": False}

    def ask_stop(signum: int, frame: object) -> None:
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    try:
        lock = run.lock()
    except RunWriteError as error:
        _say(f"failed: {error}")
        return 1
    if lock is None:
        _say(f"another process is training {run.path}; this one leaves it alone")
        return LOCKED_EXIT
    try:
        run.clean_temporary_files()
        if args.settings is not None:
            _change_settings(run, args.settings)
        _mark_loading(run)
    except RunError as error:
        record_failure(run, str(error), getattr(error, "kind", "input"))
        lock.close()
        return 1
    try:
        return train_run(run, lambda: stop["asked"])
    finally:
        lock.close()


def _change_settings(run: RunDir, settings: str) -> None:
    """Write the run's new config (a resume's longer length, another device), holding its lock."""
    from engine.training.config import TrainConfig, TrainConfigError

    try:
        config = TrainConfig.from_dict(json.loads(settings))
    except (ValueError, TypeError, TrainConfigError) as error:
        raise RunError(f"The new settings of {run.name} are not usable ({error}).") from None
    if config.job != run.job:
        raise RunError(f"The run {run.name} trains {run.job}, not {config.job}.")
    write_run_file(run.config_path, (json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n").encode())


def train_run(run: RunDir, stop_requested: Callable[[], bool]) -> int:
    """Train `run` here (or launch its ranks), leaving any failure in its status.json; returns the exit status."""
    from engine.training.jobs import run_config

    try:
        config = run_config(run)
    except RunError as error:
        record_failure(run, str(error), "input")
        return 2
    import torch

    if config.world_size > 1:
        from engine.training.launcher import launch

        return launch(run, config, record_failure)
    from engine.training.session import run_training
    from engine.training.threads import ThreadShare

    share = None
    if config.threads:
        torch.set_num_threads(config.threads)
    else:  # the cores shared out among the jobs running now, and again as they come and go
        share = ThreadShare(torch.set_num_threads)
        share.tune()
    try:
        run_training(run, config, stop_requested=stop_requested, between_steps=share.tune if share else None)
    except Exception as error:
        record_failure(run, *describe_failure(error, config))
        return 1
    return 0


def rank_main(run: RunDir) -> int:
    """One rank of a distributed run: join the others, train, and on failure tell them (and status.json) why."""
    stop = {"asked": False}

    def ask_stop(signum: int, frame: object) -> None:
        stop["asked"] = True  # every rank hears of it at the next step, and all stop there together

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    rank = int(os.environ.get("RANK", "0"))
    config = group = None
    try:
        import torch

        from engine.training.config import TrainConfig
        from engine.training.distributed import join
        from engine.training.jobs import run_config
        from engine.training.runs import ReadOnlyRunDir
        from engine.training.session import run_training

        config = run_config(run)  # this node's copy: it chooses the device and the timeout
        torch.set_num_threads(config.threads_per_process)
        group = join(config)
        settings = group.broadcast_bytes(json.dumps(config.to_dict()).encode())
        assert settings is not None  # every rank gets rank 0's bytes
        config = TrainConfig.from_dict(json.loads(settings))  # every rank trains rank 0's settings
        run_training(
            run if group.main else ReadOnlyRunDir(run.path), config, stop_requested=lambda: stop["asked"], group=group
        )
    except Exception as error:
        from engine.training.distributed import is_communication_error, lost_contact
        from engine.training.errors import TrainingError

        communication = group is not None and is_communication_error(error)
        if communication and not isinstance(error, TrainingError):  # the backend's words: put them in one sentence
            _log_traceback(error)
            message, kind = lost_contact(rank, error), "distributed"
        else:
            message, kind = describe_failure(error, config)
        if group is not None:
            group.publish_failure(message, kind, communication)
            if group.main:
                message, kind = group.root_cause(message, kind, communication)
        if rank == 0:
            record_failure(run, message, kind)
        else:
            print(f"rank {rank} failed: {message}", file=sys.stderr, flush=True)
        return 1
    group.close()
    return 0


def describe_failure(error: Exception, config: object | None) -> tuple[str, str]:
    """The one-line message and error_kind that status.json gets for `error` (tracebacks of bugs go to log.txt)."""
    import torch

    from corpora.errors import CorpusError
    from engine.training.checkpoint import CheckpointError
    from engine.training.errors import TrainingError

    if isinstance(error, TrainingError):
        return str(error), error.kind
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
        where = f" {error.filename}" if error.filename else " its log"  # no file name: a print to log.txt
        return (
            f"The job could not write{where} ({error.strerror}); free some space, then resume the run "
            "(its last checkpoint is intact).",
            "disk",
        )
    if isinstance(error, (CorpusError, RunError)):
        return str(error), "input"
    if isinstance(error, CheckpointError):
        return f"{error} Start a new run, or restore the checkpoint.", "checkpoint"
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        _log_traceback(error)
        device = (
            "the GPU" if getattr(config, "device", "cpu") != "cpu" and torch.cuda.is_available() else "this machine"
        )
        return f"The job ran out of memory on {device}; use a smaller batch size, sequence length or model.", "oom"
    _log_traceback(error)  # a bug: the traceback goes to log.txt, one line to status.json
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"The job crashed with {type(error).__name__}: {first} (the traceback is in log.txt).", "crash"


def _mark_loading(run: RunDir) -> None:
    status = run.status()
    status.state, status.pid, status.error = "running", os.getpid(), None
    status.pid_start = process_start(os.getpid())
    status.started_at = status.updated_at = time.time()
    for key in ("error_kind", *DISTRIBUTED_STATUS):  # a resumed run may train on another number of processes
        status.extra.pop(key, None)
    status.extra["phase"] = "loading"
    run.write_status(status)


def record_failure(run: RunDir, message: str, kind: str) -> None:
    """Mark the run failed with its one-sentence reason: in the log (through stderr) and in status.json.

    Either may be impossible (a full disk, a read-only directory): status.json is then overwritten in
    place, and when even that fails, the log's "failed: …" line is what readers report (RunDir.gone_reason).
    """
    _say(f"failed: {message}")
    status = run.status()
    status.state, status.error, status.updated_at = "failed", message, time.time()
    status.extra["error_kind"] = kind
    status.extra.pop("phase", None)
    try:
        run.write_status(status, last_word=True)
    except RunWriteError as error:
        _say(str(error))


def _log_traceback(error: BaseException) -> None:
    with contextlib.suppress(OSError, ValueError):
        traceback.print_exception(error)


def _say(line: str) -> None:
    """One line to stderr (the run's log), unless that cannot be written either."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
