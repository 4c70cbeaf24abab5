"""Sweeps: a grid of settings queued as one group of runs, and its results ranked by the best validation figure.

`plan_sweep(job, preset, axes, fixed)` checks every value and every combination before anything is
queued (SweepError with one sentence otherwise); `queue_sweep` writes the sweep's manifest and queues
its runs in grid order. The manifest, RUNS_ROOT/.sweeps/NAME.json, names the runs and the settings
that vary, so `rnn-tui sweep show NAME` and the Train pane can group and rank them later; each run's
queue entry carries the sweep's name too. No torch here.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.training.config import TrainConfig, TrainConfigError, parse_train_config
from engine.training.queue import enqueue
from engine.training.runs import RunDir, RunError, atomic_write_json, check_run_name

SWEEPS_DIR = ".sweeps"
CONFIRM_AT = 100  # a sweep of this many runs or more needs --yes


class SweepError(Exception):
    """A sweep that cannot be queued as asked; the message is one sentence."""


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will queue: its settings that vary (in the order given) and one config per grid point."""

    job: str
    axes: dict[str, list[str]]  # setting -> the values tried, as typed
    points: list[dict[str, str]]  # one per run: setting -> value
    configs: list[TrainConfig]


@dataclass(frozen=True)
class SweepRow:
    """One run of a sweep as `sweep show` ranks it."""

    run: str
    settings: dict[str, str]
    state: str
    metric: str
    best: float | None
    test_acc: float | None


def flag(name: str) -> str:
    """A setting's command-line option: hidden_size -> --hidden-size."""
    return "--" + name.replace("_", "-")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def split_values(name: str, text: str) -> list[str]:
    """The comma list given for one setting: its values, stripped; SweepError for an empty or repeated one."""
    values = [value.strip() for value in str(text).split(",")]
    if any(not value for value in values):
        raise SweepError(f"{flag(name)} {text!r} has an empty value; give values separated by single commas.")
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise SweepError(f"{flag(name)} lists {repeated[0]} twice; each value would be the same run.")
    return values


def plan_sweep(job: str, preset: str | None, options: dict[str, str], limit: int | None = CONFIRM_AT) -> SweepPlan:
    """Check a sweep's options (setting -> comma list) and lay out its grid; SweepError before anything is queued.

    A setting with one value is fixed for every run; the others are the sweep's axes, crossed in the
    order given (the last one changes fastest). With `limit`, a grid of that many runs or more is refused.
    """
    lists = {name: split_values(name, text) for name, text in options.items()}
    fixed = {name: values[0] for name, values in lists.items() if len(values) == 1}
    try:
        parse_train_config(job, preset, **fixed)
    except TrainConfigError as error:
        for name, value in fixed.items():  # name the one at fault, if one alone is
            _check_value(job, preset, {}, name, value)
        raise SweepError(f"The settings given once do not go together: {_lower_first(str(error))}") from None
    for name, values in lists.items():
        for value in values:
            _check_value(job, preset, fixed, name, value)
    count = math.prod(len(values) for values in lists.values())
    if limit is not None and count >= limit:
        raise SweepError(f"This sweep makes {count:,} runs; pass --yes to queue {CONFIRM_AT} or more.")
    axes = {name: values for name, values in lists.items() if len(values) > 1}
    points = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    configs = []
    for point in points:
        try:
            configs.append(parse_train_config(job, preset, **fixed, **point))
        except TrainConfigError as error:
            shown = " ".join(f"{flag(name)} {value}" for name, value in point.items())
            raise SweepError(f"The run with {shown} is not usable: {_lower_first(str(error))}") from None
    if any(config.valid_fraction == 0 for config in configs):  # sentiment only: charlm refuses 0 itself
        raise SweepError(
            "A sweep ranks its runs on validation, and these hold none out (their validation fraction is 0, "
            "as in quality-all); add --valid-fraction 0.2, then refit the winner with rnn-tui train."
        )
    return SweepPlan(job=job, axes=axes, points=points, configs=configs)


def _check_value(job: str, preset: str | None, fixed: dict[str, str], name: str, value: str) -> None:
    """SweepError naming `name` and `value` when the value cannot be used with the settings given once."""
    try:
        parse_train_config(job, preset, **{**fixed, name: value})
    except TrainConfigError as error:
        raise SweepError(f"{flag(name)} {value}: {_lower_first(str(error))}") from None


def default_sweep_name(root: str | Path) -> str:
    """sweep-N, the first number free in `root`: short, so its runs' names (sweep-3-07) fit the runs table."""
    taken = set(sweep_names(root))
    number = len(taken) + 1
    while f"sweep-{number}" in taken or any((Path(root).expanduser()).glob(f"sweep-{number}-*")):
        number += 1
    return f"sweep-{number}"


