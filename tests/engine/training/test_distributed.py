"""Distributed training: torchrun launches two ranks on this CPU (gloo), DDP averages their gradients.

Two processes on tiny data end with the parameters of one process training the same global batches;
rank 0 alone writes the run directory; a killed rank fails the run within the collective timeout;
a stopped distributed run resumes with another number of processes. The rest (settings, the
launcher's verdicts, torchrun's command line) is checked without starting processes.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time

import pytest
import torch
from training_helpers import assert_one_sentence, charlm_config, metrics, sentiment_config, wait_for, wait_for_state

from corpora.batching import ReviewBatches
from engine.training.checkpoint import load_checkpoint
from engine.training.config import FORM_FIELDS, TrainConfig, TrainConfigError, parse_train_config, with_changes
from engine.training.distributed import Group, lost_contact
from engine.training.jobs import create_run, start_job
from engine.training.launcher import RankExit, settle, torchrun_args
from engine.training.runs import ReadOnlyRunDir, RunDir, RunStatus, pid_alive
from engine.training.session import run_training
from tui.cli import main
from tui.numbers import fmt_devices, fmt_rank_devices

TIMEOUT = 20  # --dist-timeout of these runs: a collective waits at most this long for the other rank


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def finish(run: RunDir, pid: int, *states: str) -> RunStatus:
    """The run's status once its launcher (and so every rank) has ended."""
    wait_for(lambda: not pid_alive(pid) and not run.job_alive(), timeout=240)  # the lock goes with its last thread
    status = run.status()
    assert status.state in states, f"{status.state}: {status.error}\n" + "\n".join(run.log_tail(40))
    return status


def assert_same_parameters(expected: RunDir, actual: RunDir) -> None:
    ours, theirs = load_checkpoint(actual.checkpoints / "last.pt"), load_checkpoint(expected.checkpoints / "last.pt")
    assert ours["step"] == theirs["step"]
    for key, value in theirs["model"].items():
        assert torch.allclose(ours["model"][key], value, atol=1e-6, rtol=1e-5), (
            key,
            (ours["model"][key] - value).abs().max(),
        )


# ------------------------------------------------------------------------------ two processes


def charlm_windows(text_file, review_folder, **overrides):
    return charlm_config(text_file, steps=30, **overrides)


def sentiment_uneven(text_file, review_folder, **overrides):
    # 99 training reviews in batches of 14: each epoch ends with a batch of 1, which leaves rank 1 nothing.
    return sentiment_config(
        review_folder, epochs=2, batch_size=14, valid_fraction=0.175, dropout=0.0, lr=0.005, **overrides
    )


@pytest.mark.parametrize("make", [charlm_windows, sentiment_uneven], ids=["charlm", "sentiment"])
def test_two_processes_train_as_one_on_the_same_global_batches_and_rank_0_alone_writes(
    runs_root, text_file, review_folder, make
):
    config = make(text_file, review_folder)
    single = create_run(runs_root, config)
    assert run_training(single, config) == "done"
    run = create_run(runs_root, make(text_file, review_folder, nproc_per_node=2, dist_timeout=TIMEOUT))
    pid = start_job(run).pid
    status = finish(run, pid, "done")

    assert_same_parameters(single, run)  # DDP is wired right: the same steps as one process
    ours, theirs = metrics(run), metrics(single)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]  # each record once: rank 0 alone appends
    for mine, reference in zip(ours, theirs, strict=False):
        for key in ("train_loss", "val_loss", "val_acc", "train_acc", "test_acc"):
            if key in reference:  # global figures, not rank 0's share
                assert mine[key] == pytest.approx(reference[key], rel=1e-5), key
    assert all(r["throughput"] > 0 for r in ours if "throughput" in r)

    expected = {"config.json", "status.json", "metrics.jsonl", "log.txt", "checkpoints", ".lock"}
    if config.job == "charlm":
        expected.add("samples.jsonl")
        samples = list(run.samples_path.read_text().splitlines())
        assert len(samples) == len(single.samples_path.read_text().splitlines()) == 2  # steps 20 and 30, once each
    if importlib.util.find_spec("tensorboard") is not None:  # TensorBoard's view of the metrics, one writer
        expected.add("tb")
        assert len(list((run.path / "tb").glob("events.out.tfevents.*"))) == 1
    assert {path.name for path in run.path.iterdir()} == expected
    assert {path.name for path in run.checkpoints.iterdir()} == {"last.pt", "best.pt"}
    assert status.pid == pid and status.step == status.total  # the launcher's pid, written by rank 0
    assert status.extra["world_size"] == 2 and status.extra["rank_devices"] == ["cpu", "cpu"]
    assert status.extra["backend"] == "gloo" and pid not in status.extra["rank_pids"]
    log = "\n".join(run.log_tail(200))
    assert "--nproc-per-node 2" in log and "2 processes" in log
    assert log.count(f"step {status.step}/{status.total}") == 1  # rank 0 alone prints progress


