"""``python -m bench``: how close fibsvc comes to the floor set by its own server.

What it measures, on the real gunicorn with the project's gunicorn.conf.py:

1. Throughput. wrk loads ``/fibonacci/30`` and, on the same gunicorn.conf.py, a bare WSGI
   hello-world app (bench.hello) and a bare Falcon app (bench.bare_falcon: one resource, a
   fixed body, no middleware) and fibsvc with telemetry off (as in 3.), in interleaved runs.
   The ratio of the median requests/s, fib/hello, is what the service costs on top of
   gunicorn itself; target >= 0.95x. The bare Falcon app's ratio is the floor the framework
   sets: no Falcon app can do better. fibsvc without telemetry shows what the app costs and
   what the request log and spans add.
   Beside each rate: the server's CPU time per request (master and workers, from /proc), and
   how many workers did the work (keep-alive connections stay with the worker that accepted
   them, and a busy worker can take most of them).
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
3. Telemetry overhead: wrk on ``/fibonacci/30`` against four servers, interleaved: telemetry
   off (OTEL_SDK_DISABLED=true, no request log; metrics stay); everything on (100% sampling
   exporting over OTLP/HTTP to a live receiver, metrics, the request log); the same shipping
   every log record over OTLP too; and spans only (100% sampling, recorded, not exported, no
   request log). on/off has the target >= 0.75x; spans-only/off is its floor: what the Falcon
   instrumentation and the SDK cost before anything is encoded, exported or logged.

Why ratios: the machine is small, shared and noisy, so an absolute figure says more about
the neighbours than about the code. Each figure is divided by a reference measured in the
same run, under the same conditions and as close in time as possible.

A missed target is a finding, printed as MISS. Only a failed measurement (a server that
does not start, wrk errors, a non-200 answer, a wrong body) makes the exit status non-zero.
"""

import os
import sys

from bench import overhead, report
from bench.errors import BenchError
from bench.figures import Figure, run_and_summarise
from bench.latency import LATENCY_ENV, PLANS, REFERENCE_PATH, Row, measure_latency
from bench.servers import BARE_FALCON_APP, HELLO_APP
from bench.throughput import FIB_PATH, Contender, WrkOptions, WrkRun, measure_interleaved
from fibsvc.settings import ServerSettings

ROUNDS = 5
THROUGHPUT_TARGET = 0.95
COLD_TARGET = 1.3
CACHED_TARGET = 3.0
OVERHEAD_TARGET = 0.75
TARGET_N = 10**6


HELLO, BARE_FALCON, FIB_OFF, FIB = "hello", "bare Falcon", "fib, telemetry off", "fib"


def print_runs(number: int, runs: dict[str, WrkRun], reference: str) -> None:
    """Print one round of interleaved runs as it completes."""
    print(report.row(str(number), runs, reference), flush=True)


def print_summary(runs: dict[str, list[WrkRun]], reference: str) -> None:
    """Print the medians, and any worker recycling that may have disturbed the runs."""
    print(report.median_row(runs, reference))
    note = report.restarts_note(runs)
    if note:
        print(note)


def throughput_section() -> Figure:
    """Measure and print the throughput comparison; return its target."""
    options = WrkOptions()
    server = ServerSettings.from_env(os.environ)
    contenders = [
        Contender(HELLO, app=HELLO_APP, path="/", ready_path="/"),
        Contender(BARE_FALCON, app=BARE_FALCON_APP, ready_path=FIB_PATH),
        Contender(FIB_OFF, env=overhead.OFF_ENV),
        Contender(FIB),
    ]
    print(
        f"== 1. Throughput: {options.describe()} (keep-alive), interleaved x {ROUNDS}; every app on"
        f" gunicorn.conf.py, {server.workers} workers x {server.threads} threads; ratio = req/s / hello's"
    )
    print(report.header([contender.name for contender in contenders]), flush=True)
    runs = measure_interleaved(contenders, options, ROUNDS, lambda n, r: print_runs(n, r, HELLO))
    print_summary(runs, HELLO)
    target = Figure(
        f"throughput GET {FIB_PATH} / hello-world, median req/s",
        report.median_ratio(runs, FIB, HELLO),
        THROUGHPUT_TARGET,
        "x",
        at_least=True,
    )
    floor = report.median_ratio(runs, BARE_FALCON, HELLO)
    print(f"fib/hello, median req/s = {target.value:.2f}x ({target.condition()}: {target.verdict()})")
    without_telemetry = report.median_ratio(runs, FIB_OFF, HELLO)
    print(
        f"floor: bare Falcon/hello = {floor:.2f}x, the most any Falcon app reaches on this server;"
        f" fibsvc with telemetry off (metrics stay) = {without_telemetry:.2f}x"
    )
    return target


def latency_section() -> list[Figure]:
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
        Figure(
            "cold GET /fibonacci/1000000 end-to-end / in-process in the server",
            row.cold_server_ratio,
            COLD_TARGET,
            "x",
        ),
        Figure(f"cached GET /fibonacci/1000000 / GET {REFERENCE_PATH}", row.cached_ratio, CACHED_TARGET, "x"),
    ]
    for target in targets:
        print(f"{target.name} = {target.value:.2f}x ({target.condition()}: {target.verdict()})")
    return targets


def overhead_section() -> Figure:
    """Measure and print the cost of telemetry; return its target."""
    options = WrkOptions()
    print(
        f"\n== 3. Telemetry overhead: {options.describe()} on GET {FIB_PATH}, interleaved x {ROUNDS};"
        " ratio = req/s / off's"
        "\n   off: OTEL_SDK_DISABLED=true and no request log (metrics stay); on: 100% sampling exported"
        " over OTLP/HTTP to a live receiver, metrics, one JSON log line a request; +logs: the same with"
        " every log record shipped over OTLP too; spans only: 100% sampling, recorded, not exported,"
        " no request log"
    )
    names = [overhead.OFF, overhead.ON, overhead.WITH_LOGS, overhead.SPANS_ONLY]
    print(report.header(names), flush=True)
    result = overhead.measure_overhead(options, ROUNDS, lambda n, r: print_runs(n, r, overhead.OFF))
    print_summary(result.runs, overhead.OFF)
    target = Figure(
        f"telemetry on / off, median req/s at GET {FIB_PATH}",
        report.median_ratio(result.runs, overhead.ON, overhead.OFF),
        OVERHEAD_TARGET,
        "x",
        at_least=True,
    )
    with_logs = report.median_ratio(result.runs, overhead.WITH_LOGS, overhead.OFF)
    floor = report.median_ratio(result.runs, overhead.SPANS_ONLY, overhead.OFF)
    print(
        f"on/off, median req/s = {target.value:.2f}x ({target.condition()}: {target.verdict()});"
        f" spans received: {result.spans_received}"
    )
    print(
        f"with log records shipped over OTLP too: {with_logs:.2f}x of off"
        f" (log records received: {result.log_records_received})"
    )
    print(f"floor: spans only/off = {floor:.2f}x, what recording every span costs before any export or log")
    return target


def main() -> int:
    """Run the benchmark; return 0 when everything was measured, whether or not targets were met."""
    return run_and_summarise("bench", lambda: [throughput_section(), *latency_section(), overhead_section()])


if __name__ == "__main__":
    sys.exit(main())
