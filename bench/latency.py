"""Latency of big Fibonacci numbers: in-process, cold over HTTP, and cached over HTTP."""

import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from bench.errors import BenchError
from bench.servers import serving
from fibsvc.fib import fibonacci
from fibsvc.render import Form, render_value

REFERENCE_PATH = "/fibonacci/30"
MAX_N = 10_000_000
# One worker holds the whole cache, so a repeated request is certain to hit it, and the
# reference and the measured requests go through the very same worker and connection.
LATENCY_ENV = {"WEB_CONCURRENCY": "1", "FIBSVC_MAX_N": str(MAX_N)}
# gunicorn.conf.py closes a keep-alive connection after 5 s idle; reconnect well before.
_IDLE_LIMIT_S = 2.0


@dataclass(frozen=True)
class Plan:
    """How much to measure for one n.

    ``distinct`` cold requests go to n, n - 1, ..., each once (a repeat would be cached);
    each of those n is also computed in-process ``repeats`` times, half just before its
    cold request and half just after; ``cached`` is the number of interleaved
    (reference, cached n) request pairs.
    """

    n: int
    distinct: int
    repeats: int
    cached: int


PLANS = (
    Plan(10**3, distinct=7, repeats=10, cached=200),
    Plan(10**4, distinct=7, repeats=10, cached=200),
    Plan(10**5, distinct=7, repeats=8, cached=150),
    Plan(10**6, distinct=9, repeats=6, cached=80),
    Plan(10**7, distinct=3, repeats=4, cached=20),
)


@dataclass(frozen=True)
class Row:
    """The figures for one n; times in seconds."""

    n: int
    digits: int
    # Median of every in-process sample of every n measured cold.
    in_process: float
    # Median of the cold requests, one for each of n, n - 1, ...
    cold: float
    # Median over those n of each cold request over the in-process median of the same n,
    # measured around it: pairs close in time, so a noisy moment hits both sides.
    cold_ratio: float
    # Median of the server's own compute + render time of each cold request (from the
    # fibonacci_compute_seconds histogram, read before and after it).
    in_server: float
    # Median over those n of each cold request over that same request's compute time in the
    # server: the same work timed in the same process at the same moment.
    cold_server_ratio: float
    cached: float
    reference: float

    @property
    def cached_ratio(self) -> float:
        """Return cached end-to-end latency over the /fibonacci/30 latency."""
        return self.cached / self.reference


class Client:
    """One keep-alive http.client connection that times whole requests, body included."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def get(self, path: str) -> tuple[float, bytes]:
        """Return (seconds from sending the request to having read the whole body, body)."""
        connection = self._open()
        return self._timed_get(connection, path)

    def close(self) -> None:
        """Close the connection, if open."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is not None and time.monotonic() - self._last_used < _IDLE_LIMIT_S:
            return self._connection
        self.close()
        self._connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
        self._connection.connect()
        # Untimed: the first request on a connection also pays for the server's accept.
        self._timed_get(self._connection, REFERENCE_PATH)
        return self._connection

    def _timed_get(self, connection: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
        start = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        self._last_used = time.monotonic()
        if response.status != http.HTTPStatus.OK:
            raise BenchError(f"GET {path} answered {response.status}: {body[:300]!r}")
        if response.will_close:
            raise BenchError(f"GET {path}: the server did not keep the connection alive")
        return elapsed, body


def server_compute_seconds(client: Client) -> float:
    """Return the server's total compute + render time so far (fibonacci_compute_seconds_sum)."""
    _, body = client.get("/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "fibonacci_compute_seconds_sum":
                return float(sample.value)
    raise BenchError("/metrics has no fibonacci_compute_seconds_sum")


def in_process(n: int) -> tuple[float, bytes]:
    """Return (seconds to compute and render F(n) as the service does, the body)."""
    start = time.perf_counter()
    body = render_value(n, fibonacci(n), Form.JSON_NUMBER)
    return time.perf_counter() - start, body


def digit_count(n: int, body: bytes) -> int:
    """Return the number of digits of F(n) >= 0 in its JSON body ``{"fibonacci(n)": digits}``."""
    return len(body) - len(b'{"fibonacci(%d)": }' % n)


def measure_row(client: Client, plan: Plan) -> Row:
    """Measure one n: in-process and cold for n, n - 1, ..., then cached interleaved with the reference."""
    in_process_times: list[float] = []
    cold_times: list[float] = []
    cold_ratios: list[float] = []
    in_server_times: list[float] = []
    cold_server_ratios: list[float] = []
    for n in range(plan.n, plan.n - plan.distinct, -1):
        before = [in_process(n) for _ in range(plan.repeats // 2)]
        # Untimed: a worker left idle while this process computed takes about half a
        # millisecond longer to wake, which the back-to-back reference requests never pay.
        client.get(REFERENCE_PATH)
        computed_before = server_compute_seconds(client)
        elapsed, body = client.get(f"/fibonacci/{n}")
        in_server = server_compute_seconds(client) - computed_before
        after = [in_process(n) for _ in range(plan.repeats - len(before))]
        if any(body != expected for _, expected in before + after):
            raise BenchError(f"the server's F({n}) differs from the one computed in-process")
        around = [seconds for seconds, _ in before + after]
        in_process_times.extend(around)
        cold_times.append(elapsed)
        cold_ratios.append(elapsed / statistics.median(around))
        in_server_times.append(in_server)
        cold_server_ratios.append(elapsed / in_server)
    cached_times: list[float] = []
    reference_times: list[float] = []
    path = f"/fibonacci/{plan.n}"
    for _ in range(plan.cached):
        reference_times.append(client.get(REFERENCE_PATH)[0])
        cached_times.append(client.get(path)[0])
    return Row(
        n=plan.n,
        digits=digit_count(plan.n, client.get(path)[1]),
        in_process=statistics.median(in_process_times),
        cold=statistics.median(cold_times),
        cold_ratio=statistics.median(cold_ratios),
        in_server=statistics.median(in_server_times),
        cold_server_ratio=statistics.median(cold_server_ratios),
        cached=statistics.median(cached_times),
        reference=statistics.median(reference_times),
    )


def measure_latency(on_row: Callable[[Row], None], plans: tuple[Plan, ...] = PLANS) -> list[Row]:
    """Start a one-worker fibsvc allowing n up to 10^7 and measure every plan on one connection."""
    # Some 1,500 requests in all, far from max_requests (10,000 +/- 1,000), so the worker and
    # its cache live through the whole measurement.
    rows = []
    with serving(env=LATENCY_ENV) as server:
        client = Client(server.port)
        try:
            for _ in range(50):
                client.get(REFERENCE_PATH)
            for plan in plans:
                rows.append(measure_row(client, plan))
                on_row(rows[-1])
        finally:
            client.close()
    return rows
