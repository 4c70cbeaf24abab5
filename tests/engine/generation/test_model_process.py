"""The model process on its own: `python -m engine.generation.worker` started as the Generate pane starts it
(engine.training.jobs.child_env) and spoken to in JSON lines, on the tiny runs of conftest.py.

Every wait has a deadline, so a process that hangs fails the test instead of blocking it.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TypeVar

import pytest

from engine.generation.classify import classify
from engine.generation.loading import load_model
from engine.generation.messages import (
    AskCandidates,
    Begin,
    Cancel,
    Candidates,
    Chunk,
    Classified,
    Classify,
    Done,
    Error,
    Generate,
    Load,
    Loaded,
    LoadError,
    Request,
    UpdateSettings,
    WireReply,
    decode_reply,
    encode,
)
from engine.generation.sampler import generate
from engine.generation.settings import SamplingSettings
from engine.training.jobs import child_env
from tests.engine.generation.generation_helpers import make_charlm_run
from tests.messages import assert_one_sentence

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 120.0  # seconds for any one reply: a fresh process imports torch, on a machine that may be busy
LONG = SamplingSettings(length=100_000)

R = TypeVar("R")


class ModelServer:
    """The model process, spoken to as the pane speaks to it; its stderr goes to `log`."""

    def __init__(self, log: Path) -> None:
        self.log = log
        with open(log, "w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.generation.worker"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                bufsize=1,
                env=child_env("1"),
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, message: Request | str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((message if isinstance(message, str) else encode(message)) + "\n")
        self.process.stdin.flush()

    def line(self, timeout: float = TIMEOUT) -> str | None:
        """The next line the process wrote; None once its stdout has closed."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no reply in {timeout:.0f} s; the process's log:\n{self.log.read_text()}") from None

    def reply(self, timeout: float = TIMEOUT) -> WireReply:
        line = self.line(timeout)
        assert line is not None, f"the process ended ({self.process.poll()}); its log:\n{self.log.read_text()}"
        return decode_reply(line)

    def until(self, kind: type[R], timeout: float = TIMEOUT) -> tuple[list[WireReply], R]:
        """The replies before the first one of `kind`, and that one."""
        deadline = time.monotonic() + timeout
        before: list[WireReply] = []
        while True:
            reply = self.reply(max(deadline - time.monotonic(), 0.1))
            if isinstance(reply, kind):
                return before, reply
            before.append(reply)

    def end(self, timeout: float = 30) -> int:
        """Read to the end of stdout (within `timeout`) and give the exit status."""
        deadline = time.monotonic() + timeout
        while self.line(max(deadline - time.monotonic(), 0.1)) is not None:
            pass
        return self.process.wait(timeout=max(deadline - time.monotonic(), 0.1))

    def close(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, charlm_run, sentiment_run):
    """One process that has loaded charlm-tiny and sentiment-tiny; `server.loaded` holds the two Loaded replies."""
    server = ModelServer(tmp_path_factory.mktemp("model-process") / "worker.log")
    server.send(Load("charlm", str(charlm_run.path)))
    server.send(Load("sentiment", str(sentiment_run.path)))
    server.loaded = {reply.job: reply for reply in (server.reply(), server.reply())}
    yield server
    server.close()


@pytest.fixture
def fresh(tmp_path):
    """A process of one's own, to break."""
    server = ModelServer(tmp_path / "worker.log")
    yield server
    server.close()


def texts_of(replies: list[WireReply], done: Done, side: int = 0) -> str:
    return "".join(r.texts[side] for r in replies if isinstance(r, Chunk)) + done.texts[side]


# ------------------------------------------------------------------------------------ loading


def test_loading_says_what_was_loaded(server, charlm_run, sentiment_run, charlm, sentiment):
    for run, model in ((charlm_run, charlm), (sentiment_run, sentiment)):
        assert server.loaded[model.job] == Loaded(
            model.job, str(run.path), model.name, model.describe(), str(model.checkpoint), model.step
        )


