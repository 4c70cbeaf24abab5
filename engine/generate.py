"""Talking to what you trained: load a checkpoint, then sample a character model one character at a time.

`load_model` finds a run's checkpoint (best.pt, else last.pt) and rebuilds its model on a device;
`Sampler` warms the recurrent state on a prompt with one forward pass, then draws one character per
step and carries (h, c) forward, so each character costs the same however long the text grows.

Settings (temperature, top-k, top-p, length, seed, stop string) are validated by
`parse_settings` / `SamplingSettings`, with one sentence for anything impossible. A Sampler's
`settings` may be replaced between characters (from another thread too): the next character uses
the new ones. The seed is used once, when the Sampler is created.

The per-character step calls the cells' own ATen ops (`torch.lstm_cell` and friends, which
`nn.LSTMCell` uses) on the model's weights, with the first layer's input projection precomputed
for every character of the vocabulary: several times faster on a CPU than calling the `nn.LSTM`
module with one time step (about 0.25 ms against 1.5–4 ms for the book's E256 H512 LSTM on two
cores), and equal to the model's own forward up to float rounding (about 1e-7). It runs with one torch thread on the CPU (set for the calling thread only, and restored):
for matrix-vector products this small a second thread costs more than it saves.

Importing this module imports neither torch nor numpy (the CLI and the UI import it on their
first frame's path); the functions that need them import them when called.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from dataclasses import replace as _replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.runs import RunDir, RunError, default_runs_root, list_runs
from engine.train_config import TrainConfig, TrainConfigError

if TYPE_CHECKING:
    import torch

    from corpora.vocab import CharVocab, WordVocab

MAX_LENGTH = 100_000
MAX_SEED = 2**63 - 1
CHECKPOINT_NAMES = ("best.pt", "last.pt")  # engine.checkpoint.BEST, LAST (not imported: that module imports torch)
DEVICES = ("auto", "cpu", "cuda", "mps")
_COMMANDS = {"charlm": "rnn-tui generate", "sentiment": "rnn-tui classify"}
_JOB_WORDS = {"charlm": "a character model (charlm)", "sentiment": "a sentiment model"}


class GenerateInputError(ValueError):
    """One clear sentence for the user (CLI exits 2 with it)."""


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class SamplingSettings:
    """How characters are drawn; the constructor validates (GenerateInputError) and normalises types."""

    temperature: float = 1.0  # 0 means greedy (argmax)
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off; must be in (0, 1]
    length: int = 500  # 1..MAX_LENGTH
    seed: int = 1
    stop: str = ""  # stop after this string has been generated ("" = never)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            checked = _CHECKS[item.name](value)
            if checked is not value:
                object.__setattr__(self, item.name, checked)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def scale_factor(self) -> float | None:
        """The book's `scale_factor` (logits are multiplied by it): 1 / temperature; None when greedy."""
        return None if self.greedy else 1.0 / self.temperature

    @property
    def plain(self) -> bool:
        """Temperature 1, no top-k, no top-p: the softmax of the logits as they are."""
        return self.temperature == 1.0 and self.top_k == 0 and self.top_p == 1.0

    def replace(self, **changes: Any) -> SamplingSettings:
        """A validated copy with some settings changed (strings are parsed as parse_settings does)."""
        unknown = sorted(set(changes) - {item.name for item in fields(self)})
        if unknown:
            raise GenerateInputError(f"Unknown sampling setting {unknown[0]!r}; use temperature, top_k, top_p, length, seed or stop.")
        parsed = {name: _PARSERS[name](value) if isinstance(value, str) else value for name, value in changes.items()}
        return _replace(self, **parsed)

    def describe(self) -> str:
        """One line, e.g. 'temperature 0.8 · top-k 40 · top-p 0.95 · 500 chars · seed 1'."""
        parts = ["greedy" if self.greedy else f"temperature {self.temperature:g}"]
        if self.top_k:
            parts.append(f"top-k {self.top_k}")
        if self.top_p < 1:
            parts.append(f"top-p {self.top_p:g}")
        parts += [f"{self.length:,} chars", f"seed {self.seed}"]
        if self.stop:
            parts.append(f"stop at {self.stop!r}")
        return " · ".join(parts)


def _shown(value: Any, typed: Any = None) -> str:
    """How a rejected value is quoted: as typed when it was typed."""
    if isinstance(typed, str):
        return repr(typed.strip()) if typed.strip() else "a blank"
    return repr(value)


