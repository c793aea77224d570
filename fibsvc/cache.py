"""An LRU cache of response bodies, bounded by their total size in bytes."""

import threading
from collections.abc import Hashable

from cachetools import LRUCache


class BodyCache:
    """Keep the most recently used bodies whose sizes add up to at most ``max_bytes``.

    cachetools does the size-aware LRU bookkeeping; the lock makes it safe for
    gunicorn's gthread workers. Computing a missing body happens outside the lock,
    so one slow computation never blocks hits on other keys.
    """

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._entries: LRUCache[Hashable, bytes] | None = (
            LRUCache(maxsize=max_bytes, getsizeof=len) if max_bytes > 0 else None
        )

    def get(self, key: Hashable) -> bytes | None:
        """Return the body stored under ``key``, or None."""
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Hashable, body: bytes) -> None:
        """Store ``body`` unless it alone is larger than the whole cache."""
        if self._entries is None or len(body) > self._entries.maxsize:
            return
        with self._lock:
            self._entries[key] = body

    @property
    def current_bytes(self) -> int:
        """Return the total size of the stored bodies."""
        if self._entries is None:
            return 0
        with self._lock:
            return int(self._entries.currsize)
