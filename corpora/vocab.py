"""Vocabularies saved as plain JSON next to a model: words for reviews, characters for text."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from corpora.cache import atomic_write
from corpora.errors import CorpusError

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
_WORD_FORMAT = "rnn-tui/word-vocab"
_CHAR_FORMAT = "rnn-tui/char-vocab"
_VERSION = 1


class WordVocab:
    """Tokens ordered by frequency after `<pad>`=0 and `<unk>`=1; unknown tokens map to `<unk>`."""

    def __init__(self, tokens: Sequence[str], *, min_count: int = 1, max_size: int | None = None) -> None:
        """`tokens` are the ordinary tokens in id order (ids 2, 3, ...); the specials are added here."""
        self.itos: list[str] = [PAD, UNK, *tokens]
        self.stoi: dict[str, int] = {token: index for index, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise CorpusError("The vocabulary lists a token twice (or lists <pad>/<unk>); rebuild it.")
        self.min_count = min_count
        self.max_size = max_size

    @classmethod
    def from_counts(
        cls, counts: Iterable[tuple[str, int]], *, min_count: int = 1, max_size: int | None = None
    ) -> WordVocab:
        """Order (token, count) pairs by count, ties kept in the given (first-seen) order, as the book does.

        Tokens seen fewer than `min_count` times are dropped; `max_size` caps the whole
        vocabulary, specials included.
        """
        if min_count < 1:
            raise CorpusError(f"min_count must be at least 1, not {min_count}.")
        if max_size is not None and max_size < 2:
            raise CorpusError(f"max_size must be at least 2 (room for {PAD} and {UNK}), not {max_size}.")
        kept = [(token, count) for token, count in counts if count >= min_count and token not in (PAD, UNK)]
        kept.sort(key=lambda pair: pair[1], reverse=True)
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls([token for token, _ in kept], min_count=min_count, max_size=max_size)

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
    ) -> WordVocab:
        """Count tokens with a plain Counter (the book's loop) and order them with `from_counts`."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        return cls.from_counts(counts.items(), min_count=min_count, max_size=max_size)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordVocab) and self.itos == other.itos

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[index] for index in ids]

    def save(self, path: str | Path) -> None:
        """Write plain JSON atomically: {"format", "version", "min_count", "max_size", "tokens": [all, in id order]}."""
        payload = {
            "format": _WORD_FORMAT,
            "version": _VERSION,
            "min_count": self.min_count,
            "max_size": self.max_size,
            "tokens": self.itos,
        }
        atomic_write(Path(path), [json.dumps(payload, ensure_ascii=False).encode()])

    @classmethod
    def load(cls, path: str | Path) -> WordVocab:
        payload = _read_json(Path(path), _WORD_FORMAT)
        tokens = payload.get("tokens")
        if not isinstance(tokens, list) or tokens[:2] != [PAD, UNK] or not all(isinstance(t, str) for t in tokens):
            raise CorpusError(f"{path} is not a word vocabulary (tokens must start with {PAD}, {UNK}); rebuild it.")
        return cls(tokens[2:], min_count=payload.get("min_count", 1), max_size=payload.get("max_size"))


class CharVocab:
    """The book's character vocabulary, `sorted(set(text))`; ids are positions in that list."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: tuple[str, ...] = tuple(sorted(set(chars)))
        if not self.chars or any(len(char) != 1 for char in self.chars):
            raise CorpusError("A character vocabulary needs at least one single-character entry; rebuild it.")
        self._codes = np.array([ord(char) for char in self.chars], dtype=np.uint32)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(text)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self.chars

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def encode(self, text: str) -> np.ndarray:
        """Character ids as an int64 array; CorpusError naming the first character not in the vocabulary."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes)
        ids_clipped = np.minimum(ids, len(self._codes) - 1)
        unknown = np.flatnonzero(self._codes[ids_clipped] != codes)
        if unknown.size:
            char = text[unknown[0]]
            raise CorpusError(
                f"The character {char!r} (position {unknown[0]:,}) is not in this model's vocabulary; leave it out."
            )
        return ids.astype(np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(index)] for index in ids)

    def save(self, path: str | Path) -> None:
        """Write plain JSON atomically: {"format", "version", "chars": [one string per id]}."""
        payload = {"format": _CHAR_FORMAT, "version": _VERSION, "chars": list(self.chars)}
        atomic_write(Path(path), [json.dumps(payload, ensure_ascii=False).encode()])

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        chars = _read_json(Path(path), _CHAR_FORMAT).get("chars")
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise CorpusError(f"{path} is not a character vocabulary (chars must be single characters); rebuild it.")
        vocab = cls(chars)
        if list(vocab.chars) != chars:
            raise CorpusError(
                f"{path} lists its characters out of order or twice, so its ids are unreliable; rebuild it."
            )
        return vocab


def _read_json(path: Path, expected_format: str) -> dict:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"{path} does not exist; save the vocabulary next to the model first.") from None
    except (OSError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).splitlines()[0].rstrip(".")
        raise CorpusError(f"{path} is not a readable JSON vocabulary ({reason}); rebuild it.") from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise CorpusError(f"{path} is not a {expected_format} file; pass the vocabulary saved with the model.")
    if payload.get("version") != _VERSION:
        raise CorpusError(
            f"{path} has version {payload.get('version')!r}, but this rnn-tui reads version {_VERSION}; rebuild it."
        )
    return payload
