"""Clients and probes for ``python -m bench.reliability``; every one is bounded in time or count.

All of them talk to 127.0.0.1 only: closed-loop HTTP clients that keep a timestamped record of
each request, a fixed-rate latency probe, clients that ask for large uncached n, connections
that send their headers one byte a second, wrk with latency percentiles, and /proc readings.
"""

import http.client
import random
import re
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.throughput import WrkOptions, completed_requests, error_statuses, socket_errors, wrk_output
from tests.live_server import BackgroundThreads, worker_pids

HOST = "127.0.0.1"
_PROC = Path("/proc")
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class Result:
    """One request: when it was due and ended (monotonic seconds), and its status or error."""

    due: float
    finished: float
    status: int | None = None
    # The body is as long as Content-Length says.
    complete: bool = False
    retry_after: str | None = None
    error: BaseException | None = None

    @property
    def seconds(self) -> float:
        """Return the latency, counted from when the request was due."""
        return self.finished - self.due

    @property
    def ok(self) -> bool:
        """Return whether the answer was a complete 200."""
        return self.status == http.HTTPStatus.OK and self.complete


def send(connection: http.client.HTTPConnection, path: str, due: float | None = None) -> Result:
    """Send one GET on ``connection`` and return what happened; never raise for a network error."""
    due = time.monotonic() if due is None else due
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as error:
        return Result(due, time.monotonic(), error=error)
    length = response.getheader("Content-Length")
    return Result(
        due,
        time.monotonic(),
        status=response.status,
        complete=length is not None and int(length) == len(body),
        retry_after=response.getheader("Retry-After"),
    )


def get_once(port: int, path: str, timeout: float, due: float | None = None) -> Result:
    """Send one GET on a new connection and return what happened."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        return send(connection, path, due)
    finally:
        connection.close()


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank), or NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class ClosedLoad(BackgroundThreads):
    """Closed-loop client threads: each sends GETs one after another until stopped.

    ``keep_alive`` threads reuse one connection; ``fresh`` threads open a connection per request,
    as clients without keep-alive do. After a failure a thread reconnects 20 ms later; once
    a connection is refused, it gives up, like a client that finds the port closed.
    """

    port: int
    pick: Callable[[random.Random], str]
    keep_alive: int
    fresh: int
    # Per thread, so the load stops by itself even if never told to.
    limit: int = 100_000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.keep_alive + self.fresh)

    def results(self) -> list[Result]:
        """Return a copy of every result so far."""
        with self._lock:
            return list(self._results)

    def _run(self, seed: int) -> None:
        reuse = seed < self.keep_alive
        # Not for security: a reproducible spread of indices.
        rng = random.Random(seed)  # noqa: S311
        connection: http.client.HTTPConnection | None = None
        for _ in range(self.limit):
            if self._stop.is_set():
                break
            if connection is None:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
            result = send(connection, self.pick(rng))
            with self._lock:
                self._results.append(result)
            if result.error is not None or not reuse:
                connection.close()
                connection = None
            if isinstance(result.error, ConnectionRefusedError):
                break
            if result.error is not None:
                self._stop.wait(0.02)
        if connection is not None:
            connection.close()


def probe(port: int, path: str, rate: float, seconds: float, timeout: float = 5) -> list[Result]:
    """GET ``path`` on a new connection ``rate`` times a second for ``seconds``; return every result.

    Each request starts on schedule in a thread of its own pool, whatever the earlier ones are
    doing, and its latency counts from when it was due, so a stall is not hidden by the probe
    waiting for it (coordinated omission).
    """
    interval = 1 / rate
    count = round(rate * seconds)
    start = time.monotonic()
    # Enough threads for every request of a stall as long as the timeout.
    with ThreadPoolExecutor(max_workers=min(count, round(rate * timeout) + 4)) as pool:
        futures = []
        for number in range(count):
            due = start + number * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(get_once, port, path, timeout, due))
        return [future.result() for future in futures]


@dataclass(frozen=True)
class LatencySummary:
    """Latency and success of a set of probe results."""

    requests: int
    succeeded: int
    p50: float
    p99: float

    @property
    def success_rate(self) -> float:
        """Return the fraction of requests answered with a complete 200."""
        return self.succeeded / self.requests if self.requests else 0.0


def summarize(results: list[Result]) -> LatencySummary:
    """Return the success count and the percentiles of the successful requests' latency."""
    good = [result.seconds for result in results if result.ok]
    return LatencySummary(len(results), len(good), percentile(good, 0.5), percentile(good, 0.99))


