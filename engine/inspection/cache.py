"""The small LRU of finished traces: the same checkpoint and text give the same trace object, not a second pass.

A key is (kind, checkpoint path, its step and modification time, device, text), so retraining
that rewrites best.pt misses the cache. A model whose checkpoint is not a file (one built in
memory) is never cached. The cache keeps at most `entries` traces and, beyond the newest one, at
most `max_bytes` of tensors (a long text through a big model holds hundreds of megabytes).
Thread-safe: a UI may trace from a worker thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

T = TypeVar("T", bound="Sized")


class Sized(Protocol):
    def nbytes(self) -> int: ...


class TraceCache:
    """Least recently used traces, bounded by count and by bytes."""

    def __init__(self, entries: int = 8, max_bytes: int = 512 * 2**20) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Sized) -> None:
        size = value.nbytes()
        with self._lock:
            self._items[key] = (value, size)
            self._items.move_to_end(key)
            total = sum(item[1] for item in self._items.values())
            while len(self._items) > 1 and (len(self._items) > self.entries or total > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                total -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: The traces of this process (engine.inspection.charlm and .sentiment share it).
TRACES = TraceCache()


def key_for(loaded: Any, kind: str, text: str) -> Hashable | None:
    """The cache key of tracing `text` through `loaded` (a LoadedModel), or None when its checkpoint is not a file."""
    try:
        stamp = loaded.checkpoint.stat().st_mtime_ns
        path = str(loaded.checkpoint.resolve())
    except (OSError, AttributeError):
        return None
    return (kind, path, loaded.step, stamp, str(loaded.device), text)


def cached(loaded: Any, kind: str, text: str, build: Callable[[], T], *, use_cache: bool = True) -> T:
    """The cached trace for (loaded's checkpoint, kind, text), else `build()` (stored for next time)."""
    key = key_for(loaded, kind, text) if use_cache else None
    if key is not None:
        found = TRACES.get(key)
        if found is not None:
            return found
    value = build()
    if key is not None:
        TRACES.put(key, value)
    return value