def _check_temperature(value: Any, typed: Any = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise GenerateInputError(
            f"The temperature must be a number of at least 0 (0 always picks the likeliest character), not {_shown(value, typed)}."
        )
    return float(value)


def _check_top_p(value: Any, typed: Any = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):  # NaN fails too
        raise GenerateInputError(f"The top-p must be a number above 0 and at most 1 (1 turns it off), not {_shown(value, typed)}.")
    return float(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _check_top_k(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or number < 0:
        raise GenerateInputError(f"The top-k must be a whole number of at least 0 (0 turns it off), not {_shown(value, typed)}.")
    return number


def _check_length(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or not (1 <= number <= MAX_LENGTH):
        raise GenerateInputError(
            f"The length must be a whole number of characters from 1 to {MAX_LENGTH:,}, not {_shown(value, typed)}."
        )
    return number


def _check_seed(value: Any, typed: Any = None) -> int:
    number = _whole(value)
    if number is None or not (0 <= number <= MAX_SEED):
        raise GenerateInputError(f"The seed must be a whole number from 0 to 2**63 - 1, not {_shown(value, typed)}.")
    return number


def _check_stop(value: Any, typed: Any = None) -> str:
    if not isinstance(value, str):
        raise GenerateInputError(f"The stop string must be text, not {value!r}.")
    return value


_CHECKS = {
    "temperature": _check_temperature,
    "top_k": _check_top_k,
    "top_p": _check_top_p,
    "length": _check_length,
    "seed": _check_seed,
    "stop": _check_stop,
}


def _parse_number(text: str, check: Any, *, whole: bool) -> Any:
    """`check` of the number in `text` (its sentence quotes `text` as typed)."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    try:
        value: Any = int(cleaned) if whole else float(cleaned)
    except ValueError:
        value = None
        if whole:  # "2.0" or "1e3" are whole numbers too
            try:
                value = float(cleaned)
            except ValueError:
                pass
    return check(value, text)


_PARSERS = {
    "temperature": lambda text: _parse_number(text, _check_temperature, whole=False),
    "top_k": lambda text: _parse_number(text, _check_top_k, whole=True),
    "top_p": lambda text: _parse_number(text, _check_top_p, whole=False),
    "length": lambda text: _parse_number(text, _check_length, whole=True),
    "seed": lambda text: _parse_number(text, _check_seed, whole=True),
    "stop": _check_stop,
}


def parse_settings(
    *,
    temperature: str | float = "1",
    top_k: str | int = "0",
    top_p: str | float = "1",
    length: str | int = "500",
    seed: str | int = "1",
    stop: str = "",
) -> SamplingSettings:
    """Settings from what a user typed (strings) or values; GenerateInputError with one sentence for a bad one."""
    values = dict(temperature=temperature, top_k=top_k, top_p=top_p, length=length, seed=seed, stop=stop)
    parsed = {name: _PARSERS[name](value) if isinstance(value, str) else _CHECKS[name](value) for name, value in values.items()}
    return SamplingSettings(**parsed)


# ------------------------------------------------------------------------------ distributions


def filter_probs(logits: torch.Tensor, settings: SamplingSettings) -> torch.Tensor:
    """Probabilities [V] (float32) from 1-D logits [V]: temperature (greedy: one-hot at the argmax), then top-k, then top-p.

    Top-k keeps exactly the k likeliest (ties broken by torch.topk); top-p keeps the smallest set of
    the likeliest whose probabilities add up to at least p (never fewer than one). The result is
    renormalised.
    """
    import torch

    logits = logits.detach().float()
    if settings.greedy:
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    size = logits.shape[0]
    temperature, top_k, top_p = settings.temperature, settings.top_k, settings.top_p
    if top_k and top_k < size:
        values, indices = torch.topk(logits, top_k)  # sorted, likeliest first
    elif top_p < 1.0:
        values, indices = torch.sort(logits, descending=True)
    else:
        return torch.softmax(logits if temperature == 1.0 else (logits - logits.max()) / temperature, dim=0)
    if temperature != 1.0:
        values = (values - values[0]) / temperature  # the largest first: no overflow at tiny temperatures
    kept = torch.softmax(values, dim=0)
    if top_p < 1.0:
        cumulative = torch.cumsum(kept, dim=0)
        # The first position whose cumulative mass reaches p ends the nucleus (a prefix: `kept` is sorted).
        count = min(int(torch.searchsorted(cumulative, top_p)) + 1, kept.shape[0])
        kept, indices = kept[:count] / cumulative[count - 1], indices[:count]
    return torch.zeros_like(logits).scatter_(0, indices, kept)


@dataclass(frozen=True)
class Candidate:
    char: str
    prob: float  # after temperature and filtering
    raw: float  # softmax of the logits at temperature 1, unfiltered


# ------------------------------------------------------------------------------ loading


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


def resolve_device(name: str | None) -> torch.device:
    """"auto" is CUDA, then MPS, then the CPU; an absent device is a GenerateInputError."""
    import torch

    name = (name or "cpu").strip().lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise GenerateInputError(
                f"CUDA was asked for, but this torch ({torch.__version__}, {build}) sees no CUDA GPU; use the device auto or cpu."
            )
        try:
            device = torch.device(name)
        except RuntimeError:
            raise GenerateInputError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)}.") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GenerateInputError(f"There is no {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s).")
        return device
    if name == "mps":
        if not mps:
            raise GenerateInputError("Apple MPS was asked for, but this machine or torch has no MPS backend; use the device auto or cpu.")
        return torch.device("mps")
    raise GenerateInputError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)}.")


def _locate(spec: str | Path | RunDir, runs_root: str | Path | None) -> tuple[Path, RunDir | None]:
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

    `spec` is a run name under `runs_root` (default: engine.runs.default_runs_root()), a run
    directory, a RunDir or a .pt file. `job` ("charlm" or "sentiment"), when given, must match.
    Every failure is a GenerateInputError with one sentence.
    """
    if job is not None and job not in _COMMANDS:
        raise GenerateInputError(f"Unknown job {job!r}; choose sentiment or charlm.")
    path, run = _locate(spec, runs_root)
    name = run.name if run is not None else path.name
    if job is not None and run is not None:
        found = _run_job(run)
        if found in _COMMANDS and found != job:
            raise _wrong_job(name, found, job)
    torch_device = resolve_device(device)

    import torch

    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.models import build_model

    try:
        data = load_checkpoint(path)
    except CheckpointError as error:
        raise GenerateInputError(str(error)) from None
    found = data.get("job")
    if found not in _COMMANDS:
        raise GenerateInputError(f"{path} names the job {found!r}, which rnn-tui cannot load; use a charlm or sentiment checkpoint.")
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
        raise GenerateInputError(f"{path} does not fit the model its settings describe ({first}); it may be corrupt.") from None
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
            vocab: CharVocab | WordVocab = CharVocab(data["chars"])
            if list(vocab.chars) != list(data["chars"]):
                raise CorpusError("characters out of order")
            return vocab
        tokens = data.get("tokens") if isinstance(data, dict) and data.get("kind") == "word" else None
        if not isinstance(tokens, list) or tokens[:2] != ["<pad>", "<unk>"] or not all(isinstance(t, str) for t in tokens):
            raise CorpusError("not a word vocabulary")
        return WordVocab(tokens[2:])
    except (CorpusError, TypeError, ValueError):
        raise GenerateInputError(f"{path} holds no usable vocabulary, so its ids cannot be read; it may be corrupt.") from None


# ------------------------------------------------------------------------------ prompts


@dataclass(frozen=True)
class PromptReport:
    text: str  # the prompt actually fed to the model
    missing: tuple[str, ...]  # distinct characters not in the vocabulary, in order of appearance
    message: str | None  # one sentence when something was changed


def _start_char(vocab: CharVocab) -> tuple[str, str]:
    """A sensible first character and how to name it: a newline, else a space, else the first in the vocabulary."""
    if "\n" in vocab:
        return "\n", "a newline"
    if " " in vocab:
        return " ", "a space"
    return vocab.chars[0], f"the character {vocab.chars[0]!r}"


def prepare_prompt(vocab: CharVocab, prompt: str) -> PromptReport:
    """The prompt with characters the model does not know left out (and said so); never empty."""
    known = set(vocab.chars)
    missing = tuple(dict.fromkeys(char for char in prompt if char not in known))
    text = "".join(char for char in prompt if char in known) if missing else prompt
    size = f"the model's vocabulary of {len(vocab):,} characters"
    listed = ", ".join(repr(char) for char in missing[:8]) + (f" and {len(missing) - 8:,} more" if len(missing) > 8 else "")
    are = f"The character {listed} is" if len(missing) == 1 else f"The characters {listed} are"
    if text:
        message = None
        if missing:
            message = f"{are} not in {size}, so {'it was' if len(missing) == 1 else 'they were'} left out of the prompt."
        return PromptReport(text, missing, message)
    start, named = _start_char(vocab)
    if missing:
        message = f"{are} not in {size}, so the prompt was left empty and generation starts from {named}."
    else:
        message = f"The prompt is empty, so generation starts from {named}."
    return PromptReport(start, missing, message)


# ------------------------------------------------------------------------------ sampling


class _OneThread:
    """One torch thread for the calling thread while inside (OpenMP's thread count is per thread), then as before.

    A character model's step is a few small matrix-vector products: a second thread costs more in
    synchronisation than it saves, and waits a whole scheduler slice when another process holds
    the other core.
    """

    __slots__ = ("active", "threads")

    def __init__(self, active: bool = True) -> None:
        self.active = active
        self.threads = 1

    def __enter__(self) -> None:
        if self.active:
            import torch

            self.threads = torch.get_num_threads()
            if self.threads != 1:
                torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.active and self.threads != 1:
            import torch

            torch.set_num_threads(self.threads)


_CELLS = {"LSTM": "lstm_cell", "GRU": "gru_cell", "RNN_TANH": "rnn_tanh_cell", "RNN_RELU": "rnn_relu_cell"}


class _FastStep:
    """A CharLM's recurrence for one character, through the cells' ATen ops on the model's own weights.

    The first layer's input projection W_ih·e + b_ih is precomputed for every character (a [V, G]
    table), so a step is one matrix-vector product per layer plus the output layer. Built once per
    LoadedModel (the weights of a loaded model do not change); the state lives with each Sampler.
    """

    def __init__(self, model: Any) -> None:
        import torch

        rnn = model.rnn
        self.lstm = rnn.mode == "LSTM"
        self.cell = getattr(torch, _CELLS[rnn.mode])
        with torch.inference_mode():
            weights = [
                [getattr(rnn, f"{name}_l{layer}").detach() for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                for layer in range(rnn.num_layers)
            ]
            w_ih, w_hh, b_ih, b_hh = weights[0]
            self.table = torch.addmm(b_ih, model.embedding.weight.detach(), w_ih.t()).contiguous()
            self.no_input = torch.empty(1, 0, dtype=w_hh.dtype, device=w_hh.device)
            weights[0] = [torch.empty(w_hh.shape[0], 0, dtype=w_hh.dtype, device=w_hh.device), w_hh, None, b_hh]
            self.layers = weights
            self.fc_weight = model.fc.weight.detach()
            self.fc_bias = model.fc.bias.detach()

    @staticmethod
    def supports(model: Any) -> bool:
        rnn = getattr(model, "rnn", None)
        return (
            rnn is not None
            and rnn.mode in _CELLS
            and rnn.bias
            and not rnn.bidirectional
            and not getattr(rnn, "proj_size", 0)
            and getattr(model.fc, "bias", None) is not None
        )

    def initial(self, state: Any) -> list[Any]:
        """Per-layer state ([1, H], or (h, c) for an LSTM) from the module's state ([layers, 1, H])."""
        if self.lstm:
            h, c = state
            return [(h[layer].contiguous(), c[layer].contiguous()) for layer in range(len(self.layers))]
        return [state[layer].contiguous() for layer in range(len(self.layers))]

    def step(self, index: int, state: list[Any]) -> Any:
        """Logits [V] after feeding character `index`; `state` is updated in place (the list, not the tensors)."""
        cell = self.cell
        x = self.no_input
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            if layer == 0:
                b_ih = self.table[index]
            if self.lstm:
                h, c = cell(x, state[layer], w_ih, w_hh, b_ih, b_hh)
                state[layer] = (h, c)
            else:
                h = cell(x, state[layer], w_ih, w_hh, b_ih, b_hh)
                state[layer] = h
            x = h
        import torch

        return torch.addmv(self.fc_bias, self.fc_weight, x[0])


class Sampler:
    """Warm the state on the prompt (one forward pass over it), then one character per step, carrying (h, c): O(1) per character."""

    def __init__(self, loaded: LoadedModel, prompt: str = "", settings: SamplingSettings | None = None) -> None:
        import torch

        if loaded.job != "charlm":
            raise GenerateInputError(f"{loaded.name} is a {loaded.job} run; generating text needs a character model (charlm).")
        self.loaded = loaded
        self.settings: SamplingSettings = settings if settings is not None else SamplingSettings()
        self.prompt: PromptReport = prepare_prompt(loaded.vocab, prompt)
        self.produced = 0
        self._chars: list[str] = []
        self._joined = ""
        self._stopped = False
        self._vocab_chars = loaded.vocab.chars
        self._cpu = loaded.device.type == "cpu"
        self._generator = torch.Generator(device=loaded.device).manual_seed(self.settings.seed)
        model = loaded.model
        if loaded._fast is None and _FastStep.supports(model):
            loaded._fast = _FastStep(model)
        self._fast: _FastStep | None = loaded._fast
        with _OneThread(self._cpu), torch.inference_mode():
            ids = torch.as_tensor(loaded.vocab.encode(self.prompt.text), device=loaded.device)
            logits, state = model(ids[None, :])
            self._logits = logits[0, -1].float()
            self._state: Any = self._fast.initial(state) if self._fast is not None else state

    # ------------------------------------------------------------------ state
    @property
    def logits(self) -> torch.Tensor:
        """The logits [V] for the next character at the current position (float32, on the model's device)."""
        return self._logits

    @property
    def text(self) -> str:
        """The generated text so far (not including the prompt); joined lazily, so drawing stays O(1) per character."""
        joined, count = self._joined, len(self._chars)
        if len(joined) < count:  # a local copy: two threads asking at once both get it right
            joined += "".join(self._chars[len(joined) : count])
            self._joined = joined
        return joined

    @property
    def done(self) -> bool:
        return self._stopped or self.produced >= self.settings.length

    @property
    def stop_reason(self) -> str | None:
        if self._stopped:
            return "stop"
        if self.produced >= self.settings.length:
            return "length"
        return None

    # ------------------------------------------------------------------ drawing
    def next_char(self) -> str:
        """Draw one character and advance the state past it; "" when done (length reached or stop string generated)."""
        settings = self.settings  # read once: another thread may replace it meanwhile
        if self._stopped or self.produced >= settings.length:
            return ""
        import torch

        with _OneThread(self._cpu), torch.inference_mode():
            logits = self._logits
            if settings.greedy:
                index = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits, dim=0) if settings.plain else filter_probs(logits, settings)
                index = int(torch.multinomial(probs, 1, generator=self._generator))
            if self._fast is not None:
                self._logits = self._fast.step(index, self._state)
            else:
                step_logits, self._state = self.loaded.model(torch.tensor([[index]], device=self.loaded.device), self._state)
                self._logits = step_logits[0, -1].float()
        char = self._vocab_chars[index]
        self._chars.append(char)
        self.produced += 1
        stop = settings.stop
        if stop and char == stop[-1] and len(stop) <= self.produced and "".join(self._chars[-len(stop) :]) == stop:
            self._stopped = True
        return char

    def __iter__(self) -> Iterator[str]:
        """Characters until done."""
        while True:
            char = self.next_char()
            if not char:
                return
            yield char

    def candidates(self, top: int = 10, settings: SamplingSettings | None = None, *, include_filtered: bool = False) -> list[Candidate]:
        """The distribution of the next character at the current position, likeliest first.

        Uses `settings` (default: the Sampler's); only characters left with a probability above 0
        after filtering, sorted by that probability and then by the raw one. With
        `include_filtered`, the characters filtering removed follow in raw order (prob 0), up to `top`
        in all. No forward pass: the logits of the current position are kept.
        """
        import torch

        settings = settings if settings is not None else self.settings
        with torch.inference_mode():
            logits = self._logits
            probs = filter_probs(logits, settings).cpu().tolist()
            raw = torch.softmax(logits.float(), dim=0).cpu().tolist()
        chars = self._vocab_chars
        kept = sorted((i for i, p in enumerate(probs) if p > 0), key=lambda i: (-probs[i], -raw[i], i))
        if include_filtered:
            kept += sorted((i for i, p in enumerate(probs) if p <= 0), key=lambda i: (-raw[i], i))
        return [Candidate(chars[i], probs[i], raw[i]) for i in kept[: max(top, 0)]]


def generate(loaded: LoadedModel, prompt: str, settings: SamplingSettings) -> str:
    """The generated text (without the prompt) in one call."""
    return "".join(Sampler(loaded, prompt, settings))


def sample_ids(model: Any, prompt: torch.Tensor, length: int, *, temperature: float, generator: Any) -> list[int]:
    """CharLM.sample's loop on the fast step: `length` ids drawn from softmax(logits / temperature)."""
    import torch

    fast = _FastStep(model) if _FastStep.supports(model) else None
    with _OneThread(prompt.device.type == "cpu"), torch.inference_mode():
        logits, state = model(prompt[None, :])
        last = logits[0, -1].float()
        if fast is not None:
            state = fast.initial(state)
        drawn: list[int] = []
        for _ in range(length):
            probs = torch.softmax(last / temperature, dim=-1)
            index = int(torch.multinomial(probs, 1, generator=generator))
            drawn.append(index)
            if fast is not None:
                last = fast.step(index, state)
            else:
                step_logits, state = model(torch.tensor([[index]], device=prompt.device), state)
                last = step_logits[0, -1].float()
    return drawn

