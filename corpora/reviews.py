"""Labelled movie reviews as memory-mapped `datasets` tables, with the book's seeded validation split.

Sources: `imdb` (the Hugging Face Hub's stanfordnlp/imdb, kept in the Hugging Face cache), a local
parquet/CSV/JSON-lines file, a folder of `train.*`/`test.*` files, or an unpacked `aclImdb/`
folder. Local sources are converted to Arrow once, under `<rnn-tui cache>/datasets`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpora.errors import CorpusError, SourceUnavailable
from corpora.userdirs import cache_dir

if TYPE_CHECKING:  # datasets is imported inside the functions that need it, to keep `import corpora.reviews` light
    import datasets

HUB_SOURCE = "imdb"
HUB_DATASET = "stanfordnlp/imdb"
DEFAULT_VALID_SIZE = 0.2  # 25,000 train reviews → 20,000 train + 5,000 valid, as in the book
DEFAULT_SEED = 1
LABEL_NAMES = ("neg", "pos")
FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
TEXT_COLUMNS = ("text", "review")
LABEL_COLUMNS = ("label", "sentiment")
_LABEL_WORDS = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1, "false": 0, "true": 1}
_ACLIMDB_VERSION = "aclimdb-v1"
_LOCAL_HINT = (
    "a parquet, CSV or JSON-lines file with text and label columns, a folder of train.*/test.* files, "
    "or an unpacked aclImdb/ folder"
)


@dataclass(frozen=True)
class ReviewSource:
    """Where the reviews came from; JSON-friendly."""

    spec: str
    origin: str  # "hub" | "files" | "aclImdb"
    name: str
    files: dict[str, list[str]] = field(default_factory=dict)  # split → files read (empty for the Hub)
    columns: dict[str, str] = field(default_factory=dict)  # "text"/"label" → the column they came from


@dataclass(frozen=True)
class ReviewCorpus:
    """All labelled training reviews and the test set, plus the seeded train/valid split of the former.

    `train_all` and `test` are `datasets.Dataset` tables with columns `text` (str) and `label` (0 neg, 1 pos).
    """

    source: ReviewSource
    train_all: datasets.Dataset
    test: datasets.Dataset | None
    train_indices: np.ndarray
    valid_indices: np.ndarray
    seed: int

    @property
    def split_names(self) -> list[str]:
        names = ["train"] + (["valid"] if len(self.valid_indices) else [])
        return names + (["test"] if self.test is not None else [])

    @property
    def split_sizes(self) -> dict[str, int]:
        return {name: len(self.indices(name)) for name in self.split_names}

    def indices(self, name: str) -> np.ndarray:
        """Rows of split `name` in its table (`train_all` for train/valid, `test` for test)."""
        if name == "train":
            return self.train_indices
        if name == "valid":
            return self.valid_indices
        if name == "test" and self.test is not None:
            return np.arange(len(self.test))
        raise CorpusError(f"There is no split named {name!r}; choose one of {', '.join(self.split_names)}.")

    def table(self, name: str) -> datasets.Dataset:
        """The table that split `name` indexes into."""
        self.indices(name)
        return self.test if name == "test" else self.train_all

    def split(self, name: str) -> datasets.Dataset:
        """Split `name` as its own Dataset (a cheap index view over the memory-mapped table)."""
        table = self.table(name)
        return table if name == "test" else table.select(self.indices(name))

    def labels(self, name: str) -> np.ndarray:
        """The 0/1 labels of split `name`, in split order."""
        return np.asarray(self.table(name).data.column("label").to_numpy())[self.indices(name)]


def load_reviews(
    source: str | Path = HUB_SOURCE,
    *,
    valid_size: float | int = DEFAULT_VALID_SIZE,
    seed: int = DEFAULT_SEED,
    hub_cache_dir: str | Path | None = None,
) -> ReviewCorpus:
    """Load labelled reviews and carve a seeded validation split from the training reviews.

    `valid_size` is a fraction of the training reviews (0.2 gives the book's 20,000/5,000) or a
    count. The permutation is `numpy.random.default_rng(seed).permutation(n)`: the first
    n - valid_size rows are train, the rest valid.
    """
    spec = str(source)
    with quiet_datasets():
        if spec == HUB_SOURCE:
            tables, info = _load_hub(hub_cache_dir)
        else:
            tables, info = _load_local(Path(spec).expanduser(), spec)
    train_all = tables["train"]
    train_indices, valid_indices = _split(len(train_all), valid_size, seed, spec)
    return ReviewCorpus(info, train_all, tables.get("test"), train_indices, valid_indices, seed)


def is_review_file(path: Path) -> bool:
    return path.suffix.lower() in FORMATS


def datasets_cache() -> Path:
    """Where local review files are converted to Arrow and tokenised: `<rnn-tui cache>/datasets`."""
    return cache_dir() / "datasets"


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence `datasets` progress bars and log lines (they would garble the TUI); errors surface as CorpusError."""
    import datasets

    bars_were_off = datasets.are_progress_bars_disabled()
    verbosity = datasets.utils.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(datasets.utils.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.utils.logging.set_verbosity(verbosity)
        if not bars_were_off:
            datasets.enable_progress_bars()


def _split(n: int, valid_size: float | int, seed: int, spec: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(valid_size, float):
        if not 0.0 <= valid_size < 1.0:
            raise CorpusError(f"The validation fraction must be at least 0 and below 1, not {valid_size}.")
        n_valid = round(n * valid_size)
    else:
        n_valid = valid_size
    if not 0 <= n_valid < n:
        raise CorpusError(
            f"{spec} has {n:,} training reviews, too few to hold out {n_valid:,} for validation; ask for fewer."
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[: n - n_valid], order[n - n_valid :]


# --- The Hugging Face Hub -----------------------------------------------------------------------


def _load_hub(hub_cache_dir: str | Path | None) -> tuple[dict, ReviewSource]:
    import datasets

    offline = datasets.config.HF_HUB_OFFLINE or not hub_reachable()
    try:
        with _hub_offline(offline):
            loaded = datasets.load_dataset(HUB_DATASET, cache_dir=str(hub_cache_dir) if hub_cache_dir else None)
    except OSError as error:  # ConnectionError, or FileNotFoundError when not cached offline
        why = "the Hub cannot be reached (offline)" if offline else f"the download failed ({_first_line(error)})"
        raise SourceUnavailable(
            f"IMDb ({HUB_DATASET}) is not in the Hugging Face cache and {why}; connect once, or pass a local copy: {_LOCAL_HINT}."
        ) from None
    tables = {name: _normalise(loaded[name], f"{HUB_DATASET} {name}")[0] for name in ("train", "test")}
    return tables, ReviewSource(HUB_SOURCE, "hub", HUB_DATASET, {}, {"text": "text", "label": "label"})


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face endpoint answers a TCP connect; assumed yes behind a proxy (we cannot tell)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    import datasets

    parsed = urllib.parse.urlsplit(datasets.config.HF_ENDPOINT)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Run `load_dataset` cache-only when the Hub is unreachable, instead of retrying for half a minute."""
    import datasets
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    if offline:
        datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


# --- Local files ----------------------------------------------------------------------------


def _load_local(path: Path, spec: str) -> tuple[dict, ReviewSource]:
    if not path.exists():
        raise CorpusError(f"{path} does not exist; check the path, or use {HUB_SOURCE} for the Hugging Face copy.")
    if path.is_file():
        if not is_review_file(path):
            raise CorpusError(f"{path} is not a review table; pass {_LOCAL_HINT}.")
        return _load_files({"train": [path]}, spec)
    if not path.is_dir():
        raise CorpusError(
            f"{path} is not a regular file (a device, pipe or socket), so it is not read; pass a review file."
        )
    acl_root = _aclimdb_root(path)
    if acl_root is not None:
        return _load_aclimdb(acl_root, spec)
    files = {split: found for split in ("train", "test") if (found := _split_files(path, split))}
    if "train" not in files:
        raise CorpusError(
            f"{path} is not a corpus folder (no train.* parquet, CSV or JSON-lines file and no aclImdb/ train/pos and "
            f"train/neg folders); pass a folder holding train.* and test.*, an unpacked aclImdb/, or a single file."
        )
    return _load_files(files, spec)


def _split_files(folder: Path, split: str) -> list[Path]:
    """`train.parquet` or shards like `train-00000-of-00002.parquet`, in `folder` or `folder/data`; parquet first."""
    for ext in FORMATS:
        for where in (folder, folder / "data"):
            exact = where / f"{split}{ext}"
            if exact.is_file():
                return [exact]
            shards = sorted(where.glob(f"{split}-*{ext}"))
            if shards:
                return shards
    return []


def _load_files(files: dict[str, list[Path]], spec: str) -> tuple[dict, ReviewSource]:
    import datasets

    tables: dict = {}
    columns: dict[str, str] = {}
    for split, paths in files.items():
        for path in paths:
            _check_file(path)
        fmt = FORMATS[paths[0].suffix.lower()]
        name = str(paths[0]) if len(paths) == 1 else f"{paths[0].parent}/{split}-*"
        # Dataset.from_* rather than load_dataset: the same cached Arrow conversion, without
        # load_dataset's download-count request to the Hub for every local file.
        reader = {
            "parquet": datasets.Dataset.from_parquet,
            "csv": datasets.Dataset.from_csv,
            "json": datasets.Dataset.from_json,
        }[fmt]
        try:
            table = reader([str(p) for p in paths], split=split, cache_dir=str(datasets_cache()))
        except (datasets.exceptions.DatasetGenerationError, ValueError, OSError, UnicodeDecodeError) as error:
            reason = _first_line(error.__cause__ or error)
            raise CorpusError(f"{name} cannot be read as {fmt} ({reason}); check the file's format.") from None
        tables[split], columns = _normalise(table, name)
    source_name = str(next(iter(files.values()))[0].parent if len(files) > 1 else files["train"][0])
    return tables, ReviewSource(
        spec, "files", source_name, {s: [str(p) for p in ps] for s, ps in files.items()}, columns
    )


def _check_file(path: Path) -> None:
    """Cheap checks with one-sentence errors before `datasets` sees the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError as error:
        raise CorpusError(f"{path} cannot be read ({error.strerror or error}); check its permissions.") from None
    if size == 0:
        raise CorpusError(f"{path} is empty; pass a file with reviews in it.")
    if path.suffix.lower() == ".parquet":
        with open(path, "rb") as handle:
            handle.seek(max(size - 4, 0))
            tail = handle.read(4)
        if head[:4] != b"PAR1" or tail != b"PAR1":
            raise CorpusError(
                f"{path} is not a parquet file (no PAR1 magic at both ends); check its format or extension."
            )
        return
    if b"\x00" in head:
        raise CorpusError(f"{path} looks like a binary file (it holds NUL bytes); pass UTF-8 CSV or JSON lines.")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first = handle.readline()
            chunk = first
            while chunk:
                if "\x00" in chunk:  # the sniff above sees only the first 64 KiB
                    raise CorpusError(
                        f"{path} looks like a binary file (it holds NUL bytes); pass UTF-8 CSV or JSON lines."
                    )
                chunk = handle.read(1 << 20)
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x}); convert it to UTF-8 first."
        ) from None
    if path.suffix.lower() == ".csv":
        header = next(csv.reader([first]), [])
        _columns(header, str(path))
    else:
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            raise CorpusError(
                f"{path} is not JSON lines (its first line is not a JSON object); write one review object per line."
            ) from None
        if not isinstance(record, dict):
            raise CorpusError(
                f"{path} is not JSON lines (its first line is not a JSON object); write one review object per line."
            )
        _columns(list(record), str(path))


def _columns(names: list[str], name: str) -> tuple[str, str]:
    """The (text, label) column names, accepting `review` and `sentiment` as used by the Kaggle IMDb CSV."""
    text = next((c for c in TEXT_COLUMNS if c in names), None)
    label = next((c for c in LABEL_COLUMNS if c in names), None)
    if text is None or label is None:
        missing = " and ".join(kind for kind, col in (("text", text), ("label", label)) if col is None)
        shown = ", ".join(names[:8]) or "none"
        raise CorpusError(
            f"{name} has no {missing} column (it has: {shown}); name the review column 'text' and the 0/1 column 'label'."
        )
    return text, label


def _normalise(table: datasets.Dataset, name: str) -> tuple[datasets.Dataset, dict[str, str]]:
    """Keep `text` and a 0/1 int `label`; CorpusError for missing columns, empty tables, nulls or non-binary labels."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text_col, label_col = _columns(table.column_names, name)
    if len(table) == 0:
        raise CorpusError(f"{name} holds no reviews; pass a file with at least one row.")
    texts = table.data.column(text_col)
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise CorpusError(f"{name} column '{text_col}' holds {texts.type}, not text; point it at the review text.")
    if texts.null_count:
        raise CorpusError(
            f"{name} has {texts.null_count:,} rows with no text in '{text_col}'; drop or fill them first."
        )
    labels = table.data.column(label_col)
    if labels.null_count:
        raise CorpusError(
            f"{name} has {labels.null_count:,} rows with no label in '{label_col}'; drop or fill them first."
        )
    values = pc.unique(labels).to_pylist()
    if pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type):
        codes = {value: _LABEL_WORDS.get(value.strip().lower()) for value in values}
    elif pa.types.is_integer(labels.type) or pa.types.is_boolean(labels.type):
        codes = {value: int(value) if int(value) in (0, 1) else None for value in values}
    else:
        codes = dict.fromkeys(values)
    if None in codes.values():
        shown = ", ".join(repr(v) for v in sorted(values, key=str)[:6]) + (", …" if len(values) > 6 else "")
        raise CorpusError(
            f"{name} column '{label_col}' must be binary (0/1 or neg/pos) but holds {shown}; "
            f"keep two classes and map them to 0/1."
        )
    table = table.select_columns([text_col, label_col])
    if text_col != "text":
        table = table.rename_column(text_col, "text")
    if pa.types.is_integer(labels.type):
        if label_col != "label":
            table = table.rename_column(label_col, "label")
    else:
        label_codes = np.array([codes[value] for value in labels.to_pylist()], dtype=np.int64)
        table = table.remove_columns(label_col).add_column("label", label_codes)
    return table, {"text": text_col, "label": label_col}


# --- aclImdb ----------------------------------------------------------------------------------


def _aclimdb_root(path: Path) -> Path | None:
    for root in (path, path / "aclImdb"):
        if (root / "train" / "pos").is_dir() and (root / "train" / "neg").is_dir():
            return root
    return None


def _load_aclimdb(root: Path, spec: str) -> tuple[dict, ReviewSource]:
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    tables = {}
    for split in ("train", "test"):
        if not ((root / split / "pos").is_dir() and (root / split / "neg").is_dir()):
            continue
        files = _aclimdb_files(root / split)
        if not files:
            raise CorpusError(
                f"{root / split} has no <id>_<rating>.txt reviews in pos/ and neg/; unpack aclImdb again."
            )
        signature = hashlib.sha256(
            repr((_ACLIMDB_VERSION, str(root / split), _stat_signature(files))).encode()
        ).hexdigest()
        try:
            tables[split] = datasets.Dataset.from_generator(
                _aclimdb_rows,
                features=features,
                cache_dir=str(datasets_cache()),
                gen_kwargs={"folder": str(root / split)},
                fingerprint=signature[:16],
            )
        except datasets.exceptions.DatasetGenerationError as error:
            cause = error.__cause__
            if isinstance(cause, CorpusError):
                raise CorpusError(str(cause)) from None
            raise CorpusError(
                f"{root / split} cannot be read ({_first_line(cause or error)}); unpack aclImdb again."
            ) from None
    return tables, ReviewSource(
        spec, "aclImdb", str(root), {s: [str(root / s)] for s in tables}, {"text": "<file>", "label": "pos|neg"}
    )


def _aclimdb_files(folder: Path) -> list[tuple[int, int, Path]]:
    """(label, id, path) for every review, ordered by label then id as the Stanford archive is."""
    found = []
    for label, name in enumerate(LABEL_NAMES):
        for entry in os.scandir(folder / name):
            stem = entry.name.removesuffix(".txt")
            review_id, _, rating = stem.partition("_")
            if entry.name.endswith(".txt") and review_id.isdigit() and rating.isdigit():
                found.append((label, int(review_id), Path(entry.path)))
    return sorted(found)


def _stat_signature(files: list[tuple[int, int, Path]]) -> str:
    digest = hashlib.sha256()
    for _, _, path in files:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def _aclimdb_rows(folder: str) -> Iterator[dict]:
    for label, _, path in _aclimdb_files(Path(folder)):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorpusError(f"{path} is not UTF-8 text; fix or remove that review.") from None
        yield {"text": text, "label": label}


def _first_line(error: BaseException) -> str:
    """The first sentence of a library's error, to quote inside our own sentence."""
    text = str(error).strip() or type(error).__name__
    return re.split(r"(?<=[.!?])\s+", text.splitlines()[0])[0].rstrip(".")[:160]
