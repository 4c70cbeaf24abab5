"""What a training job is asked to do (torch-free, so the Train pane's form validates instantly).

`parse_train_config(job, preset, **overrides)` turns what a user typed (form fields or command-line
options, as strings or values) into a validated, frozen `TrainConfig`, raising `TrainConfigError`
with one sentence for anything impossible. Checks that need the data (a sequence longer than the
text, a vocabulary) or torch (a device that is absent) happen when the job starts.
`FORM_FIELDS[job]` describes the fields a new-job form shows, in order.

The distributed settings (`nproc_per_node`, `nnodes`, `node_rank`, `master_addr`, `master_port`,
`dist_timeout`) say how torchrun lays the job out (see engine.training.distributed); `batch_size` stays the
global batch, split evenly over the `world_size` processes.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from engine.cells import CELL_NAMES
from engine.devices import DEVICES
from engine.numbers import MAX_SEED, MIN_TEMPERATURE, NumberError, parse_real, parse_whole
from engine.training.presets import DEFAULT_PRESET, PRESETS

JOBS = ("sentiment", "charlm")
REGIMES = ("windows", "tbptt")
POOLINGS = ("last", "max", "mean")
SCHEDULES = ("none", "cosine", "linear")
AMP_MODES = ("auto", "off", "bf16")
DEFAULT_DATA = {"sentiment": "imdb", "charlm": "gutenberg:1268"}

_LIMITS: dict[str, tuple[float, float]] = {  # inclusive bounds of the numeric fields
    "embed_size": (1, 4096),
    "hidden_size": (1, 8192),
    "fc_size": (1, 8192),
    "layers": (1, 16),
    "batch_size": (1, 65536),
    "seq_length": (1, 100_000),
    "eval_window": (1, 100_000),
    "steps": (1, 100_000_000),
    "epochs": (1, 100_000),
    "checkpoint_every": (1, 100_000_000),
    "eval_every": (0, 100_000_000),
    "log_every": (1, 100_000_000),
    "sample_every": (0, 100_000_000),
    "sample_length": (1, 100_000),
    "warmup_steps": (0, 100_000_000),
    "max_length": (1, 1_000_000),
    "min_count": (1, 1_000_000),
    "seed": (0, MAX_SEED),
    "threads": (0, 1024),
    "lr": (0, 10),
    "clip": (0, 1e9),
    "weight_decay": (0, 10),
    "dropout": (0, 1),
    "valid_fraction": (0, 0.5),
    "sample_temperature": (MIN_TEMPERATURE, 100),
    "nproc_per_node": (1, 1024),
    "nnodes": (1, 4096),
    "node_rank": (0, 4095),
    "master_port": (0, 65535),
    "dist_timeout": (1, 86400),
}
_EXCLUSIVE_LOW = {"lr", "clip"}  # must be above the low bound
_EXCLUSIVE_HIGH = {"dropout"}  # must be below the high bound
_OPTIONAL = {"clip", "steps", "epochs", "max_length"}  # blank / "none" / "off" means None
_CHOICES: dict[str, tuple[str, ...]] = {
    "job": JOBS,
    "cell": CELL_NAMES,
    "regime": REGIMES,
    "pooling": POOLINGS,
    "lr_schedule": SCHEDULES,
    "device": DEVICES,
    "amp": AMP_MODES,
}
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


# Settings added after runs were already being saved, and what a config.json without one trained with.
# A missing key must not take today's preset value: an old run would be shown, resumed and compared as
# if it had trained another recipe (runs from before `weight_decay` trained with plain Adam).
_BEFORE_ADDED: dict[str, Any] = {"weight_decay": 0.0}


def as_trained(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config.json with each setting added since it was saved, at the value its run trained with.

    What the Train pane's tables and the TensorBoard export show, so that an old run reads as the recipe it ran.
    """
    return {**{key: value for key, value in _BEFORE_ADDED.items() if key not in data}, **data}


