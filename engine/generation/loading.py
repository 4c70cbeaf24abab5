"""Loading what you trained: find a run's checkpoint (best.pt, else last.pt) and rebuild its model on a device.

`model_runs` and `default_run` only look at files (torch-free); `load_model` reads the checkpoint
through engine.training.checkpoint (weights only) and gives a `LoadedModel` in eval mode. Every
failure is a `GenerateInputError` with one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.devices import DeviceError, resolve_device
from engine.generation.settings import GenerateInputError
from engine.training.config import TrainConfig, TrainConfigError
from engine.training.runs import RunDir, RunError, default_runs_root, list_runs

if TYPE_CHECKING:
    from corpora.vocab import CharVocab, WordVocab

CHECKPOINT_NAMES = (
    "best.pt",
    "last.pt",
)  # engine.training.checkpoint.BEST, LAST (not imported: that module imports torch)
_COMMANDS = {"charlm": "rnn-tui generate", "sentiment": "rnn-tui classify"}
_JOB_WORDS = {"charlm": "a character model (charlm)", "sentiment": "a sentiment model"}


@dataclass
class LoadedModel:
    job: str  # "charlm" | "sentiment"
    name: str  # run name (or checkpoint file name)
    checkpoint: Path
    run: RunDir | None
    step: int
    config: TrainConfig
    best: dict | None  # {"metric", "value", "step"} from the checkpoint
    model: Any  # torch.nn.Module, in eval mode, on `device`
    vocab: CharVocab | WordVocab
    device: Any  # torch.device
    _fast: Any = field(default=None, init=False, repr=False, compare=False)  # the Sampler's cached step weights

    def describe(self) -> str:
        """One line, e.g. 'LSTM E256 H512 · step 1,100 · val_loss 1.402 (best.pt)'."""
        config = self.config
        shape = f"{config.cell.upper()} E{config.embed_size} H{config.hidden_size}"
        if config.layers > 1:
            shape += f" ×{config.layers}"
        if config.job == "sentiment" and config.bidirectional:
            shape += " bi"
        parts = [shape, f"step {self.step:,}"]
        best = self.best if isinstance(self.best, dict) else None
        if best and isinstance(best.get("value"), (int, float)):
            if best.get("step") == self.step:
                parts.append(f"{best.get('metric', 'best')} {best['value']:.3f}")
            else:
                parts.append(f"best {best.get('metric', '')} {best['value']:.3f} at step {best.get('step', 0):,}")
        return " · ".join(parts) + f" ({self.checkpoint.name})"


def _checkpoint_of(run: RunDir) -> Path | None:
    for name in CHECKPOINT_NAMES:
        path = run.checkpoints / name
        if path.is_file():
            return path
    return None


def find_checkpoint(run: RunDir) -> Path:
    """The run's best.pt, else its last.pt; GenerateInputError when it has neither."""
    path = _checkpoint_of(run)
    if path is None:
        raise GenerateInputError(
            f"The run {run.name} has no checkpoint yet; let it train until it saves one, or pick another run."
        )
    return path


def _run_job(run: RunDir) -> str | None:
    try:
        return str(run.config().get("job"))
    except (RunError, AttributeError):
        return None


def model_runs(runs_root: str | Path | None, job: str | None = None) -> list[RunDir]:
    """Runs under `runs_root` (default: the default runs root) that have a checkpoint, newest checkpoint first.

    Torch-free: only config.json is read and the checkpoint files are looked at.
    """
    root = Path(runs_root).expanduser() if runs_root is not None else default_runs_root()
    try:
        runs = list_runs(root)
    except RunError:
        return []
    found: list[tuple[float, RunDir]] = []
    for run in runs:
        path = _checkpoint_of(run)
        if path is None or (job is not None and _run_job(run) != job):
            continue
        try:
            found.append((path.stat().st_mtime, run))
        except OSError:
            continue
    found.sort(key=lambda pair: pair[0], reverse=True)  # stable: ties keep list_runs' newest-name-first order
    return [run for _, run in found]


def default_run(runs_root: str | Path | None, job: str) -> RunDir | None:
    """The 'latest best': the newest run of `job` that has a best.pt, else the newest that has a last.pt."""
    runs = model_runs(runs_root, job)
    for run in runs:
        if (run.checkpoints / CHECKPOINT_NAMES[0]).is_file():
            return run
    return runs[0] if runs else None