# ------------------------------------------------------------------------------ failures


@pytest.mark.parametrize("victim", [1, 0])
def test_killing_one_rank_fails_the_run_within_the_timeout_and_leaves_no_rank(runs_root, text_file, victim):
    config = charlm_config(
        text_file,
        steps=100_000,
        sample_every=0,
        eval_every=10_000,
        checkpoint_every=20,
        nproc_per_node=2,
        dist_timeout=TIMEOUT,
    )
    run = create_run(runs_root, config)
    pid = start_job(run).pid
    wait_for(lambda: run.status().pid == pid and run.status().extra.get("checkpoint_step", 0) >= 20, timeout=180)
    ranks = run.status().extra["rank_pids"]
    killed_at = time.monotonic()
    os.kill(ranks[victim], signal.SIGKILL)
    status = finish(run, pid, "failed")
    assert time.monotonic() - killed_at < TIMEOUT
    assert not any(pid_alive(rank) for rank in ranks)  # no rank left hanging
    assert status.extra["error_kind"] == "distributed"
    assert status.error.startswith(f"Rank {victim} (pid {ranks[victim]}) was killed by SIGKILL")
    assert_one_sentence(status.error)
    assert load_checkpoint(run.checkpoints / "last.pt")["step"] >= 20


def test_rank_0_names_the_rank_whose_error_it_learns_through_the_store():
    class Store:  # the c10d store's two calls that root_cause uses
        def __init__(self, records):
            self.records = records

        def check(self, keys):
            return all(key in self.records for key in keys)

        def get(self, key):
            return self.records[key]

    import json

    crash = {"rank": 1, "message": "The job crashed with KeyError: 'x' (the traceback is in log.txt).", "kind": "crash"}
    lost = {"rank": 2, "message": "Rank 2 lost contact with the other ranks (…).", "kind": "distributed"}
    store = Store(
        {
            "failed/1": json.dumps({**crash, "communication": False, "time": 2.0}),
            "failed/2": json.dumps({**lost, "communication": True, "time": 1.0}),
        }
    )
    group = Group(rank=0, world=3, store=store)
    assert group.root_cause("Rank 0 lost contact.", "distributed", True) == (f"Rank 1: {crash['message']}", "crash")
    assert group.root_cause("The loss became nan.", "halted", False) == (
        "The loss became nan.",
        "halted",
    )  # its own cause first
    error = RuntimeError(
        "[../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:5521: Connection reset by peer. This is typically caused"
    )
    message = lost_contact(0, error)
    assert "Connection reset by peer" in message and "pair.cc" not in message
    assert_one_sentence(message)


def test_the_launcher_settles_what_rank_0_could_not_say():
    lost = RunStatus(state="failed", error="Rank 0 lost contact…", extra={"error_kind": "distributed"})
    killed = RankExit(rank=1, pid=42, exitcode=-9, time=1.0)
    torn_down = RankExit(rank=0, pid=41, exitcode=-15, time=1.0)  # torchrun's SIGTERM while tearing down: not a cause
    assert settle(lost, [torn_down, killed], None)[0].startswith("Rank 1 (pid 42) was killed by SIGKILL")
    assert settle(RunStatus(state="failed", extra={"error_kind": "input"}), [killed], None) is None  # rank 0 knew why
    assert settle(RunStatus(state="done"), [], None) is None
    assert settle(RunStatus(state="stopped"), [], "SIGTERM") is None
    running = RunStatus(state="running")  # rank 0 ended without a word
    assert settle(running, [RankExit(0, 41, -9)], None)[0].startswith("Rank 0 (pid 41) was killed by SIGKILL")
    assert settle(running, [RankExit(1, 42, 1)], None) == (
        "Rank 1 (pid 42) exited with status 1; its error is in log.txt.",
        "distributed",
    )
    assert "stopped by SIGTERM" in settle(running, [], "SIGTERM")[0]


