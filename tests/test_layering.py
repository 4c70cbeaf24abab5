"""What the import contracts cannot see: modules that get loaded at run time.

Which package may import which is written as import-linter contracts in pyproject.toml and
checked by `make lint` (`lint-imports`): the layers tui > engine > corpora, the engine's wings,
the panes' independence, no circles, and engine/corpora never importing textual. The contracts
see only the top of an external package, so `rich.live` (rich itself is fine in engine/), and
what each entry point drags in at run time (torch on the UI's first-frame path) are checked here,
each in a fresh interpreter, since this test process has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

REPORT = """
import json, sys
prefixes = ("textual", "rich.live", "torch")
loaded = {p: sorted(m for m in sys.modules if m == p or m.startswith(p + ".")) for p in prefixes}
print(json.dumps({"loaded": {p: bool(found) for p, found in loaded.items()}, "imported": imported}))
"""


def run_python(code: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + REPORT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_engine_and_corpora_never_load_rich_live():
    result = run_python(
        """
        import importlib, pkgutil
        import engine, corpora
        imported = []
        for package in (engine, corpora):
            imported.append(package.__name__)
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
                imported.append(info.name)
        """
    )
    # The walk really reached the engine's modules (torch and all).
    wings = {"engine.stepper.run", "engine.training.session", "engine.generation.worker", "engine.models"}
    assert wings <= set(result["imported"])
    assert "corpora" in result["imported"]
    assert result["loaded"]["torch"]
    assert not result["loaded"]["rich.live"]


def test_the_app_and_the_cli_do_not_import_torch():
    result = run_python(
        """
        import tui.cli
        import tui.app
        imported = ["tui.cli", "tui.app"]
        """
    )
    assert result["loaded"]["textual"]  # the app really was imported
    assert not result["loaded"]["torch"]


def test_the_step_report_needs_neither_textual_nor_torch_to_import():
    result = run_python(
        """
        import engine
        import tui.stepper.report
        imported = ["engine", "tui.stepper.report"]
        """
    )
    assert not result["loaded"]["textual"]
    assert not result["loaded"]["torch"]


TORCH_FREE = (
    "engine.cells",
    "engine.devices",
    "engine.numbers",
    "engine.stepper.scenario",
    "engine.training.config",
    "engine.training.presets",
    "engine.training.errors",
    "engine.training.runs",
    "engine.training.jobs",
    "engine.training.queue",
    "engine.training.sweep",
    "engine.training.usage",
    "engine.training.runmeta",
    "engine.generation.settings",
    "engine.generation.loading",
    "corpora.userdirs",
)


def test_the_modules_the_ui_reads_on_its_first_frame_import_no_torch():
    result = run_python(
        f"""
        import importlib
        imported = {list(TORCH_FREE)!r}
        for name in imported:
            importlib.import_module(name)
        """
    )
    assert not result["loaded"]["torch"]
    assert not result["loaded"]["textual"]