# ------------------------------------------------------------------------------------ generating


def test_generation_streams_what_the_sampler_generates_side_by_side(server, charlm):
    left = SamplingSettings(length=300, seed=7, temperature=0.8)
    right = left.replace(temperature=2.0)
    server.send(Generate(1, "the island", (left, right)))
    replies, done = server.until(Done)
    assert replies[0] == Begin(1, ("the island", "the island"), None)
    chunks = [r for r in replies if isinstance(r, Chunk)]
    assert all(r.token == 1 for r in replies) and done.token == 1
    assert [c.produced for c in chunks] == sorted(c.produced for c in chunks)
    assert all(c.candidates and sum(x.prob for x in c.candidates) <= 1 + 1e-6 for c in chunks)
    assert (done.reason, done.produced) == ("length", 300)
    assert texts_of(replies, done, 0) == generate(charlm, "the island", left)
    assert texts_of(replies, done, 1) == generate(charlm, "the island", right)


def test_a_stop_string_ends_the_generation_with_reason_stop(server, charlm):
    settings = SamplingSettings(length=500, seed=2, stop="e")
    server.send(Generate(2, "th", (settings,)))
    replies, done = server.until(Done)
    expected = generate(charlm, "th", settings)
    assert done.reason == "stop" and expected.endswith("e") and texts_of(replies, done) == expected


def test_cancel_stops_a_long_generation_and_the_process_answers_after(server):
    server.send(Generate(3, "the", (LONG,)))
    server.until(Chunk)
    server.send(Cancel())
    replies, done = server.until(Done, timeout=30)
    assert done.token == 3 and done.reason == "cancelled" and 0 < done.produced < LONG.length
    assert all(r.token == 3 for r in replies if isinstance(r, Chunk))
    # Idle, the process still answers: the greedy distribution at where the generation stopped is one character.
    server.send(AskCandidates(SamplingSettings(temperature=0)))
    _, candidates = server.until(Candidates, timeout=30)
    assert len(candidates.candidates) == 1 and candidates.candidates[0].prob == 1.0


def test_settings_reach_a_running_generation(server):
    server.send(Generate(4, "the", (LONG,)))
    server.until(Chunk)
    server.send(UpdateSettings((LONG.replace(temperature=0),)))
    deadline = time.monotonic() + 30
    while True:  # the chunks' chart turns greedy: one candidate, certain
        _, chunk = server.until(Chunk, timeout=30)
        if len(chunk.candidates) == 1 and chunk.candidates[0].prob == 1.0:
            break
        assert time.monotonic() < deadline, "the new settings never reached the sampler"
    server.send(Cancel())
    server.until(Done, timeout=30)


def test_a_new_generation_replaces_the_running_one(server, charlm):
    server.send(Generate(5, "the", (LONG,)))
    server.until(Chunk)
    short = SamplingSettings(length=40, seed=3)
    server.send(Generate(6, "a", (short,)))
    _, first = server.until(Done, timeout=30)
    assert (first.token, first.reason) == (5, "cancelled")
    replies, second = server.until(Done)
    assert replies[0] == Begin(6, ("a",), None) and second.token == 6
    assert texts_of(replies, second) == generate(charlm, "a", short)


# ------------------------------------------------------------------------------------ classifying


def test_classify_scores_as_classify_does(server, sentiment):
    text = "a great and superb film, not dull"
    server.send(Classify(7, text))
    _, classified = server.until(Classified)
    expected = classify(sentiment, text)
    result = classified.result
    assert classified.token == 7 and result.label == expected.label
    assert (result.probability, result.logit) == pytest.approx((expected.probability, expected.logit), abs=1e-5)
    assert [(w.token, w.span, w.known) for w in result.words] == [(w.token, w.span, w.known) for w in expected.words]
    assert [w.contribution for w in result.words] == pytest.approx([w.contribution for w in expected.words], abs=1e-5)
    server.send(Classify(8, "   "))
    _, error = server.until(Error)
    assert error == Error(8, "There is no text to classify; type or paste a review.")


