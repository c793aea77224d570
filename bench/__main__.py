"""``python -m bench``: how close fibsvc comes to the floor set by its own server.

What it measures, on the real gunicorn with the project's gunicorn.conf.py:

1. Throughput. wrk loads ``/fibonacci/30`` and, on the same gunicorn.conf.py, a bare WSGI
   hello-world app (bench.hello), in alternating runs: hello, fib, hello, fib, ... The ratio
   of the median requests/s, fib/hello, is what the service costs on top of gunicorn
   itself; target >= 0.95x. Printed beside it: the ratio of the best runs; the server's
   CPU time per request (master and workers, from /proc), whose ratio hello/fib is a
   second estimate; how many workers did the work (keep-alive connections stay with the
   worker that accepted them, and a busy worker can take most of them); and how many
   workers gunicorn recycled (max_requests) during the run.
2. Big numbers, n = 10^3 ... 10^7, over one keep-alive http.client connection to a server
   with one worker (WEB_CONCURRENCY=1, so its cache is the only one, and every request,
   the reference included, meets the same process):

   - in-process: compute and render F(n) as the service does, here in the benchmark;
   - cold: the first request for n, n - 1, n - 2, ... (each once, as a repeat would be
     cached), each over the in-process time of the same n measured just before and after
     it, median of those ratios; target for F(10^6) <= 1.3x. An untimed /fibonacci/30 just
     before each cold request wakes the worker, idle while this process computed;
   - cached: n again, interleaved with requests for /fibonacci/30, the reference;
     target for F(10^6) <= 3x the reference.
3. Telemetry overhead: wrk on ``/fibonacci/30`` against two servers, interleaved: everything
   on (100% sampling exporting over OTLP/HTTP to a live receiver, metrics, the request log) and
   telemetry off (OTEL_SDK_DISABLED=true, no request log; metrics stay). Target >= 0.75x.

Why ratios: the machine is small, shared and noisy, so an absolute figure says more about
the neighbours than about the code. Each figure is divided by a reference measured in the
same run, under the same conditions and as close in time as possible.

A missed target is a finding, printed as MISS. Only a failed measurement (a server that
does not start, wrk errors, a non-200 answer, a wrong body) makes the exit status non-zero.
"""

import os
import sys
import time
from dataclasses import dataclass

from bench.errors import BenchError
from bench.latency import LATENCY_ENV, PLANS, REFERENCE_PATH, Row, measure_latency
from bench.overhead import measure_overhead
from bench.throughput import (
    FIB_PATH,
    Throughput,
    WrkOptions,
    WrkRun,
    best_rate,
    measure_throughput,
    median_cpu,
    median_rate,
)
from fibsvc.settings import ServerSettings

ROUNDS = 7
THROUGHPUT_TARGET = 0.95
COLD_TARGET = 1.3
CACHED_TARGET = 3.0
OVERHEAD_TARGET = 0.75
TARGET_N = 10**6


@dataclass(frozen=True)
class Target:
    """A ratio and the bound it should meet."""

    name: str
    value: float
    bound: float
    at_least: bool

    @property
    def met(self) -> bool:
        """Return whether the ratio is on the right side of the bound."""
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def verdict(self) -> str:
        """Return PASS or MISS."""
        return "PASS" if self.met else "MISS"

    def condition(self) -> str:
        """Return the bound as it reads in the report, e.g. ``target >= 0.95x``."""
        return f"target {'>=' if self.at_least else '<='} {self.bound:.2f}x"

    def line(self) -> str:
        """Return the one-line summary."""
        return f"{self.verdict()}  {self.name}: {self.value:.2f}x ({self.condition()})"


def pair(hello: object, fib: object) -> str:
    """Return ``hello / fib``, the two sides of one column."""
    return f"{hello!s:>5} / {fib!s:<5}"


