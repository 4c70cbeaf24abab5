"""The package layering holds: engine/ and corpora/ never load the TUI; the UI's entry points never load torch.

Each check runs in a fresh interpreter, since this test process has imported everything.
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


def test_engine_and_corpora_never_import_the_tui():
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
    assert {"engine.stepper.steps", "engine.stepper.trace", "engine.stepper.bptt", "engine.stepper.run"} <= set(
        result["imported"]
    )
    assert "corpora" in result["imported"]
    assert result["loaded"]["torch"]
    assert not result["loaded"]["textual"]
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
