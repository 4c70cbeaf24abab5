"""The Generate pane's model process: `python -m engine.generation.worker`, spoken to in JSON lines.

Generating in the app's own process would share one interpreter lock between drawing the screen
and drawing characters; at 30 screen updates a second that halves the speed of both. So the pane
starts this process once, and it holds the models, samples and classifies. It reads one request per
line on stdin and writes one reply per line on stdout: the messages of engine.generation.messages,
which describes them. A line it cannot read gets an `error` reply naming the problem (with the
request's token when it has one), and the process keeps serving; blank lines are skipped.

Characters are sent at most every FLUSH_S seconds (the first one at once). Requests that arrive
while generating are read between characters: cancel, load and generate stop the generation (the
last two then run), settings change it, the rest wait for it to end. The process ends when stdin closes.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from collections import deque

from engine.generation.classify import classify
from engine.generation.loading import LoadedModel, load_model
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
    MessageError,
    Reason,
    Request,
    UpdateSettings,
    WireReply,
    decode_request,
    encode,
)
from engine.generation.sampler import Candidate, Sampler
from engine.generation.settings import GenerateInputError, SamplingSettings

FLUSH_S = 1 / 30
TOP = 10

#: What the reader thread hands the main loop: a request, a line that was not one, or None when stdin closed.
Incoming = Request | MessageError | None


def send(reply: WireReply) -> None:
    """One reply, on a line of stdout, flushed at once."""
    sys.stdout.write(encode(reply) + "\n")
    sys.stdout.flush()


def _candidates(sampler: Sampler, settings: SamplingSettings) -> tuple[Candidate, ...]:
    return tuple(sampler.candidates(top=TOP, settings=settings))


class Worker:
    """The models it holds, the last generation's sampler, and the requests read from stdin (by a thread) to serve."""

    def __init__(self) -> None:
        self.models: dict[str, LoadedModel] = {}
        self.sampler: Sampler | None = None  # the last generation's first sampler: the chart reads it when idle
        self.inbox: queue.Queue[Incoming] = queue.Queue()
        self.backlog: deque[Incoming] = deque()  # read during a generation, to handle after it

    def read_stdin(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                self.inbox.put(decode_request(line))
            except MessageError as error:
                self.inbox.put(error)
        self.inbox.put(None)

    def serve(self) -> None:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        while True:
            incoming = self.backlog.popleft() if self.backlog else self.inbox.get()
            if incoming is None:
                return
            self.handle(incoming)

    def handle(self, incoming: Request | MessageError) -> None:
        if isinstance(incoming, MessageError):
            send(Error(incoming.token, str(incoming)))
            return
        try:
            match incoming:
                case Load():
                    self.load(incoming)
                case Generate():
                    self.generate(incoming)
                case UpdateSettings(settings=settings):
                    self.show_candidates(settings[0])
                case AskCandidates(settings=one):
                    self.show_candidates(one)
                case Classify():
                    self.classify(incoming)
                case Cancel():
                    pass  # the generation it meant has ended already
        except Exception as error:  # a bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            token = incoming.token if isinstance(incoming, (Generate, Classify)) else None
            send(Error(token, f"{type(error).__name__}: {error}"))

    def show_candidates(self, settings: SamplingSettings) -> None:
        if self.sampler is not None:
            send(Candidates(_candidates(self.sampler, settings)))

    def load(self, request: Load) -> None:
        job = request.job
        try:
            model = load_model(request.run, job=job, device="cpu")
        except GenerateInputError as error:
            send(LoadError(job, request.run, str(error)))
            return
        # Pay torch's first-call costs (kernel selection, allocations) now, not on the first Enter.
        if job == "charlm":
            Sampler(model, "", SamplingSettings(length=2)).next_char()
            self.sampler = None
        else:
            classify(model, "a warm up", attributions=False)
        self.models[job] = model
        send(Loaded(job, request.run, model.name, model.describe(), str(model.checkpoint), model.step))

    def generate(self, request: Generate) -> None:
        token = request.token
        model = self.models.get("charlm")
        if model is None:
            send(Error(token, "No character model is loaded."))
            return
        try:
            samplers = [Sampler(model, request.prompt, settings) for settings in request.settings]
        except GenerateInputError as error:
            send(Error(token, str(error)))
            return
        self.sampler = samplers[0]
        send(Begin(token, tuple(s.prompt.text for s in samplers), samplers[0].prompt.message))
        pending: list[list[str]] = [[] for _ in samplers]
        flushed = 0.0
        cancelled = False
        while not all(s.done for s in samplers):
            for index, sampler in enumerate(samplers):
                char = sampler.next_char()
                if char:
                    pending[index].append(char)
            cancelled = self.read_while_generating(samplers)
            if cancelled:
                break
            now = time.perf_counter()
            if now - flushed >= FLUSH_S:
                texts = tuple("".join(p) for p in pending)
                first = samplers[0]
                send(Chunk(token, texts, first.produced, _candidates(first, first.settings)))
                pending = [[] for _ in samplers]
                flushed = now
        first = samplers[0]
        reason: Reason = "cancelled" if cancelled else "stop" if first.stop_reason == "stop" else "length"
        texts = tuple("".join(p) for p in pending)
        send(Done(token, texts, reason, first.produced, _candidates(first, first.settings)))

    def read_while_generating(self, samplers: list[Sampler]) -> bool:
        """Take the requests that arrived since the last character; True when the generation must stop."""
        while not self.inbox.empty():
            incoming = self.inbox.get_nowait()
            match incoming:
                case UpdateSettings(settings=settings):
                    for sampler, new in zip(samplers, settings, strict=False):
                        sampler.settings = new
                case MessageError():
                    self.handle(incoming)
                case Cancel():
                    return True
                case Load() | Generate() | None:
                    self.backlog.append(incoming)
                    return True
                case _:
                    self.backlog.append(incoming)
        return False

    def classify(self, request: Classify) -> None:
        model = self.models.get("sentiment")
        if model is None:
            send(Error(request.token, "No sentiment model is loaded."))
            return
        try:
            result = classify(model, request.text)
        except GenerateInputError as error:
            send(Error(request.token, str(error)))
            return
        send(Classified(request.token, result))


def main() -> int:
    import torch

    torch.set_num_threads(1)  # one core for sampling; the app keeps the other
    Worker().serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