def microseconds(seconds: float | None) -> str:
    """Return ``seconds`` in whole microseconds, or n/a."""
    return "n/a" if seconds is None else f"{seconds * 1e6:.0f}"


def optional(value: int | None) -> str:
    """Return ``value``, or n/a."""
    return "n/a" if value is None else str(value)


_COLUMNS = ("req/s", "fib/hello", "server CPU us/req", "busy workers", "worker restarts")


def print_row(label: str, cells: tuple[str, str, str, str, str]) -> None:
    """Print one line of the throughput table."""
    widths = (len(pair("", "")), len(_COLUMNS[1]), *(max(len(c), len(pair("", ""))) for c in _COLUMNS[2:]))
    print(f"{label:>6}  " + "  ".join(f"{cell:^{width}}" for cell, width in zip(cells, widths, strict=True)))


def throughput_section() -> Target:
    """Measure and print the throughput comparison; return its target."""
    options = WrkOptions()
    server = ServerSettings.from_env(os.environ)
    print(
        f"== 1. Throughput: {options.describe()} (keep-alive), hello/fib interleaved x {ROUNDS};"
        f" both apps on gunicorn.conf.py, {server.workers} workers x {server.threads} threads"
    )
    print_row("", _COLUMNS)
    print_row("", ("hello / fib", "", "hello / fib", "hello / fib", "hello / fib"))

    def on_round(number: int, hello: WrkRun, fib: WrkRun) -> None:
        print_row(
            str(number),
            (
                pair(f"{hello.rate:.0f}", f"{fib.rate:.0f}"),
                f"{fib.rate / hello.rate:.2f}x",
                pair(microseconds(hello.cpu_per_request), microseconds(fib.cpu_per_request)),
                pair(optional(hello.busy_workers), optional(fib.busy_workers)),
                pair(hello.restarts, fib.restarts),
            ),
        )
        sys.stdout.flush()

    result: Throughput = measure_throughput(options, ROUNDS, on_round)
    hello_cpu, fib_cpu = median_cpu(result.hello), median_cpu(result.fib)
    rates = pair(f"{median_rate(result.hello):.0f}", f"{median_rate(result.fib):.0f}")
    cpu = pair(microseconds(hello_cpu), microseconds(fib_cpu))
    print_row("median", (rates, f"{result.median_ratio:.2f}x", cpu, "", ""))
    rates = pair(f"{best_rate(result.hello):.0f}", f"{best_rate(result.fib):.0f}")
    print_row("best", (rates, f"{result.best_ratio:.2f}x", "", "", ""))
    target = Target(
        f"throughput GET {FIB_PATH} / hello-world, median req/s", result.median_ratio, THROUGHPUT_TARGET, True
    )
    cpu_ratio = "n/a" if result.cpu_ratio is None else f"{result.cpu_ratio:.2f}x"
    print(
        f"fib/hello, median req/s = {result.median_ratio:.2f}x ({target.condition()}: {target.verdict()});"
        f" by server CPU per request, hello/fib = {cpu_ratio}"
    )
    return target