class TrainConfigError(ValueError):
    """A setting the trainer cannot use; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. Field names are the form's and the CLI's (dashes for underscores)."""

    job: str = "charlm"
    data: str = DEFAULT_DATA["charlm"]
    # model
    cell: str = "lstm"
    embed_size: int = 256
    hidden_size: int = 512
    layers: int = 1
    bidirectional: bool = False  # sentiment only
    dropout: float = 0.0  # on embeddings, between layers and before the output
    pooling: str = "last"  # sentiment: the final hidden state (the book), or max/mean over time
    fc_size: int = 64  # sentiment: width of the MLP between the RNN and the logit
    # optimisation
    lr: float = 5e-3
    lr_schedule: str = "none"
    warmup_steps: int = 0
    weight_decay: float = 0.0  # decoupled (AdamW); 0 = plain Adam, as the book
    batch_size: int = 64
    clip: float | None = None  # max gradient norm; None = no clipping
    steps: int | None = 10_000
    epochs: int | None = None
    # data
    seq_length: int = 40  # charlm: characters per training chunk
    regime: str = "windows"  # charlm: "windows" (random windows, state reset) or "tbptt" (streams, state carried)
    eval_window: int = 40  # charlm: validation scored on windows of this many characters, state reset each
    max_length: int | None = None  # sentiment: keep each review's first N tokens
    min_count: int = 1  # sentiment: drop rarer training tokens from the vocabulary
    bucket: bool = False  # sentiment: batch reviews of similar length
    test_every_eval: bool = (
        False  # sentiment: also score the test reviews at each validation (benchmarks; never for choices)
    )
    valid_fraction: float = 0.1  # sentiment: 0 trains on every training review, without validation or best.pt
    # cadence (in steps; eval_every 0 = at the end of every epoch)
    checkpoint_every: int = 500
    eval_every: int = 100
    log_every: int = 10
    sample_every: int = 500  # charlm; 0 = never
    sample_length: int = 200
    sample_temperature: float = 1.0
    sample_prompt: str = "The island"
    # machine
    device: str = "auto"
    amp: str = "off"
    threads: int = 0  # torch threads; 0 = every core, shared among the jobs running (engine.training.threads)
    seed: int = 1
    # distributed data parallel (torchrun): processes per node × nodes share each global batch
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0  # this node's place; node 0 runs rank 0, which holds the run directory
    master_addr: str = "127.0.0.1"  # node 0's address, as the other nodes reach it
    master_port: int = 0  # node 0's rendezvous port; 0 = a free port (one node only)
    dist_timeout: int = 300  # seconds a rank waits for the others in a collective before the run fails

    # ------------------------------------------------------------ derived
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def world_size(self) -> int:
        """How many processes train together (1: an ordinary single-process job)."""
        return self.nproc_per_node * self.nnodes

    @property
    def threads_per_process(self) -> int:
        """Torch threads for each of this node's processes: the node's threads shared out, at least 1."""
        return max(1, (self.threads or os.cpu_count() or 1) // self.nproc_per_node)

    @property
    def best_metric(self) -> str:
        """The validation metric that picks best.pt: lower val_loss (charlm), higher val_acc (sentiment)."""
        return "val_acc" if self.job == "sentiment" else "val_loss"

    @property
    def higher_is_better(self) -> bool:
        return self.job == "sentiment"

    def describe(self) -> str:
        """One line for lists and logs, e.g. 'charlm · LSTM E256 H512 ×1 · batch 64 × 40 · lr 0.005 · 10,000 steps'."""
        model = f"{self.cell.upper()} E{self.embed_size} H{self.hidden_size}" + (
            f" ×{self.layers}" if self.layers > 1 else ""
        )
        if self.bidirectional:
            model += " bi"
        shape = f"batch {self.batch_size}" + (f" × {self.seq_length} {self.regime}" if self.job == "charlm" else "")
        length = f"{self.steps:,} steps" if self.steps else f"{self.epochs} epoch" + ("s" if self.epochs != 1 else "")
        parts = [self.job, model, shape, f"lr {self.lr:g}", length]
        if self.world_size > 1:
            parts.append(f"{self.world_size} processes")
        return " · ".join(parts)

    # --------------------------------------------------------- plain data
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Validate a stored config (config.json); unknown keys are an error, missing ones take the job's defaults.

        A setting added to rnn-tui after the config was written takes the value every run had before it.
        """
        job = data.get("job")
        if job not in JOBS:
            raise TrainConfigError(f"The config names job {job!r}; it must be sentiment or charlm.")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise TrainConfigError(f"The config has unknown settings ({', '.join(unknown)}); remove them.")
        return parse_train_config(job, None, **{key: value for key, value in as_trained(data).items() if key != "job"})


@dataclass(frozen=True)
class FormField:
    """One field of the new-job form: `kind` is "choice", "int", "float", "bool" or "text".

    `optional` fields accept a blank (None); `choices` lists a choice field's values.
    """

    name: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    optional: bool = False
    help: str = ""


_COMMON_HEAD = (
    FormField("data", "Data source", "text", help="a file or folder path, gutenberg:ID, python-docs or imdb"),
    FormField("cell", "Cell", "choice", CELL_NAMES),
    FormField("embed_size", "Embedding size", "int"),
    FormField("hidden_size", "Hidden size", "int"),
    FormField("layers", "Layers", "int"),
)
_COMMON_TAIL = (
    FormField("dropout", "Dropout", "float", help="0 ≤ p < 1"),
    FormField("lr", "Learning rate", "float"),
    FormField("lr_schedule", "LR schedule", "choice", SCHEDULES),
    FormField("weight_decay", "Weight decay", "float", help="AdamW's decoupled decay; 0 = plain Adam"),
    FormField("batch_size", "Batch size", "int"),
    FormField("clip", "Gradient clip", "float", optional=True, help="max gradient norm; blank = off"),
    FormField("steps", "Steps", "int", optional=True, help="give steps or epochs"),
    FormField("epochs", "Epochs", "int", optional=True, help="give steps or epochs"),
    FormField("checkpoint_every", "Checkpoint every", "int", help="steps"),
    FormField("device", "Device", "choice", DEVICES),
    FormField("nproc_per_node", "Processes", "int", help="data-parallel processes (torchrun DDP); 1 = one process"),
    FormField(
        "amp",
        "Mixed precision",
        "choice",
        AMP_MODES,
        help="auto: bf16 where it pays (CUDA; CPUs with AMX or AVX512-BF16)",
    ),
    FormField("seed", "Seed", "int"),
)
FORM_FIELDS: dict[str, tuple[FormField, ...]] = {
    "charlm": (
        *_COMMON_HEAD,
        FormField(
            "regime", "Regime", "choice", REGIMES, help="windows: the book's random windows; tbptt: carried state"
        ),
        FormField("seq_length", "Sequence length", "int", help="characters per chunk (the TBPTT window)"),
        *_COMMON_TAIL,
        FormField("sample_every", "Sample every", "int", help="steps; 0 = never"),
    ),
    "sentiment": (
        *_COMMON_HEAD,
        FormField("bidirectional", "Bidirectional", "bool"),
        FormField("pooling", "Pooling", "choice", POOLINGS, help="last hidden state (the book) or max/mean over time"),
        FormField("max_length", "Max review tokens", "int", optional=True, help="blank = whole reviews"),
        FormField("bucket", "Length bucketing", "bool"),
        *_COMMON_TAIL,
    ),
}


def preset_names(job: str) -> tuple[str, ...]:
    return tuple(PRESETS.get(job, {}))


def parse_train_config(job: str, preset: str | None = DEFAULT_PRESET, **overrides: Any) -> TrainConfig:
    """The config for `job`: its `default` preset, then `preset` on top, then overrides (strings or values).

    Giving `steps` clears the preset's `epochs` and the other way round; giving both (not None) is an error.
    """
    if job not in JOBS:
        raise TrainConfigError(f"Unknown job {job!r}; choose sentiment or charlm.")
    values: dict[str, Any] = {"job": job, "data": DEFAULT_DATA[job], **PRESETS[job][DEFAULT_PRESET]}
    if preset is not None:
        if preset not in PRESETS[job]:
            raise TrainConfigError(f"Unknown {job} preset {preset!r}; choose one of {', '.join(PRESETS[job])}.")
        values.update(PRESETS[job][preset])
    known = {f.name: f for f in fields(TrainConfig)}
    parsed = {}
    for name, value in overrides.items():
        if name not in known or name == "job":
            raise TrainConfigError(f"Unknown training setting {name!r}; see rnn-tui train --help.")
        parsed[name] = _coerce(name, value, known[name].type)
    if parsed.get("steps") is not None and parsed.get("epochs") is not None:
        raise TrainConfigError("Give either steps or epochs, not both.")
    if parsed.get("steps") is not None:
        values["epochs"] = None
    if parsed.get("epochs") is not None:
        values["steps"] = None
    values.update(parsed)
    config = TrainConfig(**values)
    _check(config)
    return config


def with_changes(config: TrainConfig, **changes: Any) -> TrainConfig:
    """`config` with some settings changed (None values ignored): a resumed run that goes on longer, or elsewhere.

    Giving steps or epochs replaces the run's length, whichever of the two it was.
    """
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        return config
    base = {name: value for name, value in config.to_dict().items() if name != "job"}
    if "steps" in changes or "epochs" in changes:
        del base["steps"], base["epochs"]
    return parse_train_config(config.job, None, **{**base, **changes})


_LABELS = {
    "lr": "learning rate",
    "lr_schedule": "LR schedule",
    "amp": "mixed-precision mode",
    "clip": "gradient clip",
    "embed_size": "embedding size",
    "seq_length": "sequence length",
    "valid_fraction": "validation fraction",
    "nproc_per_node": "number of processes per node",
    "nnodes": "number of nodes",
    "dist_timeout": "distributed timeout",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name.replace("_", " "))


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """A typed value for field `name` from a string or a value, with a one-sentence error."""
    kind = str(annotation)
    if isinstance(value, str):
        text = value.strip()
        if name in _OPTIONAL and text.lower() in ("", "none", "off"):
            return None
        if "bool" in kind:
            lowered = text.lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
            raise TrainConfigError(f"The {_label(name)} setting must be yes or no, not {text!r}.")
        try:
            if "int" in kind:
                return parse_whole(text, _label(name))
            if "float" in kind:
                return parse_real(text, _label(name))
        except NumberError as error:
            raise TrainConfigError(str(error)) from None
        return text
    if value is None:
        if name in _OPTIONAL:
            return None
        raise TrainConfigError(f"The {_label(name)} cannot be blank.")
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        raise TrainConfigError(f"The {_label(name)} setting must be yes or no, not {value!r}.")
    if "int" in kind and "float" not in kind:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TrainConfigError(f"The {_label(name)} must be a whole number, not {value!r}.")
        return value
    if "float" in kind:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainConfigError(f"The {_label(name)} must be a number, not {value!r}.")
        return float(value)
    if not isinstance(value, str):
        raise TrainConfigError(f"The {_label(name)} must be text, not {value!r}.")
    return value


def _check(config: TrainConfig) -> None:
    for name, choices in _CHOICES.items():
        value = getattr(config, name)
        if value not in choices:
            raise TrainConfigError(f"Unknown {_label(name)} {value!r}; choose one of {', '.join(choices)}.")
    for name, (low, high) in _LIMITS.items():
        value = getattr(config, name)
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise TrainConfigError(f"The {_label(name)} must be a finite number, not {value}.")
        too_low = value <= low if name in _EXCLUSIVE_LOW else value < low
        too_high = value >= high if name in _EXCLUSIVE_HIGH else value > high
        if too_low or too_high:
            low_word = "above" if name in _EXCLUSIVE_LOW else "at least"
            high_word = "below" if name in _EXCLUSIVE_HIGH else "at most"
            raise TrainConfigError(
                f"The {_label(name)} must be {low_word} {low:g} and {high_word} {high:g}, not {value:g}."
            )
    if (config.steps is None) == (config.epochs is None):
        raise TrainConfigError("Give either a number of steps or a number of epochs.")
    if not config.data.strip():
        raise TrainConfigError("The data source is blank; give a path, gutenberg:ID, python-docs or imdb.")
    if config.job == "charlm":
        if config.bidirectional:
            raise TrainConfigError("A character model reads left to right; it cannot be bidirectional.")
        if not config.sample_prompt:
            raise TrainConfigError("The sample prompt is blank; give at least one character.")
        if config.valid_fraction == 0:
            raise TrainConfigError(
                "A character model needs validation text; give a validation fraction above 0 (0.1 holds out the last tenth)."
            )
    if config.warmup_steps and config.steps is not None and config.warmup_steps >= config.steps:
        raise TrainConfigError(
            f"The warmup ({config.warmup_steps:,} steps) must be shorter than the run ({config.steps:,} steps)."
        )
    _check_distributed(config)


def _check_distributed(config: TrainConfig) -> None:
    world = config.world_size
    if config.node_rank >= config.nnodes:
        raise TrainConfigError(
            f"The node rank must be below the number of nodes ({config.nnodes}), not {config.node_rank}."
        )
    if config.nnodes > 1 and (not config.master_addr.strip() or not config.master_port):
        raise TrainConfigError(
            "Several nodes need node 0's address and port; pass --master-addr ADDR and --master-port PORT."
        )
    if world > 1 and config.device == "mps":
        raise TrainConfigError(
            "Apple MPS has no distributed backend; use --device cpu (gloo) or cuda (NCCL) for several processes."
        )
    if config.batch_size % world:
        lower, upper = config.batch_size // world * world, (config.batch_size // world + 1) * world
        such = f"{lower:,} or {upper:,}" if lower else f"{upper:,}"
        raise TrainConfigError(
            f"The batch size ({config.batch_size:,}) is the global batch and must split evenly over the {world:,} processes; "
            f"use a multiple of {world:,}, such as {such}."
        )