def run_names(sweep: str, count: int) -> list[str]:
    """The runs' directory names: the sweep's name and each run's number in grid order."""
    width = len(str(count))
    return [f"{sweep}-{index:0{width}d}" for index in range(1, count + 1)]


def check_sweep_name(name: str) -> None:
    """A sweep's name makes its runs' names: it is one folder name, without a leading dot; SweepError otherwise."""
    try:
        check_run_name(name)
    except RunError as error:
        raise SweepError(
            str(error).replace("A run's name", "A sweep's name").replace("A run needs", "A sweep needs")
        ) from None
    if name.startswith("."):
        raise SweepError(f"A sweep's name cannot start with a dot; {json.dumps(name)} does.")


def manifest_path(root: str | Path, name: str) -> Path:
    return Path(root).expanduser() / SWEEPS_DIR / f"{name}.json"


def queue_sweep(root: str | Path, name: str, plan: SweepPlan) -> list[RunDir]:
    """Write the sweep's manifest and queue its runs (all or none); RunError or SweepError with one sentence."""
    check_sweep_name(name)
    path = manifest_path(root, name)
    if path.exists():
        raise SweepError(f"A sweep named {name} already exists; choose another --name.")
    names = run_names(name, len(plan.configs))
    taken = [run for run in names if (Path(root).expanduser() / run).exists()]
    if taken:
        raise SweepError(f"A run named {taken[0]} already exists; choose another --name.")
    manifest = {"name": name, "job": plan.job, "axes": plan.axes, "runs": names, "points": plan.points}
    try:
        atomic_write_json(path, {**manifest, "created_at": time.time()})
    except OSError as error:
        raise RunError(f"Cannot write the sweep {name} in {Path(root).expanduser()} ({error.strerror}).") from None
    try:
        return enqueue(root, list(zip(plan.configs, names, strict=True)), sweep=name)
    except RunError:
        path.unlink(missing_ok=True)
        raise


def read_manifest(root: str | Path, name: str) -> dict[str, Any]:
    """A sweep's manifest; SweepError when there is no such sweep or it is damaged."""
    path = manifest_path(root, name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sweep_names(root)[:5]) or "none yet"
        raise SweepError(f"There is no sweep {name!r} in {Path(root).expanduser()} (sweeps: {known}).") from None
    except (OSError, ValueError) as error:
        raise SweepError(f"The sweep {name} cannot be read ({error}).") from None
    runs, points = (
        data.get("runs") if isinstance(data, dict) else None,
        data.get("points") if isinstance(data, dict) else None,
    )
    if not (isinstance(runs, list) and isinstance(points, list) and len(runs) == len(points)):
        raise SweepError(f"The sweep file {path} is damaged; its runs are still listed by rnn-tui runs.")
    return data


def sweep_names(root: str | Path) -> list[str]:
    """The sweeps of `root`, newest first."""
    folder = Path(root).expanduser() / SWEEPS_DIR
    try:
        paths = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    except OSError:
        return []
    return [path.stem for path in paths]


def membership(root: str | Path) -> dict[str, str]:
    """run name -> the sweep it belongs to, for every sweep of `root` (damaged manifests are skipped)."""
    found: dict[str, str] = {}
    for name in sweep_names(root):
        try:
            runs = read_manifest(root, name)["runs"]
        except SweepError:
            continue
        found.update({run: name for run in runs if isinstance(run, str)})
    return found


_LOWER_IS_BETTER = re.compile(r"(loss|bpc|perplexity|ppl)$")


def ranked(root: str | Path, name: str) -> list[SweepRow]:
    """The sweep's runs, best first by their best validation figure (lower loss, higher accuracy); runs without one last.

    A run removed since the sweep was queued is left out.
    """
    manifest = read_manifest(root, name)
    rows = []
    for run_name, point in zip(manifest["runs"], manifest["points"], strict=True):
        run = RunDir(Path(root).expanduser() / str(run_name))
        if not run.exists():
            continue
        status = run.status()
        final = run.final_metrics() or {}
        test_acc = final.get("test_acc")
        rows.append(
            SweepRow(
                run=run.name,
                settings={str(k): str(v) for k, v in point.items()} if isinstance(point, dict) else {},
                state=status.state,
                metric=status.best_metric,
                best=status.best_value,
                test_acc=float(test_acc)
                if isinstance(test_acc, int | float) and not isinstance(test_acc, bool)
                else None,
            )
        )

    def key(row: SweepRow) -> tuple[int, float]:
        if row.best is None:
            return (1, 0.0)
        return (0, row.best if _LOWER_IS_BETTER.search(row.metric) else -row.best)

    return sorted(rows, key=key)