# ------------------------------------------------------------------------------------ bad requests


@pytest.mark.parametrize(
    "line, token, words",
    [
        ("{not json", None, ["not valid JSON"]),
        ('["load"]', None, ["must be a JSON object, not an array"]),
        ('{"op": "fly", "token": 11}', 11, ['Unknown request "fly"', "load, generate, settings"]),
        ('{"op": "classify", "token": 12, "text": 5}', 12, ['"text" must be text, not 5']),
        ('{"op": "classify", "token": "13", "text": "a"}', None, ['"token" must be a whole number, not "13"']),
        (
            '{"op": "generate", "token": 14, "prompt": "the", "settings": [{"top_p": 2}]}',
            14,
            ["the top-p must be a number above 0 and at most 1"],
        ),
        ('{"op": "load", "job": "charlm"}', None, ['The "load" request lacks "run"']),
    ],
)
def test_a_bad_request_gets_an_error_and_the_process_keeps_serving(server, line, token, words):
    server.send("")  # a blank line is skipped, not answered
    server.send(line)
    error = server.reply()
    assert isinstance(error, Error) and error.token == token, error
    assert_one_sentence(error.error)
    for word in words:
        assert word in error.error, error.error
    server.send(Classify(99, "a great film"))
    _, classified = server.until(Classified)
    assert classified.token == 99 and server.process.poll() is None


def test_requests_before_any_model_is_loaded_are_refused(fresh):
    fresh.send(Generate(1, "the", (SamplingSettings(),)))
    assert fresh.reply() == Error(1, "No character model is loaded.")
    fresh.send(Classify(2, "a great film"))
    assert fresh.reply() == Error(2, "No sentiment model is loaded.")


# ------------------------------------------------------------------------------------ crashes


def test_a_checkpoint_broken_between_requests_is_a_load_error_and_the_held_model_still_works(fresh, tmp_path):
    run = make_charlm_run(tmp_path / "runs", name="fragile", train_steps=5)
    short = SamplingSettings(length=50, seed=4)
    expected = generate(load_model(run, job="charlm"), "the", short)
    fresh.send(Load("charlm", str(run.path)))
    assert isinstance(fresh.reply(), Loaded)
    (run.checkpoints / "best.pt").write_bytes(b"not a checkpoint")
    fresh.send(Load("charlm", str(run.path)))
    error = fresh.reply()
    assert isinstance(error, LoadError) and error.run == str(run.path) and "checkpoint" in error.error
    assert_one_sentence(error.error)
    shutil.rmtree(run.path)
    fresh.send(Load("charlm", str(run.path)))
    assert isinstance(fresh.reply(), LoadError)
    # The model loaded before the damage is still held, and generates as it did.
    fresh.send(Generate(1, "the", (short,)))
    replies, done = fresh.until(Done)
    assert texts_of(replies, done) == expected


def test_a_killed_process_ends_its_stream_at_once(fresh, charlm_run):
    fresh.send(Load("charlm", str(charlm_run.path)))
    fresh.until(Loaded)
    fresh.send(Generate(1, "the", (LONG,)))
    fresh.until(Chunk)
    fresh.process.kill()
    assert fresh.end(timeout=30) < 0  # stdout closes: the reader sees the end, and the status says killed
    with pytest.raises(OSError):
        fresh.send(Cancel())


def test_closing_stdin_mid_generation_ends_it_and_the_process(fresh, charlm_run):
    fresh.send(Load("charlm", str(charlm_run.path)))
    fresh.until(Loaded)
    fresh.send(Generate(1, "the", (LONG,)))
    fresh.until(Chunk)
    fresh.process.stdin.close()
    _, done = fresh.until(Done, timeout=30)
    assert done.reason == "cancelled"
    assert fresh.end(timeout=30) == 0
