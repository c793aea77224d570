"""Server-wide slots for heavy computations, so that heavy requests cannot starve light ones.

A computation of F(n) for n near the limit holds its worker's GIL for milliseconds; a handful
of clients asking for uncached large n could keep every worker busy and make every small,
cached request wait behind them. So at most ``slots`` heavy computations run at once across
all of a server's workers; a heavy request beyond that is answered 503 with Retry-After at
once, instead of queueing without limit. Light requests never take a slot.

Slots are files in the server's private runtime directory, held with ``flock``: the lock
is shared by every worker process and thread, and the kernel releases it if a worker dies.
"""

import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# A client that was turned away may retry after this many seconds.
RETRY_AFTER_SECONDS = 1


class ServerBusyError(Exception):
    """Every heavy-computation slot is taken."""


class HeavyWorkSlots:
    """At most ``slots`` heavy computations at once, across every process sharing ``directory``."""

    def __init__(self, slots: int, directory: Path | None = None) -> None:
        if directory is None:
            # One process on its own (tests, a single app): slots private to it.
            self._private = tempfile.TemporaryDirectory(prefix="fibsvc-slots-")
            directory = Path(self._private.name)
        self._paths = [directory / f"heavy-slot-{index}.lock" for index in range(slots)]

    @property
    def slots(self) -> int:
        """Return how many heavy computations may run at once."""
        return len(self._paths)

    def acquire(self) -> "HeldSlot":
        """Take a free slot, or raise ServerBusyError at once if none is free."""
        for path in self._paths:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return HeldSlot(descriptor)
        raise ServerBusyError(
            f"all {self.slots} slots for heavy computations are busy; retry after {RETRY_AFTER_SECONDS} s"
        )

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a free slot for the duration of the block; raise ServerBusyError if none is free."""
        held = self.acquire()
        try:
            yield
        finally:
            held.release()


class HeldSlot:
    """One taken slot; released once, explicitly or when it is garbage-collected."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        """Give the slot back (closing the descriptor drops the lock); later calls do nothing."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)

    def __del__(self) -> None:
        self.release()


def released_after(held: HeldSlot, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield ``chunks``, then give ``held`` back, however the iteration ends."""
    try:
        yield from chunks
    finally:
        held.release()