# ------------------------------------------------------------------------------ resume


def test_a_paused_and_stopped_distributed_run_resumes_on_one_process(runs_root, text_file, capsys):
    settings = dict(steps=150, regime="tbptt", sample_every=0, eval_every=50, checkpoint_every=50, log_every=10)
    reference_config = charlm_config(text_file, **settings)
    reference = create_run(runs_root, reference_config)
    run_training(reference, reference_config)
    # A short timeout: pausing longer than it shows that paused ranks keep answering each other.
    run = create_run(runs_root, charlm_config(text_file, **settings, nproc_per_node=2, dist_timeout=4))
    pid = start_job(run).pid
    wait_for(lambda: run.status().pid == pid and run.status().step > 10, timeout=180)
    run.request("pause")
    paused = wait_for_state(run, "paused")
    time.sleep(5)
    assert run.status().state == "paused" and run.status().step == paused.step
    run.request("resume")
    wait_for(lambda: run.status().state == "running" and run.status().step > paused.step)
    run.request("stop")
    stopped = finish(run, pid, "stopped")
    saved = load_checkpoint(run.checkpoints / "last.pt")
    assert saved["step"] == stopped.step < 150
    h, c = saved["loop"]["carry"]
    assert h.shape == c.shape == (1, 8, 32)  # every stream's state, gathered from both ranks

    assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--nproc-per-node", "1", "--json"]) == 0
    capsys.readouterr()
    status = run.status()
    assert status.state == "done" and "world_size" not in status.extra
    assert f"resumed from step {stopped.step}" in "\n".join(run.log_tail(100))
    assert_same_parameters(reference, run)
    assert [r["step"] for r in metrics(run)] == [r["step"] for r in metrics(reference)]


def test_a_single_process_run_resumes_on_two(runs_root, text_file):
    settings = dict(steps=40, regime="tbptt", sample_every=0, eval_every=20, checkpoint_every=20)
    config = charlm_config(text_file, **settings)
    reference = create_run(runs_root, config)
    run_training(reference, config)
    run = create_run(runs_root, config)
    calls = {"n": 0}

    def stop_after_25_steps() -> bool:
        calls["n"] += 1
        return calls["n"] > 25

    assert run_training(run, config, stop_requested=stop_after_25_steps) == "stopped"
    pid = start_job(run, resume=True, config=with_changes(config, nproc_per_node=2, dist_timeout=TIMEOUT)).pid
    status = finish(run, pid, "done")
    assert status.extra["world_size"] == 2 and "resumed from step 25" in "\n".join(run.log_tail(100))
    assert_same_parameters(reference, run)


# ------------------------------------------------------------------------------ without processes