def locate_checkpoint(spec: str | Path | RunDir, runs_root: str | Path | None) -> tuple[Path, RunDir | None]:
    """(checkpoint path, run or None) for a run, a run name, a run directory or a .pt file."""
    root = Path(runs_root).expanduser() if runs_root is not None else default_runs_root()
    if isinstance(spec, RunDir):
        if not spec.exists():
            raise GenerateInputError(f"{spec.path} is not a run directory (it has no config.json).")
        return find_checkpoint(spec), spec
    text = str(spec).strip()
    if not text:
        raise GenerateInputError("No run was named; give a run name from rnn-tui runs, a run directory or a .pt file.")
    path = Path(text).expanduser()
    if path.is_file() or text.endswith(".pt"):
        if not path.is_file():
            raise GenerateInputError(f"There is no checkpoint file {text}.")
        parent = path.resolve().parent
        run = RunDir(parent.parent) if parent.name == "checkpoints" and RunDir(parent.parent).exists() else None
        return path, run
    for candidate in (root / text, path):
        run = RunDir(candidate)
        if run.exists():
            return find_checkpoint(run), run
    if path.is_dir() and path != root / text:
        raise GenerateInputError(f"{text} is not a run directory (it has no config.json); see rnn-tui runs.")
    raise GenerateInputError(f"There is no run {text!r} in {root}; see rnn-tui runs.")


def _wrong_job(name: str, found: str, wanted: str) -> GenerateInputError:
    """e.g. "X is a sentiment run; rnn-tui generate needs a character model (charlm)." """
    return GenerateInputError(f"{name} is a {found} run; {_COMMANDS[wanted]} needs {_JOB_WORDS[wanted]}.")


def load_model(
    spec: str | Path | RunDir, *, job: str | None = None, device: str = "cpu", runs_root: str | Path | None = None
) -> LoadedModel:
    """The model of a run (its best.pt, else last.pt) or of a checkpoint file, in eval mode on `device`.

    `spec` is a run name under `runs_root` (default: engine.training.runs.default_runs_root()), a run
    directory, a RunDir or a .pt file. `job` ("charlm" or "sentiment"), when given, must match.
    Every failure is a GenerateInputError with one sentence.
    """
    if job is not None and job not in _COMMANDS:
        raise GenerateInputError(f"Unknown job {job!r}; choose sentiment or charlm.")
    path, run = locate_checkpoint(spec, runs_root)
    name = run.name if run is not None else path.name
    if job is not None and run is not None:
        found = _run_job(run)
        if found in _COMMANDS and found != job:
            raise _wrong_job(name, found, job)
    try:
        torch_device = resolve_device(device)
    except DeviceError as error:
        raise GenerateInputError(str(error)) from None

    import torch

    from engine.models import build_model
    from engine.training.checkpoint import CheckpointError, load_checkpoint

    try:
        data = load_checkpoint(path)
    except CheckpointError as error:
        raise GenerateInputError(str(error)) from None
    found = data.get("job")
    if found not in _COMMANDS:
        raise GenerateInputError(
            f"{path} names the job {found!r}, which rnn-tui cannot load; use a charlm or sentiment checkpoint."
        )
    if job is not None and found != job:
        raise _wrong_job(name, found, job)
    try:
        config = TrainConfig.from_dict(dict(data["config"]))
    except (TrainConfigError, TypeError, ValueError) as error:
        raise GenerateInputError(f"{path} holds settings this rnn-tui cannot use ({str(error).rstrip('.')}).") from None
    vocab = _vocab(path, found, data["vocab"])
    try:
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
            model = build_model(config, len(vocab))
        model.load_state_dict(data["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        first = str(error).strip().splitlines()[0].rstrip(".:")[:160] if str(error).strip() else type(error).__name__
        raise GenerateInputError(
            f"{path} does not fit the model its settings describe ({first}); it may be corrupt."
        ) from None
    model = model.to(torch_device).eval().requires_grad_(False)
    step = data.get("step")
    best = data.get("best") if isinstance(data.get("best"), dict) else None
    return LoadedModel(
        job=found,
        name=name,
        checkpoint=path,
        run=run,
        step=int(step) if isinstance(step, (int, float)) else 0,
        config=config,
        best=best,
        model=model,
        vocab=vocab,
        device=torch_device,
    )


def _vocab(path: Path, job: str, data: Any) -> CharVocab | WordVocab:
    from corpora.errors import CorpusError
    from corpora.vocab import CharVocab, WordVocab

    try:
        if job == "charlm":
            if not isinstance(data, dict) or data.get("kind") != "char" or not isinstance(data.get("chars"), list):
                raise CorpusError("not a character vocabulary")
            chars = CharVocab(data["chars"])
            if list(chars.chars) != list(data["chars"]):
                raise CorpusError("characters out of order")
            return chars
        tokens = data.get("tokens") if isinstance(data, dict) and data.get("kind") == "word" else None
        if (
            not isinstance(tokens, list)
            or tokens[:2] != ["<pad>", "<unk>"]
            or not all(isinstance(t, str) for t in tokens)
        ):
            raise CorpusError("not a word vocabulary")
        return WordVocab(tokens[2:])
    except (CorpusError, TypeError, ValueError):
        raise GenerateInputError(
            f"{path} holds no usable vocabulary, so its ids cannot be read; it may be corrupt."
        ) from None
