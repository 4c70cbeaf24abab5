"""The pane's side of its model process (tui.generate.model_process) against stand-in processes: replies arrive
typed, a line that is not a reply and the process's end are reported, and the pane shows what it cannot read."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from engine.generation.messages import Cancel, Candidates, ProcessExited, Unreadable
from engine.generation.sampler import Candidate
from tests.engine.generation.generation_helpers import make_charlm_run
from tests.messages import assert_one_sentence
from tests.tui.conftest import SIZE, type_into, wait_until
from tui.app import RnnTuiApp
from tui.generate.model_process import ModelProcess
from tui.generate.pane import GeneratePane

#: Answers load with a made-up model, and generate with its prompt and then a chunk whose texts are not a list.
STAND_IN = textwrap.dedent(
    """
    import json, sys
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "load":
            loaded = {"name": "stand-in", "describe": "a stand-in", "checkpoint": "none", "step": 0}
            print(json.dumps({"op": "loaded", "job": request["job"], "run": request["run"], **loaded}), flush=True)
        elif request["op"] == "generate":
            token = request["token"]
            print(json.dumps({"op": "begin", "token": token, "prompts": [request["prompt"]], "message": None}))
            print(json.dumps({"op": "chunk", "token": token, "texts": "oops", "produced": 1, "candidates": []}))
            sys.stdout.flush()
    """
)


class Replies:
    def __init__(self) -> None:
        self.seen: list[object] = []
        self.ended = threading.Event()

    def __call__(self, reply: object) -> None:
        self.seen.append(reply)
        if isinstance(reply, ProcessExited):
            self.ended.set()


def test_replies_arrive_typed_and_a_line_that_is_not_one_and_the_exit_are_reported():
    script = """
import sys
sys.stdin.readline()
print('{"op": "candidates", "candidates": [["a", 0.5, 0.25]]}')
print()
print('not json')
print('{"op": "chunk", "token": 1}')
sys.exit(3)
"""
    replies = Replies()
    process = ModelProcess(replies)
    process.command = (sys.executable, "-c", script)
    try:
        process.send(Cancel())
        assert replies.ended.wait(30), replies.seen
    finally:
        process.close()
    assert replies.seen == [
        Candidates((Candidate("a", 0.5, 0.25),)),
        Unreadable('The reply is not valid JSON (expecting value at character 0): "not json".'),
        Unreadable('The "chunk" reply lacks "texts", which must be a list of texts.'),
        ProcessExited(3),
    ]


def test_a_process_that_cannot_start_is_reported(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    replies = Replies()
    ModelProcess(replies).send(Cancel())
    assert replies.seen == [ProcessExited(None, "the model process could not start (Too many open files)")]


async def test_the_pane_shows_a_reply_it_cannot_read_as_one_error_line(tmp_path, monkeypatch):
    make_charlm_run(tmp_path)
    monkeypatch.setattr(ModelProcess, "command", (sys.executable, "-c", STAND_IN))
    app = RnnTuiApp(runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        pane = app.query_one(GeneratePane)
        await wait_until(pilot, lambda: pane.loaded["charlm"] is not None)
        assert "stand-in" in str(app.query_one("#gen-model").render())
        await type_into(pilot, "#gen-prompt", "the")
        await pilot.press("enter")
        status = app.query_one("#gen-status")
        await wait_until(pilot, lambda: "✗" in str(status.render()))
        shown = str(status.render()).removeprefix("✗ ")
        assert not pane.generating
        assert shown == 'The "chunk" reply\'s "texts" must be a list of texts, not "oops".'
        assert_one_sentence(shown)
        assert app.query_one("#gen-out").text == "the"  # what came before the bad line stays
        # In classify mode the result area says it.
        await pilot.press("escape", "c")
        pane.post_message(GeneratePane.Reply(Unreadable('The reply is not valid JSON: "?".')))
        output = app.query_one("#cls-output")
        await wait_until(pilot, lambda: "✗ The reply is not valid JSON" in str(output.render()))
