"""The Generate pane's model process: `python -m engine.generation.worker`, spoken to in JSON lines.

Generating in the app's own process would share one interpreter lock between drawing the screen
and drawing characters; at 30 screen updates a second that halves the speed of both. So the pane
starts this process once, and it holds the models, samples and classifies. It reads one JSON
object per line on stdin and writes one per line on stdout:

    in:  {"op": "load", "job": "charlm"|"sentiment", "run": PATH}
         {"op": "generate", "token": N, "prompt": TEXT, "settings": [SETTINGS, ...]}
         {"op": "settings", "settings": [SETTINGS, ...]}     live: from the next character
         {"op": "candidates", "settings": SETTINGS}          the chart, when nothing is generating
         {"op": "cancel"}
         {"op": "classify", "token": N, "text": TEXT}
    out: {"op": "loaded", "job", "run", "name", "describe", "checkpoint"} | {"op": "load_error", "job", "run", "error"}
         {"op": "begin", "token", "prompts": [TEXT, ...], "message": TEXT|null}
         {"op": "chunk", "token", "texts": [TEXT, ...], "produced": N, "candidates": [[CHAR, PROB, RAW], ...]}
         {"op": "done", "token", "reason": "length"|"stop"|"cancelled", "produced": N, "candidates": [...]}
         {"op": "candidates", "candidates": [...]}
         {"op": "classified", "token", "result": {...}} | {"op": "error", "token", "error": TEXT}

SETTINGS is a dict of engine.generation.settings.SamplingSettings fields. Characters are sent at most every
FLUSH_S seconds (the first one at once). Commands that arrive while generating are read between
characters. The process ends when stdin closes.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import traceback
from typing import Any

FLUSH_S = 1 / 30
TOP = 10


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _candidates(sampler: Any, settings: Any) -> list[list[Any]]:
    return [[c.char, c.prob, c.raw] for c in sampler.candidates(top=TOP, settings=settings)]


class Worker:
    def __init__(self) -> None:
        self.models: dict[str, Any] = {}
        self.sampler: Any = None  # the last generation's first sampler: the chart reads it when idle
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read_stdin(self) -> None:
        for line in sys.stdin:
            try:
                self.inbox.put(json.loads(line))
            except ValueError:
                continue
        self.inbox.put(None)

    def serve(self) -> None:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        while True:
            command = self.inbox.get()
            if command is None:
                return
            self.handle(command)

    def handle(self, command: dict[str, Any]) -> None:
        op = command.get("op")
        try:
            if op == "load":
                self.load(command["job"], command["run"])
            elif op == "generate":
                self.generate(command["token"], command["prompt"], command["settings"])
            elif op == "settings" and self.sampler is not None:
                _send(
                    {
                        "op": "candidates",
                        "candidates": _candidates(self.sampler, self._settings(command["settings"][0])),
                    }
                )
            elif op == "candidates" and self.sampler is not None:
                _send(
                    {"op": "candidates", "candidates": _candidates(self.sampler, self._settings(command["settings"]))}
                )
            elif op == "classify":
                self.classify(command["token"], command["text"])
        except Exception as error:  # a bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            _send({"op": "error", "token": command.get("token"), "error": f"{type(error).__name__}: {error}"})

    @staticmethod
    def _settings(values: dict[str, Any]) -> Any:
        from engine.generation.settings import SamplingSettings

        return SamplingSettings(**values)

    def load(self, job: str, run: str) -> None:
        from engine.generation.loading import load_model
        from engine.generation.sampler import Sampler
        from engine.generation.settings import GenerateInputError, SamplingSettings

        try:
            model = load_model(run, job=job, device="cpu")
        except GenerateInputError as error:
            _send({"op": "load_error", "job": job, "run": run, "error": str(error)})
            return
        # Pay torch's first-call costs (kernel selection, allocations) now, not on the first Enter.
        if job == "charlm":
            Sampler(model, "", SamplingSettings(length=2)).next_char()
        else:
            from engine.generation.classify import classify

            classify(model, "a warm up", attributions=False)
        self.models[job] = model
        if job == "charlm":
            self.sampler = None
        _send(
            {
                "op": "loaded",
                "job": job,
                "run": run,
                "name": model.name,
                "describe": model.describe(),
                "checkpoint": str(model.checkpoint),
            }
        )

    def generate(self, token: int, prompt: str, settings: list[dict[str, Any]]) -> None:
        from engine.generation.sampler import Sampler
        from engine.generation.settings import GenerateInputError

        model = self.models.get("charlm")
        if model is None:
            _send({"op": "error", "token": token, "error": "No character model is loaded."})
            return
        try:
            samplers = [Sampler(model, prompt, self._settings(values)) for values in settings]
        except GenerateInputError as error:
            _send({"op": "error", "token": token, "error": str(error)})
            return
        self.sampler = samplers[0]
        _send(
            {
                "op": "begin",
                "token": token,
                "prompts": [s.prompt.text for s in samplers],
                "message": samplers[0].prompt.message,
            }
        )
        pending: list[list[str]] = [[] for _ in samplers]
        flushed = 0.0
        cancelled = False
        deferred: list[dict[str, Any]] = []
        while not all(s.done for s in samplers):
            for index, sampler in enumerate(samplers):
                char = sampler.next_char()
                if char:
                    pending[index].append(char)
            while not self.inbox.empty():
                command = self.inbox.get_nowait()
                if command is None or command.get("op") in ("cancel", "generate", "load"):
                    cancelled = True
                    if command is not None and command.get("op") != "cancel":
                        deferred.append(command)
                    if command is None:
                        deferred.append({"op": "_quit"})
                    break
                if command.get("op") == "settings":
                    for sampler, values in zip(samplers, command["settings"], strict=False):
                        sampler.settings = self._settings(values)
                else:
                    deferred.append(command)
            if cancelled:
                break
            now = time.perf_counter()
            if now - flushed >= FLUSH_S:
                _send(
                    {
                        "op": "chunk",
                        "token": token,
                        "texts": ["".join(p) for p in pending],
                        "produced": samplers[0].produced,
                        "candidates": _candidates(samplers[0], samplers[0].settings),
                    }
                )
                pending = [[] for _ in samplers]
                flushed = now
        reason = "cancelled" if cancelled else samplers[0].stop_reason or "length"
        _send(
            {
                "op": "done",
                "token": token,
                "texts": ["".join(p) for p in pending],
                "reason": reason,
                "produced": samplers[0].produced,
                "candidates": _candidates(samplers[0], samplers[0].settings),
            }
        )
        for command in deferred:
            if command.get("op") == "_quit":
                self.inbox.put(None)
            else:
                self.handle(command)

    def classify(self, token: int, text: str) -> None:
        from engine.generation.classify import classify
        from engine.generation.settings import GenerateInputError

        model = self.models.get("sentiment")
        if model is None:
            _send({"op": "error", "token": token, "error": "No sentiment model is loaded."})
            return
        try:
            result = classify(model, text)
        except GenerateInputError as error:
            _send({"op": "error", "token": token, "error": str(error)})
            return
        _send({"op": "classified", "token": token, "result": result.to_json()})


def main() -> int:
    import torch

    torch.set_num_threads(1)  # one core for sampling; the app keeps the other
    Worker().serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
