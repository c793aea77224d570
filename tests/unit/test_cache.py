"""Unit tests for fibsvc.cache.BodyCache: the byte bound, LRU order and thread safety."""

import sys
import threading
from collections.abc import Hashable, Iterator

import pytest

from fibsvc.cache import BodyCache

THREADS = 8
ROUNDS = 15000
KEYS = 64


def stored_bytes(cache: BodyCache, keys: list[Hashable]) -> int:
    """Return the total size of the bodies the cache still returns for ``keys``."""
    return sum(len(body) for key in keys if (body := cache.get(key)) is not None)


def tagged_body(key: int, writer: int, turn: int) -> bytes:
    """Return a body whose prefix names its key, writer and turn, with a length derived from them."""
    tag = f"{key}|{writer}|{turn}|".encode()
    return tag + b"x" * ((key * 37 + turn) % 300)


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, to provoke interleavings."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class TestByteBound:
    """The cache never holds more than max_bytes of bodies."""

    def test_total_stays_within_max_bytes_under_many_puts(self) -> None:
        """Over 2,000 puts of varied sizes the total never exceeds max_bytes and matches the bodies held."""
        cache = BodyCache(1000)
        keys: list[Hashable] = []
        over = []
        for i in range(2000):
            key = ("value", i % 300)
            if key not in keys:
                keys.append(key)
            cache.put(key, bytes([i % 256]) * ((i * 53) % 400))
            if cache.current_bytes > 1000:
                over.append((i, cache.current_bytes))
        assert over == []
        assert stored_bytes(cache, keys) == cache.current_bytes
        assert 0 < cache.current_bytes <= 1000

    def test_latest_body_is_returned_after_put(self) -> None:
        """A body that fits is returned by get right after it is stored, replacing the key's old body."""
        cache = BodyCache(100)
        cache.put("k", b"old")
        cache.put("k", b"newer body")
        assert cache.get("k") == b"newer body"
        assert cache.current_bytes == len(b"newer body")

    def test_body_of_exactly_max_bytes_is_stored(self) -> None:
        """A body as large as the whole cache still fits."""
        cache = BodyCache(10)
        cache.put("k", b"0123456789")
        assert cache.get("k") == b"0123456789"

    def test_body_larger_than_cache_is_not_stored_and_evicts_nothing(self) -> None:
        """A body bigger than max_bytes is dropped and the bodies already held stay."""
        cache = BodyCache(10)
        cache.put("small", b"12345")
        cache.put("big", b"x" * 11)
        assert cache.get("big") is None
        assert cache.get("small") == b"12345"
        assert cache.current_bytes == 5


class TestLeastRecentlyUsedEviction:
    """When room is needed the least recently used bodies go first."""

    def test_oldest_body_is_evicted_first(self) -> None:
        """With a, b, c stored in that order, adding d evicts a only."""
        cache = BodyCache(30)
        for key in "abc":
            cache.put(key, key.encode() * 10)
        cache.put("d", b"d" * 10)
        assert [cache.get(key) is not None for key in "abcd"] == [False, True, True, True]

    def test_get_refreshes_recency(self) -> None:
        """Reading a before adding d makes b the least recently used, so b is evicted instead of a."""
        cache = BodyCache(30)
        for key in "abc":
            cache.put(key, key.encode() * 10)
        assert cache.get("a") == b"a" * 10
        cache.put("d", b"d" * 10)
        assert [cache.get(key) is not None for key in "abcd"] == [True, False, True, True]

    def test_as_many_old_bodies_as_needed_are_evicted_in_order(self) -> None:
        """A 15-byte body in a full 30-byte cache of 10-byte bodies evicts the two oldest."""
        cache = BodyCache(30)
        for key in "abc":
            cache.put(key, key.encode() * 10)
        cache.put("e", b"e" * 15)
        assert [cache.get(key) is not None for key in "abce"] == [False, False, True, True]
        assert cache.current_bytes == 25


class TestDisabled:
    """max_bytes=0 turns the cache off."""

    def test_zero_max_bytes_never_returns_a_body(self) -> None:
        """Puts are ignored: get returns None and the total stays zero."""
        cache = BodyCache(0)
        cache.put("k", b"body")
        cache.put("", b"")
        assert (cache.get("k"), cache.get(""), cache.current_bytes) == (None, None, 0)


class TestConcurrency:
    """Eight threads reading and writing at once never corrupt the cache."""

    @pytest.mark.usefixtures("fast_thread_switching")
    def test_concurrent_get_and_put_keep_bound_and_key_integrity(self) -> None:
        """Totals stay within max_bytes and every body read is one that was stored for that key."""
        max_bytes = 4096
        cache = BodyCache(max_bytes)
        keys: list[Hashable] = [("value", k) for k in range(KEYS)]
        problems: list[str] = []
        start = threading.Barrier(THREADS)

        def work(writer: int) -> None:
            try:
                start.wait()
                for turn in range(ROUNDS):
                    k = (writer * 7 + turn * 13) % KEYS
                    if (turn + writer) % 3:
                        body = cache.get(keys[k])
                        if body is not None:
                            key_text, writer_text, turn_text, _ = body.decode().split("|")
                            if int(key_text) != k or body != tagged_body(k, int(writer_text), int(turn_text)):
                                problems.append(f"key {k} returned {body[:40]!r}")
                    else:
                        cache.put(keys[k], tagged_body(k, writer, turn))
                    if cache.current_bytes > max_bytes:
                        problems.append(f"total {cache.current_bytes} over {max_bytes}")
            except Exception as error:  # any exception in a thread is a failure of the test
                problems.append(repr(error))

        threads = [threading.Thread(target=work, args=(writer,)) for writer in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [thread.name for thread in threads if thread.is_alive()] == []
        assert problems == []
        assert 0 < cache.current_bytes <= max_bytes
        assert stored_bytes(cache, keys) == cache.current_bytes