def latency_section() -> list[Target]:
    """Measure and print the big-number table; return its two targets."""
    settings = ", ".join(f"{name}={value}" for name, value in LATENCY_ENV.items())
    distinct = "/".join(str(plan.distinct) for plan in PLANS)
    print(
        f"\n== 2. Big numbers: one keep-alive http.client connection, {settings}; medians, in ms."
        f"\n   in-proc and cold over n, n-1, ... ({distinct} distinct n), each requested once;"
        f" cold/in-proc pairs each request with in-process runs of its n just before and after;"
        f"\n   in-server: the same request's compute + render time inside the worker (its"
        f" fibonacci_compute_seconds, read before and after); cold/in-srv is the target ratio;"
        f"\n   cached: n again, interleaved with GET {REFERENCE_PATH}"
    )
    print(
        f"{'n':>10}  {'digits':>9}  {'in-proc':>9}  {'in-server':>9}  {'cold':>9}  {'cold/in-proc':>12}"
        f"  {'cold/in-srv':>11}  {'cached':>8}  {'fib(30)':>8}  {'cached/fib(30)':>14}",
        flush=True,
    )

    def on_row(row: Row) -> None:
        print(
            f"{row.n:>10}  {row.digits:>9}  {row.in_process * 1e3:>9.3f}  {row.in_server * 1e3:>9.3f}"
            f"  {row.cold * 1e3:>9.3f}  {row.cold_ratio:>11.2f}x  {row.cold_server_ratio:>10.2f}x"
            f"  {row.cached * 1e3:>8.3f}  {row.reference * 1e3:>8.3f}  {row.cached_ratio:>13.2f}x",
            flush=True,
        )

    rows = measure_latency(on_row)
    row = next((row for row in rows if row.n == TARGET_N), None)
    if row is None:
        raise BenchError(f"nothing was measured for n = {TARGET_N}")
    print(
        f"cold GET /fibonacci/1000000 end-to-end / in-process in this benchmark's own process ="
        f" {row.cold_ratio:.2f}x (for information: a second process times the same work differently)"
    )
    targets = [
        Target(
            "cold GET /fibonacci/1000000 end-to-end / in-process in the server",
            row.cold_server_ratio,
            COLD_TARGET,
            False,
        ),
        Target(
            f"cached GET /fibonacci/1000000 / GET {REFERENCE_PATH}", row.cached_ratio, CACHED_TARGET, False
        ),
    ]
    for target in targets:
        print(f"{target.name} = {target.value:.2f}x ({target.condition()}: {target.verdict()})")
    return targets


def overhead_section() -> Target:
    """Measure and print the cost of telemetry; return its target."""
    options = WrkOptions()
    print(
        f"\n== 3. Telemetry overhead: {options.describe()} on GET {FIB_PATH}, on/off interleaved x {ROUNDS}"
        "\n   on: 100% sampling exported over OTLP/HTTP to a live receiver, metrics, one JSON log line a"
        " request; +logs: the same with every log record shipped over OTLP too;"
        " off: OTEL_SDK_DISABLED=true and no request log (metrics stay)"
    )
    print(
        f"{'':>6}  {'on req/s':>9}  {'off req/s':>9}  {'on/off':>7}  {'+logs/off':>9}"
        f"  {'CPU us/req on / off':>20}",
        flush=True,
    )

    def on_round(number: int, on: WrkRun, off: WrkRun, on_with_logs: WrkRun) -> None:
        cpu = pair(microseconds(on.cpu_per_request), microseconds(off.cpu_per_request))
        print(
            f"{number:>6}  {on.rate:>9.0f}  {off.rate:>9.0f}  {on.rate / off.rate:>6.2f}x"
            f"  {on_with_logs.rate / off.rate:>8.2f}x  {cpu:>20}",
            flush=True,
        )

    result = measure_overhead(options, ROUNDS, on_round)
    target = Target(
        f"telemetry on / off, median req/s at GET {FIB_PATH}", result.median_ratio, OVERHEAD_TARGET, True
    )
    print(
        f"on/off, median req/s = {result.median_ratio:.2f}x ({target.condition()}: {target.verdict()});"
        f" spans received: {result.spans_received}"
    )
    print(
        f"with log records shipped over OTLP too: {result.median_ratio_with_logs:.2f}x of off"
        f" (log records received: {result.log_records_received})"
    )
    return target


def main() -> int:
    """Run the benchmark; return 0 when everything was measured, whether or not targets were met."""
    started = time.monotonic()
    try:
        targets = [throughput_section(), *latency_section(), overhead_section()]
    except BenchError as error:
        print(f"\nbench: error: {error}", file=sys.stderr)
        return 1
    print(f"\n== Summary ({time.monotonic() - started:.0f} s)")
    for target in targets:
        print(target.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