def test_the_distributed_settings_are_checked_at_once():
    config = parse_train_config("charlm", nproc_per_node=4, threads=8)
    assert (config.world_size, config.threads_per_process) == (4, 2)
    assert config.describe().endswith("4 processes")
    assert parse_train_config("charlm", nproc_per_node=4, threads=2).threads_per_process == 1
    assert "nproc_per_node" in {field.name for field in FORM_FIELDS["charlm"]} & {
        field.name for field in FORM_FIELDS["sentiment"]
    }
    for overrides, fragment in [
        ({"nproc_per_node": 3}, "must split evenly over the 3 processes; use a multiple of 3, such as 30 or 33"),
        ({"nproc_per_node": "0"}, "number of processes per node must be at least 1"),
        ({"nnodes": 2}, "pass --master-addr ADDR and --master-port PORT"),
        ({"nnodes": 2, "node_rank": 2, "master_port": 29500}, "node rank must be below the number of nodes (2)"),
        ({"nproc_per_node": 2, "device": "mps"}, "MPS has no distributed backend"),
        ({"dist_timeout": 0}, "distributed timeout must be at least 1"),
    ]:
        with pytest.raises(TrainConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as error:
            parse_train_config("charlm", **overrides)
        assert_one_sentence(str(error.value))
    distributed = {"nproc_per_node", "nnodes", "node_rank", "master_addr", "master_port", "dist_timeout"}
    older = {key: value for key, value in parse_train_config("charlm").to_dict().items() if key not in distributed}
    assert TrainConfig.from_dict(older).world_size == 1  # a config.json from before distributed training


def test_torchrun_starts_one_node_on_a_free_port_and_several_in_node_rank_order(tmp_path):
    run = RunDir(tmp_path / "run")
    one = torchrun_args(run, parse_train_config("charlm", nproc_per_node=2))
    assert (
        one[:4] == ["--nproc-per-node", "2", "--nnodes", "1"] and "--standalone" in one and "--master-port" not in one
    )
    assert one[-4:] == ["--module", "engine.training.worker", str(run.path.resolve()), "--rank"]
    nodes = parse_train_config(
        "charlm", nproc_per_node=4, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29500
    )
    args = torchrun_args(run, nodes)
    assert "--standalone" not in args
    for flag, value in [
        ("--rdzv-backend", "static"),
        ("--node-rank", "1"),
        ("--master-addr", "10.0.0.1"),
        ("--master-port", "29500"),
    ]:
        assert args[args.index(flag) + 1] == value


def test_a_lone_process_group_and_shards():
    group = Group()
    assert (group.main, group.distributed, group.shard(8)) == (True, False, slice(0, 8))
    assert group.sum([1.5, 2]) == [1.5, 2] and group.agree(2) == 2 and group.broadcast_bytes(b"x") == b"x"
    assert group.gather_json({"a": 1}) == [{"a": 1}]
    shares = [Group(rank=rank, world=3).shard(7) for rank in range(3)]
    assert shares == [slice(0, 2), slice(2, 4), slice(4, 7)]
    assert [Group(rank=rank, world=2).shard(1) for rank in range(2)] == [slice(0, 0), slice(0, 1)]


def test_ranks_other_than_0_see_the_run_directory_read_only(runs_root, text_file):
    run = create_run(runs_root, charlm_config(text_file))
    view = ReadOnlyRunDir(run.path)
    assert view.config() == run.config() and view.status().state == "queued"
    for write in (
        lambda: view.write_status(RunStatus()),
        lambda: view.append_metric({"step": 1}),
        lambda: view.append_sample(1, "x"),
    ):
        with pytest.raises(RuntimeError, match="only rank 0 writes"):
            write()
    assert not run.metrics_path.exists() and not run.samples_path.exists()


def test_review_batches_split_into_shards_that_cover_the_epoch_once(review_folder):
    from corpora.encoding import encode_reviews
    from corpora.reviews import load_reviews

    split = encode_reviews(load_reviews(str(review_folder))).splits["train"]
    batches = ReviewBatches(split, 10, bucket=True)
    everything = [batch.rows.tolist() for batch in batches]
    shards = [[batch.rows.tolist() for batch in batches.epoch(0, shard=(index, 3))] for index in range(3)]
    assert sorted(row for shard in shards for row in shard) == sorted(everything) and shards[1] == everything[1::3]


def test_devices_read_compactly_in_lists_and_in_full_in_the_detail():
    assert fmt_devices("cpu") == "cpu" and fmt_devices("cpu", ["cpu"]) == "cpu"
    assert fmt_devices("cpu", ["cpu", "cpu"]) == "cpu×2"
    assert fmt_devices("cuda", [f"cuda:{i}" for i in range(8)]) == "cuda×8"
    assert fmt_devices("cuda", ["cuda:0", "cpu"]) == "2 ranks"
    assert fmt_rank_devices(["cuda:0", "cuda:1"]) == "2 ranks: cuda:0, cuda:1"
    assert fmt_rank_devices(["cpu"] * 20).endswith("cpu, … +4")


def test_a_resume_may_change_the_process_count_but_not_to_one_that_splits_the_batch_unevenly(
    capsys, runs_root, text_file
):
    run = create_run(runs_root, charlm_config(text_file))
    assert main(["train", "--resume", run.name, "--runs-dir", str(runs_root), "--nproc-per-node", "3"]) == 2
    message = capsys.readouterr().err.strip().removeprefix("rnn-tui: ")
    assert "The batch size (8) is the global batch and must split evenly over the 3 processes" in message
    assert_one_sentence(message)