@dataclass
class HeavyClients(BackgroundThreads):
    """Client threads asking for uncached large n, each random in ``[low, high]``.

    A 503 with Retry-After is counted and honoured: the thread waits that many seconds, as the
    server asks. Other answers are counted by status; failures by exception type.
    """

    port: int
    clients: int
    low: int
    high: int
    limit: int = 10_000
    statuses: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        super().__init__(self.clients)

    def _count(self, key: str) -> None:
        with self._lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def _run(self, seed: int) -> None:
        rng = random.Random(1000 + seed)  # noqa: S311 - a reproducible spread, not security
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        for _ in range(self.limit):
            if self._stop.is_set():
                break
            result = send(connection, f"/fibonacci/{rng.randint(self.low, self.high)}")
            if result.error is not None:
                self._count(type(result.error).__name__)
                connection.close()
                self._stop.wait(0.1)
                continue
            if result.status == http.HTTPStatus.SERVICE_UNAVAILABLE and result.retry_after:
                self._count("503 with Retry-After")
                self._stop.wait(float(result.retry_after))
            else:
                self._count(str(result.status))
        connection.close()


@dataclass
class SlowHeaders(BackgroundThreads):
    """``connections`` sockets that each send a request's headers one byte a second, never finishing.

    They stop by themselves after ``seconds``. ``closed_by_server`` counts the connections the
    server closed or reset before then.
    """

    port: int
    connections: int
    seconds: float
    closed_by_server: int = 0

    # Long enough never to be complete within the run: no blank line ends it.
    REQUEST = b"GET /fibonacci/30 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-loris-bench\r\n" * 4

    def __post_init__(self) -> None:
        # One thread drives every socket, a byte each a second.
        super().__init__(1)

    def _run(self, index: int) -> None:
        sockets: list[socket.socket | None] = []
        try:
            for _ in range(self.connections):
                sockets.append(socket.create_connection((HOST, self.port), timeout=5))
            deadline = time.monotonic() + self.seconds
            for offset in range(len(self.REQUEST)):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    break
                for position, sock in enumerate(sockets):
                    if sock is None:
                        continue
                    try:
                        sock.sendall(self.REQUEST[offset : offset + 1])
                    except OSError:
                        sock.close()
                        sockets[position] = None
                        self.closed_by_server += 1
                self._stop.wait(1.0)
        finally:
            for sock in sockets:
                if sock is not None:
                    sock.close()


@dataclass(frozen=True)
class WrkLatency:
    """One wrk --latency run: rate, percentiles in seconds, and how many requests failed."""

    requests: int
    p50: float
    p99: float
    errors: int


def run_wrk_latency(wrk: str, options: WrkOptions, url: str) -> WrkLatency:
    """Load ``url`` with wrk for ``options.seconds`` and return its latency distribution."""
    command = options.command(wrk, url, options.seconds)
    command.insert(-1, "--latency")
    output = wrk_output(command, options.seconds)
    percentiles = {int(m[1]): float(m[2]) * _UNITS[m[3]] for m in _PERCENTILE.finditer(output)}
    completed = completed_requests(output)
    if completed is None or 50 not in percentiles or 99 not in percentiles:
        raise BenchError(f"could not read wrk's report:\n{output}")
    errors = error_statuses(output) + sum(socket_errors(output))
    return WrkLatency(completed, percentiles[50], percentiles[99], errors)


def memory_kib(pid: int, field_name: str = "VmRSS") -> int:
    """Return a memory figure of /proc/PID/status in KiB: VmRSS (now) or VmHWM (the peak)."""
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field_name}")


def workers_rss(master: int, field_name: str = "VmRSS") -> dict[int, int]:
    """Return ``field_name`` in KiB of each living worker of ``master``."""
    found = {}
    for pid in sorted(worker_pids(master)):
        try:
            found[pid] = memory_kib(pid, field_name)
        except OSError:  # it exited while we looked
            continue
    return found


def mib(kib: float) -> str:
    """Return KiB as MiB with one decimal."""
    return f"{kib / 1024:.1f}"


def median_or_nan(values: list[float]) -> float:
    """Return the median of ``values``, or NaN for none."""
    return statistics.median(values) if values else float("nan")
